defmodule PyBridge.TestHelpers do
  @moduledoc false
  # Helpers of the ExUnit suite: dedicated pools, polling, OS processes.

  import ExUnit.Callbacks, only: [start_supervised!: 1]

  @doc "Starts a pool with a unique name under the test supervisor; returns the name."
  def start_pool!(opts \\ []) do
    name = :"pool_#{System.unique_integer([:positive])}"
    start_supervised!({PyBridge, Keyword.merge([name: name, pool_size: 1], opts)})
    name
  end

  @doc "Calls `fun` until it returns a truthy value, for at most `timeout` ms."
  def eventually(fun, timeout \\ 10_000, interval \\ 20) do
    deadline = System.monotonic_time(:millisecond) + timeout
    poll(fun, deadline, interval)
  end

  defp poll(fun, deadline, interval) do
    case fun.() do
      result when result not in [nil, false] ->
        result

      result ->
        if System.monotonic_time(:millisecond) > deadline do
          raise ExUnit.AssertionError,
            message: "condition not met in time; last result: #{inspect(result)}"
        else
          Process.sleep(interval)
          poll(fun, deadline, interval)
        end
    end
  end

  @doc "Live handles of every worker of `pool`."
  def handles(pool), do: PyBridge.stats!(pool: pool) |> Enum.map(& &1.handles) |> Enum.sum()

  @doc "The OS pid of the one worker of `pool`."
  def worker_os_pid(pool) do
    [%{pid: pid}] = PyBridge.stats!(pool: pool)
    pid
  end

  @doc "Whether an OS process runs (a zombie waiting to be reaped does not)."
  def os_alive?(pid) do
    case File.read("/proc/#{pid}/stat") do
      {:ok, stat} ->
        # The state follows the command name in parentheses.
        [_, rest] = String.split(stat, ") ", parts: 2)
        not String.starts_with?(rest, ["Z", "X"])

      {:error, _} ->
        false
    end
  end

  @doc """
  The OS pids a child VM prints on one line `PIDS a b c` (test/support/*_vm.exs),
  read from its Port; flunks with what it printed if it exits or takes 30 s.
  """
  def read_vm_pids(port, output \\ "") do
    receive do
      {^port, {:data, {:eol, "PIDS " <> pids}}} ->
        pids |> String.split() |> Enum.map(&String.to_integer/1)

      {^port, {:data, {_, line}}} ->
        read_vm_pids(port, output <> line <> "\n")

      {^port, {:exit_status, status}} ->
        ExUnit.Assertions.flunk("the VM exited with status #{status}:\n#{output}")
    after
      30_000 -> ExUnit.Assertions.flunk("the VM did not start in 30 s:\n#{output}")
    end
  end

  def kill9(pid), do: {_, 0} = System.cmd("kill", ["-9", to_string(pid)])

  @doc "Exported to Python by the callback tests."
  def double(x), do: x * 2
end

defmodule PyBridge.TestLogHandler do
  @moduledoc false
  # An Erlang :logger handler that sends each log event's message to a pid,
  # so a test can wait for a log line instead of sleeping.

  def attach(id, pid) do
    :ok = :logger.add_handler(id, __MODULE__, %{config: %{pid: pid}, level: :all})
  end

  def detach(id), do: :logger.remove_handler(id)

  def log(%{msg: msg, meta: meta}, %{config: %{pid: pid}}) do
    text =
      case msg do
        {:string, chardata} -> IO.chardata_to_string(chardata)
        {:report, report} -> inspect(report)
        {format, args} -> IO.chardata_to_string(:io_lib.format(format, args))
      end

    send(pid, {:log, text, meta})
  end
end

defmodule PyBridge.TestSetup do
  @moduledoc false
  # `:setup` functions of the setup tests (run in Elixir when a worker starts).

  def calls(value), do: [{"pybridge_test_support.configure", [], [from_elixir: value]}]
  def not_a_list, do: :oops
end

defmodule PyBridge.TestTools do
  @moduledoc "Functions the tests pass to Python, to read their name, parameters and docs there."

  @doc "Multiplies two integers exactly."
  @spec multiply(integer(), integer()) :: integer()
  def multiply(a, b), do: a * b

  @doc """
  Greets someone.

  The greeting defaults to "Hello".
  """
  @spec greet(String.t(), String.t()) :: String.t()
  def greet(name, greeting \\ "Hello"), do: "#{greeting}, #{name}!"

  def undocumented(%{} = _options, _ignored), do: :ok
end
