defmodule PyBridge.Timedelta do
  @moduledoc """
  A Python `datetime.timedelta`, as a whole number of microseconds.

  Python's `timedelta` is exact to the microsecond and may be negative;
  this struct keeps exactly that, so it goes to Python and back unchanged.
  A struct (rather than a bare `{microseconds, :microsecond}` tuple) because
  a tuple is already a Python `tuple`: a struct cannot be mistaken for one.

      iex> PyBridge.call("datetime.timedelta", [], seconds: 5)
      {:ok, %PyBridge.Timedelta{microseconds: 5_000_000}}
      iex> PyBridge.call("operator.mul", [PyBridge.Timedelta.new(2, :second), 3])
      {:ok, %PyBridge.Timedelta{microseconds: 6_000_000}}

  `microseconds` fits the functions of `DateTime`, `NaiveDateTime` and
  `Time` that take a unit:
  `DateTime.add(datetime, delta.microseconds, :microsecond)`.
  """

  defstruct microseconds: 0

  @type t :: %__MODULE__{microseconds: integer()}

  @doc """
  A timedelta of `amount` in `unit` (`:second`, `:millisecond`,
  `:microsecond`, or `:minute`, `:hour`, `:day`).

      iex> PyBridge.Timedelta.new(90, :minute)
      %PyBridge.Timedelta{microseconds: 5_400_000_000}
  """
  @spec new(integer(), :day | :hour | :minute | System.time_unit()) :: t()
  def new(amount, unit \\ :microsecond)

  def new(amount, unit) when is_integer(amount) do
    %__MODULE__{microseconds: to_microseconds(amount, unit)}
  end

  def new(amount, _unit),
    do: raise(ArgumentError, "a timedelta's amount must be an integer, got: #{inspect(amount)}")

  defp to_microseconds(amount, :day), do: amount * 86_400_000_000
  defp to_microseconds(amount, :hour), do: amount * 3_600_000_000
  defp to_microseconds(amount, :minute), do: amount * 60_000_000

  defp to_microseconds(amount, unit)
       when unit in [:second, :millisecond, :microsecond],
       do: System.convert_time_unit(amount, unit, :microsecond)

  defp to_microseconds(_amount, unit) do
    raise ArgumentError,
          "unit must be :day, :hour, :minute, :second, :millisecond or :microsecond, got: " <>
            inspect(unit)
  end
end
