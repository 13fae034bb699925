defmodule PyBridge.TypeCheckSpecs do
  @moduledoc false
  # Functions whose @specs PyBridge.TypeCheckTest checks values against.

  @type pair(a) :: {a, a}
  @type shape :: :circle | {:square, pos_integer()}

  @spec number() :: {:ok, integer()} | {:error, PyBridge.Error.t()}
  def number, do: {:ok, 1}

  @spec pairs() :: {:ok, [pair(float())]} | {:error, term()}
  def pairs, do: {:ok, []}

  @spec shapes(keyword()) :: {:ok, %{optional(String.t()) => shape()}} | {:error, term()}
  def shapes(_opts \\ []), do: {:ok, %{}}

  @spec handle() :: {:ok, PyBridge.Ref.t() | nil} | {:error, term()}
  def handle, do: {:ok, nil}

  @spec items() :: Enumerable.t(1..3)
  def items, do: [1]

  @spec array() :: {:ok, PyBridge.NDArray.t()} | {:error, term()}
  def array, do: {:ok, PyBridge.NDArray.from_list([1.0])}
end
