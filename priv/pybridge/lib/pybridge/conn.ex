defmodule PyBridge.Conn do
  @moduledoc false
  # A ready worker as callers see it: enough to send it a request without
  # asking its process anything. Published by the worker in `PyBridge.Registry`
  # under `{:token, token}` (handles find their worker by token) and in
  # `PyBridge.Pools` under the pool's name (routing).
  #
  # `requests` is the worker's public table of requests in flight,
  # `{id, alias, caller, owner}`: a caller inserts its entry and writes its
  # frame to the Port itself; the worker takes the entry when the final reply
  # comes and forwards the reply to `alias`. `load` counts requests sent and
  # not yet answered by Python, so a request cancelled but still running in
  # Python still counts: callers add, the worker subtracts.
  #
  # Callers on other nodes hold the same struct (PyBridge.Cluster), but
  # `port`, `requests` and `load` only work on the worker's node: for a conn
  # whose `pid` is remote, requests go to `pid` as messages and the load is
  # the one the worker's node publishes.

  @enforce_keys [:pid, :port, :requests, :load, :token, :pool, :max_frame, :timeout, :os_pid]
  defstruct @enforce_keys

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

  @doc "Requests sent to this worker and not yet answered by Python (a worker of this node)."
  @spec load(t()) :: non_neg_integer()
  def load(%__MODULE__{load: load}), do: :counters.get(load, 1)
end
