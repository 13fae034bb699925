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

    [conn] = PyBridge.Client.workers(@pool)
    :eprof.start()
    :eprof.start_profiling([self(), conn.pid])
    for _ <- 1..calls, do: {:ok, nil} = PyBridge.call("benchmarks.ops.noop", [], [], pool: @pool)
    :eprof.stop_profiling()
    :eprof.analyze(:total, sort: :time)
    :eprof.stop()
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
