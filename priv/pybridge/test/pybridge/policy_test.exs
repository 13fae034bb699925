defmodule PyBridge.PolicyTest do
  # Every test runs the real worker with a pool of its own; the breaker and
  # limit tests end workers on purpose.
  use ExUnit.Case, async: true

  import PyBridge.TestHelpers

  alias PyBridge.Error
  alias PyBridge.Policy.CircuitBreaker

  @support "pybridge_test_support"

  setup do
    dir = Path.join(System.tmp_dir!(), "pybridge_policy_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)
    %{dir: dir}
  end

  describe "allow: (allowlist)" do
    test "a refused target never reaches Python; an allowed one runs", %{dir: dir} do
      pool = start_pool!(allow: [modules: ["math"], targets: ["#{@support}.lines"]])
      marker = Path.join(dir, "touched")

      assert {:error, %Error{type: "pybridge.NotAllowed", message: message}} =
               PyBridge.call("#{@support}.touch", [marker], [], pool: pool)

      assert message =~ ~s("#{@support}.touch")
      assert message =~ "not an allowed target nor a name directly in an allowed module"
      refute File.exists?(marker)

      # The same call on a pool without an allowlist does run (the marker is a real effect).
      other = start_pool!()
      assert {:ok, ^marker} = PyBridge.call("#{@support}.touch", [marker], [], pool: other)
      assert File.exists?(marker)

      assert PyBridge.call("math.sqrt", [9], [], pool: pool) == {:ok, 3.0}
      assert PyBridge.call("#{@support}.lines", [marker], [], pool: pool) == {:ok, 1}
      assert {:ok, _pi} = PyBridge.attr("math", "pi", pool: pool)
    end

    test "os.system and friends are refused, also as attributes, imports, streams and with async" do
      pool = start_pool!(allow: [modules: ["math", "json"]])

      for {fun, args} <- [
            {:call, ["os.system", ["true"], [], [pool: pool]]},
            {:call, ["json.decoder.re.compile", ["x"], [], [pool: pool]]},
            {:call, ["json.decoder.JSONDecoder", [], [], [pool: pool]]},
            {:call, ["math.__loader__", [], [], [pool: pool]]},
            {:create, ["subprocess.Popen", [["true"]], [], [pool: pool]]},
            {:attr, ["os", "environ", [pool: pool]]},
            {:import_module, ["subprocess", [pool: pool]]}
          ] do
        assert {:error, %Error{type: "pybridge.NotAllowed"}} = apply(PyBridge, fun, args),
               "#{fun} #{inspect(hd(args))} was not refused"
      end

      assert_raise Error, ~r/NotAllowed: "os.getcwd" is refused/, fn ->
        PyBridge.call!("os.getcwd", [], [], pool: pool)
      end

      assert {:error, %Error{type: "pybridge.NotAllowed"}} =
               Task.await(PyBridge.call("os.getcwd", [], [], pool: pool, async: true))

      assert_raise Error, ~r/NotAllowed/, fn ->
        PyBridge.stream("os.walk", ["/"], [], pool: pool)
      end

      assert PyBridge.import_module("json", pool: pool) == {:ok, nil}
    end

    test "handles of allowed classes keep working; private names on them do not" do
      pool = start_pool!(allow: [targets: ["fractions.Fraction"], modules: ["json"]])

      {:ok, fraction} = PyBridge.create("fractions.Fraction", [3, 4], [], pool: pool)
      assert PyBridge.attr(fraction, "denominator", pool: pool) == {:ok, 4}
      assert PyBridge.method(fraction, "as_integer_ratio", [], [], pool: pool) == {:ok, {3, 4}}
      assert PyBridge.method(fraction, "__str__", [], [], pool: pool) == {:ok, "3/4"}

      assert {:error, %Error{type: "pybridge.NotAllowed", message: message}} =
               PyBridge.attr(fraction, "__class__", pool: pool)

      assert message =~ "underscore"

      # A class defined under an allowed module: json.JSONDecoder is json.decoder.JSONDecoder.
      {:ok, decoder} = PyBridge.create("json.JSONDecoder", [], [], pool: pool)
      assert PyBridge.method(decoder, "decode", ["[1]"], [], pool: pool) == {:ok, [1]}

      # A handle whose class is allowed by no rule is refused.
      {:ok, function} = PyBridge.attr("json", "dumps", pool: pool)

      assert {:error, %Error{type: "pybridge.NotAllowed", message: message}} =
               PyBridge.call(function, [[1]], [], pool: pool)

      assert message =~ "builtins.function"

      with_any = start_pool!(allow: [modules: ["json"], handles: :any])
      {:ok, function} = PyBridge.attr("json", "dumps", pool: with_any)
      assert PyBridge.call(function, [[1]], [], pool: with_any) == {:ok, "[1]"}
    end

    test "specs: allow the Python path a generated module wraps, as module and target" do
      pool = start_pool!(allow: [specs: [PyBridge.PolicyTest.FractionSpec]])

      {:ok, fraction} = PyBridge.create("fractions.Fraction", [1, 2], [], pool: pool)

      assert {:ok, %PyBridge.Ref{type: "fractions.Fraction"}} =
               PyBridge.method(fraction, "limit_denominator", [1], [], pool: pool)

      assert {:ok, _} = PyBridge.call("fractions.Fraction.from_float", [0.5], [], pool: pool)

      assert {:error, %Error{type: "pybridge.NotAllowed"}} =
               PyBridge.call("fractions.Decimal", ["1"], [], pool: pool)
    end

    test "bad rules are ArgumentErrors at start" do
      assert_raise ArgumentError, ~r/allow: modules must be a list of dotted Python paths/, fn ->
        PyBridge.child_spec(allow: [modules: ["os path"]])
      end

      assert_raise ArgumentError, ~r/allow: specs must be modules generated by elixir_gen/, fn ->
        PyBridge.child_spec(allow: [specs: [Enum]])
      end

      assert_raise ArgumentError, ~r/unknown keys \[:module\]/, fn ->
        PyBridge.child_spec(allow: [module: ["json"]])
      end
    end
  end

  describe "idempotent: true (retries)" do
    @describetag :slow
    test "a flaky idempotent call succeeds on its second attempt, inside its deadline", %{
      dir: dir
    } do
      pool = start_pool!(retry: [backoff: 10])
      path = Path.join(dir, "attempts")

      assert {:ok, "done"} =
               PyBridge.call("#{@support}.exit_once", [path, "done"], [],
                 pool: pool,
                 idempotent: true,
                 timeout: 10_000
               )

      assert PyBridge.call("#{@support}.lines", [path], [], pool: pool) == {:ok, 2}
    end

    test "a call not declared idempotent is not retried", %{dir: dir} do
      pool = start_pool!(retry: [attempts: 5, backoff: 10])
      path = Path.join(dir, "attempts")

      assert {:error, %Error{type: "pybridge.WorkerExited"}} =
               PyBridge.call("#{@support}.count_and_exit", [path], [], pool: pool)

      assert File.read!(path) == "attempt\n"

      # Declared idempotent, the same call is tried as many times as allowed.
      assert {:error, %Error{type: "pybridge.WorkerExited"}} =
               PyBridge.call("#{@support}.count_and_exit", [path], [],
                 pool: pool,
                 idempotent: true,
                 retry: [attempts: 3]
               )

      assert File.read!(path) == String.duplicate("attempt\n", 4)
    end

    test "the timeout covers every attempt: no attempt starts past the deadline", %{dir: dir} do
      pool = start_pool!()
      path = Path.join(dir, "attempts")

      # Back-off longer than the deadline: the first failure is the answer.
      assert {:error, %Error{type: "pybridge.WorkerExited"}} =
               PyBridge.call("#{@support}.count_and_exit", [path], [],
                 pool: pool,
                 idempotent: true,
                 timeout: 2_000,
                 retry: [attempts: 10, backoff: 5_000]
               )

      assert File.read!(path) == "attempt\n"
    end

    test "Python errors are retried only when listed in :on", %{dir: dir} do
      pool = start_pool!()
      path = Path.join(dir, "attempts")
      call = &PyBridge.call("#{@support}.count_and_raise", [path], [], [pool: pool] ++ &1)

      assert {:error, %Error{type: "builtins.ConnectionError"}} = call.(idempotent: true)
      assert File.read!(path) == "attempt\n"

      retry = [on: ["builtins.ConnectionError"], backoff: 1]

      assert {:error, %Error{type: "builtins.ConnectionError"}} =
               call.(idempotent: true, retry: retry)

      assert File.read!(path) == String.duplicate("attempt\n", 4)

      assert_raise ArgumentError, ~r/without idempotent: true/, fn ->
        PyBridge.call("math.sqrt", [1], [], pool: pool, retry: [attempts: 2])
      end

      assert_raise ArgumentError, ~r/retry: attempts must be a positive integer/, fn ->
        PyBridge.call("math.sqrt", [1], [], pool: pool, idempotent: true, retry: [attempts: 0])
      end
    end
  end

  describe "circuit_breaker:" do
    @describetag :slow
    test "opens after worker failures, answers at once without reaching Python, closes after a trial",
         %{dir: dir} do
      PyBridge.TestLogHandler.attach(:policy_breaker_log, self())
      on_exit(fn -> PyBridge.TestLogHandler.detach(:policy_breaker_log) end)

      pool = start_pool!(circuit_breaker: [failures: 2, window: 60_000, cool_down: 300])
      breaker = :persistent_term.get({PyBridge.Policy, pool}).breaker
      crash = Path.join(dir, "crashes")

      # Python exceptions are answers: they never open the circuit.
      for _ <- 1..3, do: assert({:error, _} = PyBridge.call("math.sqrt", [-1], [], pool: pool))
      assert CircuitBreaker.state(breaker) == :closed

      for _ <- 1..2 do
        assert {:error, %Error{type: "pybridge.WorkerExited"}} =
                 PyBridge.call("#{@support}.count_and_exit", [crash], [], pool: pool)
      end

      assert CircuitBreaker.state(breaker) == :open

      marker = Path.join(dir, "touched")

      assert {:error, %Error{type: "pybridge.CircuitOpen", message: message}} =
               PyBridge.call("#{@support}.touch", [marker], [], pool: pool)

      assert message =~ "refused for about"
      refute File.exists?(marker)

      # After the cool-down one trial goes through; its success closes the circuit.
      eventually(fn ->
        PyBridge.call("#{@support}.touch", [marker], [], pool: pool) == {:ok, marker}
      end)

      assert CircuitBreaker.state(breaker) == :closed
      assert PyBridge.call("math.sqrt", [4], [], pool: pool) == {:ok, 2.0}

      logs = Enum.filter(collect_logs(), &(&1 =~ "pool #{inspect(pool)}: circuit"))
      assert [opened] = Enum.filter(logs, &(&1 =~ "circuit open"))
      assert opened =~ "circuit open after 2 worker failures"
      assert Enum.count(logs, &(&1 =~ "circuit half-open")) == 1
      assert Enum.count(logs, &(&1 =~ "circuit closed")) == 1
    end

    test "a failed trial opens the circuit again", %{dir: dir} do
      pool = start_pool!(circuit_breaker: [failures: 1, cool_down: 200])
      breaker = :persistent_term.get({PyBridge.Policy, pool}).breaker
      crash = Path.join(dir, "crashes")

      assert {:error, %Error{type: "pybridge.WorkerExited"}} =
               PyBridge.call("#{@support}.count_and_exit", [crash], [], pool: pool)

      assert CircuitBreaker.state(breaker) == :open

      # Retried until the cool-down is over and this call is the trial; it crashes too.
      eventually(fn ->
        match?(
          {:error, %Error{type: "pybridge.WorkerExited"}},
          PyBridge.call("#{@support}.count_and_exit", [crash], [], pool: pool)
        )
      end)

      assert CircuitBreaker.state(breaker) == :open
      assert File.read!(crash) == "attempt\nattempt\n"
    end

    test "bad thresholds are ArgumentErrors" do
      assert_raise ArgumentError, ~r/circuit_breaker: cool_down must be a positive integer/, fn ->
        PyBridge.child_spec(circuit_breaker: [cool_down: 0])
      end
    end
  end

  describe "limits:" do
    @describetag :slow
    test "a worker allocating past its memory limit is replaced; its caller gets MemoryLimit" do
      pool = start_pool!(limits: [memory: 1024 * 1024 * 1024], threads: 2)
      os_pid = worker_os_pid(pool)

      # Within the limit, a MemoryError-free allocation works.
      assert PyBridge.call("#{@support}.allocate", [64 * 1024 * 1024], [], pool: pool) ==
               {:ok, 64 * 1024 * 1024}

      assert {:error, %Error{type: "pybridge.MemoryLimit", message: message}} =
               PyBridge.call("#{@support}.allocate", [2 * 1024 * 1024 * 1024], [], pool: pool)

      assert message =~ "limits: [memory: 1073741824]"
      eventually(fn -> match?({:ok, _}, PyBridge.call("math.sqrt", [4], [], pool: pool)) end)
      refute worker_os_pid(pool) == os_pid

      # Without a memory limit the same MemoryError is an ordinary Python error.
      free = start_pool!()

      assert {:error, %Error{type: "builtins.MemoryError"}} =
               PyBridge.call("#{@support}.allocate", [4_611_686_018_427_387_904], [], pool: free)
    end

    test "a worker whose resident set grows past its limit is replaced; its caller gets MemoryLimit" do
      limit = 256 * 1024 * 1024
      pool = start_pool!(limits: [resident_memory: limit])
      os_pid = worker_os_pid(pool)

      # Reserved is not resident: the idle worker's threads reserve far more than they touch.
      assert PyBridge.call("#{@support}.fill", [32 * 1024 * 1024, 0.3], [], pool: pool) ==
               {:ok, 32 * 1024 * 1024}

      assert {:error, %Error{type: "pybridge.MemoryLimit", message: message}} =
               PyBridge.call("#{@support}.fill", [2 * limit, 30], [], pool: pool, timeout: 20_000)

      assert message =~ "limits: [resident_memory: #{limit}]"
      eventually(fn -> match?({:ok, _}, PyBridge.call("math.sqrt", [4], [], pool: pool)) end)
      refute worker_os_pid(pool) == os_pid
    end

    test "a call over its CPU time is ended with CpuLimit" do
      pool = start_pool!(limits: [call_cpu_time: 300])
      assert {:ok, _} = PyBridge.call("#{@support}.burn", [0.05], [], pool: pool)

      assert {:error, %Error{type: "pybridge.CpuLimit", message: message}} =
               PyBridge.call("#{@support}.burn", [30], [], pool: pool)

      assert message =~ "more than 300 ms of CPU time"
    end

    test "a worker over its total CPU time is ended with CpuLimit (SIGXCPU)" do
      pool = start_pool!(limits: [cpu_time: 1])

      assert {:error, %Error{type: "pybridge.CpuLimit", message: message}} =
               PyBridge.call("#{@support}.burn", [30], [], pool: pool)

      assert message =~ "limits: [cpu_time: 1]"
    end

    test "a worker out of file descriptors is replaced with OpenFilesLimit" do
      pool = start_pool!(limits: [open_files: 64])
      assert {:ok, _} = PyBridge.call("#{@support}.open_files", [10], [], pool: pool)

      assert {:error, %Error{type: "pybridge.OpenFilesLimit"}} =
               PyBridge.call("#{@support}.open_files", [100], [], pool: pool)
    end

    test "bad limits are ArgumentErrors" do
      assert_raise ArgumentError, ~r/limits: memory must be a positive integer \(bytes\)/, fn ->
        PyBridge.child_spec(limits: [memory: "1G"])
      end

      assert_raise ArgumentError, ~r/unknown keys \[:rss\]/, fn ->
        PyBridge.child_spec(limits: [rss: 1])
      end
    end
  end

  describe "environment and working directory" do
    test "the worker sees only the configured environment, directory and PYTHONPATH", %{dir: dir} do
      System.put_env("PYBRIDGE_POLICY_SECRET", "do not inherit")
      on_exit(fn -> System.delete_env("PYBRIDGE_POLICY_SECRET") end)

      pool = start_pool!(cwd: dir, env: %{"PYBRIDGE_POLICY_SET" => "yes"})
      {:ok, info} = PyBridge.call("#{@support}.process_info", [], [], pool: pool)

      assert info["cwd"] == Path.expand(dir)
      assert info["env"]["PYBRIDGE_POLICY_SET"] == "yes"
      refute Map.has_key?(info["env"], "PYBRIDGE_POLICY_SECRET")
      assert info["env"]["PATH"] == System.get_env("PATH")
      refute File.cwd!() in info["path"]
      refute "" in info["path"]

      everything = start_pool!(inherit_env: true)
      {:ok, info} = PyBridge.call("#{@support}.process_info", [], [], pool: everything)
      assert info["env"]["PYBRIDGE_POLICY_SECRET"] == "do not inherit"
    end

    @tag :slow
    test "read_only_cwd: a worker that could write its directory does not start", %{dir: dir} do
      ExUnit.CaptureLog.capture_log(fn ->
        pool = start_pool!(cwd: dir, read_only_cwd: true)

        assert {:error, %Error{type: "pybridge.WorkerUnavailable", message: message}} =
                 PyBridge.call("math.sqrt", [4], [], pool: pool)

        assert message =~ "pybridge.PolicyRefused"
        assert message =~ "is writable by uid"
      end)
    end

    @tag :slow
    test "user: an unknown user does not start" do
      ExUnit.CaptureLog.capture_log(fn ->
        pool = start_pool!(user: "no_such_user_pybridge")

        assert {:error, %Error{type: "pybridge.WorkerUnavailable", message: message}} =
                 PyBridge.call("math.sqrt", [4], [], pool: pool)

        assert message =~ "no OS user named 'no_such_user_pybridge'"
      end)
    end

    @tag :slow
    test "user: the worker runs as that user, in a directory it cannot write" do
      python = PyBridge.Config.python(PyBridge.Config.new!([]))

      case System.cmd("runuser", ["-u", "nobody", "--", python, "-c", "import asyncio"],
             stderr_to_stdout: true
           ) do
        {_, 0} ->
          pool = start_pool!(user: "nobody", cwd: "/", read_only_cwd: true)
          {:ok, info} = PyBridge.call("#{@support}.process_info", [], [], pool: pool)
          assert info["uid"] != 0 and info["cwd"] == "/"

        {output, _} ->
          IO.puts(
            "skipped: user nobody cannot run #{python} here (#{String.slice(output, 0, 80)})"
          )
      end
    end
  end

  defp collect_logs(acc \\ []) do
    receive do
      {:log, text, _meta} -> collect_logs([text | acc])
    after
      0 -> Enum.reverse(acc)
    end
  end
end

defmodule PyBridge.PolicyTest.FractionSpec do
  @moduledoc false
  # Stands for a module elixir_gen generated from a spec of fractions.Fraction.
  def __python_path__, do: "fractions.Fraction"
end

defmodule PyBridge.PolicyTelemetryTest do
  # Not async: it defines the optional :telemetry module (as telemetry_test.exs
  # does) and registers the sink its stand-in reports to.
  use ExUnit.Case, async: false

  alias PyBridge.Error
  alias PyBridge.Policy.CircuitBreaker

  setup do
    unless Code.ensure_loaded?(:telemetry) do
      Code.compile_quoted(
        quote do
          defmodule :telemetry do
            @moduledoc false
            def execute(event, measurements, metadata) do
              if pid = Process.whereis(:telemetry_test_sink),
                do: send(pid, {:event, event, measurements, metadata})

              :ok
            end
          end
        end
      )
    end

    Process.register(self(), :telemetry_test_sink)
    true = PyBridge.Telemetry.refresh()
    on_exit(fn -> PyBridge.Telemetry.refresh() end)
  end

  test "each state change of the circuit is one telemetry event, also when callers race" do
    breaker = CircuitBreaker.new!(:telemetry_pool, [failures: 3, cool_down: 1], 1_000)
    crash = {:error, Error.new("pybridge.WorkerExited", "crashed")}
    python_error = {:error, Error.new("builtins.ValueError", "bad")}

    assert CircuitBreaker.record(breaker, :closed, python_error) == python_error
    refute_received {:event, _, _, _}

    # Eight callers fail at once: the circuit opens once.
    1..8
    |> Enum.map(fn _ -> Task.async(fn -> CircuitBreaker.record(breaker, :closed, crash) end) end)
    |> Task.await_many()

    assert_received {:event, [:pybridge, :circuit_breaker, :open], %{failures: failures},
                     %{pool: :telemetry_pool}}

    assert failures >= 3
    refute_received {:event, [:pybridge, :circuit_breaker, :open], _, _}

    # (The same circuit seen with a long cool-down: still open.)
    assert {:error, %Error{type: "pybridge.CircuitOpen"}} =
             CircuitBreaker.pass(%{breaker | cool_down: 60_000})

    # Once the cool-down is over, exactly one caller is the trial.
    passes = PyBridge.TestHelpers.eventually(fn -> trial_passes(breaker) end)
    assert Enum.count(passes, &match?({:ok, :trial}, &1)) == 1
    assert_received {:event, [:pybridge, :circuit_breaker, :half_open], _, _}

    CircuitBreaker.record(breaker, :trial, {:ok, 1})
    assert_received {:event, [:pybridge, :circuit_breaker, :closed], _, _}
    assert CircuitBreaker.pass(breaker) == {:ok, :closed}
  end

  # Eight callers at once; the passes when one of them became the trial, else nil.
  defp trial_passes(breaker) do
    passes =
      1..8
      |> Enum.map(fn _ -> Task.async(fn -> CircuitBreaker.pass(breaker) end) end)
      |> Task.await_many()

    if Enum.any?(passes, &match?({:ok, :trial}, &1)), do: passes
  end
end
