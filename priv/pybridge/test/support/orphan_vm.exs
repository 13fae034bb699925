# Run by PyBridge.OrphanTest in a separate OS-level VM (`elixir -pa <ebin>
# orphan_vm.exs <python_path>`): starts a pool, has its worker spawn a child
# process and keep busy, prints the OS pids, and waits to be killed.
[python_path] = System.argv()
:ok = Application.load(:pybridge)
Application.put_env(:pybridge, :default_pool, false)
{:ok, _} = Application.ensure_all_started(:pybridge)
{:ok, _} = PyBridge.start_link(name: OrphanPool, pool_size: 1, python_path: [python_path])
child = PyBridge.call!("pybridge_test_support.spawn_child", [], [], pool: OrphanPool)
[%{pid: worker}] = PyBridge.stats!(pool: OrphanPool)
_busy = PyBridge.call("pybridge_test_support.busy", [60], [], pool: OrphanPool, async: true)
Process.sleep(200)
IO.puts("PIDS #{System.pid()} #{worker} #{child}")
Process.sleep(:infinity)
