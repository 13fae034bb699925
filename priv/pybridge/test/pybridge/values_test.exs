defmodule PyBridge.ValuesTest do
  use ExUnit.Case, async: true

  import PyBridge.TestHelpers

  alias PyBridge.{Complex, Error, Ref, Timedelta}

  doctest PyBridge.Timedelta
  doctest PyBridge.Complex
  doctest PyBridge.Values

  @support "pybridge_values_support"

  defmodule Point do
    @moduledoc false
    defstruct [:x, :y]
  end

  defmodule Opaque do
    @moduledoc false
    defstruct a: 1, b: "two"
  end

  # Each row: the name of a Python sample (pybridge_values_support.SAMPLES)
  # and the Elixir value it stands for; checked both ways.
  @both_ways [
    {"date", ~D[2024-01-02]},
    {"time", ~T[03:04:05.000006]},
    {"time_whole", ~T[03:04:05]},
    {"naive", ~N[2024-01-02 03:04:05.123456]},
    {"utc", ~U[2024-01-02 03:04:05Z]},
    {"utc_micro", ~U[2024-01-02 03:04:05.999999Z]},
    {"paris",
     %DateTime{
       year: 2024,
       month: 7,
       day: 2,
       hour: 3,
       minute: 4,
       second: 5,
       microsecond: {0, 0},
       time_zone: "Europe/Paris",
       zone_abbr: "CEST",
       utc_offset: 3600,
       std_offset: 3600
     }},
    {"offset",
     %DateTime{
       year: 2024,
       month: 1,
       day: 2,
       hour: 3,
       minute: 4,
       second: 5,
       microsecond: {7, 6},
       time_zone: "UTC-03:00",
       zone_abbr: "UTC-03:00",
       utc_offset: -10_800,
       std_offset: 0
     }},
    {"timedelta", %Timedelta{microseconds: (-2 * 86_400 + 3) * 1_000_000 + 4}},
    {"set", MapSet.new([1, "a", {2, 3}])},
    {"empty_set", MapSet.new()},
    {"decimal", %{__struct__: Decimal, sign: -1, coef: 123_400, exp: -4}},
    {"decimal_big",
     %{
       __struct__: Decimal,
       sign: 1,
       coef: 123_456_789_012_345_678_901_234_567_890_000_000_000_000_000_000_001,
       exp: -21
     }},
    {"complex", %Complex{real: 1.5, imag: -2.0}}
  ]

  @python_only [
    {"frozenset", MapSet.new([1])},
    {"uuid", "12345678-1234-5678-1234-567812345678"},
    {"path", "/tmp/x.txt"},
    {"enum", "red"}
  ]

  describe "values from Python" do
    test "arrive as their Elixir counterparts" do
      for {name, value} <- @both_ways ++ @python_only do
        assert PyBridge.call("#{@support}.sample", [name]) == {:ok, value}, name
      end
    end

    test "arrive as stream items" do
      names = Enum.map(@both_ways, &elem(&1, 0))

      assert PyBridge.stream("#{@support}.samples", names) |> Enum.to_list() ==
               Enum.map(@both_ways, &elem(&1, 1))
    end

    test "arrive as the arguments of an Elixir callback, and its return value goes back" do
      test_pid = self()

      for {name, value} <- @both_ways do
        echo = fn received ->
          send(test_pid, {:received, name, received})
          received
        end

        assert PyBridge.call("#{@support}.through_elixir", [name, echo]) == {:ok, true}, name
        assert_received {:received, ^name, ^value}
      end
    end

    test "numpy datetime64 scalars arrive as Date and NaiveDateTime" do
      assert PyBridge.call("#{@support}.datetime64", ["2024-01-02"]) == {:ok, ~D[2024-01-02]}

      assert PyBridge.call("#{@support}.datetime64", ["2024-01-02T03:04:05.123456789"]) ==
               {:ok, ~N[2024-01-02 03:04:05.123456]}

      assert PyBridge.call("#{@support}.datetime64", ["NaT"]) == {:ok, nil}
    end

    test "Python sets come back as MapSets that MapSet's functions take" do
      assert {:ok, set} = PyBridge.call("builtins.set", [[3, 1, 3]])
      assert MapSet.member?(set, 3) and MapSet.size(set) == 2
    end
  end

  describe "values from Elixir" do
    test "arrive as their Python counterparts" do
      for {name, value} <- @both_ways do
        assert PyBridge.call("#{@support}.check", [name, value]) == {:ok, true}, name
      end
    end

    test "arrive as such inside lists, maps and tuples, and as keyword arguments" do
      for {name, value} <- @both_ways do
        nested = [value, %{"key" => value}, {value}]
        assert PyBridge.call("#{@support}.check_nested", [name, nested]) == {:ok, true}, name
        assert PyBridge.call("#{@support}.check_kwarg", [name], value: value) == {:ok, true}, name
      end
    end

    test "come back unchanged, at any depth" do
      for {name, value} <- @both_ways do
        nested = [value, %{"key" => [value]}, {value, 1}]
        assert PyBridge.call("#{@support}.identity", [nested]) == {:ok, nested}, name
      end
    end

    test "Python sees real dates and sets" do
      assert PyBridge.call("#{@support}.type_of", [~U[2024-01-02 03:04:05Z]]) ==
               {:ok, "datetime.datetime"}

      assert PyBridge.call("operator.sub", [~D[2024-03-01], ~D[2024-02-01]]) ==
               {:ok, %Timedelta{microseconds: 29 * 86_400_000_000}}

      assert PyBridge.call("builtins.sorted", [MapSet.new([3, 1, 2])]) == {:ok, [1, 2, 3]}

      assert PyBridge.call("operator.add", [Timedelta.new(1, :day), ~N[2024-01-01 00:00:00]]) ==
               {:ok, ~N[2024-01-02 00:00:00]}
    end

    test "a struct without a conversion is a dict of its fields, without __struct__" do
      assert PyBridge.call("#{@support}.identity", [%Opaque{}]) ==
               {:ok, %{"a" => 1, "b" => "two"}}

      assert PyBridge.call("#{@support}.describe", [%Opaque{}]) == {:ok, "{'a': 1, 'b': 'two'}"}
    end
  end

  describe "conversions registered by the application" do
    test "pair a struct and a Python class both ways" do
      pool = start_pool!(imports: ["pybridge_values_conversions"])
      point = %Point{x: 1, y: 2}

      assert PyBridge.call("#{@support}.type_of", [point], [], pool: pool) ==
               {:ok, "pybridge_values_conversions.Point"}

      assert PyBridge.call("#{@support}.identity", [[point]], [], pool: pool) == {:ok, [point]}

      assert PyBridge.call("pybridge_values_conversions.Point", [], [x: 3, y: 4], pool: pool) ==
               {:ok, %Point{x: 3, y: 4}}
    end
  end

  describe "records" do
    test "dataclasses are handles by default, named tuples tuples" do
      assert {:ok, %Ref{type: "pybridge_values_support.Order"}} =
               PyBridge.call("#{@support}.order")

      assert PyBridge.call("#{@support}.row") == {:ok, {1, "a"}}
    end

    test "to_map/2 gives the fields of a record, records inside it included" do
      {:ok, order} = PyBridge.call("#{@support}.order")

      assert PyBridge.Values.to_map(order) ==
               {:ok,
                %{
                  "id" => 7,
                  "rows" => [%{"id" => 1, "label" => "a"}, %{"id" => 2, "label" => "b"}]
                }}

      assert PyBridge.Values.to_map([order, %{"k" => order}]) |> elem(1) |> Enum.count() == 2
      # The handle is still the object: identity is kept where it matters.
      assert PyBridge.attr(order, "id") == {:ok, 7}
    end
  end

  describe "tracebacks" do
    test "start at the user's code" do
      assert {:error, %Error{traceback: traceback}} = PyBridge.call("#{@support}.fail", ["boom"])
      assert ["Traceback (most recent call last):", first | _] = traceback
      assert first =~ "pybridge_values_support.py"
      assert first =~ "in fail"
      refute Enum.any?(traceback, &(&1 =~ "pybridge_port"))
      assert List.last(traceback) == "ValueError: boom"
    end

    test "of an error at the call itself show no worker frames" do
      assert {:error, %Error{traceback: traceback}} = PyBridge.call("math.sqrt", [-1])
      assert traceback == ["Traceback (most recent call last):", "ValueError: math domain error"]
    end

    test "of a stream start at the generator" do
      error =
        assert_raise Error, fn ->
          PyBridge.stream("#{@support}.samples", ["date", "no such sample"]) |> Enum.to_list()
        end

      assert Enum.at(error.traceback, 1) =~ "in samples"
      refute Enum.any?(error.traceback, &(&1 =~ "pybridge_port"))
    end
  end
end
