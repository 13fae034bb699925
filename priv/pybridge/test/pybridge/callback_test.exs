defmodule PyBridge.CallbackTest do
  use ExUnit.Case, async: true

  import PyBridge.TestHelpers

  alias PyBridge.Error

  @support "pybridge_test_support"

  describe "call/4 with Elixir functions as arguments" do
    test "Python calls the fun and gets its result" do
      assert PyBridge.call("#{@support}.apply", [fn x -> x * 2 end, 21]) == {:ok, 42}
      assert PyBridge.call("builtins.list", [[3, 1, 2]]) == {:ok, [3, 1, 2]}
      assert PyBridge.call("builtins.map", [&Integer.to_string/1, [1, 2]]) |> elem(0) == :ok
      assert PyBridge.call("#{@support}.apply", [fn -> :ok end]) == {:ok, "ok"}
    end

    test "the fun runs in a new process, neither the caller nor the worker" do
      test_pid = self()
      assert {:ok, pid} = PyBridge.call("#{@support}.apply", [fn -> self() end])
      assert is_pid(pid)
      refute pid == test_pid
      refute pid in Enum.map(Registry.lookup(PyBridge.Pools, PyBridge), &elem(&1, 0))
    end

    test "an exception raised in Elixir reaches Python as an exception" do
      assert {:ok, caught} =
               PyBridge.call("#{@support}.catch_error", [fn -> raise ArgumentError, "boom" end])

      assert caught =~ "CallbackError"
      assert caught =~ "ArgumentError"
      assert caught =~ "boom"

      assert {:ok, thrown} = PyBridge.call("#{@support}.catch_error", [fn -> throw(:ball) end])
      assert thrown =~ "ball"

      # Uncaught in Python, it comes back as an error of the call.
      assert_raise Error, ~r/CallbackError.*no luck/s, fn ->
        PyBridge.call!("#{@support}.apply", [fn -> raise "no luck" end])
      end
    end

    test "a fun called with too many arguments is an error in Python; missing ones are nil" do
      assert {:error, %PyBridge.Error{message: message}} =
               PyBridge.call("operator.call", [fn -> :ok end, 1])

      assert message =~ "takes 0 argument(s), Python passed 1"
      assert {:ok, "no exception"} = PyBridge.call("#{@support}.catch_error", [fn x -> x end])
    end

    @tag :slow
    test "re-entrant chains Elixir -> Python -> Elixir ... to depth 5, 100 at once on one worker" do
      pool = start_pool!(threads: 4)
      os_pid = worker_os_pid(pool)

      results =
        1..100
        |> Task.async_stream(fn i -> {i, chain(pool, i, 5)} end,
          max_concurrency: 100,
          timeout: 60_000
        )
        |> Enum.map(fn {:ok, result} -> result end)

      for {i, {depth, pids}} <- results do
        assert depth == 5
        assert Enum.uniq(pids) == [os_pid], "chain #{i} left its worker"
      end
    end
  end

  describe "export_to_python" do
    test "Python calls exported Elixir functions by name" do
      pool = start_pool!(export_to_python: [{PyBridge.TestHelpers, :double, 1, "double"}])
      assert PyBridge.call("#{@support}.call_export", ["double", 21], [], pool: pool) == {:ok, 42}

      assert {:error, %Error{message: message}} =
               PyBridge.call("#{@support}.call_export", ["triple", 1], [], pool: pool)

      assert message =~ "triple"
    end

    test "an exported function called with the wrong arity raises in Python" do
      pool = start_pool!(export_to_python: [{PyBridge.TestHelpers, :double, 1, "double"}])

      assert_raise Error, ~r/CallbackError.*takes 1 argument/s, fn ->
        PyBridge.call!("#{@support}.call_export", ["double", 1, 2], [], pool: pool)
      end
    end
  end

  # Elixir calls Python, which calls back into Elixir, which calls Python
  # again... `depth` Python frames deep. Returns the depth reached and the
  # worker OS pid seen at each level.
  defp chain(pool, i, depth) do
    PyBridge.call!("#{@support}.apply", [fn -> step(pool, i, depth - 1) end], [], pool: pool)
  end

  defp step(pool, _i, 0) do
    {1, [PyBridge.call!("#{@support}.pid", [], [], pool: pool)]}
  end

  defp step(pool, i, depth) do
    pid = PyBridge.call!("#{@support}.pid", [], [], pool: pool)
    {d, pids} = chain(pool, i, depth)
    {d + 1, [pid | pids]}
  end
end
