# What each policy of issue 17 costs per call, off and on.
#
#   cd priv/pybridge && MIX_ENV=test elixir --erl "+sbwt none +sbwtdcpu none +sbwtdio none" \
#     -S mix run ../../benchmarks/policy_cost.exs
#
# Two measurements:
#   1. end to end: 20_000 no-op calls (`math.floor(1)`) one at a time from one
#      process, on a one-worker pool per configuration; median of 5 runs, in
#      µs per call: wall time, and CPU time (the BEAM's, from
#      `:erlang.statistics(:runtime)`, plus the worker's, from
#      /proc/PID/stat), which a loaded machine disturbs less than wall time.
#      The pools are measured in turns (run 1 of every pool, then run 2, ...),
#      so a slow moment of the shared machine hits them all;
#   2. the Elixir side alone: the policy steps a call goes through, without
#      Python, 1_000_000 times; median of 5 runs, in ns per call of BEAM CPU
#      time. This is the figure to read for the layer's own cost: end to end,
#      differences under a microsecond are within the noise of the round trip.

import Bitwise

alias PyBridge.Policy
alias PyBridge.Policy.{Allowlist, CircuitBreaker}

runs = 5
calls = 20_000

configs = [
  {"no policy (default)", [], []},
  {"allow: [modules: [\"math\"]]", [allow: [modules: ["math"]]], []},
  {"circuit_breaker: true", [circuit_breaker: true], []},
  {"idempotent: true (retry, no failure)", [], [idempotent: true]},
  {"limits: [call_cpu_time: 1000] (watchdog)", [limits: [call_cpu_time: 1000]], []},
  {"limits: memory, cpu_time, open_files", [limits: [memory: 4 <<< 30, cpu_time: 3600, open_files: 4096]], []},
  {"all of them", [
     allow: [modules: ["math"]],
     circuit_breaker: true,
     limits: [call_cpu_time: 1000, memory: 4 <<< 30]
   ], [idempotent: true]}
]

defmodule PolicyBench do
  @moduledoc false
  # Loops compiled, not evaluated: a script's own funs run in erl_eval, which
  # would cost more than what is measured.

  def calls(n, opts), do: Enum.each(1..n, fn _ -> {:ok, 1} = PyBridge.call("math.floor", [1], [], opts) end)

  def lookup(n, pool), do: Enum.each(1..n, fn _ -> Policy.lookup([pool: pool], nil) end)

  def allow(n, pool) do
    Enum.each(1..n, fn _ ->
      :ok = Allowlist.check(Policy.lookup([pool: pool], nil).allow, {:call, "math.floor"})
    end)
  end

  def breaker(n, pool) do
    Enum.each(1..n, fn _ ->
      b = Policy.lookup([pool: pool], nil).breaker
      {:ok, pass} = CircuitBreaker.pass(b)
      CircuitBreaker.record(b, pass, {:ok, 1})
    end)
  end

  def empty(n), do: Enum.each(1..n, fn _ -> :ok end)

  # BEAM CPU time, µs.
  def beam_cpu do
    {ms, _} = :erlang.statistics(:runtime)
    ms * 1000
  end

  # A worker's CPU time (user + system), µs.
  def os_cpu(os_pid) do
    [_, rest] = File.read!("/proc/#{os_pid}/stat") |> String.split(") ", parts: 2)
    fields = String.split(rest)
    ticks = String.to_integer(Enum.at(fields, 11)) + String.to_integer(Enum.at(fields, 12))
    div(ticks * 1_000_000, 100)
  end

  # {result, wall µs, CPU µs of the BEAM and the worker}
  def measure(os_pid, fun) do
    {beam, os} = {beam_cpu(), os_cpu(os_pid)}
    {wall, result} = :timer.tc(fun)
    {result, wall, beam_cpu() - beam + os_cpu(os_pid) - os}
  end
end

median = fn values ->
  sorted = Enum.sort(values)
  Enum.at(sorted, div(length(sorted), 2))
end

pools =
  for {{label, pool_opts, call_opts}, i} <- Enum.with_index(configs) do
    name = :"policy_bench_#{i}"
    {:ok, _} = PyBridge.start_link([name: name, pool_size: 1] ++ pool_opts)
    # Warm up: the worker is ready and the caller registered.
    PolicyBench.calls(500, [pool: name] ++ call_opts)
    [%{pid: os_pid}] = PyBridge.stats!(pool: name)
    {label, name, call_opts, os_pid}
  end

samples =
  for _run <- 1..runs, {label, name, call_opts, os_pid} <- pools, reduce: %{} do
    acc ->
      opts = [pool: name] ++ call_opts
      {_, wall, cpu} = PolicyBench.measure(os_pid, fn -> PolicyBench.calls(calls, opts) end)
      Map.update(acc, label, [{wall / calls, cpu / calls}], &[{wall / calls, cpu / calls} | &1])
  end

IO.puts("\n## End to end: µs per no-op call (median of #{runs} runs of #{calls})\n")
IO.puts("| policy | wall µs/call | CPU µs/call (BEAM + worker) | wall, each run |")
IO.puts("|---|---|---|---|")

for {label, _, _, _} <- pools do
  values = Enum.reverse(samples[label])
  walls = Enum.map(values, &elem(&1, 0))
  cpus = Enum.map(values, &elem(&1, 1))

  IO.puts(
    "| #{label} | #{Float.round(median.(walls), 1)} | #{Float.round(median.(cpus), 1)} | " <>
      "#{Enum.map_join(walls, ", ", &Float.round(&1, 1))} |"
  )
end

[{_, plain, _, _}, {_, allowed, _, _}, {_, breaker, _, _} | _] = pools
n = 1_000_000

steps = [
  {"policy lookup, pool without policy", &PolicyBench.lookup(&1, plain)},
  {"policy lookup, pool with policy", &PolicyBench.lookup(&1, allowed)},
  {"lookup + allowlist check (modules: 1 entry)", &PolicyBench.allow(&1, allowed)},
  {"lookup + circuit breaker pass and record (closed)", &PolicyBench.breaker(&1, breaker)}
]

IO.puts("\n## Elixir side alone: ns per call (median of #{runs} runs of #{n})\n")
IO.puts("| step | ns/call |")
IO.puts("|---|---|")

cpu_us = fn fun ->
  start = PolicyBench.beam_cpu()
  fun.()
  PolicyBench.beam_cpu() - start
end

empty_us = median.(for _ <- 1..runs, do: cpu_us.(fn -> PolicyBench.empty(n) end))

for {label, fun} <- steps do
  values =
    for _ <- 1..runs do
      us = cpu_us.(fn -> fun.(n) end)
      (us - empty_us) * 1000 / n
    end

  IO.puts("| #{label} | #{Float.round(median.(values), 0)} |")
end

IO.puts("\n(While no pool has a policy, the lookup is one `:persistent_term.get/2` of a flag.)")

[{_, _, _, os_pid} | _] = pools
vm = File.read!("/proc/#{os_pid}/status") |> String.split("\n") |> Enum.filter(&(&1 =~ ~r/^Vm(Size|RSS)/))
IO.puts("\nIdle worker (threads 8): #{Enum.join(vm, "; ")}")
