defmodule PyBridge.SoakTest do
  # An application calls for days: after thousands of mixed operations from
  # many processes (calls, errors, handles made and released, streams,
  # callbacks, timeouts that cancel), nothing is left behind: no handle,
  # scope, request, process or ETS table, and the workers' resident memory
  # does not grow from one round to the next. Not async: it measures the
  # BEAM and loads both cores.
  use ExUnit.Case, async: false

  import PyBridge.TestHelpers

  @moduletag :soak
  @moduletag timeout: 300_000
  @mb 1024 * 1024

  test "thousands of mixed operations from 16 processes leave nothing behind" do
    pool = start_pool!(pool_size: 2)
    eventually(fn -> length(PyBridge.Router.workers(pool)) == 2 end)
    opts = [pool: pool]

    run_round(opts, 100)
    settled(pool)
    processes = length(Process.list())
    tables = length(:ets.all())
    rss = resident(pool)

    for _ <- 1..3, do: run_round(opts, 250)
    settled(pool)

    assert length(Process.list()) <= processes
    assert length(:ets.all()) <= tables

    for {os_pid, before} <- rss do
      grown = (resident_kb(os_pid) - before) * 1024
      assert grown < 16 * @mb, "worker #{os_pid} grew by #{div(grown, 1024)} KiB over 3 rounds"
    end
  end

  # 16 processes, `n` operations each, every kind of operation in turn.
  defp run_round(opts, n) do
    for t <- 1..16 do
      Task.async(fn -> for i <- 1..n, do: operation(rem(i + t, 8), i, opts) end)
    end
    |> Task.await_many(120_000)
  end

  defp operation(0, i, opts), do: {:ok, _} = PyBridge.call("math.sqrt", [i], [], opts)

  defp operation(1, i, opts) do
    {:ok, ns} = PyBridge.create("types.SimpleNamespace", [], [x: i], opts)
    {:ok, ^i} = PyBridge.attr(ns, "x", opts)
    {:ok, 1} = PyBridge.release(ns)
  end

  defp operation(2, _i, opts),
    do:
      {:error, %PyBridge.Error{type: "builtins.ValueError"}} =
        PyBridge.call("math.sqrt", [-1], [], opts)

  defp operation(3, _i, opts),
    do: [0, 1, 2] = "builtins.range" |> PyBridge.stream([3], [], opts) |> Enum.to_list()

  defp operation(4, i, opts),
    do: {:ok, [0, ^i]} = PyBridge.call("builtins.sorted", [[i, 0]], [], opts)

  defp operation(5, i, opts),
    do: {:ok, ^i} = PyBridge.call("#{support()}.apply", [fn x -> x end, i], [], opts)

  defp operation(6, _i, opts) do
    {:error, %PyBridge.Error{type: "pybridge.Timeout"}} =
      PyBridge.call("time.sleep", [0.05], [], Keyword.put(opts, :timeout, 1))
  end

  defp operation(7, _i, opts),
    do:
      {:ok, %{"a" => _}} =
        PyBridge.call("builtins.dict", [], [a: String.duplicate("x", 1000)], opts)

  defp support, do: "pybridge_test_support"

  # Every worker idle with nothing held, and the cancelled sleeps ended.
  defp settled(pool) do
    eventually(
      fn ->
        stats = PyBridge.stats!(pool: pool)

        length(stats) == 2 and
          Enum.all?(stats, &(&1.handles == 0 and &1.scopes == 0 and &1.in_flight == 0))
      end,
      30_000
    )

    :erlang.garbage_collect()
  end

  defp resident(pool),
    do:
      for(
        %{pid: os_pid} <- PyBridge.stats!(pool: pool),
        into: %{},
        do: {os_pid, resident_kb(os_pid)}
      )

  defp resident_kb(os_pid) do
    "/proc/#{os_pid}/status"
    |> File.read!()
    |> String.split("\n")
    |> Enum.find_value(fn
      "VmRSS:" <> rest ->
        rest |> String.trim() |> String.trim_trailing(" kB") |> String.to_integer()

      _other ->
        nil
    end)
  end
end
