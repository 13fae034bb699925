defmodule PyBridge.Pool do
  @moduledoc false
  # A pool: a DynamicSupervisor holding its workers (temporary children) and a
  # Manager that starts them, restarts them, and backs off when they keep
  # failing. The Manager restarts workers itself rather than leaving it to the
  # supervisor so that a crash loop at Python start (a bad executable, an
  # import that raises) is reported as an error to callers instead of
  # exhausting supervisor intensity and taking the application down.

  use Supervisor

  alias PyBridge.Config

  @spec start_link(Config.t()) :: Supervisor.on_start()
  def start_link(%Config{name: name} = config) do
    Supervisor.start_link(__MODULE__, config, name: name)
  end

  @doc "The `{:via, ...}` name of a pool's worker supervisor."
  @spec workers(atom()) :: GenServer.name()
  def workers(pool), do: {:via, Registry, {PyBridge.Registry, {:workers, pool}}}

  @impl true
  def init(%Config{} = config) do
    children =
      [
        # Call policies (allowlist, retries, circuit breaker), before any worker.
        {PyBridge.Policy, config},
        {PyBridge.Setup, config.name},
        {DynamicSupervisor, strategy: :one_for_one, name: workers(config.name)},
        {PyBridge.Pool.Manager, config}
      ] ++ if(config.reload != false, do: [{PyBridge.Reloader, config}], else: [])

    Supervisor.init(children, strategy: :one_for_all)
  end
end
