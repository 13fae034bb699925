defmodule PyBridge.Output do
  @moduledoc false
  # Python's fds 1 and 2 (prints, warnings, C-level writes, child processes)
  # reach the Worker as `{:output, binary}` frames, cut at arbitrary points.
  # An IO device gets the bytes unchanged. For Logger they are cut into lines
  # so that one print is one log event: a partial line waits in a buffer for
  # the rest (bounded, so a line without end cannot grow it forever) and is
  # flushed when the worker stops.

  require Logger

  @max_partial 64 * 1024

  @type target :: {PyBridge.Config.output(), atom(), integer() | nil}

  @spec write(binary(), binary(), target()) :: binary()
  def write(buffer, data, {device, _pool, _os_pid})
      when device != :logger and not is_tuple(device) do
    _ = IO.binwrite(device, [buffer, data])
    ""
  end

  def write(buffer, data, target) do
    [partial | lines] =
      buffer |> Kernel.<>(data) |> :binary.split("\n", [:global]) |> Enum.reverse()

    lines |> Enum.reverse() |> Enum.each(&log(&1, target))

    if byte_size(partial) > @max_partial do
      log(partial, target)
      ""
    else
      partial
    end
  end

  @spec flush(binary(), target()) :: binary()
  def flush("", _target), do: ""

  def flush(buffer, {device, _, _} = target) when device == :logger or is_tuple(device) do
    log(buffer, target)
    ""
  end

  def flush(buffer, target), do: write(buffer, "", target)

  defp log(line, {output, pool, os_pid}) do
    line = String.trim_trailing(line, "\r")

    if line != "" do
      level = if match?({:logger, _}, output), do: elem(output, 1), else: :info
      Logger.log(level, ["python: ", line], pybridge_pool: pool, python_pid: os_pid)
    end

    :ok
  end
end
