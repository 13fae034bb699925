defmodule PyBridge.FrameTest do
  use ExUnit.Case, async: true

  alias PyBridge.{Frame, NDArray}

  doctest PyBridge.Frame

  test "numeric columns come as NDArrays, others as lists, missing values as nil or :nan" do
    data = %{
      "i" => [1, 2, 3],
      "f" => [0.5, :nan, 2.5],
      "b" => [true, false, true],
      "s" => ["a", nil, "c"]
    }

    {:ok, frame} = PyBridge.create("pandas.DataFrame", [data])
    {:ok, dates} = PyBridge.call("pandas.to_datetime", [["2024-01-02", "2024-03-04", nil]])
    assert PyBridge.method!(frame, "__setitem__", ["d", dates]) == nil
    {:ok, columns} = Frame.columns(frame, index: true)

    assert %NDArray{dtype: "int64", shape: {3}} = columns["i"]
    assert NDArray.to_list(columns["i"]) == [1, 2, 3]
    assert NDArray.to_list(columns["f"]) == [0.5, :nan, 2.5]
    assert NDArray.to_list(columns["b"]) == [true, false, true]
    assert columns["s"] == ["a", nil, "c"]
    assert columns["d"] == ["2024-01-02T00:00:00", "2024-03-04T00:00:00", nil]
    assert NDArray.to_list(columns["index"]) == [0, 1, 2]
  end

  test "a Series, and a frame made back from columns" do
    {:ok, frame} =
      PyBridge.create("pandas.DataFrame", [%{"x" => NDArray.from_list([1.0, 2.0, 4.0])}])

    {:ok, series} = PyBridge.call("operator.getitem", [frame, "x"])
    {:ok, values} = Frame.series(series)
    assert NDArray.to_list(values) == [1.0, 2.0, 4.0]
    assert {:ok, %{"x" => _}} = Frame.columns(series)
    assert {:ok, 7.0} = PyBridge.method(series, "sum")
  end
end
