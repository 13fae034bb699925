defmodule Flows.PydanticTest do
  use ExUnit.Case, async: true

  test "validation errors come back as PyBridge.Error" do
    {:ok, int} = PyBridge.get_attr("builtins", "int")
    {:ok, adapter} = Pydantic.TypeAdapter.create(int)
    assert {:ok, 42} = Pydantic.TypeAdapter.validate_python(adapter, "42")
    assert {:error, %PyBridge.Error{type: type, message: message}} = Pydantic.TypeAdapter.validate_python(adapter, "forty-two")
    assert type =~ "ValidationError"
    assert message =~ "valid integer"
  end

  test "a model made from Elixir validates data" do
    {:ok, str} = PyBridge.getattr("builtins", "str")
    {:ok, int} = PyBridge.getattr("builtins", "int")
    {:ok, required} = PyBridge.getattr("builtins", "Ellipsis")
    {:ok, user} = Pydantic.create_model("User", name: {str, required}, age: {int, 0})
    {:ok, ada} = PyBridge.method(user, "model_validate", [%{"name" => "Ada", "age" => "36"}])
    assert {:ok, %{"name" => "Ada", "age" => 36}} = PyBridge.method(ada, "model_dump")
    assert {:error, %PyBridge.Error{message: message}} = PyBridge.method(user, "model_validate", [%{"age" => 1}])
    assert message =~ "name"
  end
end
