defmodule PyBridge.Cache do
  @moduledoc """
  A time-limited ETS cache for results of pure Python functions.

  Generated modules use it for functions their spec marks `cacheable: true`
  (or `pure: true` with `caching.cache_pure_functions`): the first call runs
  Python, later calls with the same arguments within the TTL are answered
  from ETS without leaving the BEAM.

      iex> PyBridge.Cache.fetch({"doc.example", [1]}, 60_000, fn -> {:ok, 42} end)
      {:ok, 42}
      iex> PyBridge.Cache.fetch({"doc.example", [1]}, 60_000, fn -> {:ok, :not_called} end)
      {:ok, 42}

  Results are kept per pool (the `:pool` or `:session` of `opts`, as the
  call would use): pools may run different Python environments.

  Only `{:ok, value}` results are kept, and only when `value` holds no
  `PyBridge.Ref`: a handle belongs to the process (or session) that created
  it and dies with it, so it cannot be shared through a cache.

  The table is owned by a process of the `:pybridge` application's
  supervision tree. Expired entries are never returned, and are swept once a
  minute.
  """

  use GenServer

  @table __MODULE__
  @sweep_every :timer.minutes(1)

  @doc """
  The cached result for `key`, or the result of `fun`, cached for `ttl_ms`
  milliseconds when it is `{:ok, value}` without handles.
  """
  @spec fetch(term(), pos_integer(), (() -> result), keyword()) :: result when result: term()
  def fetch(key, ttl_ms, fun, opts \\ [])

  def fetch(key, ttl_ms, fun, opts)
      when is_integer(ttl_ms) and ttl_ms > 0 and is_function(fun, 0) and is_list(opts) do
    key = {pool(opts), key}
    now = System.monotonic_time(:millisecond)

    case lookup(key, now) do
      {:ok, value} ->
        {:ok, value}

      :miss ->
        result = fun.()

        with {:ok, value} <- result, false <- holds_handle?(value) do
          true = :ets.insert(@table, {key, value, now + ttl_ms})
        end

        result
    end
  end

  def fetch(_key, ttl_ms, _fun, _opts) do
    raise ArgumentError, "ttl_ms must be a positive integer, got: #{inspect(ttl_ms)}"
  end

  defp pool(opts) do
    case opts[:session] do
      %PyBridge.Session{pool: pool} -> pool
      nil -> opts[:pool] || PyBridge
    end
  end

  @doc "Forgets the cached result for `key` (in the pool of `opts`)."
  @spec delete(term(), keyword()) :: :ok
  def delete(key, opts \\ []) do
    true = :ets.delete(@table, {pool(opts), key})
    :ok
  end

  @doc "Forgets every cached result."
  @spec clear() :: :ok
  def clear do
    true = :ets.delete_all_objects(@table)
    :ok
  end

  @doc "Starts the process that owns the cache's table (the `:pybridge` application does)."
  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts \\ []) do
    _ = Keyword.validate!(opts, [])
    GenServer.start_link(__MODULE__, [], name: __MODULE__)
  end

  defp lookup(key, now) do
    case :ets.whereis(@table) do
      :undefined ->
        :miss

      table ->
        case :ets.lookup(table, key) do
          [{^key, value, expires}] when expires > now -> {:ok, value}
          _ -> :miss
        end
    end
  end

  defp holds_handle?(%PyBridge.Ref{}), do: true
  defp holds_handle?(list) when is_list(list), do: Enum.any?(list, &holds_handle?/1)

  defp holds_handle?(tuple) when is_tuple(tuple),
    do: tuple |> Tuple.to_list() |> holds_handle?()

  defp holds_handle?(%_{}), do: false

  defp holds_handle?(map) when is_map(map),
    do: Enum.any?(map, fn {k, v} -> holds_handle?(k) or holds_handle?(v) end)

  defp holds_handle?(_other), do: false

  @impl true
  def init([]) do
    _table =
      :ets.new(@table, [
        :set,
        :public,
        :named_table,
        read_concurrency: true,
        write_concurrency: true
      ])

    schedule_sweep()
    {:ok, nil}
  end

  @impl true
  def handle_info(:sweep, state) do
    now = System.monotonic_time(:millisecond)
    _deleted = :ets.select_delete(@table, [{{:_, :_, :"$1"}, [{:"=<", :"$1", now}], [true]}])
    schedule_sweep()
    {:noreply, state}
  end

  defp schedule_sweep do
    _timer = Process.send_after(self(), :sweep, @sweep_every)
    :ok
  end
end
