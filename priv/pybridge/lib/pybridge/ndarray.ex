defmodule PyBridge.NDArray do
  @moduledoc """
  A numpy array of a plain dtype, sent as one binary in C order, never
  element by element.

  `dtype` is numpy's name (`"float64"`, `"int32"`, `"bool"`, ...), or numpy's
  `dtype.str` (`">f8"`) for an array whose byte order is not the machine's;
  `shape` is a tuple of dimensions; `data` holds the elements.

      iex> {:ok, array} = PyBridge.call("numpy.arange", [6.0])
      iex> {array.dtype, array.shape}
      {"float64", {6}}
      iex> PyBridge.NDArray.to_list(array)
      [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]

  An `NDArray` passed to Python arrives as a numpy array; `from_list/2` makes
  one from Elixir values:

      iex> array = PyBridge.NDArray.from_list([[1, 2], [3, 4]], "int32")
      iex> {:ok, 10} = PyBridge.call("numpy.sum", [array])
      iex> array.shape
      {2, 2}

  ## dtypes and Elixir values

  | numpy dtype | Elixir value | `type/1` (Nx's type) |
  | --- | --- | --- |
  | `bool` | `true` / `false` | `{:u, 8}` |
  | `int8`, `int16`, `int32`, `int64` | integer | `{:s, 8}` ... `{:s, 64}` |
  | `uint8`, `uint16`, `uint32`, `uint64` | non-negative integer | `{:u, 8}` ... `{:u, 64}` |
  | `float16`, `float32`, `float64` | float, or `:nan`, `:infinity`, `:neg_infinity` | `{:f, 16}` ... `{:f, 64}` |
  | `complex64`, `complex128` | `{real, imaginary}` floats | `{:c, 64}`, `{:c, 128}` |

  Other dtypes (`float128`, strings, objects, datetimes) do not come as an
  `NDArray`: the worker sends a handle instead.

  ## Handing an array to Nx

  `data` is already in the layout `Nx` reads, so no element is copied one by
  one (Nx is not a dependency of PyBridge; add it to your own project):

      tensor =
        array.data
        |> Nx.from_binary(PyBridge.NDArray.type(array))
        |> Nx.reshape(array.shape)

  and back, `%PyBridge.NDArray{dtype: "float32", shape: Nx.shape(t), data: Nx.to_binary(t)}`
  for a tensor `t` of type `{:f, 32}`. `bool` arrays come to Nx as `{:u, 8}`,
  and an array in a foreign byte order (a `dtype` like `">f8"`) must be
  converted with `to_list/1` (or in Python) first.

  ## pandas

  See `PyBridge.Frame` for DataFrames and Series: one `NDArray` (or list) per
  column.
  """

  defstruct [:dtype, :shape, data: <<>>]

  @type t :: %__MODULE__{dtype: String.t(), shape: tuple(), data: binary()}

  @typedoc "An element as `to_list/1` gives it and `from_list/2` takes it."
  @type element ::
          number() | boolean() | :nan | :infinity | :neg_infinity | {number(), number()}

  @typedoc "A list nested as deep as the array has dimensions (an element for a 0-d array)."
  @type nested :: element() | [nested()]

  @names %{
    "bool" => {:bool, 8},
    "int8" => {:s, 8},
    "int16" => {:s, 16},
    "int32" => {:s, 32},
    "int64" => {:s, 64},
    "uint8" => {:u, 8},
    "uint16" => {:u, 16},
    "uint32" => {:u, 32},
    "uint64" => {:u, 64},
    "float16" => {:f, 16},
    "float32" => {:f, 32},
    "float64" => {:f, 64},
    "complex64" => {:c, 64},
    "complex128" => {:c, 128}
  }
  @kinds %{"b" => :bool, "i" => :s, "u" => :u, "f" => :f, "c" => :c}

  @doc """
  The dtypes an `NDArray` can hold, by numpy name, with their Nx type.

      iex> PyBridge.NDArray.dtypes()["float32"]
      {:f, 32}
  """
  @spec dtypes() :: %{String.t() => {:s | :u | :f | :c, pos_integer()}}
  def dtypes, do: Map.new(@names, fn {name, _} -> {name, nx_type(name)} end)

  @doc """
  The Nx type of the array's elements (`{:f, 64}` for `"float64"`, `{:u, 8}` for `"bool"`).

      iex> PyBridge.NDArray.type(%PyBridge.NDArray{dtype: "int16", shape: {0}})
      {:s, 16}
  """
  @spec type(t()) :: {:s | :u | :f | :c, pos_integer()}
  def type(%__MODULE__{dtype: dtype}), do: nx_type(dtype)

  @doc """
  The elements as Elixir values, nested as the shape says (a 2x3 array is a
  list of 2 lists of 3); a 0-d array gives its one element.

      iex> array = %PyBridge.NDArray{dtype: "float64", shape: {2, 2}, data: <<1.0::float-64-native, 2.0::float-64-native, 3.0::float-64-native, 4.0::float-64-native>>}
      iex> PyBridge.NDArray.to_list(array)
      [[1.0, 2.0], [3.0, 4.0]]

  Raises `ArgumentError` for a dtype it cannot read or data that does not fit the shape.
  """
  @spec to_list(t()) :: nested()
  def to_list(%__MODULE__{dtype: dtype, shape: shape, data: data}) do
    {kind, bits, endian} = parse!(dtype)
    size = div(bits, 8)
    dims = Tuple.to_list(shape)
    count = Enum.product(dims)

    if byte_size(data) != count * size do
      raise ArgumentError,
            "PyBridge.NDArray.to_list/1: #{byte_size(data)} bytes of data do not fit shape #{inspect(shape)} of #{dtype} (expected #{count * size} bytes)"
    end

    flat = for <<chunk::binary-size(size) <- data>>, do: decode(chunk, kind, bits, endian)
    nest(flat, dims)
  end

  @doc """
  An array of `dtype` (default `"float64"`) from a list nested as deep as its
  dimensions (or one element, for a 0-d array).

      iex> PyBridge.NDArray.from_list([[1, 2, 3], [4, 5, 6]], "uint8")
      %PyBridge.NDArray{dtype: "uint8", shape: {2, 3}, data: <<1, 2, 3, 4, 5, 6>>}

  Raises `ArgumentError` for a ragged list, an unknown dtype, or an element
  that is not of the dtype (a float for `"int32"`, an integer out of range).
  """
  @spec from_list(nested(), String.t()) :: t()
  def from_list(list, dtype \\ "float64") when is_binary(dtype) do
    {kind, bits, _} = parse!(dtype)
    shape = shape_of!(list)

    data =
      list
      |> flatten()
      |> Enum.map(&encode!(&1, kind, bits, dtype))
      |> IO.iodata_to_binary()

    %__MODULE__{dtype: dtype, shape: List.to_tuple(shape), data: data}
  end

  # ---------------------------------------------------------------- dtypes

  defp nx_type(dtype) do
    case parse!(dtype) do
      {:bool, 8, _} -> {:u, 8}
      {kind, bits, _} -> {kind, bits}
    end
  end

  defp parse!(dtype) when is_binary(dtype) do
    case Map.fetch(@names, dtype) do
      {:ok, {kind, bits}} -> {kind, bits, :native}
      :error -> parse_str!(dtype)
    end
  end

  defp parse!(dtype), do: unknown!(dtype)

  # numpy's dtype.str: byte order, kind letter, size in bytes (">f8", "<i4", "|b1").
  defp parse_str!(<<order, kind, size::binary>> = dtype) when order in ~c"<>|=" do
    with {:ok, k} <- Map.fetch(@kinds, <<kind>>),
         {bytes, ""} <- Integer.parse(size),
         true <- Map.has_key?(@names, name_of(k, bytes * 8)) do
      {k, bytes * 8, endian(order)}
    else
      _ -> unknown!(dtype)
    end
  end

  defp parse_str!(dtype), do: unknown!(dtype)

  defp name_of(:bool, 8), do: "bool"
  defp name_of(:s, bits), do: "int#{bits}"
  defp name_of(:u, bits), do: "uint#{bits}"
  defp name_of(:f, bits), do: "float#{bits}"
  defp name_of(:c, bits), do: "complex#{bits}"

  defp endian(?<), do: :little
  defp endian(?>), do: :big
  defp endian(_), do: :native

  @spec unknown!(term()) :: no_return()
  defp unknown!(dtype) do
    known = @names |> Map.keys() |> Enum.sort() |> Enum.join(", ")

    raise ArgumentError,
          "PyBridge.NDArray: unknown dtype #{inspect(dtype)}, expected one of: #{known} (or numpy's dtype.str, like \">f8\")"
  end

  # -------------------------------------------------------------- decoding

  defp decode(<<0>>, :bool, 8, _), do: false
  defp decode(<<_>>, :bool, 8, _), do: true

  defp decode(chunk, :s, bits, :native) do
    <<v::signed-size(bits)-native>> = chunk
    v
  end

  defp decode(chunk, :s, bits, :little) do
    <<v::signed-size(bits)-little>> = chunk
    v
  end

  defp decode(chunk, :s, bits, :big) do
    <<v::signed-size(bits)-big>> = chunk
    v
  end

  defp decode(chunk, :u, bits, :native) do
    <<v::unsigned-size(bits)-native>> = chunk
    v
  end

  defp decode(chunk, :u, bits, :little) do
    <<v::unsigned-size(bits)-little>> = chunk
    v
  end

  defp decode(chunk, :u, bits, :big) do
    <<v::unsigned-size(bits)-big>> = chunk
    v
  end

  defp decode(chunk, :c, bits, endian) do
    half = div(bits, 16)
    <<re::binary-size(half), im::binary-size(half)>> = chunk
    {decode(re, :f, bits_of(half), endian), decode(im, :f, bits_of(half), endian)}
  end

  defp decode(chunk, :f, bits, endian) do
    # Binary patterns match only finite floats; NaN and the infinities are read from their bits.
    finite =
      case endian do
        :native -> match_float(chunk, bits, :native)
        :little -> match_float(chunk, bits, :little)
        :big -> match_float(chunk, bits, :big)
      end

    case finite do
      {:ok, value} -> value
      :error -> special(chunk, bits, endian)
    end
  end

  defp bits_of(bytes), do: bytes * 8

  defp match_float(chunk, bits, :native) do
    case chunk do
      <<v::float-size(bits)-native>> -> {:ok, v}
      _ -> :error
    end
  end

  defp match_float(chunk, bits, :little) do
    case chunk do
      <<v::float-size(bits)-little>> -> {:ok, v}
      _ -> :error
    end
  end

  defp match_float(chunk, bits, :big) do
    case chunk do
      <<v::float-size(bits)-big>> -> {:ok, v}
      _ -> :error
    end
  end

  # An IEEE 754 value whose exponent bits are all ones: an infinity when its fraction is 0, else NaN.
  defp special(chunk, bits, endian) do
    int = decode(chunk, :u, bits, endian)
    fraction_bits = %{16 => 10, 32 => 23, 64 => 52}[bits]
    sign = Bitwise.bsr(int, bits - 1)
    fraction = Bitwise.band(int, Bitwise.bsl(1, fraction_bits) - 1)

    cond do
      fraction != 0 -> :nan
      sign == 1 -> :neg_infinity
      true -> :infinity
    end
  end

  defp nest(flat, []), do: hd(flat)
  defp nest(flat, [_]), do: flat

  defp nest(flat, [_ | inner]) do
    size = Enum.product(inner)

    if size == 0 do
      []
    else
      flat |> Enum.chunk_every(size) |> Enum.map(&nest(&1, inner))
    end
  end

  # -------------------------------------------------------------- encoding

  defp shape_of!(list) when is_list(list) do
    inner = Enum.map(list, &shape_of!/1)

    case Enum.uniq(inner) do
      [] ->
        [0]

      [one] ->
        [length(list) | one]

      _ ->
        raise ArgumentError,
              "PyBridge.NDArray.from_list/2: a ragged list (rows of shapes #{inspect(Enum.uniq(inner))}), expected every row of one shape"
    end
  end

  defp shape_of!(_element), do: []

  defp flatten(list) when is_list(list), do: Enum.flat_map(list, &flatten/1)
  defp flatten(element), do: [element]

  defp encode!(v, :bool, 8, _) when is_boolean(v), do: if(v, do: <<1>>, else: <<0>>)

  defp encode!(v, :s, bits, dtype) when is_integer(v) do
    limit = Bitwise.bsl(1, bits - 1)
    if v < -limit or v >= limit, do: out_of_range!(v, dtype)
    <<v::signed-size(bits)-native>>
  end

  defp encode!(v, :u, bits, dtype) when is_integer(v) do
    if v < 0 or v >= Bitwise.bsl(1, bits), do: out_of_range!(v, dtype)
    <<v::unsigned-size(bits)-native>>
  end

  defp encode!(v, :f, bits, _) when is_number(v), do: <<v * 1.0::float-size(bits)-native>>
  defp encode!(:nan, :f, bits, _), do: special_bits(bits, 0, 1)
  defp encode!(:infinity, :f, bits, _), do: special_bits(bits, 0, 0)
  defp encode!(:neg_infinity, :f, bits, _), do: special_bits(bits, 1, 0)

  defp encode!({re, im}, :c, bits, dtype),
    do: [encode!(re, :f, div(bits, 2), dtype), encode!(im, :f, div(bits, 2), dtype)]

  defp encode!(v, :c, bits, dtype) when is_number(v), do: encode!({v, 0.0}, :c, bits, dtype)

  defp encode!(v, _kind, _bits, dtype) do
    raise ArgumentError,
          "PyBridge.NDArray.from_list/2: found #{inspect(v)}, expected an element of dtype #{dtype} (see the table in PyBridge.NDArray's docs)"
  end

  @spec out_of_range!(number(), String.t()) :: no_return()
  defp out_of_range!(v, dtype),
    do: raise(ArgumentError, "PyBridge.NDArray.from_list/2: #{v} is out of the range of #{dtype}")

  defp special_bits(bits, sign, fraction) do
    {exponent_bits, fraction_bits} = %{16 => {5, 10}, 32 => {8, 23}, 64 => {11, 52}}[bits]
    exponent = Bitwise.bsl(1, exponent_bits) - 1
    int = Bitwise.bsl(sign, bits - 1) + Bitwise.bsl(exponent, fraction_bits) + fraction
    <<int::unsigned-size(bits)-native>>
  end
end
