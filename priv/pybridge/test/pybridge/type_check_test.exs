defmodule PyBridge.TypeCheckTest do
  use ExUnit.Case, async: true

  alias PyBridge.TypeCheck

  doctest PyBridge.TypeCheck

  # Code.Typespec reads a module's .beam: the specs checked here are in test/support.
  alias PyBridge.TypeCheckSpecs, as: Specs

  test "a value of the spec's type is :ok" do
    assert TypeCheck.check(Specs, :number, {:ok, 5}) == :ok

    assert TypeCheck.check(
             Specs,
             :number,
             {:error, %PyBridge.Error{type: "ValueError", message: "x"}}
           ) == :ok

    assert TypeCheck.check(Specs, :pairs, {:ok, [{1.0, 2.0}]}) == :ok
    assert TypeCheck.check(Specs, :shapes, {:ok, %{"a" => :circle, "b" => {:square, 2}}}) == :ok
    assert TypeCheck.check(Specs, :handle, {:ok, nil}) == :ok
    assert TypeCheck.check(Specs, :items, [1, 2, 3]) == :ok
    assert TypeCheck.check(Specs, :array, {:ok, PyBridge.NDArray.from_list([1, 2])}) == :ok
  end

  test "a value of another type is an error naming the spec and the part that differs" do
    assert {:error, message} = TypeCheck.check(Specs, :number, {:ok, 1.5})
    assert message =~ "does not match the @spec of PyBridge.TypeCheckSpecs.number/0"
    assert message =~ "1.5 is not integer()"
    assert {:error, _} = TypeCheck.check(Specs, :pairs, {:ok, [{1.0, 2}]})
    assert {:error, _} = TypeCheck.check(Specs, :shapes, {:ok, %{"a" => {:square, 0}}})
    assert {:error, _} = TypeCheck.check(Specs, :shapes, {:ok, %{a: :circle}})
    assert {:error, _} = TypeCheck.check(Specs, :handle, {:ok, "a string"})
    assert {:error, _} = TypeCheck.check(Specs, :items, [1, 4])
    assert {:error, _} = TypeCheck.check(Specs, :array, {:ok, [1.0]})

    assert_raise ArgumentError, ~r/is not integer/, fn ->
      TypeCheck.check!(Specs, :number, {:ok, "1"})
    end
  end

  test "a function without a spec" do
    assert {:error, message} = TypeCheck.check(Specs, :nothing, 1)
    assert message =~ "has no @spec"
  end
end
