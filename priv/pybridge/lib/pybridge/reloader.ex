defmodule PyBridge.Reloader do
  @moduledoc false
  # The `reload:` pool option: when a Python file under the pool's
  # `:python_path` changes on disk, the pool's workers are replaced, as
  # Phoenix's code reloading does for Elixir, without restarting the BEAM.
  #
  # Why replacement and not `importlib.reload`: reloading re-runs a module
  # in its old namespace, so objects made from the old classes keep the old
  # code, other modules keep what they imported with `from m import f`,
  # module-level state is half old and half new, dependents are not reloaded
  # and C extensions cannot be. A new worker imports everything afresh: it
  # cannot hold stale state. Its startup imports and the pool's setup (the
  # `:setup` option and every broadcast) run again. What is lost is what
  # lived only in the old workers: their handles become stale
  # (`pybridge.StaleHandle`), as an Elixir process's state is lost when it
  # restarts.
  #
  # The Manager starts a new worker for each ready one and tells the old one
  # to retire: it takes no new calls and stops once the calls it is running
  # have ended, so no call in flight is lost.
  #
  # A plain polling watcher (no dependencies): every `interval` ms it takes
  # the size and mtime of every `.py` file under the paths (`__pycache__`
  # left out), and the contents' digest of files changed in the last few
  # seconds (mtimes have one-second resolution).

  use GenServer
  require Logger

  alias PyBridge.Config

  @recent_seconds 3

  @spec start_link(Config.t()) :: GenServer.on_start()
  def start_link(%Config{} = config), do: GenServer.start_link(__MODULE__, config)

  @spec child_spec(Config.t()) :: Supervisor.child_spec()
  def child_spec(config), do: %{id: __MODULE__, start: {__MODULE__, :start_link, [config]}}

  @doc "The poll interval in ms of a `reload:` option value, or nil when reloading is off."
  @spec interval(boolean() | pos_integer()) :: pos_integer() | nil
  def interval(true), do: 500
  def interval(false), do: nil
  def interval(ms) when is_integer(ms) and ms > 0, do: ms

  @impl true
  def init(config) do
    state = %{pool: config.name, paths: config.python_path, interval: interval(config.reload)}
    schedule(state)
    {:ok, Map.put(state, :files, scan(state.paths))}
  end

  @impl true
  def handle_info({__MODULE__, :poll}, state) do
    files = scan(state.paths)

    if files != state.files do
      changed = changed(state.files, files)

      Logger.info(
        "PyBridge pool #{inspect(state.pool)}: #{Enum.join(changed, ", ")} changed; replacing the Python workers"
      )

      replace_workers(state.pool)
    end

    schedule(state)
    {:noreply, %{state | files: files}}
  end

  defp schedule(state), do: Process.send_after(self(), {__MODULE__, :poll}, state.interval)

  defp replace_workers(pool) do
    case Registry.lookup(PyBridge.Registry, {:manager, pool}) do
      [{manager, _}] -> send(manager, {PyBridge.Pool.Manager, :replace_workers})
      [] -> :ok
    end
  end

  defp changed(old, new) do
    keys = Map.keys(old) ++ Map.keys(new)

    keys
    |> Enum.uniq()
    |> Enum.filter(&(Map.get(old, &1) != Map.get(new, &1)))
    |> Enum.map(&Path.relative_to_cwd/1)
    |> Enum.sort()
  end

  @doc "`%{path => fingerprint}` of every Python file under `paths`."
  @spec scan([String.t()]) :: %{String.t() => term()}
  def scan(paths) do
    now = System.os_time(:second)

    for dir <- paths,
        path <- Path.wildcard(Path.join(dir, "**/*.py")),
        not String.contains?(path, "/__pycache__/"),
        {:ok, %File.Stat{mtime: mtime, size: size}} <- [File.stat(path, time: :posix)],
        into: %{} do
      {path, fingerprint(path, mtime, size, now)}
    end
  end

  defp fingerprint(path, mtime, size, now) when now - mtime <= @recent_seconds do
    case File.read(path) do
      {:ok, data} -> {mtime, size, :erlang.md5(data)}
      {:error, _} -> {mtime, size}
    end
  end

  defp fingerprint(_path, mtime, size, _now), do: {mtime, size}
end
