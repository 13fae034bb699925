defmodule PyBridge.Worker do
  @moduledoc false
  # One Worker owns one Python OS process through a Port.
  #
  # Callers do not go through this process to send: they register
  # `id -> {alias, owner}` in the Worker's public `requests` table and write
  # their frame to the Port themselves (`PyBridge.Client`). The Worker only
  # decodes what Python writes (always with `binary_to_term(bin, [:safe])`) and
  # forwards each reply to whoever registered its id, as
  # `{PyBridge.Worker, :reply | :chunk, id, value}`. Callers monitor the Worker
  # while they wait, so its death unblocks them at once.
  #
  # What needs a process lives here: the handshake and startup imports, the
  # monitors of handle owners and sessions (their scope is released with
  # `release_scope` when they go; requests still in flight for a dead owner are
  # cancelled first and the scope is released again once they end, so nothing
  # they create leaks), callbacks (each run in a new process) and Python's
  # output.
  #
  # The struct is the connection that callers use, published in
  # `PyBridge.Registry` under `{:token, token}` (for handles) and in
  # `PyBridge.Pools` under the pool name (for routing) once the worker is ready.

  use GenServer, restart: :temporary
  require Logger

  alias PyBridge.{Callback, Config, Error, Output, Setup}

  defstruct [:pid, :port, :requests, :load, :token, :pool, :max_frame, :timeout, :os_pid]

  @type t :: %__MODULE__{
          pid: pid(),
          port: port(),
          requests: :ets.tid(),
          load: :counters.counters_ref(),
          token: binary(),
          pool: atom(),
          max_frame: pos_integer(),
          timeout: timeout(),
          os_pid: non_neg_integer() | nil
        }

  # Atoms the worker may send as map keys or tags: they must exist before a
  # frame is decoded with `:safe`.
  @wire_atoms [:hello, :ok, :error, :chunk, :callback, :output, :worker, :pid, :python] ++
                [:pybridge, :max_frame, :threads, :handles, :scopes, :in_flight, :streams] ++
                [:max_rss_kb, :requests, :type, :message, :traceback, :id, :dtype, :shape] ++
                [:data, PyBridge.Ref, PyBridge.Bytes, PyBridge.NDArray]

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
    requests = :ets.new(__MODULE__, [:set, :public, write_concurrency: true])

    state = %{
      config: config,
      manager: manager,
      requests: requests,
      port: nil,
      phase: :handshake,
      conn: nil,
      info: %{},
      imports: %{},
      setup: Setup.plan(config.setup),
      owners: %{},
      sessions: %{},
      monitors: %{},
      pending_release: %{},
      output: "",
      exports: Map.new(config.export_to_python, fn {m, f, a, name} -> {name, {m, f, a}} end)
    }

    {:ok, state, {:continue, :open}}
  end

  @impl true
  def handle_continue(:open, %{config: config} = state) do
    python = Config.python(config)

    port_opts = [
      :binary,
      :exit_status,
      :use_stdio,
      :hide,
      {:packet, 4},
      args: Config.args(config),
      env: Enum.map(Config.env(config), &port_env/1)
    ]

    try do
      Port.open({:spawn_executable, python}, port_opts)
    rescue
      error in [ErlangError, ArgumentError] ->
        reason =
          case error do
            %ErlangError{original: reason} -> reason
            other -> Exception.message(other)
          end

        message =
          "cannot start Python executable #{inspect(python)}: #{format_posix(reason)} " <>
            "(set the :python option or PYBRIDGE_PYTHON)"

        {:stop, startup_failure(message), state}
    else
      port ->
        Process.send_after(self(), {__MODULE__, :startup_timeout}, config.startup_timeout)
        hello = {:hello, 1, %{exports: Config.export_names(config)}}
        true = Port.command(port, :erlang.term_to_binary(hello))
        {:noreply, %{state | port: port}}
    end
  end

  defp port_env({key, nil}), do: {String.to_charlist(key), false}
  defp port_env({key, value}), do: {String.to_charlist(key), String.to_charlist(value)}

  defp format_posix(reason) when is_atom(reason) do
    case :file.format_error(reason) do
      ~c"unknown POSIX error" ++ _ -> inspect(reason)
      text -> "#{text} (#{reason})"
    end
  end

  defp format_posix(reason), do: inspect(reason)

  @impl true
  def handle_call({:monitor_owner, pid}, _from, state) do
    {:reply, :ok, monitor_owner(state, pid)}
  end

  def handle_call({:open_session, owner}, _from, state) do
    id = System.unique_integer([:positive, :monotonic])
    ref = Process.monitor(owner)

    {:reply, {:ok, id},
     %{
       state
       | sessions: Map.put(state.sessions, id, ref),
         monitors: Map.put(state.monitors, ref, {:session, id})
     }}
  end

  def handle_call({:close_session, id}, _from, state) do
    case Map.pop(state.sessions, id) do
      {nil, _} ->
        {:reply, :ok, state}

      {ref, sessions} ->
        Process.demonitor(ref, [:flush])
        release_scope(state, id)
        {:reply, :ok, %{state | sessions: sessions, monitors: Map.delete(state.monitors, ref)}}
    end
  end

  @impl true
  def handle_info({port, {:data, frame}}, %{port: port} = state) do
    case decode(frame) do
      {:ok, term} ->
        handle_frame(term, state)

      :error ->
        undecodable(frame, state)
    end
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

  def handle_info({:EXIT, from, _reason}, state) when is_port(from) do
    {:noreply, state}
  end

  def handle_info({:EXIT, _from, reason}, state) do
    {:stop, reason, state}
  end

  def handle_info({:DOWN, ref, :process, pid, _reason}, state) do
    case Map.pop(state.monitors, ref) do
      {{:owner, ^pid}, monitors} ->
        state = %{state | monitors: monitors, owners: Map.delete(state.owners, pid)}
        {:noreply, owner_down(state, pid)}

      {{:session, id}, monitors} ->
        release_scope(state, id)
        {:noreply, %{state | monitors: monitors, sessions: Map.delete(state.sessions, id)}}

      {nil, _} ->
        {:noreply, state}
    end
  end

  def handle_info({__MODULE__, :startup_timeout}, %{phase: phase} = state) when phase != :ready do
    message =
      "Python worker did not finish starting (handshake and startup imports) " <>
        "within #{state.config.startup_timeout} ms (phase: #{phase})"

    {:stop, startup_failure(message), state}
  end

  def handle_info({__MODULE__, :startup_timeout}, state), do: {:noreply, state}

  # Replaced by a new worker (PyBridge.Reloader): take no new calls, stop
  # once the calls in flight have ended. The first check waits a moment for
  # callers that picked this worker just before it left the pool.
  def handle_info({__MODULE__, :retire}, state) do
    :ok = Registry.unregister(PyBridge.Pools, state.config.name)
    Process.send_after(self(), {__MODULE__, :retiring}, 100)
    {:noreply, state}
  end

  def handle_info({__MODULE__, :retiring}, state) do
    if :ets.info(state.requests, :size) == 0 do
      {:stop, {:shutdown, :retired}, state}
    else
      Process.send_after(self(), {__MODULE__, :retiring}, 50)
      {:noreply, state}
    end
  end

  def handle_info(message, state) do
    Logger.debug("PyBridge.Worker ignored #{inspect(message)}")
    {:noreply, state}
  end

  defp python_exited(how, status, state) do
    state = %{state | port: nil, output: Output.flush(state.output, output_target(state))}

    if state.phase == :ready do
      {:stop, {:shutdown, {:python_exited, status}}, state}
    else
      message = "Python worker exited with #{how} before it was ready" <> diagnose(state.config)
      {:stop, startup_failure(message), state}
    end
  end

  @impl true
  def terminate(_reason, state) do
    _ = Output.flush(state.output, output_target(state))

    # Closing stdin makes the worker exit (and kill its process group).
    if state.port, do: close_port(state.port)
    :ok
  end

  defp close_port(port) do
    Port.close(port)
  rescue
    ArgumentError -> true
  end

  ## Frames

  defp decode(frame) do
    {:ok, :erlang.binary_to_term(frame, [:safe])}
  rescue
    ArgumentError -> :error
  end

  # `binary_to_term(frame, [:safe])` refuses a reply that holds an atom this
  # node has never seen (Python code can make atoms). The request is still
  # named in the frame's head: it gets an error instead of waiting for its
  # timeout, and a stream is cancelled.
  defp undecodable(frame, state) do
    case reply_head(frame) do
      {tag, id} when tag in ["ok", "error", "chunk"] ->
        if tag == "chunk", do: send_frame(state, {:cancel, id})

        error = %{
          type: "pybridge.CodecError",
          message:
            "the Python worker's reply (#{byte_size(frame)} bytes) cannot be decoded safely: " <>
              "it holds an atom this node does not know (make it a string in Python)"
        }

        {:noreply, finish(state, id, {:error, error})}

      _ ->
        Logger.error(
          "PyBridge: undecodable frame from Python worker #{state.info[:pid]} " <>
            "(#{byte_size(frame)} bytes, first bytes #{inspect(binary_part(frame, 0, min(byte_size(frame), 32)))})"
        )

        {:noreply, state}
    end
  end

  # `{tag, id, _}` with a UTF-8 atom tag and an integer id, as the worker encodes them.
  defp reply_head(<<131, 104, 3, 119, size, tag::binary-size(size), rest::binary>>) do
    case rest do
      <<97, id, _::binary>> -> {tag, id}
      <<98, id::signed-32, _::binary>> -> {tag, id}
      <<110, n, 0, id::little-unsigned-size(n)-unit(8), _::binary>> -> {tag, id}
      _ -> :error
    end
  end

  defp reply_head(_frame), do: :error

  defp handle_frame({tag, id, result}, %{phase: :imports} = state)
       when tag in [:ok, :error] and is_map_key(state.imports, id) do
    {module, imports} = Map.pop(state.imports, id)

    case tag do
      :ok ->
        maybe_ready(%{state | imports: imports})

      :error ->
        error = Error.from_wire(result)
        message = "#{Setup.describe(module)} failed: " <> Exception.message(error)
        {:stop, startup_failure(message), state}
    end
  end

  defp handle_frame({:ok, id, value}, state), do: {:noreply, finish(state, id, {:ok, value})}

  defp handle_frame({:chunk, id, value}, state) do
    case :ets.lookup(state.requests, id) do
      [{^id, alias, _owner}] -> send(alias, {__MODULE__, :chunk, id, value})
      [] -> :ok
    end

    {:noreply, state}
  end

  defp handle_frame({:error, nil, error}, %{phase: :ready} = state) do
    Logger.warning(
      "PyBridge: Python worker reported: #{Exception.message(Error.from_wire(error))}"
    )

    {:noreply, state}
  end

  defp handle_frame({:error, nil, error}, state) do
    message = "Python worker refused the handshake: " <> Exception.message(Error.from_wire(error))
    {:stop, startup_failure(message), state}
  end

  defp handle_frame({:error, id, error}, state),
    do: {:noreply, finish(state, id, {:error, error})}

  defp handle_frame({:callback, callback_id, request_id, fun, args}, state) do
    owner =
      case :ets.lookup(state.requests, request_id) do
        [{_, _alias, owner}] -> owner
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

  # PROTOCOL.md says a binary; the worker currently sends the Bytes struct
  # (see .notes/runtime-vs-worker.md): take both.
  defp handle_frame({:output, %PyBridge.Bytes{data: data}}, state),
    do: handle_frame({:output, data}, state)

  defp handle_frame({:output, data}, state) when is_binary(data) do
    {:noreply, %{state | output: Output.write(state.output, data, output_target(state))}}
  end

  defp handle_frame({:hello, 1, %{worker: token} = info}, %{phase: :handshake} = state)
       when is_binary(token) do
    state = %{state | info: info}

    imports =
      Map.new(state.config.imports, fn module ->
        id = System.unique_integer([:positive, :monotonic])
        send_frame(state, {:import, id, module})
        {id, module}
      end)

    maybe_ready(%{state | phase: :imports, imports: imports})
  end

  defp handle_frame(frame, %{phase: :ready} = state) do
    Logger.warning("PyBridge: unexpected frame from Python worker: #{inspect(frame, limit: 20)}")
    {:noreply, state}
  end

  defp handle_frame(frame, state) do
    message = "unexpected frame from Python worker during startup: #{inspect(frame, limit: 20)}"
    {:stop, startup_failure(message), state}
  end

  # A final reply goes to the alias of whoever registered the id (a caller that
  # gave up has deactivated its alias, so the message is dropped).
  defp finish(state, id, result) do
    case :ets.take(state.requests, id) do
      [{^id, alias, owner}] ->
        send(alias, {__MODULE__, :reply, id, result})
        request_ended(state, owner, id)

      [] ->
        state
    end
  end

  defp maybe_ready(%{imports: imports} = state) when map_size(imports) > 0,
    do: {:noreply, state}

  defp maybe_ready(state) do
    conn =
      state.conn ||
        %__MODULE__{
          pid: self(),
          port: state.port,
          requests: state.requests,
          load: :counters.new(1, [:write_concurrency]),
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
        {:stop, startup_failure(message), state}

      :ready ->
        {:ok, _} = Registry.register(PyBridge.Registry, {:token, conn.token}, conn)
        {:ok, _} = Registry.register(PyBridge.Pools, conn.pool, conn)
        send(state.manager, {__MODULE__, :ready, self()})
        {:noreply, %{state | phase: :ready, conn: conn}}
    end
  end

  ## Owners and scopes

  defp monitor_owner(state, pid) do
    if Map.has_key?(state.owners, pid) do
      state
    else
      ref = Process.monitor(pid)

      %{
        state
        | owners: Map.put(state.owners, pid, ref),
          monitors: Map.put(state.monitors, ref, {:owner, pid})
      }
    end
  end

  # The owner is gone: nobody waits for its requests, so cancel them; what
  # they create before they end would land in the released scope, so the scope
  # is released again once the last of them has ended.
  defp owner_down(state, pid) do
    release_scope(state, pid)

    case :ets.match(state.requests, {:"$1", :_, pid}) do
      [] ->
        state

      ids ->
        Enum.each(ids, fn [id] -> send_frame(state, {:cancel, id}) end)
        in_flight = MapSet.new(ids, fn [id] -> id end)
        %{state | pending_release: Map.put(state.pending_release, pid, in_flight)}
    end
  end

  defp request_ended(%{pending_release: pending} = state, _owner, _id)
       when map_size(pending) == 0,
       do: state

  defp request_ended(state, owner, id) do
    case Map.fetch(state.pending_release, owner) do
      {:ok, ids} ->
        ids = MapSet.delete(ids, id)

        if MapSet.size(ids) == 0 do
          release_scope(state, owner)
          %{state | pending_release: Map.delete(state.pending_release, owner)}
        else
          %{state | pending_release: Map.put(state.pending_release, owner, ids)}
        end

      :error ->
        state
    end
  end

  # The reply (a count) goes to an id nobody registered, so it is dropped.
  defp release_scope(state, scope) do
    send_frame(state, {:release_scope, System.unique_integer([:positive, :monotonic]), scope})
  end

  defp send_frame(%{port: nil}, _term), do: :ok

  defp send_frame(%{port: port}, term) do
    _ = Port.command(port, :erlang.term_to_binary(term))
    :ok
  rescue
    ArgumentError -> :ok
  end

  ## Startup failures

  defp startup_failure(message) do
    {:shutdown, {:startup_failed, Error.new("pybridge.WorkerUnavailable", message)}}
  end

  # Python wrote why it could not start to the BEAM's stderr (fds are only
  # redirected to frames once the worker runs); run the import again to put the
  # reason in the error.
  defp diagnose(config) do
    python = Config.python(config)

    task =
      Task.async(fn ->
        System.cmd(python, ["-c", "import pybridge_port.__main__"],
          env: Config.env(config),
          stderr_to_stdout: true
        )
      end)

    case Task.yield(task, 10_000) || Task.shutdown(task, :brutal_kill) do
      {:ok, {output, status}} when status != 0 ->
        ": `#{python} -c 'import pybridge_port.__main__'` says:\n" <> String.trim(output)

      _ ->
        " (see its stderr above)"
    end
  catch
    _kind, _reason -> " (see its stderr above)"
  end

  defp output_target(state), do: {state.config.output, state.config.name, state.info[:pid]}
end
