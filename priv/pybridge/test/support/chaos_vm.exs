# Run by the chaos suite in a separate OS-level VM (`elixir -pa <ebin>
# chaos_vm.exs <python_path>`): a two-worker pool whose workers hold child
# processes and calls blocked in C (`time.sleep`, which no cancel can
# interrupt); prints the OS pids of the BEAM, the workers and the children,
# and waits to be killed with kill -9.
[python_path] = System.argv()
:ok = Application.load(:pybridge)
Application.put_env(:pybridge, :default_pool, false)
{:ok, _} = Application.ensure_all_started(:pybridge)
{:ok, _} = PyBridge.start_link(name: ChaosPool, pool_size: 2, python_path: [python_path])

workers =
  Stream.repeatedly(fn -> PyBridge.stats!(pool: ChaosPool) end)
  |> Enum.find(&(length(&1) == 2))
  |> Enum.map(& &1.pid)

children =
  for _ <- 1..4, do: PyBridge.call!("pybridge_test_support.spawn_child", [], [], pool: ChaosPool)

for _ <- 1..6, do: PyBridge.call("time.sleep", [60], [], pool: ChaosPool, async: true)

# The blocked calls have reached Python.
Stream.repeatedly(fn -> PyBridge.stats!(pool: ChaosPool) end)
|> Enum.find(fn stats -> stats |> Enum.map(& &1.in_flight) |> Enum.sum() >= 6 end)

IO.puts("PIDS #{Enum.join([System.pid() | workers ++ children], " ")}")
Process.sleep(:infinity)
