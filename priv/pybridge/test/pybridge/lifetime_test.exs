defmodule PyBridge.LifetimeTest do
  # Handles belong to the process that created them (or to a session): when
  # it exits, the worker frees them. Counted with stats on dedicated pools.
  use ExUnit.Case, async: true

  import PyBridge.TestHelpers

  describe "create/4 (handle lifetime)" do
    test "a process's handles are freed when it exits" do
      pool = start_pool!()
      baseline = handles(pool)
      test_pid = self()

      pid =
        spawn(fn ->
          for _ <- 1..3, do: PyBridge.create!("types.SimpleNamespace", [], [], pool: pool)
          send(test_pid, :created)
          Process.sleep(:infinity)
        end)

      assert_receive :created, 5_000
      assert handles(pool) == baseline + 3
      Process.exit(pid, :kill)
      eventually(fn -> handles(pool) == baseline end)
    end

    @tag :slow
    test "10,000 handles from short-lived processes: the live count returns to its baseline" do
      pool = start_pool!(pool_size: 2)
      eventually(fn -> length(PyBridge.stats!(pool: pool)) == 2 end)
      baseline = handles(pool)

      # 100 processes that each hold 100 handles: the count does go up...
      test_pid = self()

      holders =
        for _ <- 1..100 do
          spawn(fn ->
            for _ <- 1..100, do: PyBridge.create!("types.SimpleNamespace", [], [], pool: pool)
            send(test_pid, {:created, self()})

            receive do
              :exit -> :ok
            end
          end)
        end

      for pid <- holders, do: assert_receive({:created, ^pid}, 30_000)
      assert handles(pool) == baseline + 10_000

      # ...and comes back when they exit.
      Enum.each(holders, &send(&1, :exit))
      eventually(fn -> handles(pool) == baseline end, 30_000)

      # Churn: 10,000 processes that each create one handle and exit at once.
      1..10_000
      |> Task.async_stream(
        fn i -> PyBridge.create!("types.SimpleNamespace", [], [i: i], pool: pool) end,
        max_concurrency: 32,
        ordered: false
      )
      |> Stream.run()

      eventually(fn -> handles(pool) == baseline end, 30_000)
      assert Enum.all?(PyBridge.stats!(pool: pool), &(&1.scopes == 0))
    end

    test "a process killed with a request in flight leaks nothing" do
      pool = start_pool!()
      baseline = handles(pool)
      test_pid = self()

      pid =
        spawn(fn ->
          send(test_pid, :calling)
          # Python ignores the cancel: the handle is created after its owner
          # is dead and its scope was released once already.
          PyBridge.call("pybridge_test_support.stubborn_object", [0.5], [], pool: pool)
        end)

      assert_receive :calling
      eventually(fn -> match?([%{in_flight: 1}], PyBridge.stats!(pool: pool)) end)
      Process.exit(pid, :kill)
      eventually(fn -> match?([%{in_flight: 0}], PyBridge.stats!(pool: pool)) end)
      eventually(fn -> handles(pool) == baseline end, 2_000)
    end
  end
end
