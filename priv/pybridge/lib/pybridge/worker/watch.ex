defmodule PyBridge.Worker.Watch do
  @moduledoc false
  # The processes a worker keeps an eye on, and what it does when they go.
  #
  #   * Owners: a handle belongs to a scope, the pid of its owner or a session
  #     id. Python announces a scope when it stores the scope's first handle
  #     (`{:scope_opened, scope}`); only then is the owner monitored, so calls
  #     that create no handles cost nothing here. When the owner goes, its
  #     scope is released and its requests still in flight are cancelled. A
  #     handle stored later in a scope that is gone (an in-flight request of a
  #     dead owner, a call in a closed session) is announced again, and the
  #     scope is released again at once: nothing is left behind.
  #   * Callers: every second, the callers of requests in flight are
  #     monitored (once each), so a caller that dies mid-call, or the process
  #     consuming a stream, has its requests cancelled.
  #   * Sessions: monitored from open to close, through their opener.
  #   * Cancelled requests: a request cancelled (by a timeout or a death) that
  #     has not ended `cancel_grace` ms later is stuck (a C call that cannot
  #     take the cancellation); the worker then retires (PyBridge.Worker).

  @enforce_keys [:grace]
  defstruct grace: nil,
            monitors: %{},
            owners: %{},
            callers: %{},
            sessions: %{},
            cancelled: %{},
            stuck: MapSet.new()

  @type scope :: pid() | pos_integer()
  @type send_frame :: (tuple() -> :ok)
  @type t :: %__MODULE__{
          grace: pos_integer() | :infinity,
          monitors: %{reference() => {:owner | :caller, pid()} | {:session, pos_integer()}},
          owners: %{pid() => reference()},
          callers: %{pid() => reference()},
          sessions: %{pos_integer() => reference()},
          cancelled: %{integer() => reference()},
          stuck: MapSet.t(integer())
        }

  @spec new(pos_integer() | :infinity) :: t()
  def new(grace), do: %__MODULE__{grace: grace}

  ## Owners and sessions

  @spec scope_opened(t(), term(), send_frame()) :: t()
  def scope_opened(watch, pid, _send_frame) when is_pid(pid) do
    if Map.has_key?(watch.owners, pid), do: watch, else: monitor(watch, :owner, pid)
  end

  def scope_opened(watch, id, send_frame) do
    # A session's scope: if the session is closed, what just landed in it goes too.
    unless Map.has_key?(watch.sessions, id), do: release_scope(send_frame, id)
    watch
  end

  @spec open_session(t(), pid()) :: {pos_integer(), t()}
  def open_session(watch, opener) do
    id = System.unique_integer([:positive, :monotonic])
    ref = Process.monitor(opener)

    {id,
     %{
       watch
       | sessions: Map.put(watch.sessions, id, ref),
         monitors: Map.put(watch.monitors, ref, {:session, id})
     }}
  end

  @spec close_session(t(), pos_integer(), send_frame()) :: t()
  def close_session(watch, id, send_frame) do
    case Map.pop(watch.sessions, id) do
      {nil, _} ->
        watch

      {ref, sessions} ->
        Process.demonitor(ref, [:flush])
        release_scope(send_frame, id)
        %{watch | sessions: sessions, monitors: Map.delete(watch.monitors, ref)}
    end
  end

  ## Callers

  @doc "Monitors the callers of requests in flight not monitored yet; forgets those with none."
  @spec tick(t(), :ets.tid()) :: t()
  def tick(watch, requests) do
    waiting = :ets.select(requests, [{{:_, :_, :"$1", :_}, [], [:"$1"]}]) |> MapSet.new()

    watch =
      Enum.reduce(watch.callers, watch, fn {pid, ref}, watch ->
        if MapSet.member?(waiting, pid) do
          watch
        else
          Process.demonitor(ref, [:flush])

          %{
            watch
            | callers: Map.delete(watch.callers, pid),
              monitors: Map.delete(watch.monitors, ref)
          }
        end
      end)

    Enum.reduce(waiting, watch, fn pid, watch ->
      if Map.has_key?(watch.callers, pid), do: watch, else: monitor(watch, :caller, pid)
    end)
  end

  ## Deaths

  @doc "A monitored process is gone: release and cancel what was its."
  @spec down(t(), reference(), :ets.tid(), send_frame()) :: t()
  def down(watch, ref, requests, send_frame) do
    case Map.pop(watch.monitors, ref) do
      {{:owner, pid}, monitors} ->
        release_scope(send_frame, pid)
        watch = %{watch | monitors: monitors, owners: Map.delete(watch.owners, pid)}
        cancel_all(watch, :ets.match(requests, {:"$1", :_, :_, pid}), send_frame)

      {{:caller, pid}, monitors} ->
        watch = %{watch | monitors: monitors, callers: Map.delete(watch.callers, pid)}
        cancel_all(watch, :ets.match(requests, {:"$1", :_, pid, :_}), send_frame)

      {{:session, id}, monitors} ->
        release_scope(send_frame, id)
        %{watch | monitors: monitors, sessions: Map.delete(watch.sessions, id)}

      {nil, _} ->
        watch
    end
  end

  defp cancel_all(watch, ids, send_frame) do
    Enum.reduce(ids, watch, fn [id], watch ->
      send_frame.({:cancel, id})
      cancelled(watch, id)
    end)
  end

  ## Cancelled requests

  @doc "Request `id` was told to cancel: it has `grace` ms to end."
  @spec cancelled(t(), integer()) :: t()
  def cancelled(%{grace: :infinity} = watch, _id), do: watch

  def cancelled(watch, id) do
    if Map.has_key?(watch.cancelled, id) do
      watch
    else
      timer = Process.send_after(self(), {PyBridge.Worker, :grace_over, id}, watch.grace)
      %{watch | cancelled: Map.put(watch.cancelled, id, timer)}
    end
  end

  @doc "Request `id` ended (its final reply came)."
  @spec ended(t(), integer()) :: t()
  def ended(%{cancelled: cancelled} = watch, _id) when map_size(cancelled) == 0, do: watch

  def ended(watch, id) do
    case Map.pop(watch.cancelled, id) do
      {nil, _} ->
        watch

      {timer, cancelled} ->
        _ = Process.cancel_timer(timer)
        %{watch | cancelled: cancelled, stuck: MapSet.delete(watch.stuck, id)}
    end
  end

  @doc "The grace of request `id` is over: stuck if it is still in flight."
  @spec grace_over(t(), integer(), :ets.tid()) :: {:stuck | :ended, t()}
  def grace_over(watch, id, requests) do
    watch = %{watch | cancelled: Map.delete(watch.cancelled, id)}

    if :ets.member(requests, id),
      do: {:stuck, %{watch | stuck: MapSet.put(watch.stuck, id)}},
      else: {:ended, watch}
  end

  @doc "Whether every request still in flight is stuck."
  @spec only_stuck_left?(t(), :ets.tid()) :: boolean()
  def only_stuck_left?(watch, requests),
    do: :ets.info(requests, :size) <= MapSet.size(watch.stuck)

  ## Helpers

  defp monitor(watch, kind, pid) do
    ref = Process.monitor(pid)
    key = if kind == :owner, do: :owners, else: :callers

    watch
    |> Map.update!(key, &Map.put(&1, pid, ref))
    |> Map.update!(:monitors, &Map.put(&1, ref, {kind, pid}))
  end

  # The reply (a count) goes to an id nobody registered, so it is dropped.
  defp release_scope(send_frame, scope) do
    send_frame.({:release_scope, System.unique_integer([:positive, :monotonic]), scope})
  end
end
