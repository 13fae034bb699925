defmodule PyBridge.SetupTest do
  # The :setup pool option and PyBridge.broadcast/4 against real workers.
  # pybridge_test_support.configure/1 follows DSPy's rule: only the thread
  # that configured first may configure again, every thread reads.
  use ExUnit.Case, async: true

  import ExUnit.CaptureLog
  import PyBridge.TestHelpers

  alias PyBridge.Error

  @support "pybridge_test_support"

  defp configure(kwargs), do: {"#{@support}.configure", [], kwargs}

  # Reads a setting on every worker: many calls from many processes, so
  # that every worker and many of its threads answer.
  defp read_everywhere(pool, key, calls \\ 40) do
    1..calls
    |> Task.async_stream(fn _ -> PyBridge.call!("#{@support}.setting", [key], [], pool: pool) end,
      max_concurrency: 16
    )
    |> Enum.map(fn {:ok, value} -> value end)
    |> Enum.uniq()
  end

  defp os_pids(pool), do: PyBridge.stats!(pool: pool) |> Enum.map(& &1.pid) |> Enum.sort()

  # Kills every worker's OS process and waits for as many new ones.
  defp replace_all_workers(pool) do
    old = os_pids(pool)
    capture_log(fn -> Enum.each(old, &kill9/1) end)

    eventually(fn ->
      case PyBridge.stats(pool: pool) do
        {:ok, stats} -> length(stats) == length(old) and Enum.all?(stats, &(&1.pid not in old))
        {:error, _} -> false
      end
    end)
  end

  describe ":setup" do
    test "every worker runs the calls before it takes work, replacements included" do
      pool = start_pool!(pool_size: 2, threads: 4, setup: [configure(model: "m1")])
      eventually(fn -> length(os_pids(pool)) == 2 end)
      assert read_everywhere(pool, "model") == ["m1"]

      replace_all_workers(pool)
      assert read_everywhere(pool, "model") == ["m1"]
      assert PyBridge.call!("#{@support}.settings_log", [], [], pool: pool) == ["model"]
    end

    test "{Module, :function, args} runs in Elixir at each worker's start and returns the calls" do
      pool = start_pool!(setup: [configure(first: 1), {PyBridge.TestSetup, :calls, [42]}])
      assert read_everywhere(pool, "from_elixir", 4) == [42]

      assert PyBridge.call!("#{@support}.settings_log", [], [], pool: pool) == [
               "first",
               "from_elixir"
             ]
    end

    test "deferred calls are made on each worker, and calls run in order on one thread" do
      counter = PyBridge.deferred("collections.Counter", [["a", "a", "b"]])
      # Three calls that a thread other than the first would be refused.
      setup = [configure(a: 1), configure(counter: counter), configure(b: 2)]
      pool = start_pool!(pool_size: 2, threads: 4, setup: setup)

      assert read_everywhere(pool, "b") == [2]
      assert PyBridge.call!("#{@support}.setting_type", ["counter"], [], pool: pool) == "Counter"

      assert PyBridge.call!("#{@support}.settings_log", [], [], pool: pool) == [
               "a",
               "counter",
               "b"
             ]
    end

    @tag :slow
    test "a setup call that raises is a startup failure naming the call" do
      capture_log(fn ->
        pool = start_pool!(setup: [{"math.sqrt", [-1], []}])

        assert {:error, %Error{type: "pybridge.WorkerUnavailable", message: message}} =
                 PyBridge.call("math.sqrt", [4], [], pool: pool)

        assert message =~ "keep failing to start"
        assert message =~ "setup call math.sqrt(-1) failed"
        assert message =~ "ValueError: math domain error"
      end)
    end

    @tag :slow
    test "a setup function that does not return calls is a startup failure" do
      capture_log(fn ->
        pool = start_pool!(setup: [{PyBridge.TestSetup, :not_a_list, []}])

        assert {:error, %Error{type: "pybridge.WorkerUnavailable", message: message}} =
                 PyBridge.call("math.sqrt", [4], [], pool: pool)

        assert message =~ "PyBridge.TestSetup.not_a_list() must return a list"
      end)
    end

    test "is validated at start" do
      assert_raise ArgumentError, ~r/setup must be a list of .* got entry: :dspy/, fn ->
        PyBridge.child_spec(setup: [:dspy])
      end

      assert_raise ArgumentError, ~r/setup must be a list/, fn ->
        PyBridge.child_spec(setup: "dspy.configure")
      end
    end
  end

  describe "broadcast/4" do
    test "applies a call to every live worker, per-worker results, and to workers started later" do
      pool = start_pool!(pool_size: 2, threads: 4, setup: [configure(model: "m1")])
      eventually(fn -> length(os_pids(pool)) == 2 end)

      assert {:ok, results} =
               PyBridge.broadcast("#{@support}.configure", [], [model: "m2"], pool: pool)

      tokens = PyBridge.stats!(pool: pool) |> Enum.map(& &1.worker) |> Enum.sort()
      assert Enum.sort(Map.keys(results)) == tokens
      assert Map.values(results) == [{:ok, ["model", "model"]}, {:ok, ["model", "model"]}]
      assert read_everywhere(pool, "model") == ["m2"]

      replace_all_workers(pool)
      assert read_everywhere(pool, "model") == ["m2"]
      assert PyBridge.call!("#{@support}.settings_log", [], [], pool: pool) == ["model", "model"]
    end

    test "per-worker errors are results; broadcast!/4 raises them" do
      pool = start_pool!(pool_size: 2)
      eventually(fn -> length(os_pids(pool)) == 2 end)
      assert {:ok, results} = PyBridge.broadcast("math.sqrt", [-1], [], pool: pool)
      assert map_size(results) == 2

      assert Enum.all?(
               Map.values(results),
               &match?({:error, %Error{type: "builtins.ValueError"}}, &1)
             )

      assert_raise Error, ~r/ValueError: math domain error/, fn ->
        PyBridge.broadcast!("math.sqrt", [-1], [], pool: pool)
      end

      assert PyBridge.broadcast!("math.sqrt", [4], [], pool: pool) |> Map.values() == [2.0, 2.0]
    end

    test "runs on each worker's setup thread, whichever thread took the request" do
      pool = start_pool!(pool_size: 2, threads: 4)
      eventually(fn -> length(os_pids(pool)) == 2 end)

      assert PyBridge.broadcast!("#{@support}.current_thread_name", [], [], pool: pool)
             |> Map.values() == ["pybridge-setup", "pybridge-setup"]

      refute PyBridge.call!("#{@support}.current_thread_name", [], [], pool: pool) ==
               "pybridge-setup"
    end

    test "deferred arguments become objects on each worker" do
      pool = start_pool!(pool_size: 2)
      counter = PyBridge.deferred("collections.Counter", [["x"]])
      PyBridge.broadcast!("#{@support}.configure", [], [counter: counter], pool: pool)
      assert read_everywhere(pool, "counter", 8) == [%{"x" => 1}]
    end

    test "a pool that is not running is an error" do
      assert {:error, %Error{type: "pybridge.WorkerUnavailable", message: message}} =
               PyBridge.broadcast("math.sqrt", [4], [], pool: :no_such_pool)

      assert message =~ "no PyBridge pool named :no_such_pool"
    end
  end
end
