defmodule PyBridge.Setup do
  @moduledoc false
  # Pool-wide Python state: the `:setup` calls every worker of a pool runs
  # after its startup imports and before it takes calls, and the calls
  # `PyBridge.broadcast/4` applied to the pool since it started, which
  # workers started later run too.
  #
  # One process per pool (started by `PyBridge.Pool` before its Manager)
  # remembers the broadcast calls and which workers have run all of them
  # ("joined"). A worker that has run its setup asks to join, saying how
  # many broadcast calls it has run; if more came meanwhile it gets them and
  # asks again. Broadcasting appends the call and returns the workers that
  # have joined, in the same step, so every worker runs every call exactly
  # once: either it joined before (the broadcast sends the call to it) or it
  # joins after (it gets the call when it joins).
  #
  # Every setup call runs in Python on the worker's setup thread
  # (`pybridge_port.setup.run`), the same thread for the worker's life:
  # libraries such as DSPy let only the thread that first configured them
  # configure them again.

  use GenServer

  alias PyBridge.Conn

  @typedoc "`{target, args, kwargs}`: a call run on every worker."
  @type call :: {String.t(), list(), keyword() | map()}
  @typedoc "A `:setup` entry: a call, or `{module, function, args}` run in Elixir that returns calls."
  @type entry :: call() | {module(), atom(), list()}

  # What a worker still has to run before it takes calls.
  @type plan :: %{pending: [call()] | {:expand, [entry()]}, seen: non_neg_integer()}

  @python_runner "pybridge_port.setup.run"

  @spec start_link(atom()) :: GenServer.on_start()
  def start_link(pool), do: GenServer.start_link(__MODULE__, pool, name: name(pool))

  @spec child_spec(atom()) :: Supervisor.child_spec()
  def child_spec(pool), do: %{id: __MODULE__, start: {__MODULE__, :start_link, [pool]}}

  defp name(pool), do: {:via, Registry, {PyBridge.Registry, {:setup, pool}}}

  ## Used by the worker

  @doc "A worker's plan from the pool's `:setup` option (expanded when the worker starts)."
  @spec plan([entry()]) :: plan()
  def plan(entries), do: %{pending: {:expand, entries}, seen: 0}

  @doc """
  The next call the worker must run, or `:ready` once it has run every
  setup and broadcast call and has joined (from then on broadcasts reach it
  directly), or `{:error, message}` when an Elixir setup function failed.
  """
  @spec next(plan(), atom(), Conn.t()) ::
          {:call, call(), plan()} | :ready | {:error, String.t()}
  def next(%{pending: {:expand, entries}} = plan, pool, conn) do
    case expand(entries) do
      {:ok, calls} -> next(%{plan | pending: calls}, pool, conn)
      {:error, _} = error -> error
    end
  end

  def next(%{pending: [call | rest]} = plan, _pool, _conn),
    do: {:call, call, %{plan | pending: rest}}

  def next(%{pending: []} = plan, pool, conn) do
    case GenServer.call(name(pool), {:join, plan.seen, conn}, :infinity) do
      :joined -> :ready
      {:more, calls, seen} -> next(%{plan | pending: calls, seen: seen}, pool, conn)
    end
  end

  @doc "The frame that runs `call` on the worker's setup thread."
  @spec frame(integer(), call(), boolean(), map()) :: tuple()
  def frame(id, {target, args, kwargs}, keep_result?, opts \\ %{}) do
    {:call, id, @python_runner, [target, args, kwargs, keep_result?], [], opts}
  end

  @doc "How a startup error names the step that failed: an import or a setup call."
  @spec describe(String.t() | {:setup, call()}) :: String.t()
  def describe({:setup, {target, args, kwargs}}) do
    "setup call #{target}(#{format_args(args, kwargs)})"
  end

  def describe(module) when is_binary(module), do: "startup import #{inspect(module)}"

  defp format_args(args, kwargs) do
    positional = Enum.map(args, &inspect(&1, limit: 5, printable_limit: 40))

    keywords =
      Enum.map(kwargs, fn {key, value} ->
        "#{key}=" <> inspect(value, limit: 5, printable_limit: 40)
      end)

    Enum.join(positional ++ keywords, ", ")
  end

  defp expand(entries) do
    calls =
      Enum.flat_map(entries, fn
        {target, _args, _kwargs} = call when is_binary(target) ->
          [call]

        {module, function, args} ->
          case apply(module, function, args) do
            calls when is_list(calls) ->
              Enum.each(calls, &call!(&1, module, function, args))
              calls

            other ->
              raise ArgumentError,
                    "#{Exception.format_mfa(module, function, args)} must return a list of " <>
                      "{\"module.function\", args, kwargs} calls, got: #{inspect(other)}"
          end
      end)

    {:ok, calls}
  rescue
    exception ->
      {:error,
       "a :setup function raised: " <> Exception.format(:error, exception, __STACKTRACE__)}
  end

  defp call!({target, args, kwargs}, _m, _f, _a)
       when is_binary(target) and is_list(args) and (is_list(kwargs) or is_map(kwargs)),
       do: :ok

  defp call!(other, module, function, args) do
    raise ArgumentError,
          "#{Exception.format_mfa(module, function, args)} returned #{inspect(other)}, " <>
            "which is not a {\"module.function\", args, kwargs} call"
  end

  ## Used by PyBridge.broadcast/4

  @doc """
  Remembers `call` for the workers the pool starts from now on and returns
  the workers that have joined, to which the caller sends it.
  """
  @spec remember(atom(), call()) :: {:ok, [Conn.t()]}
  def remember(pool, call), do: GenServer.call(name(pool), {:remember, call}, :infinity)

  ## Server

  @impl true
  def init(pool), do: {:ok, %{pool: pool, calls: [], count: 0, joined: %{}}}

  @impl true
  def handle_call({:join, seen, %Conn{pid: pid} = conn}, _from, state) do
    if seen < state.count do
      # `calls` is newest first.
      missed = state.calls |> Enum.take(state.count - seen) |> Enum.reverse()
      {:reply, {:more, missed, state.count}, state}
    else
      ref = Process.monitor(pid)
      {:reply, :joined, %{state | joined: Map.put(state.joined, pid, {conn, ref})}}
    end
  end

  def handle_call({:remember, call}, _from, state) do
    conns = Enum.map(state.joined, fn {_pid, {conn, _ref}} -> conn end)
    {:reply, {:ok, conns}, %{state | calls: [call | state.calls], count: state.count + 1}}
  end

  @impl true
  def handle_info({:DOWN, _ref, :process, pid, _reason}, state) do
    {:noreply, %{state | joined: Map.delete(state.joined, pid)}}
  end
end
