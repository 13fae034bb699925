defmodule PyBridge.CacheTest do
  use ExUnit.Case, async: false

  import PyBridge.TestHelpers
  alias PyBridge.Cache

  doctest PyBridge.Cache

  setup do
    Cache.clear()
    :ok
  end

  describe "fetch/3" do
    test "runs the function once per key within the TTL" do
      counter = :counters.new(1, [])

      fun = fn ->
        :counters.add(counter, 1, 1)
        {:ok, :counters.get(counter, 1)}
      end

      assert {:ok, 1} = Cache.fetch({:key, 1}, 60_000, fun)
      assert {:ok, 1} = Cache.fetch({:key, 1}, 60_000, fun)
      assert {:ok, 2} = Cache.fetch({:key, 2}, 60_000, fun)
      assert :counters.get(counter, 1) == 2
    end

    test "an expired entry is computed again" do
      assert {:ok, :first} = Cache.fetch(:short, 1, fn -> {:ok, :first} end)
      deadline = System.monotonic_time(:millisecond) + 1
      eventually(fn -> System.monotonic_time(:millisecond) > deadline end)
      assert {:ok, :second} = Cache.fetch(:short, 1, fn -> {:ok, :second} end)
    end

    test "errors are not cached" do
      error = %PyBridge.Error{type: "builtins.ValueError", message: "no"}
      assert {:error, ^error} = Cache.fetch(:err, 60_000, fn -> {:error, error} end)
      assert {:ok, :fine} = Cache.fetch(:err, 60_000, fn -> {:ok, :fine} end)
    end

    test "results holding a handle are not cached" do
      ref = %PyBridge.Ref{id: 1, worker: "w", type: "builtins.object"}

      assert {:ok, [%{"x" => {^ref}}]} =
               Cache.fetch(:ref, 60_000, fn -> {:ok, [%{"x" => {ref}}]} end)

      assert {:ok, :fresh} = Cache.fetch(:ref, 60_000, fn -> {:ok, :fresh} end)
    end

    test "rejects a TTL that is not a positive integer" do
      assert_raise ArgumentError, ~r/ttl_ms must be a positive integer, got: 0/, fn ->
        Cache.fetch(:k, 0, fn -> {:ok, 1} end)
      end
    end

    test "results are kept per pool: pools may run different Pythons" do
      assert {:ok, :a} = Cache.fetch(:same_key, 60_000, fn -> {:ok, :a} end, pool: PoolA)
      assert {:ok, :b} = Cache.fetch(:same_key, 60_000, fn -> {:ok, :b} end, pool: PoolB)
      assert {:ok, :a} = Cache.fetch(:same_key, 60_000, fn -> {:ok, :x} end, pool: PoolA)
      session = %PyBridge.Session{id: 1, pool: PoolB, worker: nil}
      assert {:ok, :b} = Cache.fetch(:same_key, 60_000, fn -> {:ok, :x} end, session: session)
    end

    test "its table belongs to the application's supervision tree" do
      assert [{PyBridge.Cache, pid, :worker, _}] =
               Supervisor.which_children(PyBridge.Supervisor)
               |> Enum.filter(&match?({PyBridge.Cache, _, _, _}, &1))

      assert :ets.info(PyBridge.Cache, :owner) == pid
    end

    test "the table survives the process that created it" do
      task = Task.async(fn -> Cache.fetch(:from_task, 60_000, fn -> {:ok, :kept} end) end)
      assert {:ok, :kept} = Task.await(task)
      assert {:ok, :kept} = Cache.fetch(:from_task, 60_000, fn -> {:ok, :recomputed} end)
    end
  end

  describe "delete/1 and clear/0" do
    test "forget entries" do
      {:ok, 1} = Cache.fetch(:a, 60_000, fn -> {:ok, 1} end)
      {:ok, 2} = Cache.fetch(:b, 60_000, fn -> {:ok, 2} end)
      assert :ok = Cache.delete(:a)
      assert {:ok, :new} = Cache.fetch(:a, 60_000, fn -> {:ok, :new} end)
      assert :ok = Cache.clear()
      assert {:ok, :new} = Cache.fetch(:b, 60_000, fn -> {:ok, :new} end)
    end
  end
end
