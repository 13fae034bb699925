# Calls/s and CPU per call with the workers on 1, 2 and 3 BEAM nodes of one
# worker each (issue 16), against one local worker.
#
#   cd priv/pybridge && PYBRIDGE_PYTHON=$PWD/../../.venv/bin/python \
#     elixir --name bench_a@127.0.0.1 --erl "+sbwt none +sbwtdcpu none +sbwtdio none" \
#     -S mix run --no-start \
#     ../../benchmarks/elixir/cluster_bench.exs [seconds] [callers]
#
# (The node is named on the command line: a script cannot make its own node
# distributed once Elixir is compiling it.)
#
# The caller node (this one) runs the callers; in the "remote" rows it has no
# worker (`pool_size: 0`) and every call crosses the distribution to a peer
# node started with OTP's :peer. CPU per call is the CPU time (user + system,
# from /proc) of every BEAM and Python OS process involved, divided by the
# calls made: the difference between the rows is what distribution adds. On
# a 2-core machine more nodes cannot be faster; the CPU column is the figure.

{seconds, callers} =
  case System.argv() do
    [s, c] -> {String.to_integer(s), String.to_integer(c)}
    [s] -> {String.to_integer(s), 16}
    [] -> {5, 16}
  end

Application.put_env(:pybridge, :default_pool, false)
{:ok, _} = Application.ensure_all_started(:pybridge)
Node.alive?() || raise "run with elixir --name bench_a@127.0.0.1 -S mix run ... (see the top)"

defmodule ClusterBench do
  @ticks_per_s 100

  def peer!(i) do
    code_path = Enum.flat_map(:code.get_path(), &[~c"-pa", &1])

    {:ok, peer, node} =
      :peer.start(%{
        name: :"bench_#{i}",
        host: ~c"127.0.0.1",
        longnames: true,
        # No busy-waiting schedulers: their spinning would count as CPU per call.
        args:
          [~c"+sbwt", ~c"none", ~c"+sbwtdcpu", ~c"none", ~c"+sbwtdio", ~c"none"] ++
            [~c"-setcookie", Atom.to_charlist(Node.get_cookie()) | code_path]
      })

    :ok = :erpc.call(node, :application, :load, [:pybridge])
    :ok = :erpc.call(node, :application, :set_env, [:pybridge, :default_pool, false])
    {:ok, _} = :erpc.call(node, Application, :ensure_all_started, [:pybridge])
    spec = :erpc.call(node, PyBridge, :child_spec, [[name: Bench, pool_size: 1]])
    {:ok, _} = :erpc.call(node, Supervisor, :start_child, [PyBridge.Supervisor, spec])
    {peer, node}
  end

  def wait_for(pool, n) do
    if length(PyBridge.Router.cluster_workers(pool)) >= n do
      :ok
    else
      Process.sleep(50)
      wait_for(pool, n)
    end
  end

  # OS pids of this node, the peers and every worker of the pool.
  def os_pids(pool, nodes) do
    beams = for n <- [node() | nodes], do: :erpc.call(n, :os, :getpid, []) |> List.to_integer()
    beams ++ Enum.map(PyBridge.stats!(pool: pool), & &1.pid)
  end

  def cpu_ticks(pids) do
    Enum.sum(
      for pid <- pids do
        [_, rest] = File.read!("/proc/#{pid}/stat") |> String.split(") ", parts: 2)
        fields = String.split(rest)
        String.to_integer(Enum.at(fields, 11)) + String.to_integer(Enum.at(fields, 12))
      end
    )
  end

  def run(label, pool, nodes, seconds, callers) do
    # Warm-up.
    for _ <- 1..200, do: {:ok, _} = PyBridge.call("operator.add", [1, 2], [], pool: pool)
    pids = os_pids(pool, nodes)
    cpu0 = cpu_ticks(pids)
    t0 = System.monotonic_time(:millisecond)
    deadline = t0 + seconds * 1000

    calls =
      1..callers
      |> Enum.map(fn _ -> Task.async(fn -> loop(pool, deadline, 0) end) end)
      |> Enum.map(&Task.await(&1, :infinity))
      |> Enum.sum()

    elapsed = (System.monotonic_time(:millisecond) - t0) / 1000
    cpu = (cpu_ticks(pids) - cpu0) / @ticks_per_s

    IO.puts(
      String.pad_trailing(label, 34) <>
        String.pad_leading("#{round(calls / elapsed)}", 10) <>
        String.pad_leading(:erlang.float_to_binary(cpu * 1.0e6 / calls, decimals: 1), 14)
    )
  end

  defp loop(pool, deadline, n) do
    if System.monotonic_time(:millisecond) >= deadline do
      n
    else
      {:ok, 3} = PyBridge.call("operator.add", [1, 2], [], pool: pool)
      loop(pool, deadline, n + 1)
    end
  end
end

IO.puts("#{callers} callers, #{seconds} s per row, operator.add(1, 2)\n")

IO.puts(
  String.pad_trailing("workers", 34) <>
    String.pad_leading("calls/s", 10) <> String.pad_leading("CPU us/call", 14)
)

{:ok, local} = PyBridge.start_link(name: Local, pool_size: 1)
ClusterBench.wait_for(Local, 1)
ClusterBench.run("1 local worker (no distribution)", Local, [], seconds, callers)
Supervisor.stop(local)

{:ok, _} = PyBridge.start_link(name: Bench, pool_size: 0)

Enum.reduce(1..3, [], fn i, nodes ->
  {_peer, node} = ClusterBench.peer!(i)
  nodes = nodes ++ [node]
  ClusterBench.wait_for(Bench, i)
  ClusterBench.run("#{i} remote node(s) x 1 worker", Bench, nodes, seconds, callers)
  nodes
end)
