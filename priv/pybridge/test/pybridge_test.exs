defmodule PyBridgeTest do
  use ExUnit.Case, async: true

  import PyBridge.TestHelpers

  alias PyBridge.{Bytes, Error, NDArray, Ref, Session}

  doctest PyBridge
  doctest PyBridge.Error
  doctest PyBridge.Ref
  doctest PyBridge.Bytes
  doctest PyBridge.NDArray
  doctest PyBridge.Session

  @support "pybridge_test_support"

  describe "call/4" do
    test "a reply that cannot be decoded safely is an error at once, not a timeout" do
      name = "pybridge_unknown_#{System.unique_integer([:positive])}"

      assert {:error, %Error{type: "pybridge.CodecError", message: message}} =
               PyBridge.call("#{@support}.fresh_atom", [name], [], timeout: 60_000)

      assert message =~ ~r"holds the atom .*which this node does not know"
      assert PyBridge.call("math.sqrt", [4.0]) == {:ok, 2.0}
    end

    test "calls a function by dotted path with args and kwargs" do
      assert PyBridge.call("builtins.round", [2.675], ndigits: 1) == {:ok, 2.7}
      assert PyBridge.call("builtins.max", [[3, 9, 4]]) == {:ok, 9}
      assert PyBridge.call("builtins.dict", [], %{"a" => 1}) == {:ok, %{"a" => 1}}
    end

    test "converts values both ways" do
      value = %{
        "list" => [1, 2.5, "s", nil, true, false],
        "tuple" => {1, {2, 3}},
        "big" => 2 ** 100,
        "nested" => %{"k" => [%{}]}
      }

      assert PyBridge.call("#{@support}.apply", [&Function.identity/1, value]) == {:ok, value}
      assert PyBridge.call("builtins.float", ["nan"]) == {:ok, :nan}
      assert PyBridge.call("builtins.float", ["-inf"]) == {:ok, :neg_infinity}
      assert PyBridge.call("builtins.str", [:atom_becomes_str]) == {:ok, "atom_becomes_str"}
    end

    test "bytes and numpy arrays travel as structs" do
      assert {:ok, %Bytes{data: <<0, 1, 255>>}} = PyBridge.call("builtins.bytes", [[0, 1, 255]])
      assert PyBridge.call("builtins.len", [%Bytes{data: "abc"}]) == {:ok, 3}

      data = for x <- [1.0, 2.0, 3.0, 4.0], into: <<>>, do: <<x::float-64-native>>
      matrix = %NDArray{dtype: "float64", shape: {2, 2}, data: data}
      assert PyBridge.call("numpy.sum", [matrix]) == {:ok, 10.0}

      assert {:ok, %NDArray{dtype: "float64", shape: {2, 2}, data: transposed}} =
               PyBridge.call("numpy.transpose", [matrix])

      assert for(<<x::float-64-native <- transposed>>, do: x) == [1.0, 3.0, 2.0, 4.0]
    end

    test "objects that are not plain data come back as handles, callable" do
      {:ok, apply} = PyBridge.attr(@support, "apply")
      assert %Ref{type: "function"} = apply

      assert {:ok, %Ref{type: "functools.partial"} = partial} =
               PyBridge.call("functools.partial", [apply, &(&1 + 1)])

      assert PyBridge.call(partial, [41]) == {:ok, 42}
    end

    test "a Python exception is an error with type, message and traceback" do
      assert {:error, %Error{type: "builtins.ValueError", message: message, traceback: tb}} =
               PyBridge.call("builtins.int", ["x"])

      assert message =~ "invalid literal"
      assert Enum.any?(tb, &(&1 =~ "ValueError"))
      assert {:error, %Error{type: "builtins.ModuleNotFoundError"}} = PyBridge.call("nope_mod.f")
    end

    test "async: true returns a Task, and its handles belong to the caller" do
      task = PyBridge.call("builtins.sum", [[1, 2, 3]], [], async: true)
      assert %Task{} = task
      assert Task.await(task) == {:ok, 6}

      task = PyBridge.create("types.SimpleNamespace", [], [a: 1], async: true)
      monitor = Process.monitor(task.pid)
      assert {:ok, %Ref{} = ns} = Task.await(task)
      # The task has exited; the handle lives on because it is the caller's.
      assert_receive {:DOWN, ^monitor, :process, _, _}
      assert PyBridge.attr(ns, "a") == {:ok, 1}
    end

    test "rejects bad arguments and options" do
      assert_raise ArgumentError, ~r/target must be a dotted path/, fn -> PyBridge.call(42) end
      assert_raise ArgumentError, ~r/args must be a list/, fn -> PyBridge.call("f", :x) end

      assert_raise ArgumentError, ~r/unknown keys \[:bogus\]/, fn ->
        PyBridge.call("math.sqrt", [1], [], bogus: 1)
      end

      assert_raise ArgumentError, ~r/invalid timeout option/, fn ->
        PyBridge.call("math.sqrt", [1], [], timeout: -5)
      end

      assert_raise ArgumentError,
                   ~r/expected options as a keyword list, got: %\{timeout: 5\}/,
                   fn ->
                     PyBridge.call("math.sqrt", [1], [], %{timeout: 5})
                   end

      assert_raise ArgumentError, ~r/expected options as a keyword list/, fn ->
        PyBridge.ping([:timeout])
      end
    end

    test "an unknown pool is a clear error" do
      assert {:error, %Error{type: "pybridge.WorkerUnavailable", message: message}} =
               PyBridge.call("math.sqrt", [1], [], pool: NoSuchPool)

      assert message =~ "no PyBridge pool named NoSuchPool is running"
    end

    test "a request over max_frame is refused before it is sent" do
      pool = start_pool!(max_frame: 4096)

      assert {:error, %Error{type: "pybridge.CodecError", message: message}} =
               PyBridge.call("builtins.len", [String.duplicate("x", 10_000)], [], pool: pool)

      assert message =~ "max_frame"
      assert PyBridge.call("builtins.len", ["small"], [], pool: pool) == {:ok, 5}
    end
  end

  describe "call!/4" do
    test "returns the value or raises PyBridge.Error with the traceback" do
      assert PyBridge.call!("math.hypot", [3, 4]) == 5.0

      error =
        assert_raise Error, ~r/ValueError: invalid literal for int\(\)/, fn ->
          PyBridge.call!("builtins.int", ["x"])
        end

      assert Exception.message(error) =~ "Traceback (most recent call last)"
    end

    test "refuses async: true" do
      assert_raise ArgumentError, ~r/call! does not take async/, fn ->
        PyBridge.call!("math.sqrt", [1], [], async: true)
      end
    end
  end

  describe "create/4 and create!/4" do
    test "creates instances as handles with their type" do
      assert {:ok, %Ref{type: "collections.deque", worker: token, id: id} = deque} =
               PyBridge.create("collections.deque", [[1, 2]], maxlen: 3)

      assert is_binary(token) and is_integer(id)
      assert inspect(deque) =~ ~r/^#PyBridge.Ref<collections.deque \w{4}…#\d+>$/
      assert PyBridge.attr(deque, "maxlen") == {:ok, 3}
      assert %Ref{type: "fractions.Fraction"} = PyBridge.create!("fractions.Fraction", [1, 2])
    end

    test "errors of the constructor" do
      assert_raise Error, ~r/ZeroDivisionError/, fn ->
        PyBridge.create!("fractions.Fraction", [1, 0])
      end

      assert {:error, %Error{type: "builtins.AttributeError"}} =
               PyBridge.create("collections.NoSuchClass")
    end
  end

  describe "method/5 and method!/5" do
    test "calls methods with args and kwargs" do
      {:ok, list} = PyBridge.create("collections.deque", [[3, 1, 2]])
      assert PyBridge.method(list, "append", [4]) == {:ok, nil}
      assert PyBridge.method(list, :count, [4]) == {:ok, 1}
      assert PyBridge.call("builtins.sorted", [list], reverse: true) == {:ok, [4, 3, 2, 1]}
      assert PyBridge.method!(list, "pop") == 4
    end

    test "a missing method raises AttributeError" do
      {:ok, list} = PyBridge.create("collections.deque")

      assert_raise Error, ~r/AttributeError: .*no_such_method/, fn ->
        PyBridge.method!(list, "no_such_method")
      end
    end

    test "async" do
      {:ok, fraction} = PyBridge.create("fractions.Fraction", [1, 4])

      assert PyBridge.method(fraction, "__str__", [], [], async: true) |> Task.await() ==
               {:ok, "1/4"}
    end
  end

  describe "attr/3 and attr!/3" do
    test "reads attributes of modules and of handles" do
      assert PyBridge.attr("os.path", "sep") == {:ok, "/"}
      {:ok, ns} = PyBridge.create("types.SimpleNamespace", [], x: [1, 2])
      assert PyBridge.attr!(ns, :x) == [1, 2]
    end

    test "a missing attribute raises AttributeError" do
      assert_raise Error, ~r/AttributeError/, fn -> PyBridge.attr!("math", "nope") end
    end
  end

  describe "set_attr/4 and set_attr!/4" do
    test "sets attributes" do
      {:ok, ns} = PyBridge.create("types.SimpleNamespace")
      assert PyBridge.set_attr(ns, "value", %{"deep" => {1, 2}}) == {:ok, nil}
      assert PyBridge.attr(ns, "value") == {:ok, %{"deep" => {1, 2}}}
      assert PyBridge.set_attr!(ns, :other, 1) == nil
    end

    test "errors from Python" do
      {:ok, fraction} = PyBridge.create("fractions.Fraction", [1, 2])
      assert_raise Error, ~r/AttributeError/, fn -> PyBridge.set_attr!(fraction, "x", 1) end
    end
  end

  describe "stream/4" do
    test "a Python iterable becomes a lazy Stream" do
      assert PyBridge.stream("builtins.range", [5]) |> Enum.to_list() == [0, 1, 2, 3, 4]
      assert PyBridge.stream("builtins.range", [0]) |> Enum.to_list() == []

      assert PyBridge.stream("#{@support}.counting", ["t#{System.unique_integer()}", 20])
             |> Stream.map(&(&1 * 2))
             |> Enum.to_list() == Enum.map(0..19, &(&1 * 2))
    end

    test "streams a method of a handle, or a handle called" do
      {:ok, box} = PyBridge.create("#{@support}.Box", [[1, 2, 3]])
      assert PyBridge.stream({box, "each"}, [], factor: 10) |> Enum.to_list() == [10, 20, 30]
      {:ok, each} = PyBridge.attr(box, "each")
      assert PyBridge.stream(each, [2]) |> Enum.to_list() == [2, 4, 6]
    end

    test "nothing runs until the stream is consumed" do
      PyBridge.with_session(fn session ->
        key = "lazy#{System.unique_integer()}"
        [%{requests: served}] = PyBridge.stats!(session: session)
        stream = PyBridge.stream("#{@support}.counting", [key, 3], [], session: session)
        # Nothing was sent: the worker has served no request since.
        assert [%{requests: ^served}] = PyBridge.stats!(session: session)
        assert PyBridge.call!("#{@support}.events", [key], [], session: session) == []
        assert Enum.to_list(stream) == [0, 1, 2]

        assert PyBridge.call!("#{@support}.events", [key], [], session: session) == [
                 "started",
                 "finally"
               ]
      end)
    end

    test "halting early cancels the generator, whose finally runs" do
      PyBridge.with_session(fn session ->
        key = "halt#{System.unique_integer()}"
        opts = [session: session]

        assert PyBridge.stream("#{@support}.counting", [key], [], opts) |> Enum.take(3) == [
                 0,
                 1,
                 2
               ]

        eventually(fn ->
          PyBridge.call!("#{@support}.events", [key], [], opts) == ["started", "finally"]
        end)
      end)
    end

    test "Python never runs more than the window ahead of the consumer" do
      PyBridge.with_session(fn session ->
        key = "window#{System.unique_integer()}"
        opts = [session: session]
        window = 4

        PyBridge.stream("#{@support}.counting", [key, 1000], [], session: session, window: window)
        |> Stream.with_index(1)
        |> Enum.take_while(fn {_item, consumed} ->
          # Give Python time to run ahead as far as its credit allows.
          Process.sleep(20)
          produced = PyBridge.call!("#{@support}.produced", [key], [], opts)
          assert produced <= consumed + window + 1
          consumed < 30
        end)

        assert PyBridge.call!("#{@support}.produced", [key], [], opts) < 40
      end)
    end

    test "a Python exception is raised when the stream is consumed" do
      stream = PyBridge.stream("#{@support}.failing_after", [2])
      assert Enum.take(stream, 2) == [0, 1]

      assert_raise Error, ~r/ValueError: failed after 2 items/, fn -> Enum.to_list(stream) end

      assert_raise Error, ~r/ModuleNotFoundError/, fn ->
        PyBridge.stream("nope.gen") |> Enum.to_list()
      end
    end

    test "a chunk that cannot be decoded safely ends the stream with an error and closes the generator" do
      PyBridge.with_session(fn session ->
        key = "atom#{System.unique_integer([:positive])}"
        stream = PyBridge.stream("#{@support}.atom_after", [key, 2], [], session: session)

        assert_raise Error, ~r/CodecError: .*cannot be decoded safely/, fn ->
          Enum.to_list(stream)
        end

        eventually(fn ->
          PyBridge.call!("#{@support}.events", [key], [], session: session) == [
            "started",
            "finally"
          ]
        end)
      end)
    end

    test "validates its options" do
      assert_raise ArgumentError, ~r/window must be a positive integer/, fn ->
        PyBridge.stream("builtins.range", [3], [], window: 0)
      end
    end
  end

  describe "release/2 and release!/2" do
    test "frees a handle now; the freed handle is stale" do
      {:ok, ns} = PyBridge.create("types.SimpleNamespace")
      assert PyBridge.release(ns) == {:ok, 1}
      assert PyBridge.release!(ns) == 0

      assert {:error, %Error{type: "pybridge.StaleHandle", message: message}} =
               PyBridge.attr(ns, "x")

      assert message =~ "released"
    end

    test "a handle of an unknown worker is a stale-handle error" do
      ref = %Ref{id: 1, worker: "0000000000000000", type: "object"}
      assert {:error, %Error{type: "pybridge.StaleHandle"}} = PyBridge.release(ref)
      assert {:error, %Error{type: "pybridge.StaleHandle"}} = PyBridge.method(ref, "x")
    end
  end

  describe "with_session/2" do
    test "all calls of a session go to the same worker" do
      pool = start_pool!(pool_size: 2)
      sessions = for _ <- 1..4, do: PyBridge.with_session(&session_pids/1, pool: pool)

      for pids <- sessions, do: assert(length(Enum.uniq(pids)) == 1)
    end

    test "sessionless calls go to the least loaded worker" do
      pool = start_pool!(pool_size: 2)
      eventually(fn -> length(PyBridge.stats!(pool: pool)) == 2 end)

      # Long enough that it cannot end during the test on a loaded machine.
      busy = PyBridge.call("time.sleep", [30], [], pool: pool, async: true, timeout: 60_000)
      # Wait until the sleep is running, then every call goes to the other worker.
      [%{pid: busy_pid}] =
        eventually(fn ->
          pool
          |> (&PyBridge.stats!(pool: &1)).()
          |> Enum.filter(&(&1.in_flight > 0))
          |> then(&(&1 != [] && &1))
        end)

      pids = for _ <- 1..10, do: PyBridge.call!("#{@support}.pid", [], [], pool: pool)
      assert Enum.uniq(pids) |> length() == 1
      refute hd(pids) == busy_pid
      Task.shutdown(busy, :brutal_kill)
    end

    test "a session's handles are freed when it closes, or when its process dies" do
      pool = start_pool!()
      baseline = handles(pool)

      PyBridge.with_session(
        fn session ->
          for _ <- 1..5, do: PyBridge.create!("types.SimpleNamespace", [], [], session: session)
          assert handles(pool) == baseline + 5
        end,
        pool: pool
      )

      eventually(fn -> handles(pool) == baseline end)

      test_pid = self()

      pid =
        spawn(fn ->
          PyBridge.with_session(
            fn session ->
              PyBridge.create!("types.SimpleNamespace", [], [], session: session)
              send(test_pid, :created)
              Process.sleep(:infinity)
            end,
            pool: pool
          )
        end)

      assert_receive :created, 5_000
      assert handles(pool) == baseline + 1
      Process.exit(pid, :kill)
      eventually(fn -> handles(pool) == baseline end)
    end

    test "closes the session when the function raises, and returns its value" do
      pool = start_pool!()
      baseline = handles(pool)

      assert_raise RuntimeError, fn ->
        PyBridge.with_session(
          fn s ->
            PyBridge.create!("types.SimpleNamespace", [], [], session: s)
            raise "boom"
          end,
          pool: pool
        )
      end

      eventually(fn -> handles(pool) == baseline end)
      assert PyBridge.with_session(fn %Session{} -> :value end, pool: pool) == :value
    end

    test "a handle of another worker is refused in a session" do
      pool = start_pool!()
      {:ok, ns} = PyBridge.create("types.SimpleNamespace")

      PyBridge.with_session(
        fn s ->
          assert {:error, %Error{type: "pybridge.StaleHandle"}} =
                   PyBridge.attr(ns, "x", session: s)
        end,
        pool: pool
      )
    end
  end

  describe "import_module/2 and import_module!/2" do
    test "imports in every worker of the pool" do
      pool = start_pool!(pool_size: 2)
      eventually(fn -> length(PyBridge.stats!(pool: pool)) == 2 end)
      assert PyBridge.import_module("colorsys", pool: pool) == {:ok, nil}
      assert PyBridge.import_module!("json", pool: pool) == nil
      assert_raise Error, ~r/ModuleNotFoundError/, fn -> PyBridge.import_module!("nope_mod") end
    end
  end

  describe "stats/1 and stats!/1" do
    test "reports every worker's counters" do
      pool = start_pool!(pool_size: 2)
      eventually(fn -> length(PyBridge.stats!(pool: pool)) == 2 end)
      assert {:ok, [a, b]} = PyBridge.stats(pool: pool)

      for stats <- [a, b] do
        assert %{handles: 0, pid: pid, worker: token, in_flight: 0} = stats
        assert is_integer(pid) and is_binary(token)
      end

      refute a.pid == b.pid
    end

    test "of a session's worker only" do
      PyBridge.with_session(fn s ->
        assert [%{pid: pid}] = PyBridge.stats!(session: s)
        assert PyBridge.call!("#{@support}.pid", [], [], session: s) == pid
      end)
    end
  end

  describe "ping/1 and ping!/1" do
    test "round trip in microseconds" do
      assert {:ok, us} = PyBridge.ping()
      assert is_integer(us) and us >= 0
      assert PyBridge.ping!(timeout: 5_000) >= 0
    end
  end

  describe "child_spec/1 and start_link/1" do
    test "validate every option with a clear error" do
      for {opts, message} <- [
            {[pool_size: -1],
             "pool_size must be a non-negative integer (0: callers only, workers on other nodes), got: -1"},
            {[pool_size: :many],
             "pool_size must be a non-negative integer (0: callers only, workers on other nodes), got: :many"},
            {[threads: -1], "threads must be a positive integer, got: -1"},
            {[timeout: 0], "timeout must be a positive integer or :infinity, got: 0"},
            {[max_frame: "big"], "max_frame must be a positive integer (bytes), got: \"big\""},
            {[python_path: "/x"], "python_path must be a list of strings, got: \"/x\""},
            {[imports: [:json]], "imports must be a list of module names, got: [:json]"},
            {[env: [{"A", 1}]], "env must be a map or list of {name, value | nil} strings"},
            {[output: nil], "output must be :logger, {:logger, level} or an IO device, got: nil"},
            {[export_to_python: [{M, :f, 1}]], "export_to_python must be a list of"}
          ] do
        error = assert_raise ArgumentError, fn -> PyBridge.child_spec(opts) end
        assert error.message =~ message
      end

      assert_raise ArgumentError, ~r/unknown keys \[:pool\]/, fn ->
        PyBridge.child_spec(pool: 1)
      end

      assert_raise ArgumentError, ~r/must be a keyword list/, fn -> PyBridge.start_link(%{}) end
    end

    test "several named pools run side by side, with their own settings" do
      a = start_pool!(threads: 3, max_frame: 1_000_000)
      b = start_pool!(env: %{"PYBRIDGE_TEST_VAR" => "b"})
      argv = PyBridge.call!("#{@support}.argv", [], [], pool: a)
      assert ["--output", "frames", "--threads", "3", "--max-frame", "1000000"] -- argv == []
      assert PyBridge.call!("os.getenv", ["PYBRIDGE_TEST_VAR"], [], pool: b) == "b"
      assert PyBridge.call!("os.getenv", ["PYBRIDGE_TEST_VAR"], [], pool: a) == nil
      refute worker_os_pid(a) == worker_os_pid(b)
    end

    test "startup imports run before the worker takes calls" do
      pool = start_pool!(imports: ["decimal", "json"])
      assert PyBridge.call!("sys.modules.__contains__", ["decimal"], [], pool: pool)
    end
  end

  defp session_pids(session) do
    for _ <- 1..10, do: PyBridge.call!("#{@support}.pid", [], [], session: session)
  end
end
