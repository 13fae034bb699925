defmodule PyBridgeBench.Profile do
  @moduledoc false
  # Where the Elixir side of a no-op call spends its time (benchmarks/FINDINGS.md):
  #
  #     mix run -e 'PyBridgeBench.Profile.main()' -- CALLS ECHO_EXECUTABLE
  #
  # Prints the BEAM's CPU time per call (all schedulers, :erlang.statistics(:runtime))
  # for the floor and for PyBridge.call/4, then an :eprof profile of the
  # calling process and the PyBridge.Worker process over the same calls.

  @pool PyBridgeBench.ProfilePool

  def main do
    [calls, echo] = System.argv()
    calls = String.to_integer(calls)
    {:ok, _} = PyBridge.start_link(name: @pool, pool_size: 1)
    {:ok, _} = PyBridge.call("benchmarks.ops.noop", [], [], pool: @pool, timeout: 30_000)
    floor = PyBridgeBench.Floor.start(echo)
    frame = :erlang.term_to_binary({:call, 1, "benchmarks.ops.noop", [], [], %{scope: self()}})

    cpu_per_call("floor", calls, fn -> PyBridgeBench.Floor.call(floor, frame) end)

    cpu_per_call("pybridge", calls, fn ->
      PyBridge.call("benchmarks.ops.noop", [], [], pool: @pool)
    end)

    [conn] = PyBridge.Router.workers(@pool)
    :eprof.start()
    :eprof.start_profiling([self(), conn.pid])
    for _ <- 1..calls, do: {:ok, nil} = PyBridge.call("benchmarks.ops.noop", [], [], pool: @pool)
    :eprof.stop_profiling()
    :eprof.analyze(:total, sort: :time)
    :eprof.stop()
  end

  @doc """
  Throughput of no-op calls from `callers` processes on a pool of `workers`
  for `ms` milliseconds: calls per second, and the CPU per call of the BEAM
  and of the Python workers (from /proc).

      mix run -e 'PyBridgeBench.Profile.throughput()' -- CALLERS WORKERS MS
  """
  def throughput do
    [callers, workers, ms] = Enum.map(System.argv(), &String.to_integer/1)
    {:ok, _} = PyBridge.start_link(name: @pool, pool_size: workers)
    wait_for_workers(workers)
    os_pids = for conn <- PyBridge.Router.workers(@pool), do: conn.os_pid
    call = fn -> {:ok, nil} = PyBridge.call("benchmarks.ops.noop", [], [], pool: @pool) end
    for _ <- 1..1000, do: call.()
    parent = self()
    deadline = System.monotonic_time(:millisecond) + ms
    {_, _} = :erlang.statistics(:runtime)
    ticks = Enum.map(os_pids, &cpu_ticks/1)

    for _ <- 1..callers do
      spawn_link(fn -> send(parent, {:calls, loop(call, deadline, 0)}) end)
    end

    calls = Enum.sum(for _ <- 1..callers, do: receive(do: ({:calls, n} -> n)))
    {_, beam_ms} = :erlang.statistics(:runtime)
    python_ms = Enum.sum(Enum.zip_with(Enum.map(os_pids, &cpu_ticks/1), ticks, &-/2)) * 10

    IO.puts(
      "#{callers} callers, #{workers} workers: #{round(calls * 1000 / ms)} calls/s; " <>
        "CPU per call: BEAM #{Float.round(beam_ms * 1000 / calls, 1)} µs, " <>
        "Python #{Float.round(python_ms * 1000 / calls, 1)} µs"
    )
  end

  defp wait_for_workers(count) do
    if length(PyBridge.Router.workers(@pool)) < count do
      Process.sleep(50)
      wait_for_workers(count)
    end
  end

  defp loop(call, deadline, n) do
    if System.monotonic_time(:millisecond) >= deadline do
      n
    else
      call.()
      loop(call, deadline, n + 1)
    end
  end

  @doc "utime + stime of an OS process, in clock ticks (1/100 s), from /proc."
  def cpu_ticks(os_pid) do
    fields =
      File.read!("/proc/#{os_pid}/stat") |> String.split(") ") |> List.last() |> String.split()

    String.to_integer(Enum.at(fields, 11)) + String.to_integer(Enum.at(fields, 12))
  end

  defp cpu_per_call(label, calls, fun) do
    for _ <- 1..div(calls, 10), do: fun.()
    {_, _} = :erlang.statistics(:runtime)
    wall = System.monotonic_time(:microsecond)
    for _ <- 1..calls, do: fun.()
    {_, cpu_ms} = :erlang.statistics(:runtime)
    wall = System.monotonic_time(:microsecond) - wall

    IO.puts(
      "#{label}: BEAM CPU #{Float.round(cpu_ms * 1000 / calls, 1)} µs per call, " <>
        "wall #{Float.round(wall / calls, 1)} µs per call"
    )
  end
end
