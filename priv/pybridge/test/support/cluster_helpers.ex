defmodule PyBridge.ClusterHelpers do
  @moduledoc false
  # Extra BEAM nodes on this machine for the cluster tests, with OTP's :peer.
  # The test node makes itself distributed (starting epmd if needed), so the
  # tests run under a plain `mix test`. Peers get this node's code path and
  # cookie, and PYBRIDGE_PYTHON from this node's environment (or the
  # worker's default Python).

  @support_python Path.expand("python", __DIR__)

  @doc "Makes this node distributed (a no-op if it already is)."
  def distribute! do
    unless Node.alive?() do
      # epmd is started by `erl -sname`, not by Node.start/2.
      _ = System.cmd("epmd", ["-daemon"])
      # The OS pid keeps names apart when several suites run on one machine.
      name = :"pybridge_test_#{System.pid()}@127.0.0.1"

      case Node.start(name, :longnames) do
        {:ok, _} -> :ok
        {:error, reason} -> raise "cannot make the test node distributed: #{inspect(reason)}"
      end
    end

    :ok
  end

  @doc """
  Starts a peer node (not linked: tests kill nodes) with the :pybridge
  application running and no default pool; returns `{peer, node}`.
  """
  def start_peer!(label) do
    code_path = Enum.flat_map(:code.get_path(), &[~c"-pa", &1])
    python = System.get_env("PYBRIDGE_PYTHON") || PyBridge.Config.python(config())

    {:ok, peer, node} =
      :peer.start(%{
        name: :"#{label}_#{System.pid()}_#{System.unique_integer([:positive])}",
        host: ~c"127.0.0.1",
        longnames: true,
        args: [~c"-setcookie", Atom.to_charlist(Node.get_cookie()) | code_path],
        env: [{~c"PYBRIDGE_PYTHON", String.to_charlist(python)}]
      })

    :ok = :erpc.call(node, :application, :load, [:pybridge])
    :ok = :erpc.call(node, :application, :set_env, [:pybridge, :default_pool, false])
    {:ok, _} = :erpc.call(node, Application, :ensure_all_started, [:pybridge])
    {peer, node}
  end

  @doc "Starts a pool named `pool` with `size` workers on `node` and waits until it is ready."
  def start_pool!(node, pool, size \\ 1) do
    opts = [
      name: pool,
      pool_size: size,
      python_path: [@support_python],
      imports: ["pybridge_test_support"],
      timeout: 15_000
    ]

    spec = :erpc.call(node, PyBridge, :child_spec, [opts])
    {:ok, _} = :erpc.call(node, Supervisor, :start_child, [PyBridge.Supervisor, spec])

    PyBridge.TestHelpers.eventually(fn ->
      length(:erpc.call(node, PyBridge.Router, :workers, [pool])) == size
    end)

    node
  end

  @doc "Stops a peer, whether or not its node is still up."
  def stop_peer(peer) do
    :peer.stop(peer)
  catch
    :exit, _ -> :ok
  end

  @doc "Kills a peer node's OS process (no orderly shutdown: a crash or a pulled cable)."
  def kill_node!(node) do
    os_pid = :erpc.call(node, :os, :getpid, [])
    PyBridge.TestHelpers.kill9(List.to_string(os_pid))
  end

  @doc "Creates `n` handles in `pool`, tells `reply_to`, and lives on (their owner)."
  def hold_handles(pool, n, reply_to) do
    for _ <- 1..n, do: {:ok, _} = PyBridge.create("types.SimpleNamespace", [], [], pool: pool)
    send(reply_to, {:holding, self()})
    receive do: (:never -> :ok)
  end

  defp config, do: PyBridge.Config.new!([])
end
