defmodule PyBridge.Affinity do
  @moduledoc false
  # Without a session, the handles a process creates stay together: once a
  # call from a process returns a handle, that process's later calls that
  # name no handle (`call("dspy.Predict", ...)`, `create(...)`) go to the
  # same worker, so the handles of one flow (a program, its examples, an
  # optimizer) can be passed to each other. A handle lives in one worker,
  # and a call routed to another would get a `pybridge.StaleHandle`.
  #
  # Processes that never get a handle back keep going to the least loaded
  # worker. The pin is per process and per pool (process dictionary), and is
  # dropped when its worker is gone (its handles are gone too). A session
  # pins explicitly and overrides this.

  alias PyBridge.{Conn, Ref, Router}

  @doc "The worker for a call naming no handle and no session: the pinned one, else the least loaded."
  @spec checkout(atom(), timeout() | nil) :: {:ok, Conn.t()} | {:error, PyBridge.Error.t()}
  def checkout(pool, timeout) do
    # The worker must still be in the pool: one being replaced
    # (PyBridge.Reloader) takes no new calls. One look-up tells both.
    with {_token, pid} <- Process.get({__MODULE__, pool}),
         [%Conn{} = conn] <- Registry.values(PyBridge.Pools, pool, pid) do
      {:ok, conn}
    else
      nil ->
        Router.checkout(pool, timeout)

      _gone ->
        Process.delete({__MODULE__, pool})
        Router.checkout(pool, timeout)
    end
  end

  @doc "Pins the calling process to the worker of a handle a call returned (no-op for other results)."
  @spec note(term(), keyword()) :: term()
  def note({:ok, %Ref{worker: token}} = result, opts) do
    key = {__MODULE__, opts[:pool] || PyBridge}

    if is_nil(opts[:session]) and not match?({^token, _pid}, Process.get(key)),
      do: pin(key, token)

    result
  end

  def note(result, _opts), do: result

  # The worker's pid is looked up only when the pin changes.
  defp pin(key, token) do
    case Registry.lookup(PyBridge.Registry, {:token, token}) do
      [{pid, _conn}] -> Process.put(key, {token, pid})
      # A worker of another node: not pinned.
      [] -> :ok
    end
  end
end
