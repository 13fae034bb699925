defmodule PyBridge.TelemetryTest do
  use ExUnit.Case, async: false

  alias PyBridge.Telemetry

  import PyBridge.TestHelpers

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
        # The runtime's own events are skipped too.
        assert {:ok, 4.0} = PyBridge.call("math.sqrt", [16])
        assert PyBridge.stream("builtins.range", [2]) |> Enum.to_list() == [0, 1]
        refute_received {:event, _, _, _}
      after
        define_telemetry()
      end
    end
  end

  describe "the runtime's own events" do
    test "a call: start and stop with bytes, duration, pool, worker, node and target" do
      assert {:ok, 4.0} = PyBridge.call("math.sqrt", [16])

      assert_received {:event, [:pybridge, :call, :start], %{bytes_out: out, system_time: _},
                       %{pool: PyBridge, node: node, target: "math.sqrt", worker: worker}}

      assert node == node() and is_binary(worker) and out > 0

      assert_received {:event, [:pybridge, :call, :stop],
                       %{duration: duration, bytes_in: bytes_in, bytes_out: ^out},
                       %{status: :ok, target: "math.sqrt"}}

      assert duration >= 0 and bytes_in > 0

      assert {:error, _} = PyBridge.call("math.sqrt", [-1])

      assert_received {:event, [:pybridge, :call, :stop], _,
                       %{status: :error, error: %PyBridge.Error{}}}
    end

    test "create, method and attr are events of their own" do
      {:ok, ns} = PyBridge.create("types.SimpleNamespace", [], n: 1)
      assert_received {:event, [:pybridge, :create, :stop], _, %{target: "types.SimpleNamespace"}}
      {:ok, 1} = PyBridge.attr(ns, "n")
      assert_received {:event, [:pybridge, :attr, :stop], _, %{target: {^ns, "n"}}}
      {:ok, _} = PyBridge.method(ns, "__repr__")
      assert_received {:event, [:pybridge, :method, :stop], _, %{target: {^ns, "__repr__"}}}
    end

    test "a stream: start, and stop with its chunk count" do
      assert PyBridge.stream("builtins.range", [5]) |> Enum.to_list() == [0, 1, 2, 3, 4]

      assert_received {:event, [:pybridge, :stream, :start], _,
                       %{target: "builtins.range", window: 32}}

      assert_received {:event, [:pybridge, :stream, :stop], %{chunks: 5, duration: _},
                       %{status: :ok}}

      assert PyBridge.stream("itertools.count") |> Enum.take(2) == [0, 1]
      assert_received {:event, [:pybridge, :stream, :stop], %{chunks: 2}, %{status: :halted}}
    end

    test "a callback" do
      assert {:ok, ["a", "bb"]} =
               PyBridge.call("builtins.sorted", [["bb", "a"]], key: &String.length/1)

      assert_receive {:event, [:pybridge, :callback, :stop], %{duration: _},
                      %{status: :ok, node: node}}

      assert node == node()
    end

    test "a worker's start, exit and replacement" do
      pool = start_pool!()

      assert_receive {:event, [:pybridge, :worker, :start], %{duration: _}, %{pool: ^pool}},
                     15_000

      kill9(worker_os_pid(pool))
      assert_receive {:event, [:pybridge, :worker, :exit], _, %{pool: ^pool, reason: _}}, 15_000
      assert_receive {:event, [:pybridge, :worker, :replaced], _, %{pool: ^pool}}, 15_000
      assert_receive {:event, [:pybridge, :worker, :start], _, %{pool: ^pool}}, 15_000
    end

    test "a caller waiting for a worker: the queue wait" do
      pool = start_pool!(pool_size: 0)

      assert {:error, %PyBridge.Error{type: "pybridge.Timeout"}} =
               PyBridge.call("os.getpid", [], [], pool: pool, timeout: 50)

      assert_received {:event, [:pybridge, :queue, :wait], %{queue_time: t},
                       %{pool: ^pool, result: :error}}

      assert t > 0
    end
  end
end
