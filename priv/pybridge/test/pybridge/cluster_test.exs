defmodule PyBridge.ClusterTest do
  # Pools across BEAM nodes: this node (A) makes itself distributed and starts
  # peer nodes (B, C) with OTP's :peer, each running Python workers. A has the
  # same pool with `pool_size: 0` (callers only), so every request crosses
  # the network.
  use ExUnit.Case, async: false

  import PyBridge.ClusterHelpers
  import PyBridge.TestHelpers, only: [eventually: 1]

  alias PyBridge.{Error, Ref}

  @moduletag :cluster
  @moduletag timeout: 180_000

  setup_all do
    distribute!()
    :ok
  end

  setup do
    pool = :"cluster_#{System.unique_integer([:positive])}"
    start_supervised!({PyBridge, name: pool, pool_size: 0})
    {:ok, pool: pool}
  end

  defp peer!(label, pool) do
    {peer, node} = start_peer!(label)
    on_exit(fn -> stop_peer(peer) end)
    start_pool!(node, pool)
    # A sees it once :pg has spread the join.
    eventually(fn ->
      Enum.any?(PyBridge.Cluster.remote_workers(pool), &(node(elem(&1, 0).pid) == node))
    end)

    node
  end

  defp os_pid_by_node(pool) do
    Map.new(PyBridge.stats!(pool: pool), &{&1.node, &1.pid})
  end

  test "a caller-only node reaches the workers of two other nodes", %{pool: pool} do
    b = peer!("b", pool)
    c = peer!("c", pool)

    # stats/1 reports the whole cluster's pool, each worker with its node.
    pids = os_pid_by_node(pool)
    assert Map.keys(pids) |> Enum.sort() == Enum.sort([b, c])

    # Loads are published every 100 ms and ties go at random: sequential
    # calls reach both nodes.
    seen =
      eventually(fn ->
        seen =
          for _ <- 1..20, into: MapSet.new(), do: PyBridge.call!("os.getpid", [], [], pool: pool)

        if MapSet.size(seen) == 2, do: seen
      end)

    assert seen == MapSet.new(Map.values(pids))

    # The least loaded remote worker is chosen: with a long call in flight
    # on one node (its load published within 100 ms), calls go to the other.
    # Long enough that it cannot end during the test on a loaded machine.
    busy =
      Task.async(fn -> PyBridge.call("time.sleep", [30], [], pool: pool, timeout: 60_000) end)

    stats = eventually(fn -> Enum.find(PyBridge.stats!(pool: pool), &(&1.in_flight >= 1)) end)
    [idle] = Map.values(pids) -- [stats.pid]

    eventually(fn ->
      Enum.all?(1..10, fn _ -> PyBridge.call!("os.getpid", [], [], pool: pool) == idle end)
    end)

    Task.shutdown(busy, :brutal_kill)

    # A large payload goes through and back (one message each way).
    big = :binary.copy("x", 4 * 1024 * 1024)
    assert PyBridge.call!("builtins.len", [big], [], pool: pool) == byte_size(big)

    assert {:error, %Error{type: "builtins.ValueError"}} =
             PyBridge.call("math.sqrt", [-1], [], pool: pool)
  end

  test "local workers are preferred; remote ones take over when there are none" do
    pool = :"mixed_#{System.unique_integer([:positive])}"
    start_supervised!({PyBridge, name: pool, pool_size: 1}, id: :mixed)
    b = peer!("b", pool)
    eventually(fn -> length(PyBridge.Router.workers(pool)) == 1 end)
    pids = os_pid_by_node(pool)
    assert Map.keys(pids) |> Enum.sort() == Enum.sort([node(), b])

    # Even with calls in flight here, a local worker is chosen.
    slow = Task.async(fn -> PyBridge.call("time.sleep", [0.5], [], pool: pool) end)

    for _ <- 1..20,
        do: assert(PyBridge.call!("os.getpid", [], [], pool: pool) == pids[node()])

    assert {:ok, nil} = Task.await(slow)

    # The local pool stops: its callers' requests go to B.
    stop_supervised!(:mixed)
    start_supervised!({PyBridge, name: pool, pool_size: 0}, id: :callers)
    assert PyBridge.call!("os.getpid", [], [], pool: pool) == pids[b]
  end

  test "handles, sessions and owners across nodes", %{pool: pool} do
    b = peer!("b", pool)
    [b_pid] = Map.values(os_pid_by_node(pool))

    # A handle created on B is used from another process of A, by its token.
    {:ok, counter} = PyBridge.create("collections.Counter", [["a", "b", "a"]], [], pool: pool)
    assert %Ref{} = counter

    assert Task.async(fn -> PyBridge.method!(counter, "most_common", [1], [], pool: pool) end)
           |> Task.await() == [{"a", 2}]

    # A session pins to its worker wherever it lives.
    PyBridge.with_session(
      fn session ->
        for _ <- 1..5, do: assert(PyBridge.call!("os.getpid", [], [], session: session) == b_pid)
        {:ok, ns} = PyBridge.create("types.SimpleNamespace", [], [n: 1], session: session)
        assert PyBridge.attr!(ns, "n", session: session) == 1
      end,
      pool: pool
    )

    handles = fn -> Enum.sum(for s <- PyBridge.stats!(pool: pool), do: s.handles) end
    eventually(fn -> handles.() == 1 end)

    # A process of A that owns handles on B dies: B frees them.
    test = self()

    owner =
      spawn(fn ->
        {:ok, _} = PyBridge.create("types.SimpleNamespace", [], [], pool: pool)
        {:ok, _} = PyBridge.create("types.SimpleNamespace", [], [], pool: pool)
        send(test, :created)
        receive do: (:never -> :ok)
      end)

    assert_receive :created, 15_000
    eventually(fn -> handles.() == 3 end)
    Process.exit(owner, :kill)
    eventually(fn -> handles.() == 1 end)
    assert node(hd(PyBridge.Router.cluster_workers(pool)).pid) == b
  end

  test "the node of a handle's owner dies: the worker frees the handle", %{pool: pool} do
    peer!("b", pool)
    {peer_c, c} = start_peer!("c")
    on_exit(fn -> stop_peer(peer_c) end)
    # C is a node of callers only.
    start_pool!(c, pool, 0)
    handles = fn -> Enum.sum(for s <- PyBridge.stats!(pool: pool), do: s.handles) end

    Node.spawn(c, PyBridge.ClusterHelpers, :hold_handles, [pool, 2, self()])
    assert_receive {:holding, owner}, 30_000
    assert node(owner) == c
    eventually(fn -> handles.() == 2 end)

    kill_node!(c)
    eventually(fn -> handles.() == 0 end)
  end

  test "a Python generator on B consumed on A; Python on B calling a fun of A", %{pool: pool} do
    b = peer!("b", pool)
    key = "stream_#{System.unique_integer([:positive])}"

    # Credit flows back across nodes: 200 items with a window of 8.
    assert PyBridge.stream("pybridge_test_support.counting", [key, 200], [], pool: pool, window: 8)
           |> Enum.to_list() == Enum.to_list(0..199)

    # Halting early closes the generator on B.
    assert PyBridge.stream("pybridge_test_support.counting", [key <> "h"], [], pool: pool)
           |> Enum.take(3) == [0, 1, 2]

    eventually(fn ->
      PyBridge.call!("pybridge_test_support.events", [key <> "h"], [], pool: pool) ==
        ["started", "finally"]
    end)

    # This anonymous fun's module exists only on A: it must run here.
    test = self()

    # It calls Python again from A (a nested call, to B: A has no worker).
    key_fun = fn s ->
      send(test, {:ran_on, node()})
      PyBridge.call!("builtins.len", [s], [], pool: pool)
    end

    assert PyBridge.call!("builtins.sorted", [["bb", "a", "ccc"]], [key: key_fun], pool: pool) ==
             ["a", "bb", "ccc"]

    assert_received {:ran_on, node} when node == node()
    refute node() == b

    # A callback raising on A is an exception in Python on B.
    assert {:error, %Error{message: message}} =
             PyBridge.call("builtins.sorted", [["b", "a"]], [key: fn _ -> raise "nope" end],
               pool: pool
             )

    assert message =~ "nope"
  end

  test "a node killed mid-call: pending callers get WorkerExited, handles go stale", %{pool: pool} do
    b = peer!("b", pool)
    {:ok, ns} = PyBridge.create("types.SimpleNamespace", [], [], pool: pool)

    call =
      Task.async(fn -> PyBridge.call("time.sleep", [60], [], pool: pool, timeout: 120_000) end)

    # The call is running on B.
    eventually(fn -> Enum.any?(PyBridge.stats!(pool: pool), &(&1.in_flight >= 1)) end)

    kill_node!(b)

    assert {:error, %Error{type: "pybridge.WorkerExited", message: message}} =
             Task.await(call, 10_000)

    assert message =~ to_string(b)

    # Routing forgets B as soon as :pg has seen the nodedown (the same
    # disconnection that ended the call); its handles are stale.
    eventually(fn -> PyBridge.Cluster.remote_workers(pool) == [] end)
    assert {:error, %Error{type: "pybridge.StaleHandle"}} = PyBridge.attr(ns, "x", pool: pool)

    assert {:error, %Error{type: type}} =
             PyBridge.call("os.getpid", [], [], pool: pool, timeout: 300)

    assert type in ["pybridge.Timeout", "pybridge.WorkerUnavailable"]
  end

  test "a request routed to a node already gone goes to another worker", %{pool: pool} do
    b = peer!("b", pool)
    c = peer!("c", pool)

    [b_conn] =
      for {conn, _load} <- PyBridge.Cluster.remote_workers(pool), node(conn.pid) == b, do: conn

    kill_node!(b)
    eventually(fn -> b not in Node.list() end)

    # As a caller that routed just before the nodedown reached it: the worker is on B.
    prepared = %{PyBridge.Client.on(b_conn, 10_000) | pool: pool, reroutable: true}
    build = fn id, opts -> {:call, id, "os.getpid", [], [], opts} end
    assert {:ok, os_pid} = PyBridge.Client.execute(prepared, build)
    assert os_pid == os_pid_by_node(pool)[c]

    # A handle's or a session's request is not moved: its objects live on B.
    assert {:error, %Error{type: "pybridge.WorkerExited"}} =
             PyBridge.Client.execute(PyBridge.Client.on(b_conn, 10_000), build)
  end

  test "a node that joins under load takes calls without a restart", %{pool: pool} do
    peer!("b", pool)

    # Four callers call without pause (call!/4 raises on any error).
    load =
      for _ <- 1..4 do
        Task.async(fn ->
          Stream.repeatedly(fn -> PyBridge.call!("os.getpid", [], [], pool: pool) end)
          |> Enum.reduce_while(MapSet.new(), fn pid, seen ->
            seen = MapSet.put(seen, pid)

            receive do
              :stop -> {:halt, seen}
            after
              0 -> {:cont, seen}
            end
          end)
        end)
      end

    c = peer!("c", pool)
    c_pid = os_pid_by_node(pool)[c]

    # C was started while the callers ran; calls soon reach it.
    eventually(fn ->
      PyBridge.call!("os.getpid", [], [], pool: pool) == c_pid
    end)

    Enum.each(load, &send(&1.pid, :stop))
    seen = load |> Enum.map(&Task.await(&1, 30_000)) |> Enum.reduce(&MapSet.union/2)
    assert MapSet.subset?(seen, MapSet.new(Map.values(os_pid_by_node(pool))))
  end

  test "a caller-only pool waits for a remote worker to join", %{pool: pool} do
    waiting =
      Task.async(fn -> PyBridge.call("os.getpid", [], [], pool: pool, timeout: 60_000) end)

    b = peer!("b", pool)
    assert {:ok, pid} = Task.await(waiting, 60_000)
    assert os_pid_by_node(pool)[b] == pid
  end
end
