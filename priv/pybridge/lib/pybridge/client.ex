defmodule PyBridge.Client do
  @moduledoc false
  # The calling side of a request, run in the caller's own process: no
  # GenServer round trip per call. The caller routes (PyBridge.Router),
  # registers `{id, alias, caller, owner}` in the worker's public `requests`
  # table, writes its frame to the worker's Port itself and waits for
  # `{PyBridge.Worker, :reply, id, frame}`, which it decodes itself. It waits
  # on a monitor that is also an alias (as `GenServer.call` does): the
  # worker's death ends the wait at once, and after a timeout the alias is
  # gone, so a late reply is dropped by the runtime instead of piling up in
  # the caller's mailbox. On a timeout the caller tells Python to cancel and
  # tells the worker, which gives the request `cancel_grace` ms to end.
  #
  # The "owner" of a request is the process whose handles it creates: the
  # caller, or the process a callback runs on behalf of.
  #
  # A worker on another node cannot be written to from here: the request goes
  # to the Worker process as one message holding the frame (see
  # PyBridge.Worker), and so do cancels and stream credit. Everything else,
  # the monitor-alias, the wait and the decoding, is the same.
  #
  # Telemetry (PyBridge.Telemetry, events in the PyBridge moduledoc) costs one
  # `:persistent_term` read per request when `:telemetry` is not loaded.

  alias PyBridge.{Conn, Error, Ref, Router, Session, Telemetry, Worker}
  alias PyBridge.Worker.Replies

  @type prepared :: %{
          conn: Conn.t(),
          owner: pid(),
          scope: pid() | pos_integer(),
          timeout: timeout(),
          ref: Ref.t() | nil,
          pool: atom(),
          reroutable: boolean()
        }
  @type build :: (integer(), map() -> tuple())
  @type result :: {:ok, term()} | {:error, Error.t()}

  @owner_key {__MODULE__, :owner}
  # Times a request is routed again when its worker died before it was written.
  @attempts 3

  @doc "The process whose handles a request from this process creates."
  @spec owner() :: pid()
  def owner, do: Process.get(@owner_key) || self()

  @doc "Makes `owner` the owner of handles this process creates (callbacks)."
  @spec inherit_owner(pid()) :: :ok
  def inherit_owner(owner) when is_pid(owner) do
    Process.put(@owner_key, owner)
    :ok
  end

  @doc "Routes a request of `owner` (see PyBridge.Router)."
  @spec prepare(keyword(), Ref.t() | nil, pid()) :: {:ok, prepared()} | {:error, Error.t()}
  def prepare(opts, ref, owner) do
    session = opts[:session]
    pool = opts[:pool] || PyBridge

    with {:ok, conn, reroutable} <- Router.route(session, ref, pool, opts[:timeout]) do
      {:ok,
       %{
         conn: conn,
         owner: owner,
         scope: if(session, do: session.id, else: owner),
         timeout: opts[:timeout] || conn.timeout,
         ref: ref,
         pool: pool,
         reroutable: reroutable
       }}
    end
  end

  @doc "A request to one given worker (for operations on every worker)."
  @spec on(Conn.t(), timeout()) :: prepared()
  def on(conn, timeout) do
    %{
      conn: conn,
      owner: self(),
      scope: self(),
      timeout: timeout,
      ref: nil,
      pool: conn.pool,
      reroutable: false
    }
  end

  @doc "A `GenServer.call` to the worker process, its exit turned into an error."
  @spec call_worker(Conn.t(), term(), timeout()) :: term()
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
  def execute(prepared, build, extra \\ %{}) do
    id = System.unique_integer([:positive, :monotonic])
    request = build.(id, Map.put(extra, :scope, prepared.scope))
    frame = :erlang.term_to_binary(request)

    cond do
      byte_size(frame) > prepared.conn.max_frame -> {:error, too_big(frame, prepared.conn)}
      Telemetry.available?() -> observed(prepared, request, id, frame)
      true -> decoded(send_and_await(prepared, id, frame, @attempts))
    end
  end

  defp decoded({:frame, frame}), do: wire_result(Replies.decode(frame))
  defp decoded({:error, _} = error), do: error

  # `[:pybridge, op, :start | :stop]` around a request (op: :call, :create,
  # :method, :attr, ...); bytes in are those of the reply frame, read from
  # the message before it is decoded.
  defp observed(prepared, request, id, frame) do
    op = with :get_attr <- elem(request, 0), do: :attr
    metadata = metadata(prepared, request)
    start = System.monotonic_time()

    Telemetry.execute(
      [:pybridge, op, :start],
      %{system_time: System.system_time(), monotonic_time: start, bytes_out: byte_size(frame)},
      metadata
    )

    reply = send_and_await(prepared, id, frame, @attempts)
    result = decoded(reply)
    stop = System.monotonic_time()

    {status, extra} =
      case result do
        {:ok, _} -> {:ok, %{}}
        {:error, error} -> {:error, %{error: error}}
      end

    Telemetry.execute(
      [:pybridge, op, :stop],
      %{
        duration: stop - start,
        monotonic_time: stop,
        bytes_out: byte_size(frame),
        bytes_in: if(match?({:frame, _}, reply), do: byte_size(elem(reply, 1)), else: 0)
      },
      Map.merge(metadata, Map.put(extra, :status, status))
    )

    result
  end

  defp metadata(%{conn: conn, pool: pool}, request) do
    %{
      pool: pool,
      worker: conn.token,
      node: node(conn.pid),
      target: target(request)
    }
  end

  defp target({:method, _id, ref, name, _args, _kwargs, _opts}), do: {ref, name}
  defp target({op, _id, target, _args, _kwargs, _opts}) when op in [:call, :create], do: target
  defp target({:get_attr, _id, target, name, _opts}), do: {target, name}
  defp target({:set_attr, _id, ref, name, _value, _opts}), do: {ref, name}
  defp target({:import, _id, name}), do: name
  defp target(_request), do: nil

  defp send_and_await(%{conn: conn} = prepared, id, frame, attempts) do
    mref = :erlang.monitor(:process, conn.pid, [{:alias, :demonitor}])

    case send_request(conn, id, mref, prepared.owner, frame) do
      :ok ->
        await(prepared, id, mref)

      :closed ->
        Process.demonitor(mref, [:flush])

        with true <- prepared.reroutable and attempts > 1,
             {:ok, other} <- Router.checkout(prepared.pool, prepared.timeout, conn.pid) do
          send_and_await(%{prepared | conn: other}, id, frame, attempts - 1)
        else
          {:error, _} = error -> error
          false -> {:error, exited(conn, :noproc, prepared.ref)}
        end
    end
  end

  # `:closed` when the worker (owner of the table and the Port) is gone, or
  # its node is no longer connected: the frame was not written, so the
  # request may go to another worker. A remote worker's death after the
  # send is seen by the monitor instead.
  defp send_request(%Conn{pid: pid}, id, mref, owner, frame) when node(pid) != node() do
    if node(pid) in Node.list(:connected) do
      send(pid, {Worker, :request, id, mref, self(), owner, frame})
      :ok
    else
      :closed
    end
  end

  defp send_request(conn, id, mref, owner, frame) do
    true = :ets.insert(conn.requests, {id, mref, self(), owner})
    :counters.add(conn.load, 1, 1)

    try do
      Port.command(conn.port, frame)
      :ok
    rescue
      ArgumentError ->
        :counters.sub(conn.load, 1, 1)
        forget(conn, id)
    end
  rescue
    ArgumentError -> :closed
  end

  defp forget(conn, id) do
    :ets.delete(conn.requests, id)
    :closed
  rescue
    ArgumentError -> :closed
  end

  defp await(prepared, id, mref) do
    receive do
      {Worker, :reply, ^id, frame} ->
        Process.demonitor(mref, [:flush])
        {:frame, frame}

      {:DOWN, ^mref, :process, _pid, reason} ->
        {:error, exited(prepared.conn, reason, prepared.ref)}
    after
      prepared.timeout ->
        Process.demonitor(mref, [:flush])

        # The reply may have arrived just before the alias went away.
        receive do
          {Worker, :reply, ^id, frame} -> {:frame, frame}
        after
          0 ->
            cancel(prepared.conn, id)
            {:error, timed_out(prepared.timeout)}
        end
    end
  end

  defp wire_result({:ok, value}), do: {:ok, value}
  defp wire_result({:error, error}), do: {:error, Error.from_wire(error)}

  # Python is told to cancel; the worker, to see that it ends (Worker.Watch).
  defp cancel(conn, id) do
    send_frame(conn, {:cancel, id})
    send(conn.pid, {Worker, :cancelled, id})
    :ok
  end

  defp send_frame(%Conn{pid: pid}, term) when node(pid) != node() do
    send(pid, {Worker, :frame, :erlang.term_to_binary(term)})
    :ok
  end

  defp send_frame(conn, term) do
    _ = Port.command(conn.port, :erlang.term_to_binary(term))
    :ok
  rescue
    ArgumentError -> :ok
  end

  ## Streams

  @doc """
  A lazy stream of the items of the iterable `build` asks for. Nothing is
  sent before it is consumed, and the process that consumes it owns it: its
  death closes the Python generator. Python sends at most `window` items
  ahead of what the stream has taken; credit is granted as items are taken.
  Halting early cancels the request, which closes the Python generator.
  """
  @spec stream(keyword(), Ref.t() | nil, build(), pos_integer()) :: Enumerable.t()
  def stream(opts, ref, build, window) do
    Stream.resource(
      fn -> start_stream(opts, ref, build, window) end,
      &next_chunk/1,
      &stop_stream/1
    )
  end

  defp start_stream(opts, ref, build, window) do
    with {:ok, %{conn: conn} = prepared} <- prepare(opts, ref, owner()),
         id = System.unique_integer([:positive, :monotonic]),
         request = build.(id, %{scope: prepared.scope, stream: true, window: window}),
         frame = :erlang.term_to_binary(request),
         :ok <-
           if(byte_size(frame) > conn.max_frame, do: {:error, too_big(frame, conn)}, else: :ok) do
      mref = :erlang.monitor(:process, conn.pid, [{:alias, :demonitor}])

      case send_request(conn, id, mref, prepared.owner, frame) do
        :ok -> stream_started(prepared, request, id, mref, frame, window)
        :closed -> raise exited(opts, :noproc)
      end
    else
      {:error, error} -> raise error
    end
  end

  defp stream_started(prepared, request, id, mref, frame, window) do
    started = System.monotonic_time()

    if Telemetry.available?() do
      Telemetry.execute(
        [:pybridge, :stream, :start],
        %{
          system_time: System.system_time(),
          monotonic_time: started,
          bytes_out: byte_size(frame)
        },
        Map.put(metadata(prepared, request), :window, window)
      )
    end

    %{
      prepared: prepared,
      id: id,
      mref: mref,
      batch: max(div(window, 2), 1),
      owed: 0,
      done: false,
      chunks: 0,
      started: started
    }
  end

  defp next_chunk(%{done: true} = state), do: {:halt, state}

  defp next_chunk(%{id: id, mref: mref, prepared: prepared} = state) do
    receive do
      {Worker, :chunk, ^id, frame} ->
        case Replies.decode(frame) do
          {:ok, value} -> {[value], grant_credit(%{state | chunks: state.chunks + 1})}
          {:error, error} -> raise Error.from_wire(error)
        end

      {Worker, :reply, ^id, frame} ->
        case Replies.decode(frame) do
          {:ok, _} ->
            {:halt, %{state | done: true}}

          {:error, error} ->
            Process.put({__MODULE__, :stream_done, id}, true)
            raise Error.from_wire(error)
        end

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
    if not finished, do: cancel(conn, id)
    Process.demonitor(mref, [:flush])
    flush_stream(id)

    if Telemetry.available?() do
      Telemetry.execute(
        [:pybridge, :stream, :stop],
        %{duration: System.monotonic_time() - state.started, chunks: state.chunks},
        %{
          pool: state.prepared.pool,
          worker: conn.token,
          node: node(conn.pid),
          status: if(state.done, do: :ok, else: :halted)
        }
      )
    end

    :ok
  end

  defp flush_stream(id) do
    receive do
      {Worker, _tag, ^id, _frame} -> flush_stream(id)
    after
      0 -> :ok
    end
  end

  ## Sessions

  @doc "Opens a session on the least loaded worker of the pool."
  @spec open_session(keyword()) :: {:ok, Session.t()} | {:error, Error.t()}
  def open_session(opts) do
    pool = opts[:pool] || PyBridge

    with {:ok, conn} <- Router.checkout(pool, opts[:timeout]),
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

  defp exited(conn, reason, ref \\ nil)

  defp exited(_conn, :noproc, %Ref{} = ref), do: Router.stale(ref)
  defp exited(_conn, {:shutdown, {:limit_exceeded, %Error{} = error}}, _ref), do: error

  defp exited(conn, reason, _ref) do
    why =
      case reason do
        {:shutdown, {:python_exited, 65}} ->
          "exited with status 65 (a frame over its max_frame: its input could not be resynchronised)"

        {:shutdown, {:python_exited, status}} when is_integer(status) ->
          "exited with status #{status}"

        {:shutdown, {:python_exited, reason}} ->
          "exited (#{inspect(reason)})"

        {:shutdown, :retired} ->
          "was retired (a cancelled call blocked outside Python did not end)"

        :noproc ->
          "is no longer running"

        :noconnection ->
          "runs on node #{node(conn.pid)}, which went down or lost its connection,"

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
