defmodule PyBridge.Session do
  @moduledoc """
  A session opened by `PyBridge.with_session/2`.

  Pass it as `session: session` to later calls: they all go to the session's
  worker, and the handles they create belong to the session, freed when it
  closes (at the end of `with_session/2`, or when the process that opened it
  exits).

      iex> PyBridge.with_session(fn %PyBridge.Session{} = session ->
      ...>   [%{pid: os_pid}] = PyBridge.stats!(session: session)
      ...>   PyBridge.call!("os.getpid", [], [], session: session) == os_pid
      ...> end)
      true
  """

  defstruct [:id, :pool, :worker]

  @type t :: %__MODULE__{id: pos_integer(), pool: atom(), worker: PyBridge.Conn.t()}

  defimpl Inspect do
    def inspect(%PyBridge.Session{id: id, worker: worker}, _opts) do
      "#PyBridge.Session<#{id} on #{inspect(worker.pid)}>"
    end
  end
end
