defmodule DSPex.Interop do
  @moduledoc """
  Elixir functions as DSPy tools and metrics, and DSPy streams as Elixir
  streams.

  An Elixir fun passed to Python is a callable taking positional arguments,
  but DSPy calls tools with keyword arguments (and reads their names and
  schemas from their signatures), calls metrics with `dspy.Example` and
  `dspy.Prediction` objects, and streams Python dataclasses. The functions
  here go through `priv/python/dspex_interop.py`, which adapts each, so that
  Elixir code only sees maps:

      multiply =
        DSPex.Interop.tool!(fn %{"a" => a, "b" => b} -> a * b end,
          name: "multiply",
          desc: "Multiplies two integers.",
          args: %{"a" => %{"type" => "integer"}, "b" => %{"type" => "integer"}}
        )

      agent = DSPex.ReAct.create!("question -> answer", [multiply])

      metric = DSPex.Interop.metric!(fn example, prediction -> example["answer"] == prediction["answer"] end)
      optimizer = DSPex.BootstrapFewShot.create!(metric: metric)

  The Python module must be on the pool's `:python_path` (this
  application's `config/config.exs` puts `priv/python` there). Every
  function takes the runtime options `:pool`, `:session` and `:timeout`.
  """

  @runtime_opts [:pool, :session, :timeout]

  @typedoc "An Elixir tool: called with a map of the arguments the LM chose (string keys)."
  @type tool_fun :: (%{optional(String.t()) => term()} -> term())

  @typedoc "An Elixir metric: called with the example and the prediction as maps."
  @type metric_fun :: (map(), map() -> boolean() | number())

  @doc """
  A `DSPex.Tool` whose function is `fun`, for `DSPex.ReAct`.

  Options: `:name` and `:desc` (required: the LM chooses tools by them),
  `:args` (the JSON schema of every argument, e.g.
  `%{"city" => %{"type" => "string"}}`), and the runtime options.

      iex> PyBridge.with_session(fn session ->
      ...>   shout = DSPex.Interop.tool!(&String.upcase(&1["text"]),
      ...>     name: "shout", desc: "Upper-cases text.", args: %{"text" => %{"type" => "string"}},
      ...>     session: session)
      ...>   DSPex.Tool.call!(shout, text: "hello", session: session)
      ...> end)
      "HELLO"
  """
  @spec tool(tool_fun(), keyword()) :: {:ok, DSPex.Tool.t()} | {:error, PyBridge.Error.t()}
  def tool(fun, opts) when is_function(fun, 1) do
    opts = Keyword.validate!(opts, [:name, :desc, args: %{}] ++ @runtime_opts)

    for key <- [:name, :desc], not (is_binary(opts[key]) and opts[key] != "") do
      raise ArgumentError, "#{key} must be a non-empty string, got: #{inspect(opts[key])}"
    end

    unless is_map(opts[:args]) do
      raise ArgumentError, "args must be a map of JSON schemas, got: #{inspect(opts[:args])}"
    end

    PyBridge.call(
      "dspex_interop.tool",
      [fun, opts[:name], opts[:desc], opts[:args]],
      [],
      Keyword.take(opts, @runtime_opts)
    )
  end

  @doc "Like `tool/2`, but returns the tool or raises `PyBridge.Error`."
  @spec tool!(tool_fun(), keyword()) :: DSPex.Tool.t()
  def tool!(fun, opts), do: unwrap(tool(fun, opts))

  @doc """
  A DSPy metric (`metric(example, prediction, trace)`) that calls `fun`
  with the example and the prediction as maps (string keys), for
  `DSPex.BootstrapFewShot`, `DSPex.MIPROv2` and `DSPex.Evaluate`. `fun`
  returns a boolean or a number. Options: `:name` (default
  `"elixir_metric"`, shown by `DSPex.Evaluate`) and the runtime options.

      iex> PyBridge.with_session(fn session ->
      ...>   metric = DSPex.Interop.metric!(&(&1["answer"] == &2["answer"]), session: session)
      ...>   example = DSPex.Example.create!(answer: "4", session: session)
      ...>   prediction = DSPex.Example.create!(answer: "4", session: session)
      ...>   PyBridge.call!(metric, [example, prediction], [], session: session)
      ...> end)
      true
  """
  @spec metric(metric_fun(), keyword()) :: {:ok, PyBridge.Ref.t()} | {:error, PyBridge.Error.t()}
  def metric(fun, opts \\ []) when is_function(fun, 2) do
    opts = Keyword.validate!(opts, [name: "elixir_metric"] ++ @runtime_opts)

    PyBridge.call(
      "dspex_interop.metric",
      [fun],
      [name: opts[:name]],
      Keyword.take(opts, @runtime_opts)
    )
  end

  @doc "Like `metric/2`, but returns the metric or raises `PyBridge.Error`."
  @spec metric!(metric_fun(), keyword()) :: PyBridge.Ref.t()
  def metric!(fun, opts \\ []), do: unwrap(metric(fun, opts))

  @doc """
  Runs `program` on `inputs` (a keyword list of its input fields) through
  `DSPex.streamify/2`, and returns a lazy `Stream` of what it yields, as
  maps:

    * `%{"type" => "status", "message" => text}` - a tool starts or ends;
    * `%{"type" => "chunk", "field" => name, "chunk" => text, "last" => boolean, "predictor" => name}` -
      a piece of a field listed in `:listen`, from an LM that streams;
    * `%{"type" => "prediction", "prediction" => map}` - the result, last.

  Options: `:listen` (output fields to stream in chunks, default `[]`),
  `:window` (see `PyBridge.stream/4`) and the runtime options. The program
  is wrapped when `stream/3` is called; it runs as the stream is consumed.
  """
  @spec stream(DSPex.Module.t(), keyword(), keyword()) :: Enumerable.t()
  def stream(program, inputs, opts \\ []) when is_list(inputs) do
    opts = Keyword.validate!(opts, [:window, listen: []] ++ @runtime_opts)
    call_opts = Keyword.take(opts, @runtime_opts)

    listeners = Enum.map(opts[:listen], &DSPex.StreamListener.create!(to_string(&1), call_opts))

    streamer =
      DSPex.streamify!(
        program,
        [stream_listeners: listeners, async_streaming: false] ++ call_opts
      )

    stream_opts = Keyword.take(opts, [:window, :pool, :session, :timeout])
    PyBridge.stream("dspex_interop.events", [streamer], inputs, stream_opts)
  end

  defp unwrap({:ok, value}), do: value
  defp unwrap({:error, %PyBridge.Error{} = error}), do: raise(error)
end
