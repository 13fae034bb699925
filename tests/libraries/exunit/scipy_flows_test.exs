defmodule Flows.ScipyTest do
  use ExUnit.Case, async: true

  alias PyBridge.NDArray

  test "minimize with an Elixir function as the objective" do
    objective = fn x ->
      [a, b] = NDArray.to_list(x)
      (a - 1) ** 2 + (b + 2) ** 2
    end

    {:ok, result} = Scipy.Optimize.minimize(objective, [0.0, 0.0], method: "Nelder-Mead")
    # An OptimizeResult is a dict: it arrives as a map.
    [a, b] = NDArray.to_list(result["x"])
    assert_in_delta a, 1.0, 1.0e-3
    assert_in_delta b, -2.0, 1.0e-3
    assert result["success"] == true
  end

  test "brentq finds a root of an Elixir function; stats on NDArrays" do
    {:ok, root} = Scipy.Optimize.brentq(fn x -> x * x - 2.0 end, 0.0, 2.0)
    assert_in_delta root, :math.sqrt(2), 1.0e-9

    {:ok, z} = Scipy.Stats.zscore(NDArray.from_list([1.0, 2.0, 3.0]))
    assert [low, mid, high] = NDArray.to_list(z)
    assert_in_delta mid, 0.0, 1.0e-12
    assert_in_delta high, -low, 1.0e-12
    assert {:ok, 0.5} = Scipy.Stats.Norm.cdf([0.0])
  end
end
