defmodule PyBridge.Router do
  @moduledoc false
  # Which worker a request goes to: the session's worker, else the worker of
  # the handle it targets, else the ready worker of the pool with the fewest
  # requests in Python (`PyBridge.Conn.load/1`: requests sent and not yet
  # answered, so cancelled calls still running count). Ties go to a worker
  # picked at random, so callers arriving together spread over the pool.
  # A process that got a handle back sticks to that handle's worker for calls
  # that name no handle (PyBridge.Affinity). Only the last case may be routed
  # again if the worker dies before the request is written.
  #
  # Across nodes (PyBridge.Cluster): local workers are always preferred;
  # only when the pool has none ready here does a request go to the remote
  # worker with the lowest published load. Handles and sessions go to their
  # worker wherever it runs (a handle's token names its worker on any node).

  alias PyBridge.{Cluster, Conn, Error, Ref, Session, Telemetry}
  alias PyBridge.Pool.Manager

  @doc "The worker for a request: `{:ok, conn, reroutable?}` or an error."
  @spec route(Session.t() | nil, Ref.t() | nil, atom(), timeout() | nil) ::
          {:ok, Conn.t(), boolean()} | {:error, Error.t()}
  def route(%Session{worker: conn}, nil, _pool, _timeout), do: session_worker(conn)

  def route(%Session{worker: %Conn{token: token} = conn}, %Ref{worker: token}, _, _),
    do: session_worker(conn)

  def route(%Session{worker: conn}, %Ref{} = ref, _pool, _timeout) do
    {:error,
     Error.new(
       "pybridge.StaleHandle",
       "handle #{inspect(ref)} belongs to another Python worker than the session " <>
         "(which runs on worker #{conn.token})"
     )}
  end

  def route(nil, %Ref{} = ref, _pool, _timeout) do
    case Registry.lookup(PyBridge.Registry, {:token, ref.worker}) do
      [{_pid, %Conn{} = conn}] ->
        {:ok, conn, false}

      [] ->
        case Cluster.by_token(ref.worker) do
          %Conn{} = conn -> {:ok, conn, false}
          nil -> {:error, stale(ref)}
        end
    end
  end

  # The worker this process's handles live on (PyBridge.Affinity), else the least loaded.
  def route(nil, nil, pool, timeout) do
    with {:ok, conn} <- PyBridge.Affinity.checkout(pool, timeout), do: {:ok, conn, true}
  end

  # A remote worker's death is seen by the monitor the caller takes when it sends.
  defp session_worker(%Conn{pid: pid} = conn) when node(pid) != node(), do: {:ok, conn, false}

  defp session_worker(%Conn{pid: pid} = conn) do
    if Process.alive?(pid) do
      {:ok, conn, false}
    else
      {:error,
       Error.new(
         "pybridge.WorkerExited",
         "the session's Python worker (OS pid #{conn.os_pid}) is no longer running; " <>
           "its handles are gone"
       )}
    end
  end

  @doc "The least loaded ready worker of `pool` (other than `avoid`), waiting for one if none is ready."
  @spec checkout(atom(), timeout() | nil, pid() | nil) :: {:ok, Conn.t()} | {:error, Error.t()}
  def checkout(pool, timeout, avoid \\ nil) do
    case workers(pool, avoid) do
      [] ->
        with :error <- remote(pool, avoid),
             :ok <- await_worker(pool, timeout) do
          case workers(pool, avoid) do
            [] ->
              with :error <- remote(pool, avoid) do
                {:error, Error.new("pybridge.WorkerUnavailable", "no Python worker is ready")}
              end

            conns ->
              {:ok, least_loaded(conns)}
          end
        end

      [conn] ->
        {:ok, conn}

      conns ->
        {:ok, least_loaded(conns)}
    end
  end

  @doc "Every ready worker of `pool` on this node."
  @spec workers(atom(), pid() | nil) :: [Conn.t()]
  def workers(pool, avoid \\ nil) do
    for {pid, %Conn{} = conn} <- Registry.lookup(PyBridge.Pools, pool), pid != avoid, do: conn
  end

  @doc "Every ready worker of `pool` on every connected node, this node's first."
  @spec cluster_workers(atom()) :: [Conn.t()]
  def cluster_workers(pool) do
    workers(pool) ++ Enum.map(Cluster.remote_workers(pool), &elem(&1, 0))
  end

  # The remote worker with the lowest published load, ties spread at random.
  defp remote(pool, avoid) do
    case Cluster.remote_workers(pool, avoid) do
      [] ->
        :error

      loads ->
        {before, rest} = Enum.split(loads, :erlang.phash2(make_ref(), length(loads)))
        {conn, _load} = Enum.min_by(rest ++ before, &elem(&1, 1))
        {:ok, conn}
    end
  end

  # The only place a caller waits for a worker: reported as a queue wait.
  defp await_worker(pool, timeout) do
    if Telemetry.available?() do
      start = System.monotonic_time()
      result = Manager.await_worker(pool, timeout)

      Telemetry.execute(
        [:pybridge, :queue, :wait],
        %{queue_time: System.monotonic_time() - start},
        %{
          pool: pool,
          node: node(),
          result: if(result == :ok, do: :ok, else: :error)
        }
      )

      result
    else
      Manager.await_worker(pool, timeout)
    end
  end

  # The minimum, scanning from a random place so that ties spread.
  defp least_loaded(conns) do
    {before, rest} = Enum.split(conns, :erlang.phash2(make_ref(), length(conns)))
    Enum.min_by(rest ++ before, &Conn.load/1)
  end

  @doc false
  @spec stale(Ref.t()) :: Error.t()
  def stale(ref) do
    Error.new(
      "pybridge.StaleHandle",
      "handle #{inspect(ref)} belongs to a Python worker that is no longer running " <>
        "on any connected node (worker #{ref.worker}); the object is gone and the handle " <>
        "cannot be used"
    )
  end
end
