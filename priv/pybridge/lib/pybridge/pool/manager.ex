defmodule PyBridge.Pool.Manager do
  @moduledoc false
  # Keeps `pool_size` workers running. A worker that dies after it was ready
  # is replaced at once. A worker that dies before (it could not start, or a
  # startup import raised) counts as a startup failure and is retried with
  # exponential backoff; after 3 failures in a row the pool "trips": the
  # error is logged once, and callers waiting for a worker (and later callers,
  # while no worker is ready) get it as `pybridge.WorkerUnavailable`. Retries
  # go on (up to every 30 s) so a pool recovers once the cause is fixed.
  #
  # Callers never talk to the Manager on the fast path: ready workers are
  # found in `PyBridge.Pools`. Only when none is ready do they ask it
  # (`await_worker/2`) to wait for one, here or on another node: the Manager
  # watches the pool's `:pg` group, so a worker of another node that joins
  # wakes the waiters too. A pool of `pool_size: 0` starts no workers (a node
  # of callers only) and routes every request to other nodes.

  use GenServer
  require Logger

  alias PyBridge.{Cluster, Config, Error, Telemetry, Worker}

  @trip_after 3
  @max_backoff 30_000

  @spec start_link(Config.t()) :: GenServer.on_start()
  def start_link(%Config{} = config) do
    name =
      {:via, Registry, {PyBridge.Registry, {:manager, config.name}, %{timeout: config.timeout}}}

    GenServer.start_link(__MODULE__, config, name: name)
  end

  @doc """
  Waits until the pool has a ready worker: `:ok`, or the pool's startup error
  when it has tripped, or a `pybridge.Timeout`/`pybridge.WorkerUnavailable`.
  `timeout` nil means the pool's default.
  """
  @spec await_worker(atom(), timeout() | nil) :: :ok | {:error, Error.t()}
  def await_worker(pool, timeout) do
    case Registry.lookup(PyBridge.Registry, {:manager, pool}) do
      [{manager, %{timeout: default}}] ->
        timeout = timeout || default

        try do
          GenServer.call(manager, :await_worker, timeout)
        catch
          :exit, {:timeout, _} ->
            {:error,
             Error.new(
               "pybridge.Timeout",
               "no Python worker of pool #{inspect(pool)} became ready within #{timeout} ms"
             )}

          :exit, _ ->
            {:error, not_running(pool)}
        end

      [] ->
        {:error, not_running(pool)}
    end
  end

  defp not_running(pool) do
    Error.new(
      "pybridge.WorkerUnavailable",
      "no PyBridge pool named #{inspect(pool)} is running " <>
        "(start one with {PyBridge, name: #{inspect(pool)}} in a supervision tree)"
    )
  end

  @impl true
  def init(config) do
    {pg, members} = :pg.monitor(Cluster.scope(), {PyBridge.Pool, config.name})

    state = %{
      pg: pg,
      remote: Enum.count(members, &(node(&1) != node())),
      config: config,
      workers: %{},
      ready: MapSet.new(),
      failures: 0,
      error: nil,
      tripped: false,
      waiters: [],
      retiring: MapSet.new()
    }

    {:ok, state, {:continue, :start}}
  end

  @impl true
  def handle_continue(:start, state) do
    {:noreply, Enum.reduce(1..state.config.pool_size//1, state, &start_worker(&2, &1))}
  end

  @impl true
  def handle_call(:await_worker, from, state) do
    cond do
      MapSet.size(state.ready) > 0 or state.remote > 0 -> {:reply, :ok, state}
      state.tripped -> {:reply, {:error, state.error}, state}
      true -> {:noreply, %{state | waiters: [from | state.waiters]}}
    end
  end

  @impl true
  def handle_info({ref, :join, _group, pids}, %{pg: ref} = state) do
    case Enum.count(pids, &(node(&1) != node())) do
      0 ->
        {:noreply, state}

      joined ->
        Enum.each(state.waiters, &GenServer.reply(&1, :ok))
        {:noreply, %{state | remote: state.remote + joined, waiters: []}}
    end
  end

  def handle_info({ref, :leave, _group, pids}, %{pg: ref} = state) do
    {:noreply, %{state | remote: max(state.remote - Enum.count(pids, &(node(&1) != node())), 0)}}
  end

  def handle_info({Worker, :ready, pid}, state) do
    Enum.each(state.waiters, &GenServer.reply(&1, :ok))

    if state.tripped do
      Logger.info("PyBridge pool #{inspect(state.config.name)}: a Python worker started again")
    end

    {:noreply,
     %{
       state
       | ready: MapSet.put(state.ready, pid),
         failures: 0,
         tripped: false,
         error: nil,
         waiters: []
     }}
  end

  # A worker with a stuck call leaves routing and ends by itself once its
  # other calls are done: its slot gets a new worker now.
  def handle_info({Worker, :retiring, pid}, state) do
    case Enum.find(state.workers, fn {_ref, {_slot, worker}} -> worker == pid end) do
      {ref, {slot, _}} ->
        Process.demonitor(ref, [:flush])

        state = %{
          state
          | workers: Map.delete(state.workers, ref),
            ready: MapSet.delete(state.ready, pid)
        }

        {:noreply, start_worker(state, slot)}

      nil ->
        {:noreply, state}
    end
  end

  def handle_info({:DOWN, ref, :process, pid, reason}, state) do
    case Map.pop(state.workers, ref) do
      {nil, _} ->
        {:noreply, state}

      {{slot, _pid}, workers} ->
        state = %{state | workers: workers}

        cond do
          # Replaced already (see :replace_workers): its successor runs.
          MapSet.member?(state.retiring, pid) ->
            {:noreply, %{state | retiring: MapSet.delete(state.retiring, pid)}}

          MapSet.member?(state.ready, pid) ->
            Logger.warning(
              "PyBridge pool #{inspect(state.config.name)}: Python worker #{inspect(pid)} " <>
                "exited (#{format_reason(reason)}); starting a new one"
            )

            Telemetry.execute([:pybridge, :worker, :replaced], %{count: 1}, %{
              pool: state.config.name,
              worker: pid,
              node: node(),
              reason: reason
            })

            {:noreply, start_worker(%{state | ready: MapSet.delete(state.ready, pid)}, slot)}

          true ->
            {:noreply, startup_failed(state, slot, reason)}
        end
    end
  end

  # PyBridge.Reloader: a new worker for each ready one; the old one retires
  # (no new calls, stops once its calls in flight have ended).
  def handle_info({__MODULE__, :replace_workers}, state) do
    old = state.ready
    Enum.each(old, &send(&1, {Worker, :retire}))
    state = %{state | ready: MapSet.new(), retiring: MapSet.union(state.retiring, old)}
    {:noreply, Enum.reduce(old, state, fn _, acc -> start_worker(acc, make_ref()) end)}
  end

  def handle_info({__MODULE__, :restart, slot}, state) do
    {:noreply, start_worker(state, slot)}
  end

  def handle_info(_message, state), do: {:noreply, state}

  defp start_worker(state, slot) do
    case DynamicSupervisor.start_child(
           PyBridge.Pool.workers(state.config.name),
           {Worker, {state.config, self()}}
         ) do
      {:ok, pid} ->
        %{state | workers: Map.put(state.workers, Process.monitor(pid), {slot, pid})}

      {:error, reason} ->
        startup_failed(state, slot, reason)
    end
  end

  defp startup_failed(state, slot, reason) do
    failures = state.failures + 1

    error =
      case reason do
        {:shutdown, {:startup_failed, %Error{} = error}} -> error
        other -> Error.new("pybridge.WorkerUnavailable", format_reason(other))
      end

    state =
      if failures >= @trip_after do
        error = %{
          error
          | message:
              "Python workers of pool #{inspect(state.config.name)} keep failing to start " <>
                "(#{failures} attempts in a row). Last attempt: " <> error.message
        }

        unless state.tripped, do: Logger.error(Exception.message(error))
        Enum.each(state.waiters, &GenServer.reply(&1, {:error, error}))
        %{state | failures: failures, tripped: true, error: error, waiters: []}
      else
        %{state | failures: failures, error: error}
      end

    backoff = min(100 * Integer.pow(2, min(failures - 1, 20)), @max_backoff)
    Process.send_after(self(), {__MODULE__, :restart, slot}, backoff)
    state
  end

  defp format_reason({:shutdown, {:python_exited, status}}) when is_integer(status),
    do: "its OS process exited with status #{status}"

  defp format_reason({:shutdown, {:python_exited, reason}}),
    do: "its OS process exited (#{inspect(reason)})"

  defp format_reason({:shutdown, {:limit_exceeded, %Error{} = error}}), do: error.message
  defp format_reason(reason), do: Exception.format_exit(reason)
end
