defmodule PyBridgeBench.Floor do
  @moduledoc false
  # The floor: a C echo (benchmarks/floor/echo.c) behind a Port opened with
  # {packet, 4}, used the way PyBridge uses a worker but with nothing decoded.
  # A caller registers `id -> self()` in a public table and writes its frame
  # to the Port itself; the owner process reads each echoed frame's 8-byte id
  # (a binary match, no decoding) and forwards the frame to the caller.

  defstruct [:port, :table, :owner, :os_pid]

  @doc "Starts `executable` (with `args`) as the echo behind a Port."
  def start(executable, args \\ []) do
    {port, table, owner, os_pid} = open(executable, [args: args], __MODULE__, &echo_id/1)
    %__MODULE__{port: port, table: table, owner: owner, os_pid: os_pid}
  end

  defp echo_id(<<id::64, _::binary>>), do: id

  @doc """
  Opens a `{packet, 4}` Port to `executable` (extra Port options `opts`) in a
  new linked process that owns it and a public `id -> caller` table. The
  owner sends each frame to its caller as `{tag, id, frame}`, `id` read by
  `id_of` (id 0 is a burst's: its frames all go to the one listener);
  returns `{port, table, owner, os_pid}`.
  """
  def open(executable, opts, tag, id_of) do
    parent = self()

    owner =
      spawn_link(fn ->
        table = :ets.new(__MODULE__, [:set, :public, write_concurrency: true])

        port =
          Port.open({:spawn_executable, executable}, [:binary, {:packet, 4}, :exit_status | opts])

        {:os_pid, os_pid} = Port.info(port, :os_pid)
        send(parent, {__MODULE__, :started, self(), {port, table, self(), os_pid}})
        loop(port, table, tag, id_of)
      end)

    receive do
      {__MODULE__, :started, ^owner, started} -> started
    after
      10_000 -> raise "#{executable} did not start"
    end
  end

  defp loop(port, table, tag, id_of) do
    receive do
      {^port, {:data, frame}} ->
        case id_of.(frame) do
          0 ->
            [{0, pid}] = :ets.lookup(table, 0)
            send(pid, {tag, 0, frame})

          id ->
            case :ets.take(table, id) do
              [{^id, pid}] -> send(pid, {tag, id, frame})
              [] -> :ok
            end
        end

        loop(port, table, tag, id_of)

      {^port, {:exit_status, status}} ->
        exit({:floor_exited, status})

      :stop ->
        Port.close(port)
    end
  end

  @doc "Sends `payload` (iodata) through the echo and waits for it to come back."
  def call(%__MODULE__{port: port, table: table}, payload) do
    id = System.unique_integer([:positive, :monotonic])
    true = :ets.insert(table, {id, self()})
    true = Port.command(port, [<<id::64>> | payload])

    receive do
      {__MODULE__, ^id, frame} -> frame
    after
      30_000 -> raise "the floor echo did not answer"
    end
  end

  @doc "Asks the echo for `count` frames of `size` bytes and receives them all."
  def burst(%__MODULE__{port: port, table: table}, count, size) do
    true = :ets.insert(table, {0, self()})
    true = Port.command(port, <<0xFE, count::32, size::32>>)
    receive_burst(count)
  end

  defp receive_burst(0), do: :ok

  defp receive_burst(left) do
    receive do
      {__MODULE__, 0, _frame} -> receive_burst(left - 1)
    after
      30_000 -> raise "the floor echo stopped in the middle of a burst"
    end
  end

  def stop(%__MODULE__{owner: owner}), do: send(owner, :stop)
end
