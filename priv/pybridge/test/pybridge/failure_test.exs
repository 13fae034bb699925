defmodule PyBridge.FailureTest do
  use ExUnit.Case, async: true

  import PyBridge.TestHelpers
  import ExUnit.CaptureLog

  alias PyBridge.{Conn, Error, Ref}

  @support "pybridge_test_support"

  describe "call/4 when the worker's OS process dies" do
    @tag :slow
    test "pending callers get an error within a second; a new worker takes over; old handles are stale" do
      pool = start_pool!()
      {:ok, old_ref} = PyBridge.create("types.SimpleNamespace", [], [x: 1], pool: pool)
      os_pid = worker_os_pid(pool)

      pending = for _ <- 1..5, do: PyBridge.call("time.sleep", [30], [], pool: pool, async: true)
      eventually(fn -> match?([%{in_flight: 5}], PyBridge.stats!(pool: pool)) end)

      kill9(os_pid)

      # Each gets the error as soon as the worker's exit is seen (not at its timeout).
      for task <- pending do
        assert {:error, %Error{type: "pybridge.WorkerExited", message: message}} =
                 Task.await(task, 10_000)

        assert message =~ "exited with status"
      end

      # A new worker starts and later calls succeed.
      assert eventually(fn ->
               match?({:ok, _}, PyBridge.call("math.sqrt", [4], [], pool: pool))
             end)

      refute worker_os_pid(pool) == os_pid
      {:ok, %Ref{} = new_ref} = PyBridge.create("types.SimpleNamespace", [], [x: 2], pool: pool)
      assert new_ref.id == old_ref.id and new_ref.worker != old_ref.worker

      # The old handle is refused, never bound to the new worker's object.
      assert {:error, %Error{type: "pybridge.StaleHandle", message: message}} =
               PyBridge.attr(old_ref, "x", pool: pool)

      assert message =~ "no longer running"

      assert_raise Error, ~r/StaleHandle/, fn -> PyBridge.method!(old_ref, "__repr__") end

      # Also as an argument sent to the new worker.
      assert {:error, %Error{type: "pybridge.StaleHandle"}} =
               PyBridge.call("builtins.getattr", [old_ref, "x"], [], pool: pool)

      assert PyBridge.attr(new_ref, "x") == {:ok, 2}
    end
  end

  describe "call/4 with :timeout" do
    test "returns an error past the timeout, cancels the Python call, other calls keep flowing" do
      PyBridge.with_session(fn session ->
        key = "spin#{System.unique_integer()}"
        opts = [session: session]

        spinner =
          Task.async(fn ->
            PyBridge.call("#{@support}.spin", [key], [], session: session, timeout: 500)
          end)

        # While it spins, the same worker answers other calls.
        eventually(fn -> PyBridge.call!("#{@support}.events", [key], [], opts) == ["started"] end)
        for _ <- 1..20, do: assert(PyBridge.call!("math.sqrt", [9], [], opts) == 3.0)

        assert {:error, %Error{type: "pybridge.Timeout", message: message}} = Task.await(spinner)
        assert message =~ "500 ms"

        # The worker was told to cancel: Python's finally ran.
        eventually(fn ->
          PyBridge.call!("#{@support}.events", [key], [], opts) == [
            "started",
            "Cancelled",
            "finally"
          ]
        end)

        assert PyBridge.call("math.sqrt", [16], [], opts) == {:ok, 4.0}
      end)
    end

    test "a late reply is dropped, not left in the caller's mailbox" do
      assert {:error, %Error{type: "pybridge.Timeout"}} =
               PyBridge.call("time.sleep", [0.3], [], timeout: 50)

      # The reply has come (the worker counts a request until Python answers it).
      eventually(fn -> Enum.all?(PyBridge.Router.workers(PyBridge), &(Conn.load(&1) == 0)) end)
      refute_received {PyBridge.Worker, _, _, _}
    end
  end

  describe "start_link/1 with a worker that cannot start" do
    @tag :slow
    test "a startup import that raises trips a clear error; the application keeps running" do
      log =
        capture_log(fn ->
          pool = start_pool!(pool_size: 2, imports: ["no_such_module_at_startup"])

          assert {:error, %Error{type: "pybridge.WorkerUnavailable", message: message} = error} =
                   PyBridge.call("math.sqrt", [4], [], pool: pool)

          assert message =~ "keep failing to start"
          assert message =~ ~s(startup import "no_such_module_at_startup" failed)
          assert message =~ "ModuleNotFoundError"
          assert Exception.message(error) =~ "no_such_module_at_startup"

          # Later calls fail fast with the same error, and nothing else fell over.
          assert {:error, %Error{type: "pybridge.WorkerUnavailable"}} =
                   PyBridge.call("math.sqrt", [4], [], pool: pool)

          assert Process.whereis(pool) |> Process.alive?()
          assert PyBridge.call("math.sqrt", [4]) == {:ok, 2.0}
          assert List.keymember?(Application.started_applications(), :pybridge, 0)
        end)

      assert log =~ "keep failing to start"
    end

    @tag :slow
    test "a bad python executable trips a clear error" do
      capture_log(fn ->
        pool = start_pool!(python: "/nonexistent/bin/python3")

        assert {:error, %Error{type: "pybridge.WorkerUnavailable", message: message}} =
                 PyBridge.call("math.sqrt", [4], [], pool: pool)

        assert message =~ ~s(cannot start Python executable "/nonexistent/bin/python3")
        assert message =~ "no such file"
      end)
    end

    @tag :slow
    test "a Python that exits at startup trips an error that says why" do
      capture_log(fn ->
        # Stands for a Python that cannot import the worker: it exits at once.
        dir =
          Path.join(System.tmp_dir!(), "pybridge_broken_#{System.unique_integer([:positive])}")

        File.mkdir_p!(dir)
        python = Path.join(dir, "python")
        File.write!(python, "#!/bin/sh\necho 'ImportError: broken on purpose' >&2\nexit 1\n")
        File.chmod!(python, 0o755)
        on_exit(fn -> File.rm_rf!(dir) end)

        pool = start_pool!(python: python)

        assert {:error, %Error{type: "pybridge.WorkerUnavailable", message: message}} =
                 PyBridge.call("math.sqrt", [4], [], pool: pool)

        # The exit status is lost when the Port's first write fails first
        # (`epipe`, a race with the exiting shell): either way says why.
        assert message =~
                 ~r/exited with (status 1|the port closing \(:epipe\)) before it was ready/

        assert message =~ "broken on purpose"
      end)
    end
  end
end
