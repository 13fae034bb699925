defmodule PyBridge.Config do
  @moduledoc false
  # A pool's options, validated once at pool start into a struct the pool
  # manager and its workers share, and the knowledge of how to start Python:
  # which executable, which PYTHONPATH (the repository root holding
  # `pybridge_port/`, found at run time, see `root/0`, then the configured
  # extra paths) and which worker flags.

  # Where this file was compiled: the last resort of `root/0`.
  @compiled_root Path.expand("../../../..", __DIR__)

  # What a worker inherits from the BEAM's environment by default
  # (`:inherit_env`): enough for Python, locale and temporary files, nothing
  # that carries secrets or changes how Python starts (PYTHON*).
  @passthrough_env ~w(PATH HOME LANG LC_ALL LC_CTYPE TZ TMPDIR)

  @defaults [
    name: PyBridge,
    python: nil,
    python_path: [],
    env: [],
    pool_size: 2,
    threads: 8,
    timeout: 30_000,
    startup_timeout: 30_000,
    imports: [],
    setup: [],
    max_frame: 64 * 1024 * 1024,
    export_to_python: [],
    output: :logger,
    cancel_grace: 10_000,
    # Policies (PyBridge.Policy and PyBridge.Policy.*; documented in PyBridge).
    allow: nil,
    retry: nil,
    circuit_breaker: nil,
    limits: [],
    cwd: nil,
    read_only_cwd: false,
    user: nil,
    inherit_env: @passthrough_env,
    reload: false
  ]

  @enforce_keys Keyword.keys(@defaults)
  defstruct @enforce_keys

  @type export :: {module(), atom(), non_neg_integer(), String.t()}
  @type output :: :logger | {:logger, Logger.level()} | atom() | pid()
  @type t :: %__MODULE__{
          name: atom(),
          python: String.t() | nil,
          python_path: [String.t()],
          env: [{String.t(), String.t() | nil}],
          pool_size: non_neg_integer(),
          threads: pos_integer(),
          timeout: timeout(),
          startup_timeout: pos_integer(),
          imports: [String.t()],
          setup: [PyBridge.Setup.entry()],
          max_frame: pos_integer(),
          export_to_python: [export()],
          output: output(),
          cancel_grace: pos_integer() | :infinity,
          allow: PyBridge.Policy.Allowlist.t() | nil,
          retry: PyBridge.Policy.Retry.t() | nil,
          circuit_breaker: PyBridge.Policy.CircuitBreaker.t() | nil,
          limits: keyword(),
          cwd: String.t() | nil,
          read_only_cwd: boolean(),
          user: String.t() | nil,
          inherit_env: boolean() | [String.t()],
          reload: boolean() | pos_integer()
        }

  @doc """
  Application settings that are defaults for every pool (not pool options:
  `:default_pool`, and `:specs`, which the `:pybridge` compiler reads).
  """
  @spec app_defaults() :: keyword()
  def app_defaults do
    :pybridge
    |> Application.get_all_env()
    |> Keyword.drop([:default_pool, :specs])
  end

  @spec new!(keyword()) :: t()
  def new!(opts) when is_list(opts) do
    opts = Keyword.validate!(opts, @defaults)

    config = %__MODULE__{
      name: check(opts, :name, &is_atom/1, "an atom"),
      python: check(opts, :python, &(is_nil(&1) or non_empty_string?(&1)), "a path or nil"),
      python_path: check(opts, :python_path, &list_of_strings?/1, "a list of strings"),
      env: env!(opts[:env]),
      pool_size:
        check(
          opts,
          :pool_size,
          &(is_integer(&1) and &1 >= 0),
          "a non-negative integer (0: callers only, workers on other nodes)"
        ),
      threads: check(opts, :threads, &pos_integer?/1, "a positive integer"),
      timeout:
        check(
          opts,
          :timeout,
          &(pos_integer?(&1) or &1 == :infinity),
          "a positive integer or :infinity"
        ),
      startup_timeout: check(opts, :startup_timeout, &pos_integer?/1, "a positive integer"),
      imports: check(opts, :imports, &list_of_strings?/1, "a list of module names"),
      setup: setup!(opts[:setup]),
      max_frame: check(opts, :max_frame, &pos_integer?/1, "a positive integer (bytes)"),
      export_to_python:
        check(
          opts,
          :export_to_python,
          &exports?/1,
          "a list of {Module, :function, arity, \"python_name\"} with unique names"
        ),
      output: check(opts, :output, &output?/1, ":logger, {:logger, level} or an IO device"),
      cancel_grace:
        check(
          opts,
          :cancel_grace,
          &(pos_integer?(&1) or &1 == :infinity),
          "a positive integer (ms) or :infinity"
        ),
      allow: PyBridge.Policy.Allowlist.new!(opts[:name], opts[:allow]),
      retry: if(opts[:retry], do: PyBridge.Policy.Retry.new!(opts[:retry])),
      circuit_breaker:
        PyBridge.Policy.CircuitBreaker.new!(opts[:name], opts[:circuit_breaker], opts[:timeout]),
      limits: PyBridge.Policy.Limits.new!(opts[:limits]),
      cwd: check(opts, :cwd, &(is_nil(&1) or non_empty_string?(&1)), "a directory path or nil"),
      read_only_cwd: check(opts, :read_only_cwd, &is_boolean/1, "a boolean"),
      user: check(opts, :user, &(is_nil(&1) or non_empty_string?(&1)), "an OS user name or nil"),
      inherit_env:
        check(
          opts,
          :inherit_env,
          &(is_boolean(&1) or list_of_strings?(&1)),
          "true, false or a list of variable names"
        ),
      reload:
        check(
          opts,
          :reload,
          &(is_boolean(&1) or pos_integer?(&1)),
          "true, false or a poll interval in ms (a positive integer)"
        )
    }

    if config.reload != false and config.python_path == [] do
      raise ArgumentError,
            "reload: #{inspect(config.reload)} watches the :python_path directories, " <>
              "but python_path is empty"
    end

    config
  end

  def new!(opts) do
    raise ArgumentError, "PyBridge options must be a keyword list, got: #{inspect(opts)}"
  end

  defp check(opts, key, valid?, expected) do
    value = Keyword.fetch!(opts, key)

    if valid?.(value) do
      value
    else
      raise ArgumentError, "#{key} must be #{expected}, got: #{inspect(value)}"
    end
  end

  defp env!(env) when is_map(env), do: env!(Map.to_list(env))

  defp env!(env) when is_list(env) do
    Enum.map(env, fn
      {key, value}
      when (is_binary(key) or is_atom(key)) and (is_binary(value) or is_nil(value)) ->
        {to_string(key), value}

      other ->
        raise ArgumentError,
              "env must be a map or list of {name, value | nil} strings, got entry: #{inspect(other)}"
    end)
  end

  defp env!(env) do
    raise ArgumentError,
          "env must be a map or list of {name, value | nil} strings, got: #{inspect(env)}"
  end

  defp setup!(entries) when is_list(entries) do
    Enum.each(entries, fn
      {target, args, kwargs}
      when is_binary(target) and target != "" and is_list(args) and
             (is_list(kwargs) or is_map(kwargs)) ->
        :ok

      {module, function, args} when is_atom(module) and is_atom(function) and is_list(args) ->
        :ok

      other ->
        raise ArgumentError,
              "setup must be a list of {\"module.function\", args, kwargs} calls or " <>
                "{Module, :function, args} returning such calls, got entry: #{inspect(other)}"
    end)

    entries
  end

  defp setup!(other) do
    raise ArgumentError,
          "setup must be a list of {\"module.function\", args, kwargs} calls or " <>
            "{Module, :function, args} returning such calls, got: #{inspect(other)}"
  end

  defp pos_integer?(value), do: is_integer(value) and value > 0
  defp non_empty_string?(value), do: is_binary(value) and value != ""
  defp list_of_strings?(value), do: is_list(value) and Enum.all?(value, &non_empty_string?/1)

  defp exports?(exports) when is_list(exports) do
    Enum.all?(exports, fn
      {mod, fun, arity, name} ->
        is_atom(mod) and is_atom(fun) and is_integer(arity) and arity >= 0 and
          non_empty_string?(name)

      _ ->
        false
    end) and
      length(Enum.uniq_by(exports, &elem(&1, 3))) == length(exports)
  end

  defp exports?(_), do: false

  defp output?(:logger), do: true

  defp output?({:logger, level}),
    do: level in [:emergency, :alert, :critical, :error, :warning, :notice, :info, :debug]

  defp output?(device), do: is_pid(device) or (is_atom(device) and not is_nil(device))

  @doc """
  The Python executable: the `:python` option, else `PYBRIDGE_PYTHON`, else
  `.venv/bin/python` in the repository root, else `python3` on the PATH.
  """
  @spec python(t()) :: String.t()
  def python(%__MODULE__{python: python}) do
    venv = Path.join(root(), ".venv/bin/python")

    cond do
      python != nil -> executable(python)
      (env = System.get_env("PYBRIDGE_PYTHON")) not in [nil, ""] -> executable(env)
      File.exists?(venv) -> venv
      true -> System.find_executable("python3") || "python3"
    end
  end

  defp executable(python) do
    if String.contains?(python, "/"),
      do: Path.expand(python),
      else: System.find_executable(python) || python
  end

  @doc "Arguments of `python` that start a worker."
  @spec args(t()) :: [String.t()]
  def args(%__MODULE__{} = config) do
    ["-m", "pybridge_port", "--output", "frames"] ++
      ["--threads", Integer.to_string(config.threads)] ++
      ["--max-frame", Integer.to_string(config.max_frame)] ++
      PyBridge.Policy.Limits.args(config.limits) ++
      if(config.cwd, do: ["--cwd", Path.expand(config.cwd)], else: []) ++
      if(config.user, do: ["--user", config.user], else: []) ++
      if(config.read_only_cwd, do: ["--read-only-cwd"], else: [])
  end

  @doc """
  The worker's environment changes: the BEAM's variables it does not inherit
  (`:inherit_env`) are unset, then `:env` is applied; PYTHONPATH gets the
  repository root (when it holds `pybridge_port/`) and the extra paths in
  front of what it was (the BEAM's only if inherited); the current directory
  is not put on `sys.path` (PYTHONSAFEPATH); output is unbuffered so prints
  reach Logger when they happen.
  """
  @spec env(t()) :: [{String.t(), String.t() | nil}]
  def env(%__MODULE__{} = config) do
    inherited = inherited?(config.inherit_env)

    existing =
      case List.keyfind(config.env, "PYTHONPATH", 0) do
        {_, value} -> value
        nil -> if inherited.("PYTHONPATH"), do: System.get_env("PYTHONPATH")
      end

    configured = Enum.map(config.env, &elem(&1, 0))

    unset =
      for {name, _} <- System.get_env(),
          not inherited.(name) and name not in configured and name != "PYTHONPATH",
          do: {name, nil}

    root = root()
    root = if File.exists?(Path.join(root, "pybridge_port/__main__.py")), do: [root]
    paths = Enum.reject(List.wrap(root) ++ config.python_path ++ [existing], &(&1 in [nil, ""]))

    # With reload, no bytecode is written: a cached .pyc is trusted when its
    # source has the same size and mtime (seconds), which an edit can keep.
    no_pyc = if config.reload != false, do: [{"PYTHONDONTWRITEBYTECODE", "1"}], else: []

    unset ++
      [{"PYTHONUNBUFFERED", "1"}, {"PYTHONSAFEPATH", "1"} | no_pyc] ++
      List.keydelete(config.env, "PYTHONPATH", 0) ++
      [{"PYTHONPATH", Enum.join(paths, ":")}]
  end

  defp inherited?(true), do: fn _name -> true end
  defp inherited?(false), do: fn _name -> false end
  defp inherited?(names), do: &(&1 in names)

  @doc """
  The PyBridge repository root (the folder holding `pybridge_port/`), found
  when a pool starts, not when this module was compiled, so a checkout that
  was copied or moved with its `_build` runs its own Python: `PYBRIDGE_ROOT`,
  else the tree holding this module's compiled file, else where it was
  compiled.
  """
  @spec root() :: String.t()
  def root do
    [System.get_env("PYBRIDGE_ROOT"), root_of(:code.which(__MODULE__))]
    |> Enum.find(&(is_binary(&1) and worker_root?(&1)))
    |> Kernel.||(@compiled_root)
  end

  @doc "The nearest folder above `path` that holds `pybridge_port/__main__.py`, or nil."
  @spec root_of(term()) :: String.t() | nil
  def root_of(path) when is_list(path), do: root_of(List.to_string(path))

  def root_of(path) when is_binary(path) do
    path
    |> Path.expand()
    |> Stream.iterate(&Path.dirname/1)
    |> Stream.chunk_every(2, 1)
    |> Enum.find_value(fn
      [dir, dir] -> :none
      [dir, _parent] -> if worker_root?(dir), do: dir
    end)
    |> case do
      :none -> nil
      dir -> dir
    end
  end

  def root_of(_not_a_path), do: nil

  defp worker_root?(dir), do: File.regular?(Path.join(dir, "pybridge_port/__main__.py"))

  @doc "Python names of the exported Elixir functions, as sent in `hello`."
  @spec export_names(t()) :: [String.t()]
  def export_names(%__MODULE__{export_to_python: exports}),
    do: Enum.map(exports, &elem(&1, 3))
end
