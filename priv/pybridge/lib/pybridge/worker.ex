defmodule PyBridge.Worker do
  @moduledoc false
  # One Worker owns one Python OS process through a Port.
  #
  # Callers do not go through this process to send: they register their
  # request in the worker's public `requests` table and write their frame to
  # the Port themselves (PyBridge.Client). Python's replies arrive here, the
  # Port's owner, and go on undecoded to whoever registered the id
  # (Worker.Replies). Callers monitor the Worker while they wait, so its death
  # unblocks them at once.
  #
  # What needs a process lives here, each part in its own module:
  #   * Worker.Startup: the Port, handshake and startup imports (phases
  #     :handshake -> :imports -> :ready);
  #   * Worker.Replies: reply frames to their callers;
  #   * Worker.Watch: owners, callers and sessions, released or cancelled when
  #     they go, and cancelled requests that do not end;
  #   * PyBridge.Callback: a process per call from Python into Elixir;
  #   * PyBridge.Output: what Python prints.
  #
  # Requests from callers on other nodes (where the Port and the table cannot
  # be reached) come as one message holding the encoded frame,
  # `{Worker, :request, id, alias, caller, owner, frame}`: the worker does for
  # them what a local caller does itself, so the payload crosses the network
  # once. Their cancels and stream credit come as `{Worker, :frame, frame}`.
  # A callback (an Elixir fun) of a remote caller runs on the caller's node
  # (PyBridge.Callback).
  #
  # A worker whose cancelled request has not ended after `cancel_grace` ms
  # (a C call that cannot take the cancellation) retires: it leaves routing at
  # once, the manager starts its replacement, and it stops when nothing but
  # stuck requests is left in it, taking the Python process with it.

  use GenServer, restart: :temporary
  require Logger

  alias PyBridge.{Callback, Cluster, Config, Conn, Error, Output, Setup, Telemetry}
  alias PyBridge.Worker.{Replies, Startup, Watch}

  @tick 1_000

  @enforce_keys [:config, :manager, :requests, :load, :watch, :setup, :exports]
  defstruct [
    :config,
    :manager,
    :requests,
    :load,
    :watch,
    :setup,
    :exports,
    port: nil,
    phase: :handshake,
    conn: nil,
    info: %{},
    imports: %{},
    output: "",
    retiring: false,
    started: nil
  ]

  @type t :: %__MODULE__{
          config: Config.t(),
          manager: pid(),
          requests: :ets.tid(),
          load: :counters.counters_ref(),
          watch: Watch.t(),
          setup: Setup.plan(),
          exports: %{String.t() => {module(), atom(), non_neg_integer()}},
          port: port() | nil,
          phase: :handshake | :imports | :ready,
          conn: Conn.t() | nil,
          info: map(),
          imports: %{pos_integer() => String.t()},
          output: binary(),
          retiring: boolean(),
          started: integer() | nil
        }

  # Atoms the worker may send as map keys or tags: they must exist before a
  # frame is decoded with `:safe`.
  @wire_atoms [:hello, :ok, :error, :chunk, :callback, :output, :worker, :pid, :python] ++
                [:pybridge, :max_frame, :threads, :idle_threads, :handles, :scopes] ++
                [:in_flight, :streams, :max_rss_kb, :requests, :type, :message] ++
                [:traceback, :id, :dtype, :shape, :data, :scope_opened] ++
                [PyBridge.Ref, PyBridge.Bytes, PyBridge.NDArray]

  @doc false
  @spec wire_atoms() :: [atom()]
  def wire_atoms, do: @wire_atoms

  @spec start_link({Config.t(), pid()}) :: GenServer.on_start()
  def start_link({%Config{}, manager} = args) when is_pid(manager) do
    GenServer.start_link(__MODULE__, args)
  end

  ## Callbacks

  @impl true
  def init({config, manager}) do
    Process.flag(:trap_exit, true)

    state = %__MODULE__{
      config: config,
      manager: manager,
      requests: :ets.new(__MODULE__, [:set, :public, write_concurrency: true]),
      load: :counters.new(1, [:write_concurrency]),
      watch: Watch.new(config.cancel_grace),
      setup: Setup.plan(config.setup),
      exports: Map.new(config.export_to_python, fn {m, f, a, name} -> {name, {m, f, a}} end),
      started: System.monotonic_time()
    }

    {:ok, state, {:continue, :open}}
  end

  @impl true
  def handle_continue(:open, state) do
    case Startup.open(state.config) do
      {:ok, port} ->
        Process.send_after(self(), {__MODULE__, :startup_timeout}, state.config.startup_timeout)
        {:noreply, %{state | port: port}}

      {:error, reason} ->
        {:stop, reason, state}
    end
  end

  @impl true
  def handle_call({:open_session, owner}, _from, state) do
    {id, watch} = Watch.open_session(state.watch, owner)
    {:reply, {:ok, id}, %{state | watch: watch}}
  end

  def handle_call({:close_session, id}, _from, state) do
    {:reply, :ok, %{state | watch: Watch.close_session(state.watch, id, sender(state))}}
  end

  # A caller on another node that has not seen this worker published yet.
  def handle_call(:conn, _from, state), do: {:reply, state.conn, state}

  @impl true
  def handle_info({port, {:data, frame}}, %{port: port} = state) do
    case Replies.route(frame, state.requests, state.load) do
      {:reply, id, _owner} -> ended(state, id)
      {:chunk, _id, _} -> {:noreply, state}
      _other -> decode_frame(frame, state)
    end
  end

  def handle_info({__MODULE__, :request, id, alias, caller, owner, frame}, state) do
    true = :ets.insert(state.requests, {id, alias, caller, owner})
    :counters.add(state.load, 1, 1)
    write(state, frame)
    {:noreply, state}
  end

  def handle_info({__MODULE__, :frame, frame}, state) do
    write(state, frame)
    {:noreply, state}
  end

  def handle_info({port, {:exit_status, status}}, %{port: port} = state) do
    python_exited("status #{status}", status, state)
  end

  # The Port can close before the exit status is reported (a write to a
  # process that already exited fails with `epipe`): take the status if it
  # follows shortly, else the Port's reason.
  def handle_info({:EXIT, port, reason}, %{port: port} = state) when is_port(port) do
    receive do
      {^port, {:exit_status, status}} -> python_exited("status #{status}", status, state)
    after
      200 -> python_exited("the port closing (#{inspect(reason)})", reason, state)
    end
  end

  def handle_info({:EXIT, from, _reason}, state) when is_port(from), do: {:noreply, state}
  def handle_info({:EXIT, _from, reason}, state), do: {:stop, reason, state}

  def handle_info({:DOWN, ref, :process, _pid, _reason}, state) do
    watch = Watch.down(state.watch, ref, state.requests, sender(state))
    {:noreply, %{state | watch: watch}}
  end

  def handle_info({__MODULE__, :cancelled, id}, state) do
    {:noreply, %{state | watch: Watch.cancelled(state.watch, id)}}
  end

  def handle_info({__MODULE__, :grace_over, id}, state) do
    case Watch.grace_over(state.watch, id, state.requests) do
      {:stuck, watch} -> retire(%{state | watch: watch}, id)
      {:ended, watch} -> {:noreply, %{state | watch: watch}}
    end
  end

  def handle_info({__MODULE__, :tick}, state) do
    Process.send_after(self(), {__MODULE__, :tick}, @tick)
    stop_if_retired(%{state | watch: Watch.tick(state.watch, state.requests)})
  end

  def handle_info({__MODULE__, :startup_timeout}, %{phase: phase} = state) when phase != :ready do
    message =
      "Python worker did not finish starting (handshake and startup imports) " <>
        "within #{state.config.startup_timeout} ms (phase: #{phase})"

    {:stop, Startup.failure(message), state}
  end

  def handle_info({__MODULE__, :startup_timeout}, state), do: {:noreply, state}

  # Replaced by a new worker (PyBridge.Reloader): take no new calls, stop
  # once the calls in flight have ended. The first check waits a moment for
  # callers that picked this worker just before it left the pool.
  # The manager replaces this worker (PyBridge.Reloader saw its code change).
  def handle_info({__MODULE__, :retire}, state), do: {:noreply, leave_routing(state)}

  def handle_info(message, state) do
    Logger.debug("PyBridge.Worker ignored #{inspect(message)}")
    {:noreply, state}
  end

  @impl true
  def terminate(reason, state) do
    _ = Output.flush(state.output, output_target(state))

    Telemetry.execute([:pybridge, :worker, :exit], %{count: 1}, %{
      pool: state.config.name,
      worker: state.info[:worker],
      os_pid: state.info[:pid],
      node: node(),
      reason: reason
    })

    # Closing stdin makes the worker exit (and kill its process group).
    if state.port, do: close_port(state.port)
    :ok
  end

  ## Frames other than replies

  defp decode_frame(frame, state) do
    case Replies.head(frame) do
      {"callback", _} -> callback(frame, state)
      _ -> decode_other(frame, state)
    end
  end

  # An Elixir fun runs on the node of the caller that passed it (where its
  # code and the state it closes over live): a callback of a request from
  # another node goes there undecoded. A callback by exported name, or of a
  # local caller, runs here.
  defp callback(frame, state) do
    with {:ok, request_id, false} <- Replies.callback_request(frame),
         [{_, _alias, caller, owner}] when node(caller) != node() <-
           :ets.lookup(state.requests, request_id) do
      Callback.start_remote(node(caller), self(), frame, owner, state.config.max_frame)
      {:noreply, state}
    else
      _ -> decode_other(frame, state)
    end
  end

  defp decode_other(frame, state) do
    :erlang.binary_to_term(frame, [:safe])
  rescue
    ArgumentError -> {:noreply, undecodable(frame, state)}
  else
    term -> handle_frame(term, state)
  end

  # A callback whose arguments this node cannot decode: Python's thread gets
  # the error at once instead of waiting forever.
  defp undecodable(frame, state) do
    case Replies.head(frame) do
      {"callback", callback_id} ->
        send_frame(state, {:callback_reply, callback_id, {:error, Replies.undecodable(frame)}})

      _ ->
        Logger.error(
          "PyBridge: undecodable frame from Python worker #{state.info[:pid]}: " <>
            Replies.undecodable(frame).message
        )
    end

    state
  end

  defp handle_frame({tag, id, result}, %{phase: :imports} = state)
       when tag in [:ok, :error] and is_map_key(state.imports, id) do
    {module, imports} = Map.pop(state.imports, id)

    case tag do
      :ok ->
        maybe_ready(%{state | imports: imports})

      :error ->
        error = Error.from_wire(result)
        message = "#{Setup.describe(module)} failed: " <> Exception.message(error)
        {:stop, Startup.failure(message), state}
    end
  end

  # Replies to requests the worker itself sent (release_scope) or that ended already.
  defp handle_frame({tag, id, _}, state) when tag in [:ok, :chunk] and is_integer(id),
    do: {:noreply, state}

  defp handle_frame({:error, id, _}, state) when is_integer(id), do: {:noreply, state}

  defp handle_frame({:scope_opened, scope}, state) do
    {:noreply, %{state | watch: Watch.scope_opened(state.watch, scope, sender(state))}}
  end

  defp handle_frame({:callback, callback_id, request_id, fun, args}, state) do
    owner =
      case :ets.lookup(state.requests, request_id) do
        [{_, _alias, _caller, owner}] -> owner
        [] -> nil
      end

    Callback.start(
      state.port,
      state.config.max_frame,
      callback_id,
      fun,
      args,
      owner,
      state.exports
    )

    {:noreply, state}
  end

  defp handle_frame({:output, data}, state) when is_binary(data) do
    {:noreply, %{state | output: Output.write(state.output, data, output_target(state))}}
  end

  defp handle_frame({:error, nil, error}, %{phase: :ready} = state) do
    Logger.warning(
      "PyBridge: Python worker reported: #{Exception.message(Error.from_wire(error))}"
    )

    {:noreply, state}
  end

  defp handle_frame({:error, nil, error}, state) do
    # A refused handshake, or a policy the worker could not meet (it then exits with 78).
    message = "Python worker did not start: " <> Exception.message(Error.from_wire(error))
    {:stop, Startup.failure(message), state}
  end

  defp handle_frame({:hello, 1, %{worker: token} = info}, %{phase: :handshake} = state)
       when is_binary(token) do
    imports = Startup.send_imports(state.config, sender(state))
    maybe_ready(%{state | info: info, phase: :imports, imports: imports})
  end

  defp handle_frame(frame, %{phase: :ready} = state) do
    Logger.warning("PyBridge: unexpected frame from Python worker: #{inspect(frame, limit: 20)}")
    {:noreply, state}
  end

  defp handle_frame(frame, state) do
    message = "unexpected frame from Python worker during startup: #{inspect(frame, limit: 20)}"
    {:stop, Startup.failure(message), state}
  end

  defp maybe_ready(%{imports: imports} = state) when map_size(imports) > 0,
    do: {:noreply, state}

  defp maybe_ready(state) do
    conn =
      state.conn ||
        %Conn{
          pid: self(),
          port: state.port,
          requests: state.requests,
          load: state.load,
          token: state.info.worker,
          pool: state.config.name,
          max_frame: state.config.max_frame,
          timeout: state.config.timeout,
          os_pid: Map.get(state.info, :pid)
        }

    # Setup calls run one after the other, like the imports before them (PyBridge.Setup).
    case Setup.next(state.setup, conn.pool, conn) do
      {:call, call, setup} ->
        id = System.unique_integer([:positive, :monotonic])
        send_frame(state, Setup.frame(id, call, false))
        {:noreply, %{state | conn: conn, setup: setup, imports: %{id => {:setup, call}}}}

      {:error, message} ->
        {:stop, Startup.failure(message), state}

      :ready ->
        {:ok, _} = Registry.register(PyBridge.Registry, {:token, conn.token}, conn)
        {:ok, _} = Registry.register(PyBridge.Pools, conn.pool, conn)
        :ok = Cluster.join(conn)
        send(state.manager, {__MODULE__, :ready, self()})

        Telemetry.execute(
          [:pybridge, :worker, :start],
          %{duration: System.monotonic_time() - state.started},
          %{pool: conn.pool, worker: conn.token, os_pid: conn.os_pid, node: node()}
        )

        Process.send_after(self(), {__MODULE__, :tick}, @tick)
        {:noreply, %{state | phase: :ready, conn: conn}}
    end
  end

  ## Requests ending, retiring

  defp ended(state, id), do: {:noreply, %{state | watch: Watch.ended(state.watch, id)}}

  defp retire(%{retiring: true} = state, _id), do: {:noreply, state}

  defp retire(state, id) do
    Logger.warning(
      "PyBridge pool #{inspect(state.config.name)}: request #{id} of Python worker " <>
        "#{state.info[:pid]} did not end #{state.config.cancel_grace} ms after it was " <>
        "cancelled (a call blocked outside Python); the worker takes no new calls and is " <>
        "replaced once its other calls end"
    )

    send(state.manager, {__MODULE__, :retiring, self()})
    {:noreply, leave_routing(state)}
  end

  # No new calls come; the worker stops at a tick (so a caller that routed
  # here just before has written its request) once only stuck calls are left.
  defp leave_routing(state) do
    Registry.unregister(PyBridge.Pools, state.config.name)
    Cluster.leave_pool(state.config.name, self())
    %{state | retiring: true}
  end

  defp stop_if_retired(%{retiring: true} = state) do
    if Watch.only_stuck_left?(state.watch, state.requests),
      do: {:stop, {:shutdown, :retired}, state},
      else: {:noreply, state}
  end

  defp stop_if_retired(state), do: {:noreply, state}

  ## Python's exit

  defp python_exited(how, status, state) do
    if state.conn do
      Registry.unregister(PyBridge.Pools, state.config.name)
      Cluster.leave_pool(state.config.name, self())
    end

    state = %{state | port: nil, output: Output.flush(state.output, output_target(state))}

    if state.phase == :ready do
      {:stop, PyBridge.Policy.Limits.exit_reason(state.config.limits, status), state}
    else
      message =
        "Python worker exited with #{how} before it was ready" <> Startup.diagnose(state.config)

      {:stop, Startup.failure(message), state}
    end
  end

  defp close_port(port) do
    Port.close(port)
  rescue
    ArgumentError -> true
  end

  defp sender(state), do: &send_frame(state, &1)

  defp write(%{port: nil}, _frame), do: :ok

  defp write(%{port: port}, frame) do
    _ = Port.command(port, frame)
    :ok
  rescue
    ArgumentError -> :ok
  end

  defp send_frame(%{port: nil}, _term), do: :ok

  defp send_frame(%{port: port}, term) do
    _ = Port.command(port, :erlang.term_to_binary(term))
    :ok
  rescue
    ArgumentError -> :ok
  end

  defp output_target(state), do: {state.config.output, state.config.name, state.info[:pid]}
end
