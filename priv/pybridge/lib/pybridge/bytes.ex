defmodule PyBridge.Bytes do
  @moduledoc """
  Raw bytes, explicitly marked: Python `bytes` arrive as this struct, and this
  struct is how Elixir sends `bytes` (a plain binary that is valid UTF-8 becomes
  a Python `str`).

      iex> PyBridge.call("builtins.bytes", [[104, 105]])
      {:ok, %PyBridge.Bytes{data: "hi"}}
      iex> PyBridge.call("builtins.len", [%PyBridge.Bytes{data: <<0, 255>>}])
      {:ok, 2}
  """

  defstruct data: <<>>

  @type t :: %__MODULE__{data: binary()}
end
