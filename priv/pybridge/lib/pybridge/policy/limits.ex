defmodule PyBridge.Policy.Limits do
  @moduledoc false
  # The pool option `:limits` (resource limits of each worker) and the
  # mapping from how a worker exited to the limit it went over.
  #
  # The limits are set by the Python worker itself at start
  # (`pybridge_port/limits.py`, from the flags `args/1` gives): RLIMIT_AS,
  # RLIMIT_CPU and RLIMIT_NOFILE, and watchdog threads for the CPU time of
  # one call and for the resident set. A worker over one of them exits with
  # a status of its own (or is ended by the kernel with SIGXCPU);
  # `exit_reason/2` turns that status into the worker's stop reason
  # `{:shutdown, {:limit_exceeded, error}}`, whose error
  # (`pybridge.MemoryLimit`, `pybridge.CpuLimit`, `pybridge.OpenFilesLimit`)
  # the callers in flight get instead of a bare `pybridge.WorkerExited`. The
  # statuses must match limits.py.

  alias PyBridge.Error

  @exit_memory 86
  @exit_call_cpu 87
  @exit_open_files 88
  @exit_resident_memory 89
  # 128 + SIGXCPU (24), as the Port reports a process ended by a signal.
  @exit_sigxcpu 152

  @keys [:memory, :resident_memory, :cpu_time, :call_cpu_time, :open_files]

  @doc "Validates the `:limits` option: a keyword list of positive integers, or `[]`."
  @spec new!(keyword()) :: keyword()
  def new!(limits) when is_list(limits) do
    unless Keyword.keyword?(limits) do
      raise ArgumentError,
            "limits must be a keyword list of #{inspect(@keys)}, got: #{inspect(limits)}"
    end

    limits = Keyword.validate!(limits, Enum.map(@keys, &{&1, nil}))

    for {key, value} <- limits, value != nil, not (is_integer(value) and value > 0) do
      raise ArgumentError,
            "limits: #{key} must be a positive integer (#{unit(key)}) or nil, got: #{inspect(value)}"
    end

    Enum.reject(limits, fn {_key, value} -> is_nil(value) end)
  end

  def new!(other) do
    raise ArgumentError,
          "limits must be a keyword list of #{inspect(@keys)}, got: #{inspect(other)}"
  end

  defp unit(:memory), do: "bytes"
  defp unit(:resident_memory), do: "bytes"
  defp unit(:cpu_time), do: "seconds"
  defp unit(:call_cpu_time), do: "milliseconds"
  defp unit(:open_files), do: "file descriptors"

  @doc "The worker's command-line flags for `limits`."
  @spec args(keyword()) :: [String.t()]
  def args(limits) do
    Enum.flat_map(limits, fn {key, value} -> [flag(key), Integer.to_string(value)] end)
  end

  defp flag(:memory), do: "--memory-limit"
  defp flag(:resident_memory), do: "--resident-memory-limit"
  defp flag(:cpu_time), do: "--cpu-limit"
  defp flag(:call_cpu_time), do: "--call-cpu-limit"
  defp flag(:open_files), do: "--open-files-limit"

  @doc """
  The stop reason of a ready worker whose Python exited with `status`:
  `{:shutdown, {:limit_exceeded, error}}` when the status names one of the
  pool's `limits`, else `{:shutdown, {:python_exited, status}}` as before.
  """
  @spec exit_reason(keyword(), term()) :: {:shutdown, term()}
  def exit_reason(limits, status) do
    case limit_error(limits, status) do
      nil -> {:shutdown, {:python_exited, status}}
      error -> {:shutdown, {:limit_exceeded, error}}
    end
  end

  @doc "The error that names the limit behind exit `status`, or nil."
  @spec limit_error(keyword(), term()) :: Error.t() | nil
  def limit_error(limits, status) do
    with {key, type, what} <- over(status),
         value when value != nil <- limits[key] do
      replaced(type, "#{what.(value)} (limits: [#{key}: #{value}])")
    else
      _ -> nil
    end
  end

  # Exit status -> the limit it means, the error, and what the worker did.
  defp over(@exit_memory),
    do:
      {:memory, "pybridge.MemoryLimit",
       &"ran out of memory under its limit of #{&1} bytes of address space"}

  defp over(@exit_resident_memory),
    do: {:resident_memory, "pybridge.MemoryLimit", &"grew over its limit of #{&1} bytes resident"}

  defp over(@exit_call_cpu),
    do:
      {:call_cpu_time, "pybridge.CpuLimit",
       &"ran a call that used more than #{&1} ms of CPU time"}

  defp over(@exit_sigxcpu),
    do: {:cpu_time, "pybridge.CpuLimit", &"used its #{&1} s of CPU time"}

  defp over(@exit_open_files),
    do:
      {:open_files, "pybridge.OpenFilesLimit",
       &"ran out of file descriptors under its limit of #{&1}"}

  defp over(_status), do: nil

  defp replaced(type, what) do
    Error.new(
      type,
      "the Python worker #{what}; it was stopped and is being replaced, " <>
        "and the requests in flight on it were lost"
    )
  end
end
