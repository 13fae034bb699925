defmodule PyBridge.NDArray do
  @moduledoc """
  A numpy array of a plain dtype, sent as one binary in C order (native byte
  order), never element by element.

  `dtype` is numpy's name (`"float64"`, `"int32"`, `"bool"`, ...), `shape` a
  tuple of dimensions.

      iex> {:ok, array} = PyBridge.call("numpy.arange", [3.0])
      iex> array.dtype
      "float64"
      iex> array.shape
      {3}
      iex> for <<x::float-64-native <- array.data>>, do: x
      [0.0, 1.0, 2.0]
  """

  defstruct [:dtype, :shape, data: <<>>]

  @type t :: %__MODULE__{dtype: String.t(), shape: tuple(), data: binary()}
end
