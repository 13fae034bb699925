defmodule DSPyDemo.Tools do
  @moduledoc """
  Tools for the demo's agents: plain Elixir functions. Passed as
  `&DSPyDemo.Tools.multiply/2`, a function is a DSPy tool as it is: DSPy
  reads its name, its parameters (and their types, from the `@spec`) and
  its `@doc`, and shows them to the LM.
  """

  @doc "Multiplies two integers exactly."
  @spec multiply(integer(), integer()) :: integer()
  def multiply(a, b), do: to_integer(a) * to_integer(b)

  defp to_integer(value) when is_integer(value), do: value
  defp to_integer(value) when is_binary(value), do: value |> String.trim() |> String.to_integer()
end
