defmodule Flows.SympyTest do
  use ExUnit.Case, async: true

  test "symbolic arithmetic on handles with Python's operators" do
    {:ok, x} = Sympy.Symbol.create("x")
    {:ok, y} = Sympy.Symbol.create("y")
    {:ok, sum} = Sympy.Expr.add(x, y)
    {:ok, square} = Sympy.Expr.pow(sum, 2)
    {:ok, expanded} = Sympy.Expr.expand(square)
    assert {:ok, "x**2 + 2*x*y + y**2"} = Sympy.Expr.to_string(expanded)
    assert {:ok, "x^{2} + 2 x y + y^{2}"} = Sympy.latex(expanded)
    {:ok, half} = Sympy.Expr.truediv(x, 2)
    assert {:ok, "x/2"} = Sympy.Expr.to_string(half)
    assert {:ok, true} = Sympy.Expr.eq(sum, Sympy.Expr.add!(y, x))
    assert {:ok, false} = Sympy.Expr.eq(sum, x)
    {:ok, value} = Sympy.Expr.subs(square, %{x => 1, y => 2})
    assert {:ok, "9"} = Sympy.Expr.to_string(value)
  end

  test "solve and differentiate" do
    {:ok, x} = Sympy.Symbol.create("x")
    {:ok, roots} = Sympy.solve(Sympy.sympify!("x**2 - 4"), [x])
    assert Enum.map(roots, &Sympy.Expr.to_string!/1) |> Enum.sort() == ["-2", "2"]
    {:ok, derivative} = Sympy.diff(Sympy.sympify!("x**3"), [x])
    assert {:ok, "3*x**2"} = Sympy.Expr.to_string(derivative)
  end
end
