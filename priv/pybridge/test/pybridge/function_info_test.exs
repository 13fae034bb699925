defmodule PyBridge.FunctionInfoTest do
  # Elixir functions as Python sees them: name, doc, signature and type
  # hints from the function and its @doc/@spec, keyword calls, and missing
  # trailing arguments as nil. Read in Python with inspect, as libraries
  # that take callables (DSPy's and LangChain's tools) read them.
  use ExUnit.Case, async: true

  alias PyBridge.TestTools

  defp py(target, args, kwargs \\ []), do: PyBridge.call!(target, args, kwargs)
  defp signature(fun), do: py("builtins.str", [py("inspect.signature", [fun])])
  defp attr(fun, name), do: py("builtins.getattr", [fun, name])

  describe "a named function (&Module.function/arity)" do
    test "has the function's name, @doc, parameter names and @spec types" do
      multiply = &TestTools.multiply/2
      assert attr(multiply, "__name__") == "multiply"
      assert attr(multiply, "__qualname__") == "PyBridge.TestTools.multiply"
      assert attr(multiply, "__doc__") == "Multiplies two integers exactly."
      assert signature(multiply) == "(a: int, b: int) -> int"

      assert py("typing.get_type_hints", [multiply]) |> Map.keys() |> Enum.sort() == [
               "a",
               "b",
               "return"
             ]
    end

    test "its __call__ is a plain function with the same metadata (DSPy's Tool reads that)" do
      call = attr(&TestTools.multiply/2, "__call__")
      assert py("inspect.isfunction", [call])
      assert signature(call) == "(a: int, b: int) -> int"
      assert attr(call, "__doc__") == "Multiplies two integers exactly."
      assert py("operator.call", [call, 6], b: 7) == 42
    end

    test "a copy or deep copy is the function itself" do
      assert py("copy.deepcopy", [&TestTools.multiply/2]) == (&TestTools.multiply/2)
      assert py("copy.copy", [&TestTools.multiply/2]) == (&TestTools.multiply/2)
    end

    test "default arguments: each arity has its own parameters" do
      assert signature(&TestTools.greet/1) == "(name: str) -> str"
      assert signature(&TestTools.greet/2) == "(name: str, greeting: str) -> str"

      assert attr(&TestTools.greet/2, "__doc__") =~
               ~s(Greets someone.\n\nThe greeting defaults to "Hello".)
    end

    test "without @doc or @spec: no doc, no types, the names Elixir gives the parameters" do
      assert attr(&TestTools.undocumented/2, "__doc__") == nil
      assert signature(&TestTools.undocumented/2) == "(options, ignored)"
    end

    test "keyword arguments go to the parameters of those names" do
      assert py("operator.call", [&TestTools.multiply/2], a: 6, b: 7) == 42
      assert py("operator.call", [&TestTools.greet/2, "Ada"], greeting: "Hi") == "Hi, Ada!"

      assert {:error, %PyBridge.Error{type: "builtins.TypeError", message: message}} =
               PyBridge.call("operator.call", [&TestTools.multiply/2], a: 6, c: 7)

      assert message =~ "multiply() got unexpected keyword arguments: c"

      assert {:error, %PyBridge.Error{message: message}} =
               PyBridge.call("operator.call", [&TestTools.multiply/2, 6], a: 7)

      assert message =~ "multiple values for argument 'a'"
    end
  end

  describe "an anonymous function" do
    test "has argN parameters and no doc" do
      fun = fn example, prediction, trace -> {example, prediction, trace} end
      assert signature(fun) == "(arg1, arg2, arg3)"
      assert attr(fun, "__name__") == "anonymous_fn_3"
      assert attr(fun, "__doc__") == nil
      # GEPA's check: a metric must take five positional arguments.
      assert {:error, %PyBridge.Error{type: "builtins.TypeError"}} =
               PyBridge.call("pybridge_test_support.bind_positional", [fun, 5])

      assert py("pybridge_test_support.bind_positional", [fn _, _, _, _, _ -> 0 end, 5])
    end

    test "missing trailing arguments are nil; calling needs no metadata" do
      assert py("operator.call", [fn a, b, c -> [a, b, c] end, 1, 2]) == [1, 2, nil]
      # No parameter names: keyword arguments follow in the order given.
      assert py("operator.call", [fn a, b, c -> [a, b, c] end, 1], c: 3, b: 2) == [1, 3, 2]
    end
  end
end
