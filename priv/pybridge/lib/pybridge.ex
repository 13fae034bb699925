defmodule PyBridge do
  @moduledoc """
  Call any Python library from Elixir.

  PyBridge runs a pool of Python worker processes (`python -m pybridge_port`)
  and talks to them over Erlang ports. Values are converted both ways (see
  `docs/PROTOCOL.md`); any Python result that is not plain data comes back as
  a handle, a `PyBridge.Ref`.

      iex> PyBridge.call("math.sqrt", [16])
      {:ok, 4.0}
      iex> {:ok, fraction} = PyBridge.create("fractions.Fraction", [3, 4])
      iex> PyBridge.attr(fraction, "denominator")
      {:ok, 4}
      iex> PyBridge.method(fraction, "as_integer_ratio")
      {:ok, {3, 4}}
      iex> {:error, %PyBridge.Error{type: "builtins.ValueError"}} = PyBridge.call("math.sqrt", [-1])

  Every function returns `{:ok, value}` or `{:error, %PyBridge.Error{}}`; its
  bang variant returns the value or raises, with the Python traceback:

      PyBridge.call!("math.sqrt", [-1])
      ** (PyBridge.Error) ValueError: math domain error

      Traceback (most recent call last):
        ...

  ## Pools and configuration

  The application starts a pool named `PyBridge`, configured with
  `config :pybridge, ...` (`config :pybridge, default_pool: false` turns it
  off). More pools can run in your own supervision tree; the application
  configuration gives their defaults:

      children = [
        {PyBridge, name: MyApp.Python, pool_size: 4, imports: ["numpy"]}
      ]

      PyBridge.call("numpy.zeros", [3], [], pool: MyApp.Python)

  Options (validated at start; a bad value raises `ArgumentError` naming it):

    * `:name` - the pool's name (default `PyBridge`);
    * `:python` - the Python executable (default: `PYBRIDGE_PYTHON`, else
      `.venv/bin/python` of the PyBridge repository, else `python3`);
    * `:python_path` - extra directories put in front of `PYTHONPATH`;
    * `:env` - environment variables of the workers (a map or list of
      `{name, value}`, `nil` unsets);
    * `:inherit_env` - which of the BEAM's environment variables the workers
      inherit: a list of names (default
      `["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"]`),
      `true` (all) or `false` (none; only `:env`);
    * `:cwd` - the workers' working directory (default `nil`: the BEAM's);
    * `:read_only_cwd` - `true` makes a worker refuse to start when it can
      write to its working directory (default `false`);
    * `:user` - OS user the workers run as (default `nil`: the BEAM's user);
    * `:limits`, `:allow`, `:retry`, `:circuit_breaker` - see
      "Production policies" below;
    * `:pool_size` - number of worker OS processes on this node (default 2);
      `0` makes a node of callers only, whose requests go to the pool's
      workers on other nodes (see "Across nodes");
    * `:threads` - requests each worker runs at once (`--threads`, default 8);
    * `:timeout` - default timeout of a call in ms (default 30_000);
    * `:startup_timeout` - time a worker has to start, ms (default 30_000);
    * `:imports` - modules each worker imports before it takes calls; a
      failing import is a startup failure;
    * `:setup` - calls each worker runs after its imports and before it
      takes calls, replacements included (see "Pool-wide state" below):
      `{"module.function", args, kwargs}`, or `{Module, :function, args}`,
      run in Elixir when a worker starts, returning a list of such calls.
      A call that raises is a startup failure, like a failing import;
    * `:max_frame` - largest frame in bytes (`--max-frame`, default 64 MiB);
    * `:export_to_python` - `[{Module, :function, arity, "python_name"}]`,
      Elixir functions Python may call as
      `pybridge_port.elixir.call("python_name", *args)`;
    * `:output` - where Python's output (prints, C-level writes, child
      processes) goes: `:logger` (default, level `:info`),
      `{:logger, level}` or an IO device;
    * `:cancel_grace` - ms a cancelled call (a timeout, or its caller died)
      has to end in Python (default 10_000, or `:infinity`). A call blocked
      in C (`time.sleep`, a socket read, a C extension's loop) cannot take
      the cancellation; past the grace its worker takes no new calls, a
      replacement starts at once, and the worker stops once its other calls
      have ended (its handles are then stale).
    * `:reload` - `true` (or a poll interval in ms; default `false`): when a
      `.py` file under `:python_path` changes, the pool's workers are
      replaced by new ones, which import the new code and run the pool's
      imports and setup again; calls in flight end on the old workers first.
      Replacement rather than `importlib.reload`: a reloaded module keeps
      objects of its old classes and names other modules imported from it,
      a new interpreter cannot hold stale state. Handles of the old workers
      become stale. For development: the watcher polls file times.

  Requests go to the worker of the handle they target (or of the first handle
  among their arguments), else to the worker with the fewest requests still
  running in Python (cancelled calls that have not ended count), ties spread
  at random. A worker that dies is replaced, and its pending callers get a
  `pybridge.WorkerExited` error; a request routed to it but not yet written
  goes to another worker. A pool whose workers keep failing to start
  (a bad executable, a startup import that raises) does not crash: calls get a
  `pybridge.WorkerUnavailable` error saying why, and the pool keeps retrying
  with backoff.

  ## Pool-wide state

  Python libraries keep global state (`dspy.configure`, random seeds, a
  model loaded once, logging). A pool has several workers and replaces
  those that die, so "do this once" means "on every worker, now and on
  every worker started later": the `:setup` option at start, and
  `broadcast/4` at run time (remembered for workers started later).

      children = [
        {PyBridge,
         imports: ["dspy"],
         setup: [{"dspy.configure", [], [lm: PyBridge.deferred("dspy.LM", ["openai/gpt-4o-mini"])]}]}
      ]

  A handle names an object in one worker, so the arguments of these calls
  use `deferred/3` for objects each worker makes for itself. Each worker
  runs them on one thread of its own, the same every time: libraries such
  as DSPy let only the thread that first configured them configure them
  again, and read the configuration from every thread.

  ## Common options

    * `:pool` - the pool to use (default `PyBridge`);
    * `:session` - a `PyBridge.Session` (see `with_session/2`);
    * `:timeout` - ms, or `:infinity` (default: the pool's `:timeout`); past
      it the call returns a `pybridge.Timeout` error and Python is told to
      cancel it;
    * `:async` - `true` returns a `Task` whose result is `{:ok, value}` or
      `{:error, error}`;
    * `:idempotent` - `true` declares that the call may run more than once,
      so it is retried on the errors of the retry policy (default `false`:
      never retried);
    * `:retry` - this call's retry policy over the pool's (`:attempts`,
      `:backoff`, `:max_backoff`, `:on`); only with `idempotent: true`;
    * `:records` - `:map` returns dataclasses, named tuples and pydantic
      models as maps of their fields (see `PyBridge.Values`); `:handle`
      (the default) keeps them handles (named tuples stay tuples).

  `call/4`, `create/4`, `method/5`, `attr/3` and `set_attr/4` take all of
  them; `stream/4` takes `:pool`, `:session`, `:timeout`, `:window` and
  `:records`.

  ## Production policies

  Each is off (or permissive) unless the pool's options turn it on. What a
  policy costs per call is in `docs/POLICIES.md`.

  **Allowlist** (`:allow`, default `nil`: everything is allowed). Which
  Python targets `call/4`, `create/4`, `attr/3`, `method/5`, `set_attr/4`,
  `stream/4` and `import_module/2` may name; checked in the calling process
  before anything is sent, a refused target gets a `pybridge.NotAllowed`
  error naming it and the rule (`stream/4` raises it):

      {PyBridge, name: MyApp.Python,
       allow: [modules: ["json", "numpy"], targets: ["os.path.join"], specs: [MyApp.Dspy.Predict]]}

    * `:modules` - the names directly in these modules (`"json.dumps"`, one
      segment below; deeper paths need their own entry, as the Elixir side
      cannot tell a submodule from a module the library imported);
    * `:targets` - exactly these paths;
    * `:specs` - modules generated by `elixir_gen`: the Python path each wraps,
      as a module and as a target;
    * `:handles` - `:allowed_types` (default): a handle may be used (method,
      attribute, call) when its class, as its `type` shows it, is a target or
      is defined in an allowed module; `:any`: every handle.

  Names that begin with an underscore are refused in paths and on handles
  (`__globals__`, `__class__` are how code walks out of any rule), except
  protocol methods such as `__str__`, `__len__`, `__getitem__`, `__call__`.
  What it does not restrict: Python code that an allowed function calls
  itself (an allowed `pickle.loads` or `eval` can run anything), objects
  passed as arguments, and a `%PyBridge.Ref{}` forged in Elixir (its `type`
  is trusted). It protects against Elixir code that builds targets from
  untrusted input, not against the Python libraries you allow.

  **Retries** (`:retry`, default `[attempts: 3, backoff: 100, max_backoff:
  2_000, on: ["pybridge.WorkerExited", "pybridge.WorkerUnavailable"]]`).
  Used only for calls given `idempotent: true`; a call that is not may have
  run, with its side effects, before it failed, and is never retried.
  `:attempts` counts the first; the back-off doubles from `:backoff` ms up to
  `:max_backoff`; `:on` lists the error types to retry (Python types too,
  such as `"builtins.ConnectionError"`). The call's `:timeout` covers every
  attempt: each gets the time that is left, and no back-off sleeps past it.

      PyBridge.call("my_api.fetch", [id], [], idempotent: true, retry: [attempts: 5])

  **Circuit breaker** (`:circuit_breaker`, default `nil`: none; `true` is
  `[failures: 5, window: 10_000, cool_down: 5_000]`). When `:failures`
  calls of the pool fail in the worker itself (`pybridge.WorkerExited`,
  `Timeout`, `WorkerUnavailable` or a limit below; not Python exceptions)
  within `:window` ms, the circuit opens: calls get `pybridge.CircuitOpen` at
  once for `:cool_down` ms, then one trial call goes through; its answer
  closes the circuit, its failure opens it again. Each change is logged once
  and, when `:telemetry` is loaded, emitted as
  `[:pybridge, :circuit_breaker, :open | :half_open | :closed]` with
  measurements `%{failures: n}` and metadata `%{pool: name}`. Streams,
  `release/2`, `ping/1` and `stats/1` do not pass through it.

  **Resource limits** (`:limits`, default `[]`: none), set by each worker on
  itself at start:

    * `memory: bytes` - address space (`RLIMIT_AS`: virtual memory, which
      counts thread stacks and reserved arenas, so leave room: an idle worker
      with 8 threads reserves about 400 MiB);
    * `resident_memory: bytes` - resident set (RSS: the memory in use),
      sampled every 50 ms by a watchdog thread, so memory touched faster
      than that can go past it before the worker exits (Linux);
    * `cpu_time: seconds` - CPU time of the worker in total (`RLIMIT_CPU`);
    * `call_cpu_time: ms` - CPU time of one call, checked by a watchdog
      thread every tenth of the limit (at most 100 ms), so a call may run up
      to one such period over it; coroutines and the items of a stream after
      the first are not timed;
    * `open_files: count` - open file descriptors (`RLIMIT_NOFILE`).

  A worker over a limit is stopped and replaced, and its callers in flight
  get `pybridge.MemoryLimit`, `pybridge.CpuLimit` or
  `pybridge.OpenFilesLimit` naming it: a `MemoryError` (or running out of
  file descriptors) under such a limit ends the worker instead of being
  returned, since the process may be in no state to go on. rlimits hold on
  Linux (and mostly on other Unixes); code running as root can raise them
  again (use `:user`). cgroups are not used.

  **Environment and files.** A worker's environment is exactly the inherited
  names of `:inherit_env` plus `:env`; `PYTHONPATH` is the PyBridge
  repository, `:python_path`, and the BEAM's `PYTHONPATH` only when
  inherited; the working directory is not put on `sys.path`
  (`PYTHONSAFEPATH`). `:user` switches the worker to that user (its uid,
  groups and `HOME`) before it serves anything, for good: it needs the BEAM
  to run as root, and the Python installation and your code must be readable
  by that user. With `:user`, the worker can only read and write what that
  user may; `:read_only_cwd` checks that the working directory is not
  writable (a failed check is a startup failure whose message quotes
  the worker's `pybridge.PolicyRefused` reason). Without
  `:user` these options keep code from stumbling into the BEAM's secrets
  and files by accident; they are no sandbox: the worker can still read
  and write whatever its OS user may, open network connections and start
  processes.

  ## What a caller gets when things go wrong

    * a Python exception: `{:error, %PyBridge.Error{type: "builtins.ValueError"}}`
      (its type, message and traceback);
    * no answer within `:timeout`: `pybridge.Timeout`, and the call is
      cancelled in Python (see `:cancel_grace` for calls blocked in C);
    * a request Python cannot decode (nested deeper than 1,000 levels, over a
      size limit) or a request over `:max_frame`: `pybridge.CodecError` at once;
    * a reply Elixir cannot decode safely (an atom this node does not know,
      an integer Erlang cannot hold): `pybridge.CodecError` saying which;
    * an Elixir callback whose arguments cannot be decoded: the Python code
      calling it gets `CallbackError` (a `pybridge.CodecError`) at once;
    * the worker's OS process dies (a crash, `kill -9`, a limit): every
      pending caller gets `pybridge.WorkerExited` as soon as the exit is seen;
      later calls go to the replacement, old handles are `pybridge.StaleHandle`;
    * the caller dies mid-call, or the process consuming a stream dies: the
      call is cancelled and the generator closed, within about a second.

  ## Values

  Plain data converts as you would expect (strings ↔ `str`, maps ↔ `dict`,
  tuples ↔ `tuple`, `nil` ↔ `None`...), and so do everyday values, both ways:

  | Elixir | Python |
  |---|---|
  | `Date`, `Time`, `NaiveDateTime` | `datetime.date`, `datetime.time`, naive `datetime` |
  | `DateTime` | aware `datetime` (offset and zone kept) |
  | `PyBridge.Timedelta` | `datetime.timedelta` |
  | `MapSet` | `set` (and `frozenset`) |
  | `%Decimal{}` | `decimal.Decimal` |
  | `PyBridge.Complex` | `complex` |
  | `PyBridge.Bytes` | `bytes` |
  | string | `uuid.UUID`, `pathlib.PurePath` (from Python) |
  | the member's value | `enum.Enum` member (from Python) |
  | map of the fields | any other struct (from Elixir) |

  Microseconds are kept. Other Python objects (dataclasses included) come
  back as handles. `PyBridge.Values` has the details, and how to pair your
  own structs with Python classes.

      iex> PyBridge.call("datetime.date.fromisoformat", ["2024-01-02"])
      {:ok, ~D[2024-01-02]}
      iex> PyBridge.call("builtins.sorted", [MapSet.new([3, 1])])
      {:ok, [1, 3]}

  ## Handles

  A handle belongs to the process that created it, or to the session it was
  created in; when that process exits (or the session closes) the worker
  frees the object. `release/2` frees one sooner. Handles of a worker that
  died are refused with a `pybridge.StaleHandle` error.

  A handle lives in one worker. Once a call from a process returns a handle,
  that process's later calls that name no handle (and no session) go to the
  same worker, so the handles one process creates can be passed to each
  other without a session (a program, its examples, an optimizer). Use a
  session for a flow spread over several processes.

  ## Across nodes

  A pool can span the nodes of a cluster (distributed Erlang; see
  `docs/DISTRIBUTED.md`): start the pool under the same name on every node.
  Requests go to a worker of this node when one is ready, else to the
  least loaded worker of another node (loads published every 100 ms).
  `pool_size: 0` makes a node of callers only. Handles, sessions, streams and
  callbacks work from any node (an Elixir fun passed to Python runs on the
  caller's node). When a node goes down, callers waiting on its workers get
  `pybridge.WorkerExited` as soon as the disconnection is seen, its handles
  are `pybridge.StaleHandle`, and routing stops choosing it; a node that joins
  adds its workers without a restart. `stats/1` lists the workers of every
  node, each with its `:node`.

  ## Telemetry

  When the application has the `:telemetry` library (PyBridge does not depend
  on it), the runtime emits these events; without it they cost one
  `:persistent_term` read per request. Durations and times are in `:native`
  units; bytes are those of the encoded frames.

  | event | measurements | metadata |
  |---|---|---|
  | `[:pybridge, op, :start]` | `system_time`, `monotonic_time`, `bytes_out` | `pool`, `worker`, `node`, `target` |
  | `[:pybridge, op, :stop]` | `duration`, `monotonic_time`, `bytes_out`, `bytes_in` | the same, `status` (`:ok`/`:error`), `error` |
  | `[:pybridge, :stream, :start]` | `system_time`, `monotonic_time`, `bytes_out` | `pool`, `worker`, `node`, `target`, `window` |
  | `[:pybridge, :stream, :stop]` | `duration`, `chunks` | `pool`, `worker`, `node`, `status` (`:ok`/`:halted`) |
  | `[:pybridge, :callback, :stop]` | `duration` | `function`, `node` (where it ran), `status` |
  | `[:pybridge, :queue, :wait]` | `queue_time` | `pool`, `node`, `result` (`:ok`/`:error`) |
  | `[:pybridge, :worker, :start]` | `duration` (start to ready) | `pool`, `worker`, `os_pid`, `node` |
  | `[:pybridge, :worker, :exit]` | `count` | `pool`, `worker`, `os_pid`, `node`, `reason` |
  | `[:pybridge, :worker, :replaced]` | `count` | `pool`, `worker` (the pid that exited), `node`, `reason` |

  `op` is `:call`, `:create`, `:method`, `:attr`, `:set_attr`, `:release`,
  `:import`, `:stats` or `:ping`; `target` is the dotted path, or
  `{ref_or_path, name}` for methods and attributes. `worker` is the worker's
  token (the one in its handles) and `node` the node it runs on. A queue wait
  is emitted only when a caller had to wait for a worker to become ready.
  Generated wrappers with `telemetry.enabled` emit their own span around the
  call (`PyBridge.Telemetry`).

  ## Callbacks

  An Elixir function passed as an argument is a Python callable on the other
  side; calling it runs the function in Elixir (in a new process) and returns
  its result. An exception it raises is raised in Python.

  Libraries that read a callable's metadata (DSPy's and LangChain's tools,
  DSPy's metrics) see the function's name, its `@doc` as `__doc__`, and an
  `inspect.Signature` with its parameter names (typed from its `@spec`:
  `integer()` is `int`, `String.t()` is `str`, ...) for
  `&Module.function/arity` of a module compiled with docs; an anonymous
  function has parameters `arg1`, `arg2`, .... Keyword arguments are
  matched to the parameter names, and missing trailing arguments are `nil`.

      iex> PyBridge.call("builtins.sorted", [["bb", "a", "ccc"]], key: &String.length/1)
      {:ok, ["a", "bb", "ccc"]}
  """

  alias PyBridge.{Client, Config, Error, Policy, Pool, Ref, Router, Session}

  @typedoc "A dotted path to a Python object (`\"os.path.join\"`) or a handle."
  @type target :: String.t() | Ref.t()
  @typedoc "Keyword arguments, as a keyword list or a map."
  @type kwargs :: keyword() | %{optional(atom() | String.t()) => term()}
  @type result :: {:ok, term()} | {:error, Error.t()}
  @type option ::
          {:pool, atom()}
          | {:session, Session.t()}
          | {:timeout, timeout()}
          | {:async, boolean()}
          | {:records, :map | :handle}
          | {:idempotent, boolean()}
          | {:retry, keyword()}
  @type options :: [option()]
  @typedoc "The runtime options of a generated synchronous function (see `elixir_gen`)."
  @type call_option ::
          {:pool, atom()}
          | {:session, Session.t()}
          | {:timeout, timeout()}
          | {:idempotent, boolean()}
          | {:retry, keyword()}
  @typedoc "The runtime options of a generated streaming function."
  @type stream_option ::
          {:pool, atom()}
          | {:session, Session.t()}
          | {:timeout, timeout()}
          | {:window, pos_integer()}

  @call_opts [:pool, :session, :timeout, :async, :idempotent, :retry, :records]

  ## Supervision

  @doc """
  A child spec for a pool, for your supervision tree. `opts` are the pool
  options above, over the defaults of `config :pybridge, ...`.

      iex> %{id: {PyBridge, MyApp.Python}, type: :supervisor} =
      ...>   PyBridge.child_spec(name: MyApp.Python, pool_size: 1)
      iex> PyBridge.child_spec(pool_size: -1)
      ** (ArgumentError) pool_size must be a non-negative integer (0: callers only, workers on other nodes), got: -1
  """
  @spec child_spec(keyword()) :: Supervisor.child_spec()
  def child_spec(opts) do
    config = config!(opts)

    %{
      id: {__MODULE__, config.name},
      start: {Pool, :start_link, [config]},
      type: :supervisor
    }
  end

  @doc """
  Starts a pool linked to the caller (see `child_spec/1` for a supervised one).

      {:ok, _pid} = PyBridge.start_link(name: Scratch, pool_size: 1)
  """
  @spec start_link(keyword()) :: Supervisor.on_start()
  def start_link(opts \\ []), do: Pool.start_link(config!(opts))

  defp config!(opts) when is_list(opts),
    do: Config.new!(Keyword.merge(Config.app_defaults(), opts))

  defp config!(opts), do: Config.new!(opts)

  ## Calls

  @doc """
  Calls `target`: a dotted path (`"math.sqrt"`, `"collections.Counter"`) or a
  handle to a callable.

      iex> PyBridge.call("os.path.join", ["a", "b"])
      {:ok, "a/b"}
      iex> PyBridge.call("builtins.int", ["ff"], base: 16)
      {:ok, 255}
      iex> {:error, error} = PyBridge.call("math.sqrt", [-1])
      iex> error.type
      "builtins.ValueError"
      iex> task = PyBridge.call("math.factorial", [20], [], async: true)
      iex> Task.await(task)
      {:ok, 2432902008176640000}
  """
  @spec call(target(), list(), kwargs(), options()) :: result() | Task.t()
  def call(target, args \\ [], kwargs \\ [], opts \\ []) do
    target!(target)
    args!(args, kwargs)

    request(opts, ref_of(target, args, kwargs), {:call, target}, fn id, o ->
      {:call, id, target, args, kwargs, o}
    end)
  end

  @doc """
  Like `call/4`, but returns the value or raises `PyBridge.Error`.

      iex> PyBridge.call!("math.floor", [2.5])
      2
  """
  @spec call!(target(), list(), kwargs(), options()) :: term()
  def call!(target, args \\ [], kwargs \\ [], opts \\ []),
    do: unwrap(call(target, args, kwargs, no_async!(opts, :call!)))

  @doc """
  Creates an instance of the class at `class_path`; the result is usually a
  handle.

      iex> {:ok, deque} = PyBridge.create("collections.deque", [[1, 2]], maxlen: 5)
      iex> PyBridge.method(deque, "pop")
      {:ok, 2}
  """
  @spec create(String.t(), list(), kwargs(), options()) :: result() | Task.t()
  def create(class_path, args \\ [], kwargs \\ [], opts \\ []) do
    path!(class_path, "class_path")
    args!(args, kwargs)

    request(opts, ref_of(nil, args, kwargs), {:create, class_path}, fn id, o ->
      {:create, id, class_path, args, kwargs, o}
    end)
  end

  @doc """
  Like `create/4`, but returns the value or raises `PyBridge.Error`.

      iex> %PyBridge.Ref{type: "fractions.Fraction"} = PyBridge.create!("fractions.Fraction", [1, 2])
  """
  @spec create!(String.t(), list(), kwargs(), options()) :: term()
  def create!(class_path, args \\ [], kwargs \\ [], opts \\ []),
    do: unwrap(create(class_path, args, kwargs, no_async!(opts, :create!)))

  @doc """
  Calls the method `name` of the object behind `ref`.

      iex> {:ok, fraction} = PyBridge.create("fractions.Fraction", [6, 4])
      iex> PyBridge.method(fraction, "__str__")
      {:ok, "3/2"}
  """
  @spec method(Ref.t(), String.t() | atom(), list(), kwargs(), options()) :: result() | Task.t()
  def method(ref, name, args \\ [], kwargs \\ [], opts \\ []) do
    ref!(ref)
    name = name!(name)
    args!(args, kwargs)

    request(opts, ref, {:method, ref, name}, fn id, o ->
      {:method, id, ref, name, args, kwargs, o}
    end)
  end

  @doc """
  Like `method/5`, but returns the value or raises `PyBridge.Error`.

      iex> fraction = PyBridge.create!("fractions.Fraction", [1, 3])
      iex> PyBridge.method!(fraction, "__float__") |> Float.round(3)
      0.333
  """
  @spec method!(Ref.t(), String.t() | atom(), list(), kwargs(), options()) :: term()
  def method!(ref, name, args \\ [], kwargs \\ [], opts \\ []),
    do: unwrap(method(ref, name, args, kwargs, no_async!(opts, :method!)))

  @doc """
  Reads the attribute `name` of a module (by path) or of a handle.

      iex> {:ok, pi} = PyBridge.attr("math", "pi")
      iex> Float.round(pi, 4)
      3.1416
  """
  @spec attr(target(), String.t() | atom(), options()) :: result() | Task.t()
  def attr(target, name, opts \\ []) do
    target!(target)
    name = name!(name)

    request(opts, ref_of(target), {:attr, target, name}, fn id, o ->
      {:get_attr, id, target, name, o}
    end)
  end

  @doc """
  Like `attr/3`, but returns the value or raises `PyBridge.Error`.

      iex> PyBridge.attr!("sys", "maxsize") > 0
      true
  """
  @spec attr!(target(), String.t() | atom(), options()) :: term()
  def attr!(target, name, opts \\ []), do: unwrap(attr(target, name, no_async!(opts, :attr!)))

  @doc "The same as `attr/3`, under the name Python's `getattr` suggests."
  @spec get_attr(target(), String.t() | atom(), options()) :: result() | Task.t()
  def get_attr(target, name, opts \\ []), do: attr(target, name, opts)

  @doc "The same as `attr/3`, under Python's name for it."
  @spec getattr(target(), String.t() | atom(), options()) :: result() | Task.t()
  def getattr(target, name, opts \\ []), do: attr(target, name, opts)

  @doc """
  Sets the attribute `name` of the object behind `ref`; returns `{:ok, nil}`.

      iex> {:ok, ns} = PyBridge.create("types.SimpleNamespace")
      iex> PyBridge.set_attr(ns, "answer", 42)
      {:ok, nil}
      iex> PyBridge.attr(ns, "answer")
      {:ok, 42}
  """
  @spec set_attr(Ref.t(), String.t() | atom(), term(), options()) :: result() | Task.t()
  def set_attr(ref, name, value, opts \\ []) do
    ref!(ref)
    name = name!(name)

    request(opts, ref, {:set_attr, ref, name}, fn id, o ->
      {:set_attr, id, ref, name, value, o}
    end)
  end

  @doc """
  Like `set_attr/4`, but returns `nil` or raises `PyBridge.Error`.

      iex> ns = PyBridge.create!("types.SimpleNamespace")
      iex> PyBridge.set_attr!(ns, "x", 1)
      nil
  """
  @spec set_attr!(Ref.t(), String.t() | atom(), term(), options()) :: nil
  def set_attr!(ref, name, value, opts \\ []),
    do: unwrap(set_attr(ref, name, value, no_async!(opts, :set_attr!)))

  ## Streams

  @doc """
  A lazy `Stream` of the items of a Python iterable (a generator, an
  iterator, a list...): `target` is a path or handle to call, or
  `{ref, "method"}` to call a method. Nothing runs before the stream is
  consumed; Python then runs at most `:window` items (default 32) ahead of the
  consumer. Halting early (`Enum.take/2`) closes the generator (its `finally`
  blocks run). A Python exception is raised as `PyBridge.Error` when the
  stream is consumed; a target the pool's allowlist refuses raises
  `pybridge.NotAllowed` at once. Options: `:pool`, `:session`, `:timeout` (per item),
  `:window`.

      iex> PyBridge.stream("builtins.range", [0, 10, 3]) |> Enum.to_list()
      [0, 3, 6, 9]
      iex> PyBridge.stream("itertools.count") |> Enum.take(3)
      [0, 1, 2]
  """
  @spec stream(target() | {Ref.t(), String.t() | atom()}, list(), kwargs(), keyword()) ::
          Enumerable.t()
  def stream(target, args \\ [], kwargs \\ [], opts \\ []) do
    args!(args, kwargs)
    :ok = options!(opts, [:pool, :session, :timeout, :window, :records])
    opts = Keyword.put_new(opts, :window, 32)

    window = opts[:window]

    case target do
      {%Ref{} = ref, name} ->
        name = name!(name)
        allowed!(opts, ref, {:method, ref, name})

        Client.stream(
          opts,
          ref,
          records(fn id, o -> {:method, id, ref, name, args, kwargs, o} end, opts),
          window
        )

      target ->
        target!(target)
        allowed!(opts, ref_of(target), {:call, target})

        Client.stream(
          opts,
          ref_of(target, args, kwargs),
          records(fn id, o -> {:call, id, target, args, kwargs, o} end, opts),
          window
        )
    end
  end

  ## Handles and sessions

  @doc """
  Frees the object behind `ref` now, instead of when its owner exits.
  Returns `{:ok, count}`, the number of handles freed (0 if it was already).
  Options: `:timeout`.

      iex> {:ok, ns} = PyBridge.create("types.SimpleNamespace")
      iex> PyBridge.release(ns)
      {:ok, 1}
  """
  @spec release(Ref.t(), keyword()) :: result()
  def release(ref, opts \\ []) do
    ref!(ref)
    :ok = options!(opts, [:timeout])

    with {:ok, prepared} <- Client.prepare(opts, ref, self()) do
      # The worker takes handle ids; routing by token made sure they are its own.
      Client.execute(prepared, fn id, _o -> {:release, id, [ref.id]} end)
    end
  end

  @doc """
  Like `release/2`, but returns the count or raises `PyBridge.Error`.

      iex> PyBridge.create!("types.SimpleNamespace") |> PyBridge.release!()
      1
  """
  @spec release!(Ref.t(), keyword()) :: non_neg_integer()
  def release!(ref, opts \\ []), do: unwrap(release(ref, opts))

  @doc """
  Runs `fun` with a session open on one worker, and closes it afterwards
  (also when `fun` raises, or when the calling process exits). Calls given
  `session: session` all go to that worker, and the handles they create
  belong to the session. Returns what `fun` returns; raises `PyBridge.Error`
  if no session can be opened. Options: `:pool`, `:timeout`.

      iex> PyBridge.with_session(fn session ->
      ...>   {:ok, ns} = PyBridge.create("types.SimpleNamespace", [], [n: 1], session: session)
      ...>   PyBridge.attr(ns, "n", session: session)
      ...> end)
      {:ok, 1}
  """
  @spec with_session((Session.t() -> result), keyword()) :: result when result: term()
  def with_session(fun, opts \\ []) when is_function(fun, 1) do
    :ok = options!(opts, [:pool, :timeout])

    case Client.open_session(opts) do
      {:ok, session} ->
        try do
          fun.(session)
        after
          Client.close_session(session)
        end

      {:error, error} ->
        raise error
    end
  end

  ## Workers

  @doc """
  Applies the call `target(*args, **kwargs)` to every worker of the pool:
  to each ready worker now, and to every worker the pool starts from now on
  (replacements included) before it takes calls. Waits for the pool to
  have a ready worker, then returns a map from the token of each worker
  that was ready to its result, `{:ok, value}` or `{:error, error}`
  (workers still starting run the call before they take calls); the call
  is remembered whatever the results. `target` is a dotted path; use
  `deferred/3` in the arguments for objects each worker makes itself (see
  "Pool-wide state"). Options: `:pool`, `:timeout` (per worker).

      iex> {:ok, results} = PyBridge.broadcast("os.environ.setdefault", ["PYBRIDGE_DOC", "1"])
      iex> Enum.all?(Map.values(results), &(&1 == {:ok, "1"}))
      true
  """
  @spec broadcast(String.t(), list(), kwargs(), keyword()) ::
          {:ok, %{optional(String.t()) => result()}} | {:error, Error.t()}
  def broadcast(target, args \\ [], kwargs \\ [], opts \\ []) do
    path!(target, "target")
    args!(args, kwargs)
    :ok = options!(opts, [:pool, :timeout])
    pool = opts[:pool] || PyBridge
    call = {target, args, kwargs}

    # A pool that cannot start workers says why, instead of remembering silently.
    with :ok <- PyBridge.Pool.Manager.await_worker(pool, opts[:timeout]),
         {:ok, conns} <- PyBridge.Setup.remember(pool, call) do
      # Results that are not plain data are handles of the caller.
      {:ok,
       Map.new(conns, fn conn ->
         timeout = opts[:timeout] || conn.timeout
         {conn.token, run_on(conn, timeout, &PyBridge.Setup.frame(&1, call, true, &2))}
       end)}
    end
  end

  @doc """
  Like `broadcast/4`, but returns the map of each worker's value, or raises
  the first worker's `PyBridge.Error`.

      iex> PyBridge.broadcast!("os.environ.setdefault", ["PYBRIDGE_DOC", "1"]) |> Map.values() |> Enum.uniq()
      ["1"]
  """
  @spec broadcast!(String.t(), list(), kwargs(), keyword()) :: %{optional(String.t()) => term()}
  def broadcast!(target, args \\ [], kwargs \\ [], opts \\ []) do
    results = unwrap(broadcast(target, args, kwargs, opts))
    Map.new(results, fn {token, result} -> {token, unwrap(result)} end)
  end

  @doc """
  A call made later, on each worker, for the arguments of `:setup` calls
  and of `broadcast/4`: its result takes its place on the worker that runs
  it (see `PyBridge.Deferred`).

      iex> PyBridge.deferred("dspy.LM", ["openai/gpt-4o-mini"], temperature: 0.0)
      %PyBridge.Deferred{target: "dspy.LM", args: ["openai/gpt-4o-mini"], kwargs: [temperature: 0.0]}
  """
  @spec deferred(String.t(), list(), kwargs()) :: PyBridge.Deferred.t()
  def deferred(target, args \\ [], kwargs \\ []) do
    path!(target, "target")
    args!(args, kwargs)
    %PyBridge.Deferred{target: target, args: args, kwargs: kwargs}
  end

  @doc """
  Imports the module `name` in every ready worker of the pool (or in the
  session's worker). Returns `{:ok, nil}`. Workers started later do not see
  it: use the `:imports` pool option for modules every worker needs.
  Options: `:pool`, `:session`, `:timeout`.

      iex> PyBridge.import_module("json")
      {:ok, nil}
      iex> {:error, %PyBridge.Error{type: "builtins.ModuleNotFoundError"}} =
      ...>   PyBridge.import_module("no_such_module_here")
  """
  @spec import_module(String.t(), keyword()) :: result()
  def import_module(name, opts \\ []) do
    path!(name, "name")

    with :ok <- Policy.check(opts, nil, {:import, name}) do
      each_worker(opts, fn conn, timeout ->
        run_on(conn, timeout, fn id, _o -> {:import, id, name} end)
      end)
      |> Enum.find({:ok, nil}, &match?({:error, _}, &1))
    end
  end

  @doc """
  Like `import_module/2`, but returns `nil` or raises `PyBridge.Error`.

      iex> PyBridge.import_module!("os")
      nil
  """
  @spec import_module!(String.t(), keyword()) :: nil
  def import_module!(name, opts \\ []), do: unwrap(import_module(name, opts))

  @doc """
  Statistics of every ready worker of the pool on every connected node (or
  of the session's worker): a list of maps with `:handles` (live handles),
  `:scopes`, `:in_flight`, `:threads` (its serving threads),
  `:idle_threads` (those waiting for work), `:max_rss_kb`, `:requests`, `:pid`
  (its OS pid), `:worker` (its token) and `:node` (the BEAM node it runs on).
  Options: `:pool`, `:session`, `:timeout`.

      iex> {:ok, [%{handles: handles} | _]} = PyBridge.stats()
      iex> is_integer(handles)
      true
  """
  @spec stats(keyword()) :: {:ok, [map()]} | {:error, Error.t()}
  def stats(opts \\ []) do
    results =
      each_worker(opts, fn conn, timeout ->
        with {:ok, stats} when is_map(stats) <-
               run_on(conn, timeout, fn id, _o -> {:stats, id} end) do
          {:ok, Map.merge(stats, %{worker: conn.token, node: node(conn.pid)})}
        end
      end)

    case Enum.find(results, &match?({:error, _}, &1)) do
      nil -> {:ok, Enum.map(results, fn {:ok, stats} -> stats end)}
      error -> error
    end
  end

  @doc """
  Like `stats/1`, but returns the list or raises `PyBridge.Error`.

      iex> PyBridge.stats!() |> Enum.all?(&is_integer(&1.pid))
      true
  """
  @spec stats!(keyword()) :: [map()]
  def stats!(opts \\ []), do: unwrap(stats(opts))

  @doc """
  Sends a ping through one worker (the least loaded, or the session's) and
  returns the round trip time in microseconds. Options: `:pool`, `:session`,
  `:timeout`.

      iex> {:ok, microseconds} = PyBridge.ping()
      iex> is_integer(microseconds)
      true
  """
  @spec ping(keyword()) :: {:ok, non_neg_integer()} | {:error, Error.t()}
  def ping(opts \\ []) do
    :ok = options!(opts, [:pool, :session, :timeout])

    with {:ok, prepared} <- Client.prepare(opts, nil, self()) do
      start = System.monotonic_time()

      with {:ok, _} <- Client.execute(prepared, fn id, _o -> {:ping, id, start} end) do
        {:ok, System.convert_time_unit(System.monotonic_time() - start, :native, :microsecond)}
      end
    end
  end

  @doc """
  Like `ping/1`, but returns the microseconds or raises `PyBridge.Error`.

      iex> PyBridge.ping!() >= 0
      true
  """
  @spec ping!(keyword()) :: non_neg_integer()
  def ping!(opts \\ []), do: unwrap(ping(opts))

  ## Helpers

  defp request(opts, ref, access, build) do
    :ok = options!(opts, @call_opts)
    build = records(build, opts)
    policy = Policy.lookup(opts, ref)

    if policy == nil and opts[:idempotent] != true and opts[:retry] == nil do
      direct(opts, ref, build)
    else
      Policy.request(policy, opts, ref, access, build)
    end
  end

  defp direct(opts, ref, build) do
    # Routed here, so the handles belong to the caller even when a Task does the work.
    prepared = Client.prepare(opts, ref, Client.owner())

    run = fn ->
      with {:ok, prepared} <- prepared, do: Client.execute(prepared, build)
    end

    if opts[:async], do: Task.async(run), else: PyBridge.Affinity.note(run.(), opts)
  end

  # Streams raise, as they do for any error found when they start.
  defp allowed!(opts, ref, access) do
    with {:error, error} <- Policy.check(opts, ref, access), do: raise(error)
  end

  # `records: :map` travels in the request's options, which the worker reads.
  defp records(build, opts) do
    if opts[:records] == :map,
      do: fn id, o -> build.(id, Map.put(o, :records, :map)) end,
      else: build
  end

  defp run_on(conn, timeout, build), do: Client.execute(Client.on(conn, timeout), build)

  defp each_worker(opts, fun) do
    :ok = options!(opts, [:pool, :session, :timeout])

    conns =
      case opts[:session] do
        %Session{worker: conn} ->
          {:ok, [conn]}

        nil ->
          pool = opts[:pool] || PyBridge

          with {:ok, conn} <- Router.checkout(pool, opts[:timeout]) do
            {:ok, Enum.uniq([conn | Router.cluster_workers(pool)])}
          end
      end

    case conns do
      {:ok, conns} -> Enum.map(conns, &fun.(&1, opts[:timeout] || &1.timeout))
      {:error, _} = error -> [error]
    end
  end

  defp unwrap({:ok, value}), do: value
  defp unwrap({:error, %Error{} = error}), do: raise(error)

  defp no_async!(opts, fun) do
    if is_list(opts) and opts[:async] do
      raise ArgumentError, "#{fun} does not take async: true; use the non-bang variant"
    end

    opts
  end

  # Checks the caller's options in one pass (this runs on every call);
  # unknown keys are reported as `Keyword.validate!/2` does.
  @spec options!(keyword(), [atom()]) :: :ok
  defp options!(opts, allowed) when is_list(opts) do
    Enum.each(opts, fn
      {key, value} when is_atom(key) ->
        if key in allowed, do: option!(key, value), else: unknown_options!(opts, allowed)

      _ ->
        not_options!(opts)
    end)
  end

  defp options!(opts, _allowed), do: not_options!(opts)

  @spec not_options!(term()) :: no_return()
  defp not_options!(opts),
    do: raise(ArgumentError, "expected options as a keyword list, got: #{inspect(opts)}")

  defp option!(:pool, pool) when is_atom(pool), do: :ok
  defp option!(:session, session) when is_struct(session, Session) or is_nil(session), do: :ok
  defp option!(:timeout, timeout) when timeout in [:infinity, nil], do: :ok
  defp option!(:timeout, timeout) when is_integer(timeout) and timeout >= 0, do: :ok
  defp option!(:async, async) when is_boolean(async), do: :ok
  defp option!(:window, window) when is_integer(window) and window > 0, do: :ok
  defp option!(:records, records) when records in [:map, :handle], do: :ok

  defp option!(:records, records),
    do: raise(ArgumentError, "records must be :map or :handle, got: #{inspect(records)}")

  defp option!(:idempotent, idempotent) when is_boolean(idempotent), do: :ok

  defp option!(:retry, retry) when is_list(retry) do
    # Checked in full by PyBridge.Policy.Retry when the call runs.
    if Keyword.keyword?(retry),
      do: :ok,
      else: raise(ArgumentError, "retry must be a keyword list, got: #{inspect(retry)}")
  end

  defp option!(:window, window),
    do: raise(ArgumentError, "window must be a positive integer, got: #{inspect(window)}")

  defp option!(key, value),
    do: raise(ArgumentError, "invalid #{key} option, got: #{inspect(value)}")

  @spec unknown_options!(keyword(), [atom()]) :: no_return()
  defp unknown_options!(opts, allowed) do
    unknown = for {key, _} <- opts, key not in allowed, uniq: true, do: key

    raise ArgumentError,
          "unknown keys #{inspect(unknown)} in #{inspect(opts)}, the allowed keys are: #{inspect(allowed)}"
  end

  defp ref_of(%Ref{} = ref), do: ref
  defp ref_of(_path), do: nil

  # A request goes to the worker of the handle it targets, else of the first
  # handle among its arguments (top level only: the scan runs on every call).
  defp ref_of(%Ref{} = ref, _args, _kwargs), do: ref

  defp ref_of(_target, args, kwargs) do
    Enum.find(args, &is_struct(&1, Ref)) ||
      Enum.find_value(kwargs, fn {_key, value} -> if is_struct(value, Ref), do: value end)
  end

  defp target!(%Ref{}), do: :ok
  defp target!(path), do: path!(path, "target")

  defp path!(path, _what) when is_binary(path) and path != "", do: :ok

  defp path!(other, what) do
    raise ArgumentError,
          "#{what} must be a dotted path (\"module.name\") or a PyBridge.Ref, got: #{inspect(other)}"
  end

  defp ref!(%Ref{}), do: :ok
  defp ref!(other), do: raise(ArgumentError, "expected a PyBridge.Ref, got: #{inspect(other)}")

  defp name!(name) when is_binary(name) and name != "", do: name
  defp name!(name) when is_atom(name) and not is_nil(name), do: Atom.to_string(name)
  defp name!(other), do: raise(ArgumentError, "expected a name, got: #{inspect(other)}")

  defp args!(args, kwargs) do
    unless is_list(args), do: raise(ArgumentError, "args must be a list, got: #{inspect(args)}")

    unless is_list(kwargs) or is_map(kwargs) do
      raise ArgumentError, "kwargs must be a keyword list or a map, got: #{inspect(kwargs)}"
    end

    :ok
  end
end
