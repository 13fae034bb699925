defmodule PyBridge.Error do
  @moduledoc """
  An error raised by Python, or by the bridge itself, as an exception.

  Every PyBridge function returns `{:error, %PyBridge.Error{}}` on failure, and
  its bang variant raises it. `type` is the Python exception's qualified name
  (`"builtins.ValueError"`, `"json.decoder.JSONDecodeError"`) or one of the
  bridge's own `pybridge.*` types:

    * `"pybridge.StaleHandle"` - the handle's worker is gone, or the handle
      was released;
    * `"pybridge.Timeout"` - no answer within `:timeout` (the worker was told
      to cancel the request);
    * `"pybridge.WorkerExited"` - the worker's OS process died while the
      request was pending;
    * `"pybridge.WorkerUnavailable"` - no worker of the pool is running (the
      pool is not started, or its workers keep failing to start);
    * `"pybridge.NotAllowed"` - the pool's allowlist (`:allow`) refused the
      target; nothing was sent;
    * `"pybridge.CircuitOpen"` - the pool's circuit breaker is open;
    * `"pybridge.MemoryLimit"`, `"pybridge.CpuLimit"`,
      `"pybridge.OpenFilesLimit"` - the worker went over one of the pool's
      `:limits` and was replaced;
    * `"pybridge.Cancelled"`, `"pybridge.CodecError"`,
      `"pybridge.ProtocolError"` - as described in `docs/PROTOCOL.md`.

  `message/1` shows the Python traceback under the message:

      iex> error = %PyBridge.Error{type: "builtins.ValueError", message: "math domain error",
      ...>   traceback: ["Traceback (most recent call last):", "  File \\"<x>\\", line 1, in <module>"]}
      iex> Exception.message(error)
      "ValueError: math domain error\\n\\nTraceback (most recent call last):\\n  File \\"<x>\\", line 1, in <module>"
  """

  defexception [:type, :message, traceback: []]

  @type t :: %__MODULE__{type: String.t(), message: String.t(), traceback: [String.t()]}

  @impl true
  def message(%__MODULE__{type: type, message: message, traceback: traceback}) do
    head = "#{short_type(type)}: #{message}"

    case traceback do
      [_ | _] -> head <> "\n\n" <> (traceback |> Enum.join("\n") |> String.trim_trailing())
      _ -> head
    end
  end

  # Builtin exceptions read as Python prints them (`ValueError`, not
  # `builtins.ValueError`); others keep their module.
  defp short_type("builtins." <> name), do: name
  defp short_type(type), do: to_string(type)

  @doc false
  @spec from_wire(term()) :: t()
  def from_wire(%{type: type, message: message} = map) do
    traceback =
      case Map.get(map, :traceback) do
        lines when is_list(lines) -> Enum.filter(lines, &is_binary/1)
        _ -> []
      end

    %__MODULE__{type: to_string(type), message: to_string(message), traceback: traceback}
  end

  def from_wire(other) do
    %__MODULE__{
      type: "pybridge.ProtocolError",
      message: "malformed error from the Python worker: #{inspect(other)}",
      traceback: []
    }
  end

  @doc false
  @spec new(String.t(), String.t()) :: t()
  def new(type, message), do: %__MODULE__{type: type, message: message, traceback: []}
end
