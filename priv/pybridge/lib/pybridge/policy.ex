defmodule PyBridge.Policy do
  @moduledoc false
  # The call policies of a pool - allowlist, retries, circuit breaker - as the
  # API layer (`PyBridge`) applies them around a request, in the caller's
  # process:
  #
  #   allowlist (once) -> retry loop [ breaker pass -> route -> send/await -> breaker record ]
  #
  # A pool's policies live in `:persistent_term` under `{PyBridge.Policy, pool}`,
  # put there by a small process of the pool's supervisor (this module's
  # GenServer), which erases them when the pool stops. A pool without any
  # policy stores nothing, and while no pool has one, a call pays one
  # `:persistent_term.get/2` of the `@active` flag. Resource limits and the
  # worker's environment are not here: they are set when a worker starts
  # (`PyBridge.Config.args/1`, `PyBridge.Policy.Limits`).

  use GenServer

  alias PyBridge.{Client, Config, Ref, Session}
  alias PyBridge.Policy.{Allowlist, CircuitBreaker, Retry}

  defstruct [:pool, :timeout, :allow, :retry, :breaker]

  @type t :: %__MODULE__{
          pool: atom(),
          timeout: timeout(),
          allow: Allowlist.t() | nil,
          retry: Retry.t(),
          breaker: CircuitBreaker.t() | nil
        }

  @active {__MODULE__, :active}

  @doc "The policies of `config`'s pool, or nil when it has none (the default)."
  @spec from_config(Config.t()) :: t() | nil
  def from_config(%Config{allow: nil, retry: nil, circuit_breaker: nil}), do: nil

  def from_config(%Config{} = config) do
    %__MODULE__{
      pool: config.name,
      timeout: config.timeout,
      allow: config.allow,
      retry: config.retry || %Retry{},
      breaker: config.circuit_breaker
    }
  end

  ## The keeper process

  @spec start_link(Config.t()) :: GenServer.on_start()
  def start_link(%Config{} = config), do: GenServer.start_link(__MODULE__, config)

  @impl true
  def init(config) do
    case from_config(config) do
      nil ->
        :ignore

      policy ->
        Process.flag(:trap_exit, true)
        :ok = :persistent_term.put({__MODULE__, config.name}, policy)
        if not :persistent_term.get(@active, false), do: :persistent_term.put(@active, true)
        {:ok, config.name}
    end
  end

  @impl true
  def terminate(_reason, pool) do
    _ = :persistent_term.erase({__MODULE__, pool})
    :ok
  end

  ## Calls

  @doc """
  The policies that apply to a call with `opts` on handle `ref` (or nil):
  those of the session's pool, else of the handle's worker's pool, else of
  `:pool`. Without a pool policy, a call marked `idempotent: true` still
  gets the default retries.
  """
  @spec lookup(keyword(), Ref.t() | nil) :: t() | nil
  def lookup(opts, ref) do
    if :persistent_term.get(@active, false) do
      :persistent_term.get({__MODULE__, pool_of(opts, ref)}, nil)
    end
  end

  defp pool_of(opts, ref) do
    case {opts[:session], ref} do
      {%Session{pool: pool}, _} ->
        pool

      {nil, %Ref{worker: token}} ->
        case Registry.lookup(PyBridge.Registry, {:token, token}) do
          [{_pid, conn}] -> conn.pool
          [] -> opts[:pool] || PyBridge
        end

      {nil, nil} ->
        opts[:pool] || PyBridge
    end
  end

  @doc """
  Runs a request under `policy` (nil: only a per-call retry): checks the
  allowlist for `access` in the caller, then runs the attempts (in a Task
  with `async: true`). `build` is as in `PyBridge.Client.execute/3`.
  """
  @spec request(t() | nil, keyword(), Ref.t() | nil, Allowlist.access(), Client.build()) ::
          Client.result() | Task.t()
  def request(policy, opts, ref, access, build) do
    if opts[:retry] != nil and opts[:idempotent] != true do
      raise ArgumentError,
            "retry: #{inspect(opts[:retry])} was given without idempotent: true; only calls " <>
              "declared idempotent are retried (a failed call may have run with its side effects)"
    end

    checked = Allowlist.check(policy && policy.allow, access)
    owner = Client.owner()

    run = fn ->
      with :ok <- checked, do: attempts(policy, opts, ref, owner, build)
    end

    if opts[:async], do: Task.async(run), else: run.()
  end

  @doc "Checks `access` against the allowlist of the pool `opts` and `ref` point to."
  @spec check(keyword(), Ref.t() | nil, Allowlist.access()) :: :ok | {:error, PyBridge.Error.t()}
  def check(opts, ref, access) do
    case lookup(opts, ref) do
      nil -> :ok
      policy -> Allowlist.check(policy.allow, access)
    end
  end

  defp attempts(policy, opts, ref, owner, build) do
    breaker = policy && policy.breaker

    if opts[:idempotent] == true do
      retry = retry(policy, opts[:retry])
      timeout = opts[:timeout] || (policy && policy.timeout) || pool_timeout(opts)

      Retry.run(retry, timeout, fn left ->
        attempt(breaker, Keyword.put(opts, :timeout, left), ref, owner, build)
      end)
    else
      attempt(breaker, opts, ref, owner, build)
    end
  end

  defp attempt(nil, opts, ref, owner, build), do: execute(opts, ref, owner, build)

  defp attempt(breaker, opts, ref, owner, build) do
    with {:ok, pass} <- CircuitBreaker.pass(breaker) do
      CircuitBreaker.record(breaker, pass, execute(opts, ref, owner, build))
    end
  end

  defp execute(opts, ref, owner, build) do
    with {:ok, prepared} <- Client.prepare(opts, ref, owner), do: Client.execute(prepared, build)
  end

  defp retry(nil, nil), do: %Retry{}
  defp retry(nil, opts), do: Retry.new!(opts)
  defp retry(policy, nil), do: policy.retry
  defp retry(policy, opts), do: Retry.new!(opts, policy.retry)

  # The pool's default timeout, as its manager registered it.
  defp pool_timeout(opts) do
    pool =
      case opts[:session] do
        %Session{pool: pool} -> pool
        nil -> opts[:pool] || PyBridge
      end

    case Registry.lookup(PyBridge.Registry, {:manager, pool}) do
      [{_pid, %{timeout: timeout}}] -> timeout
      [] -> :infinity
    end
  end
end
