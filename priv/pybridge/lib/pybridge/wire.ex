defmodule PyBridge.Wire do
  @moduledoc false
  # Says why `:erlang.binary_to_term(frame, [:safe])` refused a frame.

  @doc "What in `frame` cannot be decoded safely, in words."
  @spec diagnose(binary()) :: String.t()
  def diagnose(_frame) do
    "it holds an atom this node does not know (make it a string in Python), " <>
      "or a value Erlang cannot represent"
  end
end
