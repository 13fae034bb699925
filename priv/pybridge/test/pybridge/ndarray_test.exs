defmodule PyBridge.NDArrayTest do
  use ExUnit.Case, async: true

  alias PyBridge.NDArray

  doctest PyBridge.NDArray

  describe "to_list/1 on arrays numpy made" do
    test "nests by shape, for every dtype of the table" do
      for dtype <- ~w(int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64) do
        {:ok, array} = PyBridge.call("numpy.arange", [6], dtype: dtype)
        {:ok, reshaped} = PyBridge.call("numpy.reshape", [array, {2, 3}])
        {:ok, expected} = PyBridge.call("numpy.ndarray.tolist", [array])
        assert reshaped.dtype == dtype
        assert NDArray.to_list(reshaped) == Enum.chunk_every(expected, 3), dtype
      end
    end

    test "bool, complex, NaN and the infinities, a 0-d and an empty array" do
      {:ok, flags} = PyBridge.call("numpy.array", [[true, false, true]])
      assert NDArray.to_list(flags) == [true, false, true]

      {:ok, complex} = PyBridge.call("numpy.array", [[1.5, -2.0]], dtype: "complex128")
      assert NDArray.to_list(complex) == [{1.5, 0.0}, {-2.0, 0.0}]

      for dtype <- ~w(float16 float32 float64) do
        {:ok, special} =
          PyBridge.call("numpy.array", [[:nan, :infinity, :neg_infinity, 1.0]], dtype: dtype)

        assert NDArray.to_list(special) == [:nan, :infinity, :neg_infinity, 1.0], dtype
      end

      assert NDArray.to_list(%NDArray{dtype: "int32", shape: {}, data: <<7::32-native>>}) == 7
      {:ok, empty} = PyBridge.call("numpy.zeros", [{0, 3}])
      assert NDArray.to_list(empty) == []
    end

    test "an array in the other byte order" do
      {:ok, dtype} = PyBridge.call("numpy.dtype", [">f8"])
      {:ok, big} = PyBridge.call("numpy.array", [[1.0, 2.5]], dtype: dtype)
      assert big.dtype == ">f8"
      assert NDArray.to_list(big) == [1.0, 2.5]
    end

    test "data that does not fit the shape, an unknown dtype: ArgumentError" do
      assert_raise ArgumentError, ~r/do not fit shape \{3\}/, fn ->
        NDArray.to_list(%NDArray{dtype: "float64", shape: {3}, data: <<0::64>>})
      end

      assert_raise ArgumentError, ~r/unknown dtype "float128"/, fn ->
        NDArray.to_list(%NDArray{dtype: "float128", shape: {0}, data: ""})
      end
    end
  end

  describe "from_list/2 arrives in Python as the array it says" do
    test "shape, dtype and values" do
      for dtype <- ~w(int8 int32 int64 uint8 uint64 float16 float32 float64) do
        array = NDArray.from_list([[1, 2, 3], [4, 5, 6]], dtype)

        assert NDArray.to_list(array) == [[1, 2, 3], [4, 5, 6]]

        {:ok, back} = PyBridge.call("numpy.asarray", [array])
        assert back == array, dtype
        assert {:ok, 21} = PyBridge.call("builtins.int", [PyBridge.call!("numpy.sum", [array])])
      end

      complex = NDArray.from_list([{1.0, 2.0}, 3], "complex64")
      assert NDArray.to_list(complex) == [{1.0, 2.0}, {3.0, 0.0}]
      special = NDArray.from_list([:nan, :infinity, :neg_infinity])

      assert {:ok, [true, false, false]} =
               PyBridge.call("numpy.isnan", [special])
               |> then(fn {:ok, a} -> {:ok, NDArray.to_list(a)} end)

      assert NDArray.to_list(special) == [:nan, :infinity, :neg_infinity]
      assert NDArray.from_list(true, "bool") == %NDArray{dtype: "bool", shape: {}, data: <<1>>}
    end

    test "a ragged list, a wrong element, an integer out of range: ArgumentError" do
      assert_raise ArgumentError, ~r/ragged/, fn -> NDArray.from_list([[1, 2], [3]], "int32") end

      assert_raise ArgumentError, ~r/found 1.5, expected an element of dtype int32/, fn ->
        NDArray.from_list([1.5], "int32")
      end

      assert_raise ArgumentError, ~r/256 is out of the range of uint8/, fn ->
        NDArray.from_list([256], "uint8")
      end
    end
  end

  test "dtypes/0 and type/1 give Nx's types" do
    assert NDArray.dtypes()["bool"] == {:u, 8}
    assert NDArray.dtypes()["complex64"] == {:c, 64}
    assert NDArray.type(%NDArray{dtype: "<i4", shape: {0}}) == {:s, 32}
  end
end
