defmodule PyBridge.RuntimeTest do
  # The runtime's own guarantees: cancellation, routing, lifetimes, no hidden state.
  use ExUnit.Case, async: false

  import PyBridge.TestHelpers
  alias PyBridge.{Client, Config, Conn, Error, Router}

  @support "pybridge_test_support"

  describe "a timeout" do
    test "cancels the Python call of a caller that stays alive" do
      pool = start_pool!()
      key = "timeout#{System.unique_integer([:positive])}"
      # Imported first, so that the spin is running well before the timeout.
      assert [] = PyBridge.call!("#{@support}.events", [key], [], pool: pool)

      assert {:error, %Error{type: "pybridge.Timeout"}} =
               PyBridge.call("#{@support}.spin", [key], [], pool: pool, timeout: 1_000)

      # The caller (this process) is alive: only the cancel sent on timeout ends the spin.
      eventually(fn ->
        PyBridge.call!("#{@support}.events", [key], [], pool: pool) == [
          "started",
          "Cancelled",
          "finally"
        ]
      end)
    end
  end

  describe "routing" do
    test "a dead worker's requests count until Python answers, and an unsent request goes elsewhere" do
      pool = start_pool!(pool_size: 2)
      eventually(fn -> length(Router.workers(pool)) == 2 end)
      [doomed, other] = Router.workers(pool)

      pending =
        for _ <- 1..3 do
          Task.async(fn ->
            {:ok, prepared} = Client.prepare([pool: pool], nil, self())
            Client.execute(%{prepared | conn: doomed}, &{:call, &1, "time.sleep", [30], [], &2})
          end)
        end

      eventually(fn -> Conn.load(doomed) == 3 end)
      ref = Process.monitor(doomed.pid)
      kill9(doomed.os_pid)
      assert_receive {:DOWN, ^ref, :process, _, _}, 10_000

      for task <- pending,
          do: assert({:error, %Error{type: "pybridge.WorkerExited"}} = Task.await(task, 10_000))

      # Its callers' deaths or failures never made it look idle.
      assert Conn.load(doomed) == 3

      # A request routed to it before routing knew is written to a live worker instead.
      {:ok, prepared} = Client.prepare([pool: pool], nil, self())
      prepared = %{prepared | conn: doomed}
      os_pid = other.os_pid

      assert {:ok, ^os_pid} =
               Client.execute(prepared, &{:call, &1, "#{@support}.pid", [], [], &2})
    end

    test "a call taking a handle goes to the handle's worker" do
      pool = start_pool!(pool_size: 2)
      eventually(fn -> length(Router.workers(pool)) == 2 end)

      for _ <- 1..10 do
        {:ok, box} = PyBridge.create("#{@support}.Box", [[1]], [], pool: pool)
        assert {:ok, _} = PyBridge.call("builtins.id", [box], [], pool: pool)
        assert {:ok, _} = PyBridge.call("builtins.dict", [], [x: box], pool: pool)
      end
    end

    test "after a handle comes back, calls naming no handle go to its worker, until it is gone" do
      pool = start_pool!(pool_size: 2)
      eventually(fn -> length(Router.workers(pool)) == 2 end)

      {:ok, %PyBridge.Ref{worker: token}} =
        PyBridge.create("types.SimpleNamespace", [], [], pool: pool)

      [%Conn{os_pid: pinned, pid: worker}] =
        Enum.filter(Router.workers(pool), &(&1.token == token))

      pids = for _ <- 1..20, do: PyBridge.call!("#{@support}.pid", [], [], pool: pool)
      assert Enum.uniq(pids) == [pinned]

      ref = Process.monitor(worker)
      kill9(pinned)
      assert_receive {:DOWN, ^ref, :process, _, _}, 10_000
      eventually(fn -> match?({:ok, _}, PyBridge.call("#{@support}.pid", [], [], pool: pool)) end)
      refute PyBridge.call!("#{@support}.pid", [], [], pool: pool) == pinned
    end

    test "callers keep at most one key per pool in their process dictionary" do
      pools = for _ <- 1..2, do: start_pool!(pool_size: 2)
      before = Process.get_keys()

      for pool <- pools, _ <- 1..10 do
        {:ok, _} = PyBridge.create("types.SimpleNamespace", [], [], pool: pool)
      end

      # Only the pin of the worker holding this process's handles (PyBridge.Affinity).
      assert Enum.sort(Process.get_keys() -- before) ==
               Enum.sort(for pool <- pools, do: {PyBridge.Affinity, pool})
    end
  end

  describe "sessions" do
    test "a handle created in a session after it closed is freed too" do
      pool = start_pool!()
      baseline = handles(pool)
      test = self()

      PyBridge.with_session(
        fn session ->
          holder =
            spawn(fn ->
              receive do
                :go ->
                  PyBridge.create("types.SimpleNamespace", [], [], session: session)
                  send(test, :created)
              end
            end)

          send(test, {:holder, holder})
        end,
        pool: pool
      )

      # The session is closed; another process still holds it and uses it.
      assert_receive {:holder, holder}
      send(holder, :go)
      assert_receive :created, 10_000
      eventually(fn -> handles(pool) == baseline end)
    end
  end

  describe "the repository root" do
    test "is found at run time from where the code runs" do
      tree = Path.join(System.tmp_dir!(), "pybridge_root_#{System.unique_integer([:positive])}")
      File.mkdir_p!(Path.join(tree, "pybridge_port"))
      File.write!(Path.join(tree, "pybridge_port/__main__.py"), "")
      on_exit(fn -> File.rm_rf!(tree) end)

      beam =
        Path.join(tree, "priv/pybridge/_build/dev/lib/pybridge/ebin/Elixir.PyBridge.Config.beam")

      assert Config.root_of(beam) == tree
      assert Config.root_of("/") == nil
      assert Config.root() == Path.expand("../..", File.cwd!())
    end
  end
end
