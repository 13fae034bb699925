defmodule PyBridge.Telemetry do
  @moduledoc """
  `:telemetry` events for calls into Python, at no cost without `:telemetry`.

  PyBridge does not depend on the `telemetry` library. When the application
  that uses PyBridge has it (most Phoenix and Ecto applications do),
  `span/3` emits

    * `prefix ++ [:call, :start]` - measurements `%{system_time, monotonic_time}`;
    * `prefix ++ [:call, :stop]` - measurements `%{duration, monotonic_time}`,
      metadata plus `:status` (`:ok` or `:error`) and, on error, `:error`;
    * `prefix ++ [:call, :exception]` - measurements `%{duration, monotonic_time}`,
      metadata plus `:kind`, `:reason`, `:stacktrace`,

  with durations in `:native` time units, as `:telemetry.span/3` does.
  Without it, `span/3` only calls the function. Whether `:telemetry` is
  there is checked once and kept in `:persistent_term`; `refresh/0` checks
  again (after loading code at run time).

  The runtime emits its own events (every request, stream, callback, queue
  wait and worker start/exit/replacement, on every node) through
  `execute/3`, under the same check; they are listed in the `PyBridge`
  moduledoc.

  Generated modules whose spec enables telemetry wrap every call:

      PyBridge.Telemetry.span([:my_app, :json], %{python: "json.dumps"}, fn ->
        PyBridge.call("json.dumps", [%{"a" => 1}])
      end)
  """

  # :telemetry is optional: calls to it are guarded by available?/0.
  @compile {:no_warn_undefined, :telemetry}

  @key {__MODULE__, :available?}

  @doc "Whether the `:telemetry` library can be called (checked once)."
  @spec available?() :: boolean()
  def available? do
    case :persistent_term.get(@key, :unknown) do
      :unknown -> refresh()
      available -> available
    end
  end

  @doc "Checks again whether `:telemetry` is loaded and remembers the answer."
  @spec refresh() :: boolean()
  def refresh do
    available = Code.ensure_loaded?(:telemetry) and function_exported?(:telemetry, :execute, 3)
    :ok = :persistent_term.put(@key, available)
    available
  end

  @doc """
  Runs `fun`, emitting start and stop (or exception) events under `prefix`
  when `:telemetry` is available. Returns what `fun` returns.
  """
  @spec span([atom()], map(), (() -> result)) :: result when result: term()
  def span(prefix, metadata, fun)
      when is_list(prefix) and is_map(metadata) and is_function(fun, 0) do
    if available?(), do: emit_span(prefix, metadata, fun), else: fun.()
  end

  @doc """
  Emits one event when `:telemetry` is available (the runtime's own events,
  listed in the `PyBridge` moduledoc); does nothing otherwise.
  """
  @spec execute([atom()], map(), map()) :: :ok
  def execute(event, measurements, metadata) do
    if available?(), do: :telemetry.execute(event, measurements, metadata)
    :ok
  end

  defp emit_span(prefix, metadata, fun) do
    start = System.monotonic_time()

    :ok =
      :telemetry.execute(
        prefix ++ [:call, :start],
        %{system_time: System.system_time(), monotonic_time: start},
        metadata
      )

    try do
      fun.()
    catch
      kind, reason ->
        stop = System.monotonic_time()

        :ok =
          :telemetry.execute(
            prefix ++ [:call, :exception],
            %{duration: stop - start, monotonic_time: stop},
            Map.merge(metadata, %{kind: kind, reason: reason, stacktrace: __STACKTRACE__})
          )

        :erlang.raise(kind, reason, __STACKTRACE__)
    else
      result ->
        stop = System.monotonic_time()

        :ok =
          :telemetry.execute(
            prefix ++ [:call, :stop],
            %{duration: stop - start, monotonic_time: stop},
            Map.merge(metadata, status(result))
          )

        result
    end
  end

  defp status({:error, error}), do: %{status: :error, error: error}
  defp status(_result), do: %{status: :ok}
end
