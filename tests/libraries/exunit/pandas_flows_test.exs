defmodule Flows.PandasTest do
  use ExUnit.Case, async: true

  alias PyBridge.{Frame, NDArray}

  test "a DataFrame's columns come to Elixir without a per-element cost" do
    {:ok, frame} = Pandas.DataFrame.create(data: %{"x" => [1, 2, 3], "y" => [2.0, 4.0, 8.0], "name" => ["a", "b", "c"]})
    assert {:ok, {3, 3}} = Pandas.DataFrame.shape(frame)
    {:ok, columns} = Frame.columns(frame)
    assert %NDArray{dtype: "int64", shape: {3}} = columns["x"]
    assert NDArray.to_list(columns["y"]) == [2.0, 4.0, 8.0]
    assert columns["name"] == ["a", "b", "c"]
    {:ok, y} = Pandas.DataFrame.column(frame, "y")
    assert {:ok, 14.0} = PyBridge.method(y, "sum")
  end

  test "optional Python arguments passed by position say how to call" do
    {:ok, frame} = Pandas.DataFrame.create(data: %{"x" => [1, 2, 3]})
    # Python's head(n=5) takes n by position; here it is a keyword.
    error = assert_raise ArgumentError, fn -> apply(Pandas.DataFrame, :head, [frame, 2]) end
    assert error.message =~ "head: the optional Python arguments (n) go in the keyword list, as in head(ref, n: ...)"
    {:ok, two} = Pandas.DataFrame.head(frame, n: 2)
    assert {:ok, {2, 1}} = Pandas.DataFrame.shape(two)
  end
end
