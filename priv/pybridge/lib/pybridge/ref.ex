defmodule PyBridge.Ref do
  @moduledoc """
  A handle to a Python object that is not plain data (a class instance, a
  module, a function, ...).

  Pass it back to `PyBridge.method/5`, `PyBridge.attr/3`, `PyBridge.call/4`
  (to call it) or as an argument of any call, where Python receives the object
  itself. A handle lives in the worker that created it (`worker` is that
  worker's token) and belongs to the calling process, or to the session it was
  created in: when that process exits or the session closes, the worker frees
  it. A handle whose worker has died is refused with a `pybridge.StaleHandle`
  error; it is never bound to another object.

      iex> %PyBridge.Ref{id: 7, worker: "3f2a9c01", type: "collections.Counter"}
      #PyBridge.Ref<collections.Counter 3f2a…#7>
  """

  defstruct [:id, :worker, :type]

  @type t :: %__MODULE__{id: integer(), worker: binary(), type: String.t()}

  defimpl Inspect do
    def inspect(%PyBridge.Ref{id: id, worker: worker, type: type}, _opts) do
      "#PyBridge.Ref<#{type} #{short(worker)}#{id_suffix(id)}>"
    end

    defp short(worker) when is_binary(worker) and byte_size(worker) > 4,
      do: binary_part(worker, 0, 4) <> "…"

    defp short(worker), do: to_string(worker)

    defp id_suffix(nil), do: ""
    defp id_suffix(id), do: "#" <> to_string(id)
  end
end
