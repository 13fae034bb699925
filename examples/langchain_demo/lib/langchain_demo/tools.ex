defmodule LangChainDemo.Tools do
  @moduledoc """
  The agent's tools: plain Elixir functions. `LangChain.StructuredTool.from_function/2`
  makes a LangChain tool of each as it is: the model reads the function's
  name, its parameters (typed by the `@spec`) and its `@doc`.
  """

  @doc "Multiplies two integers exactly."
  @spec multiply(integer(), integer()) :: integer()
  def multiply(a, b), do: a * b

  @doc "The population of a city, in millions of people."
  @spec population(String.t()) :: float()
  def population(city) do
    Map.get(%{"paris" => 2.1, "berlin" => 3.7, "tokyo" => 14.0}, String.downcase(city), 0.0)
  end
end
