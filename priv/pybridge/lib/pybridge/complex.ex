defmodule PyBridge.Complex do
  @moduledoc """
  A Python `complex` number: its real and imaginary parts as floats (or
  `:nan`, `:infinity`, `:neg_infinity`, as every float travels).

      iex> PyBridge.call("builtins.complex", [1, 2])
      {:ok, %PyBridge.Complex{real: 1.0, imag: 2.0}}
      iex> PyBridge.call("builtins.abs", [%PyBridge.Complex{real: 3.0, imag: 4.0}])
      {:ok, 5.0}
  """

  defstruct real: 0.0, imag: 0.0

  @type part :: float() | :nan | :infinity | :neg_infinity
  @type t :: %__MODULE__{real: part(), imag: part()}
end
