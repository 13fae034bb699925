defmodule PyBridge.Cluster do
  @moduledoc false
  # What one node knows of the workers of the other nodes (one process per
  # node, started by the application).
  #
  # Membership comes from OTP's `:pg` (scope `PyBridge.PG`): a ready worker
  # joins `{PyBridge.Pool, pool}` (routing) and `{PyBridge.Token, token}`
  # (its handles), and leaves the pool group when it retires or its Python
  # exits. `:pg` drops every member of a node that goes down, so routing stops
  # choosing its workers at once; it is the only source of truth for "alive".
  #
  # What `:pg` does not hold is kept here, in a public ETS table read by the
  # callers: each remote worker's `PyBridge.Conn` (its pid, token, pool,
  # limits) and its load. A remote worker's load counter cannot be read from
  # another node, so this process publishes the loads of its node's workers
  # to the other nodes' Cluster processes every `@publish` ms, and only when
  # they changed (an idle cluster sends nothing), plus a full snapshot to a
  # node that joins. A remote load is therefore up to `@publish` ms old.
  #
  # A conn missing from the table (a worker that became ready since the last
  # publication) is asked of the worker itself (`GenServer.call(pid, :conn)`)
  # and kept: the worker of a handle, or one worker of a pool none of whose
  # remote workers is known yet (the others wait for the next publication).

  use GenServer

  alias PyBridge.Conn

  @scope PyBridge.PG
  @table __MODULE__
  @publish 100

  @doc "The `:pg` scope of PyBridge."
  @spec scope() :: atom()
  def scope, do: @scope

  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(_opts), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  ## Membership (called by workers)

  @doc "Publishes a ready worker: it can be routed to and its handles found from any node."
  @spec join(Conn.t()) :: :ok
  def join(%Conn{} = conn) do
    :ok = :pg.join(@scope, {PyBridge.Pool, conn.pool}, conn.pid)
    :ok = :pg.join(@scope, {PyBridge.Token, conn.token}, conn.pid)
  end

  @doc "Takes a worker out of routing (its handles stay reachable until it stops)."
  @spec leave_pool(atom(), pid()) :: :ok
  def leave_pool(pool, pid) do
    _ = :pg.leave(@scope, {PyBridge.Pool, pool}, pid)
    :ok
  end

  ## Lookups (called by callers)

  @doc "The ready workers of `pool` on other nodes, each with its last published load."
  @spec remote_workers(atom(), pid() | nil) :: [{Conn.t(), non_neg_integer()}]
  def remote_workers(pool, avoid \\ nil) do
    me = node()

    members =
      for pid <- :pg.get_members(@scope, {PyBridge.Pool, pool}),
          node(pid) != me,
          pid != avoid,
          do: pid

    case cached(members) do
      # Members not published yet (a node that just joined): ask one, not all.
      [] when members != [] ->
        case fetch(Enum.random(members)) do
          {nil, _} -> []
          found -> [found]
        end

      known ->
        known
    end
  end

  defp cached(pids) do
    for pid <- pids, [{_, conn, load}] <- [:ets.lookup(@table, pid)], do: {conn, load}
  end

  @doc "The worker holding the handles of `token`, on any node."
  @spec by_token(binary()) :: Conn.t() | nil
  def by_token(token) do
    case :pg.get_members(@scope, {PyBridge.Token, token}) do
      [pid | _] ->
        case :ets.lookup(@table, pid) do
          [{^pid, conn, _load}] -> conn
          [] -> elem(fetch(pid), 0)
        end

      [] ->
        nil
    end
  end

  defp fetch(pid) do
    case GenServer.call(pid, :conn, 5_000) do
      %Conn{} = conn ->
        :ets.insert_new(@table, {pid, conn, 0})
        {conn, 0}

      _ ->
        {nil, 0}
    end
  catch
    :exit, _ -> {nil, 0}
  end

  ## The process

  @impl true
  def init([]) do
    _ = :ets.new(@table, [:named_table, :public, :set, read_concurrency: true])
    :ok = :pg.join(@scope, __MODULE__, self())
    {ref, _peers} = :pg.monitor(@scope, __MODULE__)
    :ok = :net_kernel.monitor_nodes(true)
    Process.send_after(self(), :publish, @publish)
    {:ok, %{monitor: ref, published: %{}}}
  end

  @impl true
  def handle_call(:snapshot, _from, state), do: {:reply, local_loads(), state}

  @impl true
  def handle_info(:publish, state) do
    Process.send_after(self(), :publish, @publish)
    loads = local_loads()

    if loads != state.published do
      broadcast(others(), {__MODULE__, :loads, node(), loads})
    end

    {:noreply, %{state | published: loads}}
  end

  # A node's Cluster process started: it gets the whole picture at once.
  def handle_info({ref, :join, __MODULE__, pids}, %{monitor: ref} = state) do
    broadcast(Enum.reject(pids, &(&1 == self())), {__MODULE__, :loads, node(), local_loads()})
    {:noreply, state}
  end

  def handle_info({ref, :leave, __MODULE__, _pids}, %{monitor: ref} = state),
    do: {:noreply, state}

  def handle_info({__MODULE__, :loads, from, loads}, state) do
    # Replaces what was known of `from`: workers gone from it go from here.
    :ets.select_delete(@table, [{{:"$1", :_, :_}, [{:==, {:node, :"$1"}, from}], [true]}])
    :ets.insert(@table, Enum.map(loads, fn {pid, {conn, load}} -> {pid, conn, load} end))
    {:noreply, state}
  end

  def handle_info({:nodedown, down}, state) do
    :ets.select_delete(@table, [{{:"$1", :_, :_}, [{:==, {:node, :"$1"}, down}], [true]}])
    {:noreply, state}
  end

  def handle_info(_message, state), do: {:noreply, state}

  defp local_loads do
    for {_pool, pid, %Conn{} = conn} <-
          Registry.select(PyBridge.Pools, [{{:"$1", :"$2", :"$3"}, [], [{{:"$1", :"$2", :"$3"}}]}]),
        into: %{},
        do: {pid, {conn, Conn.load(conn)}}
  end

  defp others, do: :pg.get_members(@scope, __MODULE__) -- [self()]

  defp broadcast(pids, message), do: Enum.each(pids, &send(&1, message))
end
