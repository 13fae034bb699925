# Hand-written checks of the classes golden case: what the spec's examples
# cannot say (caching, sessions, properties, async, transforms, telemetry).
defmodule Shapes.BehaviourTest do
  use ExUnit.Case, async: false

  describe "caching (pure function, cache_pure_functions: true)" do
    test "the second call with the same argument does not reach Python" do
      PyBridge.with_session(fn session ->
        before = Shapes.call_count!("area_of_square", session: session)
        assert {:ok, 52.5625} = Shapes.square_area(7.25, session: session)
        assert {:ok, 52.5625} = Shapes.square_area(7.25, session: session)
        assert Shapes.call_count!("area_of_square", session: session) == before + 1
        {:ok, :done}
      end)
    end
  end

  describe "classes" do
    test "properties: getters, setters, inherited ones, no setter when read-only" do
      square = Shapes.Square.create!(2.0, name: "tile")
      assert Shapes.Square.side!(square) == 2.0
      assert {:ok, nil} = Shapes.Square.set_side(square, 3.0)
      assert Shapes.Square.area!(square) == 9.0
      assert Shapes.Square.name!(square) == "tile"
      assert {:ok, nil} = Shapes.Square.set_name(square, "big tile")
      assert Shapes.Square.describe!(square, verbose: true) == "big tile is a square of area 9"
      assert Shapes.Square.kind!(square) == "square"
      refute function_exported?(Shapes.Square, :set_kind, 3)
    end

    test "a method returning an object returns a handle" do
      square = Shapes.Square.create!(1.5)

      assert {:ok, %PyBridge.Ref{type: "shapes.Square"} = bigger} =
               Shapes.Square.scaled(square, 2)

      assert Shapes.Square.side!(bigger) == 3.0
    end

    test "class and static methods need no instance; inherited ones keep the subclass" do
      assert {:ok, %PyBridge.Ref{type: "shapes.Shape"}} = Shapes.Shape.unit()
      # Square.unit() is cls() on Square, which needs a side: the error shows
      # that the inherited class method was called on the subclass.
      assert {:error, %PyBridge.Error{message: "Square.__init__() missing" <> _}} =
               Shapes.Square.unit()

      assert Shapes.Square.sides_of!("triangle") == 3
      assert Shapes.Square.sides_of!("circle") == nil
    end

    test "async methods return a Task" do
      square = Shapes.Square.create!(2)
      task = Shapes.Square.slow_area(square, delay: 0.001)
      assert %Task{} = task
      assert Task.await(task) == {:ok, 4}
    end

    test "streaming methods are lazy and can stop early" do
      square = Shapes.Square.create!(1)
      assert [[0.0, 0.0], [1.0, 0.0]] = square |> Shapes.Square.corners() |> Enum.take(2)
    end

    test "a session-aware constructor needs a session" do
      assert_raise ArgumentError, ~r/shapes.Registry objects live in a session/, fn ->
        Shapes.LocalRegistry.create()
      end

      PyBridge.with_session(fn session ->
        registry = Shapes.LocalRegistry.create!(session: session)
        assert Shapes.LocalRegistry.register!(registry, "hexagon", 6, session: session) == 1
        assert Shapes.LocalRegistry.names!(registry, session: session) == ["hexagon"]
        {:ok, :done}
      end)
    end
  end

  describe "a Python *args" do
    test "is one list; anything else is refused with how to call the function" do
      assert Shapes.ask_elixir!("double", [21]) == 42

      # `[name] ++ 21` would be an improper list, failing deep in the runtime with a FunctionClauseError.
      assert_raise ArgumentError,
                   ~r/ask_elixir: the Python positional arguments \(\*args\) go in one list, as in ask_elixir\(name, \[\.\.\.\]\); found: 21/,
                   fn ->
                     Shapes.ask_elixir("double", 21)
                   end
    end
  end

  describe "singletons" do
    test "call the one object at its path" do
      PyBridge.with_session(fn session ->
        count = Shapes.Registry.register!("pentagon", 5, session: session)
        assert Shapes.Registry.count!(session: session) == count
        assert "pentagon" in Shapes.Registry.names!(session: session)
        assert {:ok, nil} = Shapes.Registry.set_label("all shapes", session: session)
        assert Shapes.Registry.label!(session: session) == "all shapes"
        {:ok, :done}
      end)

      refute function_exported?(Shapes.Registry, :create, 1)
      assert Shapes.Registry.__python_path__() == "shapes.registry"
    end
  end

  describe "result transforms and error handlers" do
    test "the transform shapes the value" do
      assert Shapes.midpoint({0, 0}, {1, 3}) == {:ok, %{"x" => 0.5, "y" => 1.5}}
    end

    test "the error handler sees every error" do
      assert {:error,
              %PyBridge.Error{type: "builtins.ValueError", message: "shapes: -1 is not positive"}} =
               Shapes.check_positive(-1)

      assert_raise PyBridge.Error, ~r/shapes: 0 is not positive/, fn ->
        Shapes.check_positive!(0)
      end

      assert Shapes.check_positive!(2) == 2
    end
  end

  describe "bidirectional tools" do
    test "__exports__/0 lists the functions Python may call" do
      assert Shapes.__exports__() == [{Shapes.Support, :double, 1, "double"}]
      assert Shapes.ask_elixir!("double", [2.5]) == 5.0
    end
  end

  describe "telemetry" do
    test "calls emit [:shapes, :call, :start | :stop] when :telemetry is loaded" do
      define_telemetry()
      Process.register(self(), :shapes_telemetry_sink)

      try do
        assert PyBridge.Telemetry.refresh()
        assert {:ok, 4} = Shapes.Shape.sides_of("square")

        assert_receive {:event, [:shapes, :call, :start], _,
                        %{python: "shapes.Shape.sides_of", function: :sides_of}}

        assert_receive {:event, [:shapes, :call, :stop], %{duration: _}, %{status: :ok}}
      after
        Process.unregister(:shapes_telemetry_sink)
      end
    end
  end

  defp define_telemetry do
    unless Code.ensure_loaded?(:telemetry) do
      Code.compile_quoted(
        quote do
          defmodule :telemetry do
            @moduledoc false
            def execute(event, measurements, metadata) do
              if pid = Process.whereis(:shapes_telemetry_sink) do
                send(pid, {:event, event, measurements, metadata})
              end

              :ok
            end
          end
        end
      )
    end

    :ok
  end
end
