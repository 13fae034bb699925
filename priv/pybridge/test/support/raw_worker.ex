defmodule PyBridge.RawWorker do
  @moduledoc false
  # A Python worker (`python -m pybridge_port`, started exactly as a pool
  # starts it) driven byte by byte, without PyBridge.Worker in between: for
  # the chaos tests that must send what the runtime never sends (a garbage
  # length prefix, a zlib bomb, hand-made ETF). The Port is opened without
  # `{:packet, 4}`, so framing is done here and anything can be written.
  # Only the process that opened it may use it (the Port's data comes to it).

  alias PyBridge.Config

  defstruct [:port, :os_pid]

  @type t :: %__MODULE__{port: port(), os_pid: non_neg_integer()}

  @doc "Starts a worker (pool options as for `PyBridge.start_link/1`) and does the handshake."
  @spec start!(keyword()) :: t()
  def start!(opts \\ []) do
    config = Config.new!(Keyword.merge(Config.app_defaults(), opts))

    port =
      Port.open({:spawn_executable, Config.python(config)}, [
        :binary,
        :exit_status,
        :use_stdio,
        :hide,
        args: Config.args(config),
        env: Enum.map(Config.env(config), &port_env/1)
      ])

    worker = %__MODULE__{port: port}
    send_term(worker, {:hello, 1, %{exports: []}})

    case recv(worker, 30_000) do
      {:hello, 1, %{pid: os_pid}} -> %{worker | os_pid: os_pid}
      other -> raise "the worker did not answer the handshake: #{inspect(other)}"
    end
  end

  defp port_env({key, nil}), do: {String.to_charlist(key), false}
  defp port_env({key, value}), do: {String.to_charlist(key), String.to_charlist(value)}

  @doc "Writes `bytes` as they are."
  @spec send_raw(t(), iodata()) :: :ok
  def send_raw(%__MODULE__{port: port}, bytes) do
    true = Port.command(port, bytes)
    :ok
  end

  @doc "Writes one frame holding `payload` (already ETF) behind its 4-byte length."
  @spec send_frame(t(), binary()) :: :ok
  def send_frame(worker, payload), do: send_raw(worker, [<<byte_size(payload)::32>>, payload])

  @doc "Writes one frame holding `term`."
  @spec send_term(t(), term()) :: :ok
  def send_term(worker, term), do: send_frame(worker, :erlang.term_to_binary(term))

  @doc """
  The next frame from the worker other than output, decoded; `{:exit, status}`
  if the worker exits first, `:timeout` after `timeout` ms.
  """
  @spec recv(t(), timeout()) :: term()
  def recv(%__MODULE__{port: port} = worker, timeout \\ 10_000) do
    buffer = Process.get({__MODULE__, port}, "")

    case buffer do
      <<size::32, frame::binary-size(size), rest::binary>> ->
        Process.put({__MODULE__, port}, rest)

        case :erlang.binary_to_term(frame) do
          {:output, _} -> recv(worker, timeout)
          term -> term
        end

      _ ->
        receive do
          {^port, {:data, data}} ->
            Process.put({__MODULE__, port}, buffer <> data)
            recv(worker, timeout)

          {^port, {:exit_status, status}} ->
            {:exit, status}
        after
          timeout -> :timeout
        end
    end
  end

  @doc "Closes the worker's input (it then exits) unless it is already gone."
  @spec close(t()) :: :ok
  def close(%__MODULE__{port: port}) do
    Port.close(port)
    :ok
  rescue
    ArgumentError -> :ok
  end
end
