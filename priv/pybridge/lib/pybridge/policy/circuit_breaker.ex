defmodule PyBridge.Policy.CircuitBreaker do
  @moduledoc false
  # A pool's circuit breaker, kept in one :atomics array that callers read and
  # update themselves (no process: a closed circuit costs one atomics read
  # before a call and nothing after a success).
  #
  #   closed ──(:failures worker-level failures within :window ms)──► open
  #   open ──(:cool_down ms later, the next caller becomes the trial)──► half-open
  #   half-open ──(the trial gets an answer from Python)──► closed
  #   half-open ──(the trial fails in the worker)──► open again
  #
  # Worker-level failures are the types in @failures: the worker crashed, went
  # over a limit, or did not answer in time. A Python exception raised by user
  # code is an answer, not a failure. Every transition is made by one
  # compare-and-swap, so exactly one caller logs it and emits its telemetry
  # event (`[:pybridge, :circuit_breaker, :open | :half_open | :closed]`,
  # measurements `%{failures: n}`, metadata `%{pool: name}`). A trial whose
  # caller vanished does not keep the circuit half-open: after
  # max(cool_down, trial_timeout) another caller becomes the trial.
  #
  # The failure window is counted from the first failure after the previous
  # window ended (not sliding): N failures within :window ms of that one open
  # the circuit.

  require Logger

  alias PyBridge.{Error, Telemetry}

  # Slots of the atomics array.
  @state 1
  @since 2
  @window_start 3
  @count 4
  @closed 0
  @open 1
  @half_open 2

  @failures ~w(pybridge.WorkerExited pybridge.WorkerUnavailable pybridge.Timeout
               pybridge.MemoryLimit pybridge.CpuLimit pybridge.OpenFilesLimit)

  @compile {:no_warn_undefined, :telemetry}

  defstruct [:pool, :atomics, failures: 5, window: 10_000, cool_down: 5_000, trial_timeout: 0]

  @type t :: %__MODULE__{
          pool: atom(),
          atomics: :atomics.atomics_ref(),
          failures: pos_integer(),
          window: pos_integer(),
          cool_down: pos_integer(),
          trial_timeout: non_neg_integer()
        }

  @typedoc "How a call passed the breaker: normally, or as the trial of a half-open circuit."
  @type pass :: :closed | :trial

  @doc "Defaults of the `:circuit_breaker` option."
  @spec defaults() :: keyword()
  def defaults, do: [failures: 5, window: 10_000, cool_down: 5_000]

  @doc """
  Builds the breaker of pool `pool` from the `:circuit_breaker` option
  (`nil`/`false`: none, `true`: the defaults, or a keyword list).
  `trial_timeout` is the pool's call timeout.
  """
  @spec new!(atom(), keyword() | boolean() | nil, timeout()) :: t() | nil
  def new!(_pool, off, _timeout) when off in [nil, false], do: nil
  def new!(pool, true, timeout), do: new!(pool, [], timeout)

  def new!(pool, opts, timeout) when is_list(opts) do
    unless Keyword.keyword?(opts) do
      raise ArgumentError,
            "circuit_breaker must be true, false or a keyword list, got: #{inspect(opts)}"
    end

    opts = Keyword.validate!(opts, defaults())

    for key <- [:failures, :window, :cool_down] do
      value = opts[key]

      unless is_integer(value) and value > 0 do
        raise ArgumentError,
              "circuit_breaker: #{key} must be a positive integer, got: #{inspect(value)}"
      end
    end

    %__MODULE__{
      pool: pool,
      atomics: :atomics.new(4, signed: true),
      failures: opts[:failures],
      window: opts[:window],
      cool_down: opts[:cool_down],
      trial_timeout: if(timeout == :infinity, do: 0, else: timeout)
    }
  end

  def new!(_pool, other, _timeout) do
    raise ArgumentError,
          "circuit_breaker must be true, false or a keyword list, got: #{inspect(other)}"
  end

  @doc "Whether a call may go ahead: `{:ok, pass}`, or a `pybridge.CircuitOpen` error at once."
  @spec pass(t()) :: {:ok, pass()} | {:error, Error.t()}
  def pass(%__MODULE__{atomics: atomics} = breaker) do
    case :atomics.get(atomics, @state) do
      @closed ->
        {:ok, :closed}

      @open ->
        maybe_trial(breaker, breaker.cool_down, @open)

      @half_open ->
        maybe_trial(breaker, max(breaker.cool_down, breaker.trial_timeout), @half_open)
    end
  end

  defp maybe_trial(%{atomics: atomics} = breaker, wait, state) do
    since = :atomics.get(atomics, @since)
    now = now()

    # Only the caller whose swap of `since` succeeds becomes the trial.
    if now - since >= wait and :atomics.compare_exchange(atomics, @since, since, now) == :ok do
      :atomics.put(atomics, @state, @half_open)
      if state == @open, do: transition(breaker, :half_open, 0)
      {:ok, :trial}
    else
      {:error, open_error(breaker, since + wait - now)}
    end
  end

  @doc "Records the result of a call that passed as `pass`; returns the result."
  @spec record(t(), pass(), result) :: result when result: term()
  def record(breaker, pass, result) do
    failed = failure?(result)

    case pass do
      :closed when failed -> count_failure(breaker)
      :closed -> :ok
      :trial when failed -> reopen(breaker)
      :trial -> close(breaker)
    end

    result
  end

  @doc "Whether a result is a failure of the worker (not an answer from Python)."
  @spec failure?(term()) :: boolean()
  def failure?({:error, %Error{type: type}}), do: type in @failures
  def failure?(_result), do: false

  defp count_failure(%{atomics: atomics} = breaker) do
    now = now()
    start = :atomics.get(atomics, @window_start)

    count =
      if start == 0 or now - start > breaker.window do
        # A new window begins with this failure (two callers racing here may
        # both reset it: the count is then one low, which only delays opening).
        :atomics.put(atomics, @window_start, now)
        :atomics.put(atomics, @count, 1)
        1
      else
        :atomics.add_get(atomics, @count, 1)
      end

    if count >= breaker.failures and :atomics.get(atomics, @state) == @closed do
      :atomics.put(atomics, @since, now)

      if :atomics.compare_exchange(atomics, @state, @closed, @open) == :ok do
        transition(breaker, :open, count)
      end
    end

    :ok
  end

  defp reopen(%{atomics: atomics} = breaker) do
    :atomics.put(atomics, @since, now())

    if :atomics.compare_exchange(atomics, @state, @half_open, @open) == :ok do
      transition(breaker, :open, :atomics.get(atomics, @count))
    end

    :ok
  end

  defp close(%{atomics: atomics} = breaker) do
    if :atomics.compare_exchange(atomics, @state, @half_open, @closed) == :ok do
      :atomics.put(atomics, @window_start, 0)
      :atomics.put(atomics, @count, 0)
      transition(breaker, :closed, 0)
    end

    :ok
  end

  @doc "The state: `:closed`, `:open` or `:half_open`."
  @spec state(t()) :: :closed | :open | :half_open
  def state(%__MODULE__{atomics: atomics}) do
    case :atomics.get(atomics, @state) do
      @closed -> :closed
      @open -> :open
      @half_open -> :half_open
    end
  end

  defp transition(breaker, state, failures) do
    pool = inspect(breaker.pool)

    case state do
      :open ->
        Logger.warning(
          "PyBridge pool #{pool}: circuit open after #{failures} worker failures " <>
            "(crashes, limits or timeouts); calls are refused for #{breaker.cool_down} ms"
        )

      :half_open ->
        Logger.info("PyBridge pool #{pool}: circuit half-open, one trial call goes through")

      :closed ->
        Logger.info("PyBridge pool #{pool}: circuit closed, the trial call succeeded")
    end

    if Telemetry.available?() do
      :telemetry.execute([:pybridge, :circuit_breaker, state], %{failures: failures}, %{
        pool: breaker.pool
      })
    end

    :ok
  end

  defp open_error(breaker, left) do
    Error.new(
      "pybridge.CircuitOpen",
      "the circuit of pool #{inspect(breaker.pool)} is open: its workers failed " <>
        "#{breaker.failures} times within #{breaker.window} ms (crashes, limits or timeouts); " <>
        "calls are refused for about #{max(left, 0)} ms more, then one trial call goes through"
    )
  end

  # Milliseconds since the VM started: never negative, so 0 can mean "unset".
  defp now do
    System.monotonic_time(:millisecond) -
      System.convert_time_unit(:erlang.system_info(:start_time), :native, :millisecond)
  end
end
