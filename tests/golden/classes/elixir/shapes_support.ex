defmodule Shapes.Support do
  @moduledoc false
  # Functions the classes golden spec names: a result transform, an error
  # handler, and a function exported to Python.

  @spec to_point({number(), number()}) :: %{String.t() => number()}
  def to_point({x, y}), do: %{"x" => x, "y" => y}

  @spec tag_error(PyBridge.Error.t()) :: {:error, PyBridge.Error.t()}
  def tag_error(%PyBridge.Error{} = error),
    do: {:error, %{error | message: "shapes: " <> error.message}}

  @spec double(number()) :: number()
  def double(x), do: 2 * x
end
