defmodule PyBridge.Frame do
  @moduledoc """
  pandas DataFrames and Series into Elixir, a column at a time.

  A numeric or boolean column arrives as one `PyBridge.NDArray` (its data is
  one binary: no per-element cost; `PyBridge.NDArray.to_list/1` gives the
  values, `Nx.from_binary/2` a tensor), a datetime column as a list of ISO
  8601 strings, any other column as a list of its values (`nil` for a
  missing one).

      iex> {:ok, frame} = PyBridge.create("pandas.DataFrame", [%{"x" => [1, 2], "name" => ["a", "b"]}])
      iex> {:ok, %{"x" => x, "name" => names}} = PyBridge.Frame.columns(frame)
      iex> {PyBridge.NDArray.to_list(x), names}
      {[1, 2], ["a", "b"]}

  The other way needs no helper: a map of column name to `NDArray` or list
  is what `pandas.DataFrame` takes.

      PyBridge.create("pandas.DataFrame", [%{"x" => PyBridge.NDArray.from_list([1.0, 2.0])}])
  """

  alias PyBridge.NDArray

  @typedoc "A column's values, as `columns/2` gives them."
  @type column :: NDArray.t() | [term()]

  @doc """
  The columns of a DataFrame (or of a Series, as its one column) by name.

  Options: `index: true` adds the index as the column `"index"`; the others
  are `PyBridge.call/4`'s.
  """
  @spec columns(PyBridge.Ref.t(), keyword()) ::
          {:ok, %{term() => column()}} | {:error, PyBridge.Error.t()}
  def columns(frame, opts \\ []) do
    {index, opts} = Keyword.pop(opts, :index, false)
    PyBridge.call("pybridge_port.frames.columns", [frame], [index: index], opts)
  end

  @doc "The values of one Series, as one column of `columns/2`."
  @spec series(PyBridge.Ref.t(), keyword()) :: {:ok, column()} | {:error, PyBridge.Error.t()}
  def series(series, opts \\ []),
    do: PyBridge.call("pybridge_port.frames.series", [series], [], opts)
end
