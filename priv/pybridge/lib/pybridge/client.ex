defmodule PyBridge.Client do
  @moduledoc false
  # The calling side of a request, run in the caller's own process: no
  # GenServer round trip per call. The caller picks a worker (the session's,
  # the handle's own, or the least loaded of the pool by in-flight count),
  # registers `id -> {alias, owner}` in the worker's public `requests` table,
  # writes its frame to the worker's Port itself and waits for
  # `{PyBridge.Worker, :reply, id, result}`. It waits on a monitor that is also
  # an alias (as `GenServer.call` does): the worker's death ends the wait at
  # once, and after a timeout the alias is gone, so a late reply is dropped by
  # the runtime instead of piling up in the caller's mailbox.
  #
  # The first time a process (the "owner" of the handles it creates) uses a
  # worker, the worker is asked to monitor it (memoised in the process
  # dictionary), so its handles are released when it exits.

  alias PyBridge.{Error, Ref, Session, Worker}
  alias PyBridge.Pool.Manager

  @type prepared :: %{
          conn: Worker.t(),
          owner: pid(),
          scope: pid() | pos_integer(),
          timeout: timeout(),
          ref: Ref.t() | nil
        }
  @type build :: (pos_integer(), map() -> tuple())
  @type result :: {:ok, term()} | {:error, Error.t()}

  @owner_key {__MODULE__, :owner}

  @doc "The process whose handles a request from this process creates."
  @spec owner() :: pid()
  def owner, do: Process.get(@owner_key) || self()

  @doc "Makes `owner` the owner of handles this process creates (callbacks)."
  @spec inherit_owner(pid()) :: :ok
  def inherit_owner(owner) when is_pid(owner) do
    Process.put(@owner_key, owner)
    :ok
  end

  ## Routing

  @doc """
  Picks the worker for a request and registers `owner` with it: the session's
  worker, else the worker of the handle `ref` (the target), else the least
  loaded worker of the pool (waiting for one to be ready if none is).
  """
  @spec prepare(keyword(), Ref.t() | nil, pid(), boolean()) ::
          {:ok, prepared()} | {:error, Error.t()}
  def prepare(opts, ref, owner, register? \\ true) do
    session = opts[:session]

    with {:ok, conn} <- route(session, ref, opts[:pool] || PyBridge, opts[:timeout]),
         timeout = opts[:timeout] || conn.timeout,
         :ok <- if(register?, do: register_owner(conn, owner, timeout), else: :ok) do
      scope = if session, do: session.id, else: owner
      {:ok, %{conn: conn, owner: owner, scope: scope, timeout: timeout, ref: ref}}
    end
  end

  defp route(%Session{worker: conn}, nil, _pool, _timeout), do: session_worker(conn)

  defp route(%Session{worker: %Worker{token: token} = conn}, %Ref{worker: token}, _, _),
    do: session_worker(conn)

  defp route(%Session{worker: conn}, %Ref{} = ref, _pool, _timeout) do
    {:error,
     Error.new(
       "pybridge.StaleHandle",
       "handle #{inspect(ref)} belongs to another Python worker than the session " <>
         "(which runs on worker #{conn.token})"
     )}
  end

  defp route(nil, %Ref{} = ref, _pool, _timeout) do
    case Registry.lookup(PyBridge.Registry, {:token, ref.worker}) do
      [{_pid, %Worker{} = conn}] -> {:ok, conn}
      [] -> {:error, stale(ref)}
    end
  end

  defp route(nil, nil, pool, timeout), do: PyBridge.Affinity.checkout(pool, timeout)

  defp session_worker(%Worker{pid: pid} = conn) do
    if Process.alive?(pid) do
      {:ok, conn}
    else
      {:error,
       Error.new(
         "pybridge.WorkerExited",
         "the session's Python worker (OS pid #{conn.os_pid}) is no longer running; " <>
           "its handles are gone"
       )}
    end
  end

  @doc "The least loaded ready worker of `pool`."
  @spec checkout(atom(), timeout() | nil) :: {:ok, Worker.t()} | {:error, Error.t()}
  def checkout(pool, timeout) do
    case workers(pool) do
      [] ->
        with :ok <- Manager.await_worker(pool, timeout) do
          case workers(pool) do
            [] -> {:error, Error.new("pybridge.WorkerUnavailable", "no Python worker is ready")}
            conns -> {:ok, least_loaded(conns)}
          end
        end

      [conn] ->
        {:ok, conn}

      conns ->
        {:ok, least_loaded(conns)}
    end
  end

  @doc "Every ready worker of `pool`."
  @spec workers(atom()) :: [Worker.t()]
  def workers(pool) do
    for {_pid, %Worker{} = conn} <- Registry.lookup(PyBridge.Pools, pool), do: conn
  end

  defp least_loaded(conns), do: Enum.min_by(conns, &:counters.get(&1.load, 1))

  defp register_owner(conn, owner, timeout) do
    key = {__MODULE__, :registered, conn.pid, owner}

    if Process.get(key) do
      :ok
    else
      case call_worker(conn, {:monitor_owner, owner}, timeout) do
        :ok ->
          Process.put(key, true)
          :ok

        {:error, _} = error ->
          error
      end
    end
  end

  @doc "A `GenServer.call` to the worker process, its exit turned into an error."
  @spec call_worker(Worker.t(), term(), timeout()) :: term()
  def call_worker(conn, message, timeout) do
    GenServer.call(conn.pid, message, timeout)
  catch
    :exit, {:timeout, _} ->
      {:error,
       Error.new("pybridge.Timeout", "the Python worker did not answer within #{timeout} ms")}

    :exit, {reason, _} ->
      {:error, exited(conn, reason)}
  end

  ## Requests

  @doc """
  Sends the frame `build.(id, request_opts)` and waits for its reply.
  `request_opts` is `%{scope: scope}` merged with `extra`.
  """
  @spec execute(prepared(), build(), map()) :: result()
  def execute(%{conn: conn} = prepared, build, extra \\ %{}) do
    id = System.unique_integer([:positive, :monotonic])
    frame = :erlang.term_to_binary(build.(id, Map.put(extra, :scope, prepared.scope)))

    if byte_size(frame) > conn.max_frame do
      {:error, too_big(frame, conn)}
    else
      mref = :erlang.monitor(:process, conn.pid, [{:alias, :demonitor}])
      :counters.add(conn.load, 1, 1)

      try do
        send_request(conn, id, mref, prepared.owner, frame)
        await(prepared, id, mref)
      after
        :counters.sub(conn.load, 1, 1)
      end
    end
  end

  defp send_request(conn, id, mref, owner, frame) do
    true = :ets.insert(conn.requests, {id, mref, owner})
    _ = Port.command(conn.port, frame)
    :ok
  rescue
    # The worker (owner of the table and the Port) is gone: the monitor
    # reports it at once.
    ArgumentError -> :ok
  end

  defp await(prepared, id, mref) do
    receive do
      {Worker, :reply, ^id, result} ->
        Process.demonitor(mref, [:flush])
        wire_result(result)

      {:DOWN, ^mref, :process, _pid, reason} ->
        {:error, exited(prepared.conn, reason, prepared.ref)}
    after
      prepared.timeout ->
        Process.demonitor(mref, [:flush])

        # The reply may have arrived just before the alias went away.
        receive do
          {Worker, :reply, ^id, result} -> wire_result(result)
        after
          0 ->
            send_frame(prepared.conn, {:cancel, id})
            {:error, timed_out(prepared.timeout)}
        end
    end
  end

  defp wire_result({:ok, value}), do: {:ok, value}
  defp wire_result({:error, error}), do: {:error, Error.from_wire(error)}

  defp send_frame(conn, term) do
    _ = Port.command(conn.port, :erlang.term_to_binary(term))
    :ok
  rescue
    ArgumentError -> :ok
  end

  ## Streams

  @doc """
  A lazy stream of the items of the iterable `build` asks for. Nothing is
  sent before it is consumed. Python sends at most `window` items ahead of
  what the stream has taken; credit is granted as items are taken. Halting
  early cancels the request, which closes the Python generator.
  """
  @spec stream(keyword(), Ref.t() | nil, build(), pos_integer()) :: Enumerable.t()
  def stream(opts, ref, build, window) do
    owner = owner()

    Stream.resource(
      fn -> start_stream(opts, ref, owner, build, window) end,
      &next_chunk/1,
      &stop_stream/1
    )
  end

  defp start_stream(opts, ref, owner, build, window) do
    case prepare(opts, ref, owner) do
      {:ok, %{conn: conn} = prepared} ->
        id = System.unique_integer([:positive, :monotonic])
        request_opts = %{scope: prepared.scope, stream: true, window: window}
        frame = :erlang.term_to_binary(build.(id, request_opts))
        if byte_size(frame) > conn.max_frame, do: raise(too_big(frame, conn))
        mref = :erlang.monitor(:process, conn.pid, [{:alias, :demonitor}])
        :counters.add(conn.load, 1, 1)
        send_request(conn, id, mref, owner, frame)

        %{
          prepared: prepared,
          id: id,
          mref: mref,
          batch: max(div(window, 2), 1),
          owed: 0,
          done: false
        }

      {:error, error} ->
        raise error
    end
  end

  defp next_chunk(%{done: true} = state), do: {:halt, state}

  defp next_chunk(%{id: id, mref: mref, prepared: prepared} = state) do
    receive do
      {Worker, :chunk, ^id, value} ->
        {[value], grant_credit(state)}

      {Worker, :reply, ^id, {:ok, _}} ->
        {:halt, %{state | done: true}}

      {Worker, :reply, ^id, {:error, error}} ->
        Process.put({__MODULE__, :stream_done, id}, true)
        raise Error.from_wire(error)

      {:DOWN, ^mref, :process, _pid, reason} ->
        Process.put({__MODULE__, :stream_done, id}, true)
        raise exited(prepared.conn, reason, prepared.ref)
    after
      prepared.timeout -> raise timed_out(prepared.timeout)
    end
  end

  defp grant_credit(%{owed: owed, batch: batch} = state) when owed + 1 < batch,
    do: %{state | owed: owed + 1}

  defp grant_credit(state) do
    send_frame(state.prepared.conn, {:credit, state.id, state.owed + 1})
    %{state | owed: 0}
  end

  # Runs when the stream ends, halts early or raises (Stream.resource then
  # passes the state from before the failing step, hence the marker).
  defp stop_stream(%{id: id, mref: mref, prepared: %{conn: conn}} = state) do
    finished = Process.delete({__MODULE__, :stream_done, id}) || state.done
    if not finished, do: send_frame(conn, {:cancel, id})
    Process.demonitor(mref, [:flush])
    flush_stream(id)
    :counters.sub(conn.load, 1, 1)
    :ok
  end

  defp flush_stream(id) do
    receive do
      {Worker, _tag, ^id, _value} -> flush_stream(id)
    after
      0 -> :ok
    end
  end

  ## Sessions

  @doc "Opens a session on the least loaded worker of the pool."
  @spec open_session(keyword()) :: {:ok, Session.t()} | {:error, Error.t()}
  def open_session(opts) do
    pool = opts[:pool] || PyBridge

    with {:ok, conn} <- checkout(pool, opts[:timeout]),
         {:ok, id} <- call_worker(conn, {:open_session, self()}, opts[:timeout] || conn.timeout) do
      {:ok, %Session{id: id, pool: pool, worker: conn}}
    end
  end

  @doc "Closes a session: the worker frees its handles."
  @spec close_session(Session.t()) :: :ok
  def close_session(%Session{id: id, worker: conn}) do
    _ = call_worker(conn, {:close_session, id}, conn.timeout)
    :ok
  end

  ## Errors

  @doc false
  @spec stale(Ref.t()) :: Error.t()
  def stale(ref) do
    Error.new(
      "pybridge.StaleHandle",
      "handle #{inspect(ref)} belongs to a Python worker that is no longer running " <>
        "(worker #{ref.worker}); the object is gone and the handle cannot be used"
    )
  end

  defp exited(conn, reason, ref \\ nil)

  defp exited(_conn, :noproc, %Ref{} = ref), do: stale(ref)

  defp exited(conn, reason, _ref) do
    why =
      case reason do
        {:shutdown, {:python_exited, status}} when is_integer(status) ->
          "exited with status #{status}"

        {:shutdown, {:python_exited, reason}} ->
          "exited (#{inspect(reason)})"

        :noproc ->
          "is no longer running"

        other ->
          "stopped (#{Exception.format_exit(other)})"
      end

    Error.new(
      "pybridge.WorkerExited",
      "the Python worker (OS pid #{conn.os_pid}) #{why} before answering"
    )
  end

  defp timed_out(timeout) do
    Error.new(
      "pybridge.Timeout",
      "Python did not answer within #{timeout} ms; the worker was told to cancel the request"
    )
  end

  defp too_big(frame, conn) do
    Error.new(
      "pybridge.CodecError",
      "the request is #{byte_size(frame)} bytes, over the pool's max_frame (#{conn.max_frame} bytes)"
    )
  end
end
