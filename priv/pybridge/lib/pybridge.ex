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
    * `:pool_size` - number of worker OS processes (default 2);
    * `:threads` - requests each worker runs at once (`--threads`, default 8);
    * `:timeout` - default timeout of a call in ms (default 30_000);
    * `:startup_timeout` - time a worker has to start, ms (default 30_000);
    * `:imports` - modules each worker imports before it takes calls; a
      failing import is a startup failure;
    * `:max_frame` - largest frame in bytes (`--max-frame`, default 64 MiB);
    * `:export_to_python` - `[{Module, :function, arity, "python_name"}]`,
      Elixir functions Python may call as
      `pybridge_port.elixir.call("python_name", *args)`;
    * `:output` - where Python's output (prints, C-level writes, child
      processes) goes: `:logger` (default, level `:info`),
      `{:logger, level}` or an IO device.

  A worker that dies is replaced, and its pending callers get a
  `pybridge.WorkerExited` error. A pool whose workers keep failing to start
  (a bad executable, a startup import that raises) does not crash: calls get a
  `pybridge.WorkerUnavailable` error saying why, and the pool keeps retrying
  with backoff.

  ## Common options

    * `:pool` - the pool to use (default `PyBridge`);
    * `:session` - a `PyBridge.Session` (see `with_session/2`);
    * `:timeout` - ms, or `:infinity` (default: the pool's `:timeout`); past
      it the call returns a `pybridge.Timeout` error and Python is told to
      cancel it;
    * `:async` - `true` returns a `Task` whose result is `{:ok, value}` or
      `{:error, error}`.

  ## Handles

  A handle belongs to the process that created it, or to the session it was
  created in; when that process exits (or the session closes) the worker
  frees the object. `release/2` frees one sooner. Handles of a worker that
  died are refused with a `pybridge.StaleHandle` error.

  ## Callbacks

  An Elixir function passed as an argument is a Python callable on the other
  side; calling it runs the function in Elixir (in a new process) and returns
  its result. An exception it raises is raised in Python.

      iex> PyBridge.call("builtins.sorted", [["bb", "a", "ccc"]], key: &String.length/1)
      {:ok, ["a", "bb", "ccc"]}
  """

  alias PyBridge.{Client, Config, Error, Pool, Ref, Session}

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
  @type options :: [option()]
  @typedoc "The runtime options of a generated synchronous function (see `elixir_gen`)."
  @type call_option :: {:pool, atom()} | {:session, Session.t()} | {:timeout, timeout()}
  @typedoc "The runtime options of a generated streaming function."
  @type stream_option :: call_option() | {:window, pos_integer()}

  @call_opts [:pool, :session, :timeout, :async]

  ## Supervision

  @doc """
  A child spec for a pool, for your supervision tree. `opts` are the pool
  options above, over the defaults of `config :pybridge, ...`.

      iex> %{id: {PyBridge, MyApp.Python}, type: :supervisor} =
      ...>   PyBridge.child_spec(name: MyApp.Python, pool_size: 1)
      iex> PyBridge.child_spec(pool_size: 0)
      ** (ArgumentError) pool_size must be a positive integer, got: 0
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
    request(opts, ref_of(target), fn id, o -> {:call, id, target, args, kwargs, o} end)
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
    request(opts, nil, fn id, o -> {:create, id, class_path, args, kwargs, o} end)
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
    request(opts, ref, fn id, o -> {:method, id, ref, name, args, kwargs, o} end)
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
    request(opts, ref_of(target), fn id, o -> {:get_attr, id, target, name, o} end)
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
    request(opts, ref, fn id, o -> {:set_attr, id, ref, name, value, o} end)
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
  stream is consumed. Options: `:pool`, `:session`, `:timeout` (per item),
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
    :ok = options!(opts, [:pool, :session, :timeout, :window])
    opts = Keyword.put_new(opts, :window, 32)

    window = opts[:window]

    case target do
      {%Ref{} = ref, name} ->
        name = name!(name)

        Client.stream(
          opts,
          ref,
          fn id, o -> {:method, id, ref, name, args, kwargs, o} end,
          window
        )

      target ->
        target!(target)

        Client.stream(
          opts,
          ref_of(target),
          fn id, o -> {:call, id, target, args, kwargs, o} end,
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

    with {:ok, prepared} <- Client.prepare(opts, ref, self(), false) do
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

    each_worker(opts, fn conn, timeout ->
      run_on(conn, timeout, fn id, _o -> {:import, id, name} end)
    end)
    |> Enum.find({:ok, nil}, &match?({:error, _}, &1))
  end

  @doc """
  Like `import_module/2`, but returns `nil` or raises `PyBridge.Error`.

      iex> PyBridge.import_module!("os")
      nil
  """
  @spec import_module!(String.t(), keyword()) :: nil
  def import_module!(name, opts \\ []), do: unwrap(import_module(name, opts))

  @doc """
  Statistics of every ready worker of the pool (or of the session's worker):
  a list of maps with `:handles` (live handles), `:scopes`, `:in_flight`,
  `:threads`, `:max_rss_kb`, `:requests`, `:pid` (its OS pid) and `:worker`
  (its token). Options: `:pool`, `:session`, `:timeout`.

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
          {:ok, Map.put(stats, :worker, conn.token)}
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

    with {:ok, prepared} <- Client.prepare(opts, nil, self(), false) do
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

  defp request(opts, ref, build) do
    :ok = options!(opts, @call_opts)
    # Routed and registered here, so the handles belong to the caller (which
    # the worker monitors once, not once per Task) even when a Task does the work.
    prepared = Client.prepare(opts, ref, Client.owner())

    run = fn ->
      with {:ok, prepared} <- prepared, do: Client.execute(prepared, build)
    end

    if opts[:async], do: Task.async(run), else: run.()
  end

  defp run_on(conn, timeout, build) do
    prepared = %{conn: conn, owner: self(), scope: self(), timeout: timeout, ref: nil}
    Client.execute(prepared, build)
  end

  defp each_worker(opts, fun) do
    :ok = options!(opts, [:pool, :session, :timeout])

    conns =
      case opts[:session] do
        %Session{worker: conn} ->
          {:ok, [conn]}

        nil ->
          pool = opts[:pool] || PyBridge

          with {:ok, conn} <- Client.checkout(pool, opts[:timeout]) do
            {:ok, Enum.uniq([conn | Client.workers(pool)])}
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
