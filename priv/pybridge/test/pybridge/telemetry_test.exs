defmodule PyBridge.TelemetryTest do
  use ExUnit.Case, async: false

  alias PyBridge.Telemetry

  # A stand-in for the optional `telemetry` library (not a dependency of
  # PyBridge): it forwards every event to the process registered as
  # :telemetry_test_sink.
  defp define_telemetry do
    Code.compile_quoted(
      quote do
        defmodule :telemetry do
          @moduledoc false
          def execute(event, measurements, metadata) do
            if pid = Process.whereis(:telemetry_test_sink) do
              send(pid, {:event, event, measurements, metadata})
            end

            :ok
          end
        end
      end
    )

    :ok
  end

  setup do
    unless Code.ensure_loaded?(:telemetry), do: define_telemetry()
    Process.register(self(), :telemetry_test_sink)
    true = Telemetry.refresh()

    on_exit(fn ->
      # Leave the cached answer as the next caller would find it.
      Telemetry.refresh()
    end)
  end

  describe "span/3 with :telemetry loaded" do
    test "emits start and stop around the call" do
      assert {:ok, 3} =
               Telemetry.span([:my_app, :py], %{python: "math.floor"}, fn -> {:ok, 3} end)

      assert_received {:event, [:my_app, :py, :call, :start],
                       %{system_time: _, monotonic_time: _}, %{python: "math.floor"}}

      assert_received {:event, [:my_app, :py, :call, :stop], %{duration: duration},
                       %{python: "math.floor", status: :ok}}

      assert is_integer(duration) and duration >= 0
    end

    test "an error result is a stop event with status :error" do
      error = %PyBridge.Error{type: "builtins.ValueError", message: "bad"}
      assert {:error, ^error} = Telemetry.span([:p], %{}, fn -> {:error, error} end)
      assert_received {:event, [:p, :call, :stop], _, %{status: :error, error: ^error}}
    end

    test "an exception emits an exception event and is re-raised" do
      assert_raise RuntimeError, "boom", fn ->
        Telemetry.span([:p], %{python: "x"}, fn -> raise "boom" end)
      end

      assert_received {:event, [:p, :call, :start], _, _}

      assert_received {:event, [:p, :call, :exception], %{duration: _},
                       %{kind: :error, reason: %RuntimeError{}, stacktrace: [_ | _], python: "x"}}

      refute_received {:event, [:p, :call, :stop], _, _}
    end
  end

  describe "span/3 without :telemetry" do
    test "only runs the function" do
      # Unload the stand-in: this is what an application without telemetry sees.
      true = :code.delete(:telemetry)
      _ = :code.purge(:telemetry)

      try do
        refute Telemetry.refresh()
        refute Telemetry.available?()
        assert {:ok, 1} = Telemetry.span([:p], %{}, fn -> {:ok, 1} end)
        refute_received {:event, _, _, _}
      after
        define_telemetry()
      end
    end
  end
end
