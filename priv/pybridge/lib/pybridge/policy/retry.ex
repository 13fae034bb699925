defmodule PyBridge.Policy.Retry do
  @moduledoc false
  # Retries of a request the caller declared idempotent (`idempotent: true`),
  # run around the whole attempt (routing included, so a retry after a worker
  # crash goes to its replacement). One deadline covers every attempt: each
  # attempt gets the time that is left as its timeout, and no back-off sleeps
  # past the deadline. Never used for a call that is not marked idempotent:
  # it may have run, with its side effects, before it failed.

  alias PyBridge.Error

  defstruct attempts: 3,
            backoff: 100,
            max_backoff: 2_000,
            on: ["pybridge.WorkerExited", "pybridge.WorkerUnavailable"]

  @type t :: %__MODULE__{
          attempts: pos_integer(),
          backoff: non_neg_integer(),
          max_backoff: non_neg_integer(),
          on: [String.t()]
        }

  @doc "The defaults, as a keyword list (for the docs and `new!/2`)."
  @spec defaults() :: keyword()
  def defaults, do: %__MODULE__{} |> Map.from_struct() |> Map.to_list()

  @doc """
  Validates retry options over `base` (the pool's policy, or the defaults):
  `:attempts` (in all, the first included), `:backoff` (ms before the second
  attempt, doubled for each next one), `:max_backoff` (ms) and `:on` (error
  types to retry, `"pybridge.WorkerExited"` or a Python type such as
  `"builtins.ConnectionError"`).
  """
  @spec new!(keyword(), t()) :: t()
  def new!(opts, base \\ %__MODULE__{})

  def new!(opts, %__MODULE__{} = base) when is_list(opts) do
    unless Keyword.keyword?(opts) do
      raise ArgumentError, "retry must be a keyword list, got: #{inspect(opts)}"
    end

    opts = Keyword.validate!(opts, Map.to_list(Map.from_struct(base)))

    check!(opts, :attempts, &(is_integer(&1) and &1 > 0), "a positive integer")
    check!(opts, :backoff, &(is_integer(&1) and &1 >= 0), "a non-negative integer (ms)")
    check!(opts, :max_backoff, &(is_integer(&1) and &1 >= 0), "a non-negative integer (ms)")

    check!(
      opts,
      :on,
      &(is_list(&1) and Enum.all?(&1, fn type -> is_binary(type) and type != "" end)),
      "a list of error types (\"pybridge.WorkerExited\", \"builtins.ConnectionError\")"
    )

    struct!(__MODULE__, opts)
  end

  def new!(other, _base),
    do: raise(ArgumentError, "retry must be a keyword list, got: #{inspect(other)}")

  defp check!(opts, key, valid?, expected) do
    value = Keyword.fetch!(opts, key)

    unless valid?.(value) do
      raise ArgumentError, "retry: #{key} must be #{expected}, got: #{inspect(value)}"
    end
  end

  @doc """
  Runs `attempt.(timeout)` until it succeeds, fails with an error not in
  `:on`, runs out of attempts, or the deadline `timeout` ms from now leaves
  no time for the back-off and another attempt. Returns the last result.
  """
  @spec run(t(), timeout(), (timeout() -> result)) :: result
        when result: {:ok, term()} | {:error, Error.t()}
  def run(%__MODULE__{} = retry, timeout, attempt) do
    deadline = if timeout == :infinity, do: :infinity, else: now() + timeout
    loop(retry, deadline, 1, attempt)
  end

  defp loop(retry, deadline, n, attempt) do
    case attempt.(remaining(deadline)) do
      {:error, %Error{type: type}} = error when n < retry.attempts ->
        pause = min(retry.backoff * Integer.pow(2, n - 1), retry.max_backoff)

        if type in retry.on and (deadline == :infinity or now() + pause < deadline) do
          Process.sleep(pause)
          loop(retry, deadline, n + 1, attempt)
        else
          error
        end

      result ->
        result
    end
  end

  defp remaining(:infinity), do: :infinity
  defp remaining(deadline), do: max(deadline - now(), 0)

  defp now, do: System.monotonic_time(:millisecond)
end
