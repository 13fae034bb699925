defmodule PyBridge.RecordsOptionTest do
  use ExUnit.Case, async: true

  @support "pybridge_values_support"

  test "records: :map returns records as maps of their fields, in calls and streams" do
    assert PyBridge.call("#{@support}.order", [], [], records: :map) ==
             {:ok,
              %{"id" => 7, "rows" => [%{"id" => 1, "label" => "a"}, %{"id" => 2, "label" => "b"}]}}

    assert PyBridge.call("#{@support}.row", [], [], records: :map) ==
             {:ok, %{"id" => 1, "label" => "a"}}

    assert {:ok, %PyBridge.Ref{}} = PyBridge.call("#{@support}.order", [], [], records: :handle)

    {:ok, order} = PyBridge.call("#{@support}.order")

    assert PyBridge.stream("builtins.iter", [[order, {1, 2}]], [], records: :map)
           |> Enum.to_list() ==
             [
               %{
                 "id" => 7,
                 "rows" => [%{"id" => 1, "label" => "a"}, %{"id" => 2, "label" => "b"}]
               },
               {1, 2}
             ]

    assert_raise ArgumentError, ~r/records must be :map or :handle/, fn ->
      PyBridge.call("#{@support}.row", [], [], records: :maps)
    end
  end
end
