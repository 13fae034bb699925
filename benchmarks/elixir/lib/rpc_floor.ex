defmodule PyBridgeBench.RpcFloor do
  @moduledoc false
  # The Elixir side of the two floors that speak PyBridge's request shape:
  # `simple_rpc` (benchmarks/floor/simple_rpc.py, the simplest correct worker)
  # and `batched_echo` (benchmarks/floor/batched_echo.py, the throughput
  # ceiling of one Port). It is the simplest correct client, driven like
  # PyBridgeBench.Floor: a caller encodes `{:call, id, target, args, kwargs,
  # opts}` with term_to_binary, registers `id -> self()` in a public table and
  # writes the frame to the Port itself; the owner process reads the id of
  # each reply `{:ok | :error, id, value}` from its first bytes (no decoding)
  # and forwards the frame; the caller decodes it with binary_to_term(:safe).

  defstruct [:port, :table, :owner, :os_pid]

  @doc "Starts `script` with `python` behind a Port; the repository root goes on PYTHONPATH."
  def start(python, script) do
    root = script |> Path.dirname() |> Path.join("../..") |> Path.expand()
    opts = [args: [script], env: [{~c"PYTHONPATH", String.to_charlist(root)}]]
    {port, table, owner, os_pid} = PyBridgeBench.Floor.open(python, opts, __MODULE__, &reply_id/1)
    %__MODULE__{port: port, table: table, owner: owner, os_pid: os_pid}
  end

  # The id of `{tag, id, value}` as term_to_binary (or the project's codec)
  # writes it: version, SMALL_TUPLE_EXT 3, a small UTF-8 atom, then the id.
  defp reply_id(<<131, 104, 3, 119, n, _tag::binary-size(n), rest::binary>> = frame) do
    case rest do
      <<97, id, _::binary>> -> id
      <<98, id::signed-32, _::binary>> -> id
      <<110, size, 0, id::little-unit(8)-size(size), _::binary>> -> id
      _ -> decoded_id(frame)
    end
  end

  defp reply_id(frame), do: decoded_id(frame)

  defp decoded_id(frame), do: elem(:erlang.binary_to_term(frame, [:safe]), 1)

  @doc "Calls `target` (a dotted path) with `args` and `kwargs`: `{:ok, value}` or `{:error, details}`."
  def call(%__MODULE__{port: port, table: table}, target, args, kwargs) do
    id = System.unique_integer([:positive, :monotonic])
    true = :ets.insert(table, {id, self()})
    frame = :erlang.term_to_binary({:call, id, target, args, kwargs, %{scope: self()}})
    true = Port.command(port, frame)

    receive do
      {__MODULE__, ^id, reply} ->
        case :erlang.binary_to_term(reply, [:safe]) do
          {:ok, ^id, value} -> {:ok, value}
          {:error, ^id, details} -> {:error, details}
        end
    after
      30_000 -> raise "the RPC floor did not answer"
    end
  end

  @doc "Stops the floor (closes its Port)."
  def stop(%__MODULE__{owner: owner}), do: send(owner, :stop)
end
