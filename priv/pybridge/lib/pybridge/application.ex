defmodule PyBridge.Application do
  @moduledoc false
  # Starts the registries every pool uses (`PyBridge.Registry`: worker tokens
  # for handles, pool managers; `PyBridge.Pools`: ready workers by pool), the
  # owner of the result cache's table (`PyBridge.Cache`), the `:pg` scope in
  # which workers of every node meet and what this node knows of the others
  # (`PyBridge.Cluster`, see docs/DISTRIBUTED.md) and,
  # unless `config :pybridge, default_pool: false`, the pool named `PyBridge`
  # configured by `config :pybridge, ...`. An invalid configuration fails here,
  # with the ArgumentError naming the option.

  use Application

  @impl true
  def start(_type, _args) do
    # Whether :telemetry is there is checked once, here (PyBridge.Telemetry).
    _ = PyBridge.Telemetry.refresh()
    # Loads the atoms of converted values (dates, sets...): replies are decoded with [:safe].
    _ = PyBridge.Values.atoms()
    # Python calls it back as `&PyBridge.FunctionInfo.describe/1`; a frame is
    # decoded with `:safe`, which refuses a fun of a module not loaded yet.
    {:module, _} = Code.ensure_loaded(PyBridge.FunctionInfo)

    children =
      [
        {Registry, keys: :unique, name: PyBridge.Registry},
        {Registry, keys: :duplicate, name: PyBridge.Pools},
        PyBridge.Cache,
        %{id: :pg, start: {:pg, :start_link, [PyBridge.Cluster.scope()]}},
        PyBridge.Cluster
      ] ++ default_pool()

    Supervisor.start_link(children, strategy: :one_for_one, name: PyBridge.Supervisor)
  end

  defp default_pool do
    if Application.get_env(:pybridge, :default_pool, true), do: [{PyBridge, []}], else: []
  end
end
