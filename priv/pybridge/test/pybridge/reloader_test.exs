defmodule PyBridge.ReloaderTest do
  # The reload: pool option against real workers: a Python file under the
  # pool's python_path changes, the workers are replaced, the next calls run
  # the new code, a call in flight finishes on the old worker, and the
  # pool's setup runs again on the new workers.
  use ExUnit.Case, async: true

  import PyBridge.TestHelpers

  @moduletag :tmp_dir

  defp write_module!(dir, version) do
    File.write!(Path.join(dir, "reload_mod.py"), """
    VERSION = #{version}


    def version():
        return VERSION


    def run(gate):
        gate()  # an Elixir function: returns when the test says so
        return VERSION
    """)
  end

  defp version(pool), do: PyBridge.call("reload_mod.version", [], [], pool: pool)

  test "an edited module is picked up by new workers; calls in flight end on the old ones", %{
    tmp_dir: dir
  } do
    write_module!(dir, 1)

    pool =
      start_pool!(
        python_path: [dir],
        reload: 50,
        imports: ["reload_mod"],
        setup: [{"os.environ.__setitem__", ["RELOAD_SETUP", "ran"], []}]
      )

    assert version(pool) == {:ok, 1}
    [old_pid] = PyBridge.stats!(pool: pool) |> Enum.map(& &1.pid)

    test = self()

    gate = fn ->
      send(test, {:in_flight, self()})
      receive do: (:go -> :ok)
    end

    in_flight = Task.async(fn -> PyBridge.call("reload_mod.run", [gate], [], pool: pool) end)
    assert_receive {:in_flight, gate_pid}, 10_000

    # This process holds a handle of the old worker: its calls went there,
    # until that worker left the pool.
    assert {:ok, %PyBridge.Ref{}} = PyBridge.create("types.SimpleNamespace", [], [], pool: pool)

    write_module!(dir, 2)
    eventually(fn -> version(pool) == {:ok, 2} end)

    # The call that was running when the file changed ends on the old worker.
    send(gate_pid, :go)
    assert Task.await(in_flight) == {:ok, 1}
    eventually(fn -> not os_alive?(old_pid) end)

    # The new worker ran the pool's setup before it took calls.
    assert PyBridge.call!("os.environ.get", ["RELOAD_SETUP"], [], pool: pool) == "ran"
    assert [new_pid] = PyBridge.stats!(pool: pool) |> Enum.map(& &1.pid)
    assert new_pid != old_pid
  end

  test "files outside python_path and bytecode caches are not watched", %{tmp_dir: dir} do
    write_module!(dir, 1)
    File.mkdir_p!(Path.join(dir, "__pycache__"))
    File.write!(Path.join(dir, "__pycache__/reload_mod.cpython-311.pyc"), "x")
    File.write!(Path.join(dir, "notes.txt"), "x")

    assert dir |> List.wrap() |> PyBridge.Reloader.scan() |> Map.keys() == [
             Path.join(dir, "reload_mod.py")
           ]
  end

  test "is validated at start" do
    assert_raise ArgumentError, ~r/reload must be true, false or a poll interval in ms/, fn ->
      PyBridge.child_spec(reload: "yes", python_path: ["/tmp"])
    end

    assert_raise ArgumentError,
                 ~r/watches the :python_path directories, but python_path is empty/,
                 fn ->
                   PyBridge.child_spec(reload: true, python_path: [])
                 end
  end
end
