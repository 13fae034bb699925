defmodule PyBridge.Values do
  @moduledoc """
  How values cross the bridge, and how to add your own conversions.

  Plain data (numbers, strings, lists, tuples, maps, `nil` and booleans)
  converts as `docs/PROTOCOL.md` says. Everyday values beyond plain data
  convert both ways as follows; anything else Python returns is a handle
  (`PyBridge.Ref`).

  | Elixir | Python |
  |---|---|
  | `%Date{}` | `datetime.date` |
  | `%Time{}` | `datetime.time` (a Python time's `tzinfo` is dropped) |
  | `%NaiveDateTime{}` | `datetime.datetime` without `tzinfo` |
  | `%DateTime{}` | `datetime.datetime` with `tzinfo` (see below) |
  | `%PyBridge.Timedelta{microseconds: n}` | `datetime.timedelta` |
  | `MapSet` | `set` (`frozenset` arrives as `MapSet` too) |
  | `%Decimal{sign, coef, exp}` | `decimal.Decimal`, exact |
  | `%PyBridge.Complex{real, imag}` | `complex` |
  | string | `uuid.UUID` and `pathlib.PurePath` arrive as their string |
  | the member's value | an `enum.Enum` member arrives as its value |
  | any other struct | a `dict` of its fields (no `__struct__` key) |

  Microseconds are kept both ways. Python has no precision of its own: a
  Python time with microseconds arrives with precision 6 (`{123, 6}`), one
  without with `{0, 0}`, as `~T[01:02:03]` has. numpy `datetime64` scalars
  arrive as `Date` (days and coarser units) or `NaiveDateTime`, pandas
  `Timestamp`s as `DateTime` or `NaiveDateTime`; nanoseconds are truncated
  to microseconds, and `NaT` arrives as `nil`. numpy and pandas
  `timedelta64`/`Timedelta` arrive as `PyBridge.Timedelta`.

  ## Time zones

  A `DateTime` in `"Etc/UTC"` becomes a datetime in `datetime.timezone.utc`.
  One in a zone of the tz database (`"Europe/Paris"`) becomes a datetime in
  `zoneinfo.ZoneInfo("Europe/Paris")` when Python knows the zone and agrees
  on its offset at that time, and otherwise one with a fixed offset
  (`datetime.timezone(utc_offset + std_offset, zone_abbr)`): the instant and
  the offset are always kept. The other way, `time_zone` is the zone's name
  (`ZoneInfo.key`, pytz's `zone`), `"Etc/UTC"` for UTC, or Python's name of
  a fixed offset (`"UTC+05:30"`); `std_offset` is the zone's `dst()`. Elixir
  itself only knows `"Etc/UTC"` unless a time zone database is configured
  (`config :elixir, :time_zone_database, ...`), which only functions that
  shift zones need.

  ## Decimals

  `%Decimal{}` is the struct of the `decimal` package, with the same fields;
  with that package in your project, Python decimals are real `Decimal`s.
  Without it, they are maps with those fields. A decimal is never a float.

  ## Records

  A dataclass or a pydantic model that Python returns is a handle by default:
  such objects are mutable and have methods, and a copy of their fields
  would not be the object (a later method call would act on another one).
  Named tuples are immutable values and arrive as tuples; `TypedDict`s are
  dicts at run time and arrive as maps. `to_map/2` asks for the fields of
  any of them as a map with string keys, records inside converted too.

  ## Your own structs and classes

  The conversions run in the Python worker, so both directions of a pair
  are registered in one place, a Python module the pool imports at start:

      # myapp_conversions.py
      from pybridge_port import values
      from geometry import Point

      # %MyApp.Point{x: 1, y: 2} <-> Point(x=1, y=2), fields by name
      values.register(Point, "MyApp.Point")

      # or each way with a function of your own
      values.to_elixir(Point, lambda p: values.elixir_struct("MyApp.Point", x=p.x, y=p.y))
      values.from_elixir("MyApp.Point", lambda fields: Point(fields["x"], fields["y"]))

  and on the Elixir side the pool imports it:

      {PyBridge, imports: ["myapp_conversions"]}

  A struct reaches Python as a dict of its fields unless a conversion is
  registered for it. Elixir decodes replies with
  `:erlang.binary_to_term(frame, [:safe])`, which accepts only atoms that
  exist: the struct's module must be loaded (it is, once your code has used
  it, and always in a release).
  """

  # The atoms that the conversions above send. Elixir accepts a reply only if
  # every atom in it exists on the node; these exist once this module is
  # loaded, which the application does at start.
  @atoms [
    Date,
    Time,
    NaiveDateTime,
    DateTime,
    Calendar.ISO,
    MapSet,
    Decimal,
    PyBridge.Timedelta,
    PyBridge.Complex,
    :calendar,
    :year,
    :month,
    :day,
    :hour,
    :minute,
    :second,
    :microsecond,
    :time_zone,
    :zone_abbr,
    :utc_offset,
    :std_offset,
    :map,
    :version,
    :sign,
    :coef,
    :exp,
    :NaN,
    :inf,
    :real,
    :imag,
    :microseconds
  ]

  @doc """
  The fields of the record behind `ref` (a dataclass, named tuple or
  pydantic model) as a map with string keys; records inside it are maps
  too, other values convert as usual. `value` may also be a list, tuple or
  map holding handles. Takes the options of `PyBridge.call/4`.

      iex> {:ok, url} = PyBridge.create("urllib.parse.urlparse", ["https://example.com/a?b=1"])
      iex> {:ok, %{"scheme" => "https", "path" => "/a", "query" => "b=1"}} = PyBridge.Values.to_map(url)
  """
  @spec to_map(term(), PyBridge.options()) :: PyBridge.result() | Task.t()
  def to_map(value, opts \\ []),
    do: PyBridge.call("pybridge_port.values.as_records", [value], [], opts)

  @doc """
  Like `to_map/2`, but returns the map or raises `PyBridge.Error`.

      iex> PyBridge.create!("urllib.parse.urlparse", ["https://example.com/"]) |> PyBridge.Values.to_map!() |> Map.get("netloc")
      "example.com"
  """
  @spec to_map!(term(), PyBridge.options()) :: term()
  def to_map!(value, opts \\ []),
    do: PyBridge.call!("pybridge_port.values.as_records", [value], [], opts)

  @doc false
  @spec atoms() :: [atom()]
  def atoms, do: @atoms
end
