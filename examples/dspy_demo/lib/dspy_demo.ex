defmodule DSPyDemo do
  @moduledoc """
  The demo's flows, one function per DSPy feature, each written the way an
  application would use the generated `DSPex` modules.

  Every flow runs in the calling process, on any worker of the pool: the
  handles a process creates stay on one worker (see `PyBridge`), and DSPy
  is configured for the whole pool once (`DSPyDemo.CLI`). Tools and
  metrics are plain Elixir functions. A flow takes the options `:lm` (a
  `DSPex.LM` or `DSPex.DummyLM` handle given to the flow's programs with
  `DSPex.Module.set_lm/3`; `nil`, the default, uses the configured LM) and
  `:session` (optional: a `PyBridge.Session` to run in). It returns a map of
  what happened, built from what DSPy returned. `DSPyDemo.CLI` runs them in
  order and prints them; `DSPyDemo.Script` holds the answers an offline
  `DSPex.DummyLM` gives.
  """

  @typedoc "What a flow did: its inputs and what DSPy (and the Elixir callbacks) returned."
  @type result :: %{required(atom()) => term()}

  @doc "The question the `predict/1` flow asks."
  @spec predict_question() :: String.t()
  def predict_question, do: "What is the capital of France?"

  @doc "The question the `chain_of_thought/1` flow asks."
  @spec reasoning_question() :: String.t()
  def reasoning_question,
    do: "Ada has 3 apples and buys 2 bags of 4 apples each. How many apples does she have?"

  @doc "The questions the ReAct agent answers: in `react/1`, and streamed in `stream/1`."
  @spec agent_questions() :: %{react: String.t(), stream: String.t()}
  def agent_questions,
    do: %{react: "What is 1234 times 5678?", stream: "What is 12 times 12?"}

  @doc "Training examples for `bootstrap/1`: `{question, answer}`."
  @spec trainset() :: [{String.t(), String.t()}]
  def trainset do
    [
      {"What is 7 + 5?", "12"},
      {"What is 9 + 8?", "17"},
      {"What is 6 + 6?", "12"},
      {"What is 4 + 9?", "13"}
    ]
  end

  @doc "Held-out examples the compiled program is evaluated on in `bootstrap/1`."
  @spec devset() :: [{String.t(), String.t()}]
  def devset, do: [{"What is 3 + 8?", "11"}, {"What is 5 + 5?", "10"}]

  @doc """
  `DSPex.Predict` with the signature `"question -> answer"`: one LM call,
  the prediction turned into a map.
  """
  @spec predict(keyword()) :: result()
  def predict(opts \\ []) do
    {lm, call} = options!(opts)
    qa = DSPex.Predict.create!("question -> answer", call)
    with_lm(qa, lm, call)

    prediction = DSPex.Predict.call!(qa, [question: predict_question()] ++ call)
    %{question: predict_question(), prediction: DSPex.Prediction.to_dict!(prediction, call)}
  end

  @doc """
  `DSPex.ChainOfThought`: the prediction has the LM's `reasoning` before the
  answer. The signature is a `DSPex.Signature` with instructions.
  """
  @spec chain_of_thought(keyword()) :: result()
  def chain_of_thought(opts \\ []) do
    {lm, call} = options!(opts)

    signature =
      DSPex.Signature.create!(
        "question -> answer: int",
        [instructions: "Answer with a number; show the arithmetic."] ++ call
      )

    cot = DSPex.ChainOfThought.create!(signature, call)
    with_lm(cot, lm, call)

    prediction = DSPex.ChainOfThought.call!(cot, [question: reasoning_question()] ++ call)

    %{
      question: reasoning_question(),
      instructions: DSPex.Signature.instructions!(signature, call),
      prediction: DSPex.Prediction.to_dict!(prediction, call)
    }
  end

  @doc """
  `DSPex.ReAct` with a tool written in Elixir (`DSPyDemo.Tools.multiply/2`,
  passed as it is): the LM picks the tool and its arguments, Elixir computes
  the result, the LM answers. `:tool_calls` lists the arguments of each call
  of the tool, from the agent's trajectory.
  """
  @spec react(keyword()) :: result()
  def react(opts \\ []) do
    {lm, call} = options!(opts)
    agent = agent!(call)
    with_lm(agent, lm, call)

    question = agent_questions().react

    prediction =
      DSPex.ReAct.call!(agent, [question: question] ++ call) |> DSPex.Prediction.to_dict!(call)

    %{
      question: question,
      prediction: prediction,
      tool_calls: tool_calls(prediction["trajectory"])
    }
  end

  @doc """
  `DSPex.BootstrapFewShot` with a metric written in Elixir: DSPy runs the
  program over `trainset/0`, the metric judges every prediction, and the
  traces it accepts become the compiled program's demos. The compiled
  program is then scored on `devset/0` with `DSPex.Evaluate` (same metric).
  """
  @spec bootstrap(keyword()) :: result()
  def bootstrap(opts \\ []) do
    {lm, call} = options!(opts)

    with_recorder(fn recorder ->
      # DSPy calls it with the example, the prediction and (while it
      # bootstraps) the trace; Evaluate passes no trace, which arrives as nil.
      metric = fn example, prediction, _trace ->
        question = DSPex.Example.get!(example, "question", call)
        answer = DSPex.Prediction.get!(prediction, "answer", call)
        verdict = normalize(DSPex.Example.get!(example, "answer", call)) == normalize(answer)
        record(recorder, %{question: question, answer: answer, verdict: verdict})
        verdict
      end

      student = DSPex.Predict.create!("question -> answer", call)
      with_lm(student, lm, call)

      # The teacher (a fresh copy of the student) runs with the settings in
      # teacher_settings, so the flow's LM goes there as well.
      optimizer =
        DSPex.BootstrapFewShot.create!(
          [
            metric: metric,
            max_bootstrapped_demos: 4,
            max_labeled_demos: 4,
            teacher_settings: if(lm, do: %{lm: lm}, else: %{})
          ] ++ call
        )

      compiled =
        DSPex.BootstrapFewShot.compile!(optimizer, student, examples!(trainset(), call), call)

      bootstrap_calls = recorded(recorder)
      # Compiling resets the student's settings; the compiled program needs its LM again.
      with_lm(compiled, lm, call)

      evaluate =
        DSPex.Evaluate.create!(
          examples!(devset(), call),
          [metric: metric, num_threads: 2] ++ call
        )

      evaluation = DSPex.Evaluate.call!(evaluate, compiled, call)

      %{
        metric_calls: bootstrap_calls,
        demos: DSPex.Predict.dump_state!(compiled, call)["demos"],
        score: DSPex.EvaluationResult.score!(evaluation, call),
        evaluated: length(recorded(recorder)) - length(bootstrap_calls)
      }
    end)
  end

  @doc """
  The ReAct agent of `react/1`, run through `DSPex.streamify/2`: an Elixir
  `Stream` of status messages as the tool is called, chunks of the answer
  when the LM streams, and the final prediction (each item a handle, made a
  map here). `:events` lists them in the order they arrived, with the
  milliseconds since the run started.
  """
  @spec stream(keyword()) :: result()
  def stream(opts \\ []) do
    {lm, call} = options!(opts)
    agent = agent!(call)
    with_lm(agent, lm, call)
    question = agent_questions().stream
    started = System.monotonic_time(:millisecond)

    listener = DSPex.StreamListener.create!("answer", call)

    # With async_streaming: false, the streamer returns a plain generator.
    streamer =
      DSPex.streamify!(agent, [stream_listeners: [listener], async_streaming: false] ++ call)

    events =
      {streamer, "__call__"}
      |> PyBridge.stream([], [question: question], call)
      |> Enum.map(
        &(&1
          |> event(call)
          |> Map.put("at_ms", System.monotonic_time(:millisecond) - started))
      )

    prediction = List.last(events)["prediction"]
    %{question: question, events: events, tool_calls: tool_calls(prediction["trajectory"])}
  end

  ## Helpers

  defp options!(opts) do
    opts = Keyword.validate!(opts, [:session, lm: nil])
    {opts[:lm], Keyword.take(opts, [:session])}
  end

  defp with_lm(_program, nil, _call), do: :ok
  defp with_lm(program, lm, call), do: DSPex.Module.set_lm!(program, lm, call)

  # DSPy reads the tool's name, description and argument types from the
  # Elixir function and its @doc and @spec.
  defp agent!(call) do
    DSPex.ReAct.create!(
      "question -> answer",
      [&DSPyDemo.Tools.multiply/2],
      [max_iters: 5] ++ call
    )
  end

  # `%{"a" => 1234, "b" => 5678}` for every step of the trajectory that called the tool.
  defp tool_calls(trajectory) when is_map(trajectory) do
    Stream.iterate(0, &(&1 + 1))
    |> Enum.take_while(&Map.has_key?(trajectory, "tool_name_#{&1}"))
    |> Enum.filter(&(trajectory["tool_name_#{&1}"] == "multiply"))
    |> Enum.map(&trajectory["tool_args_#{&1}"])
  end

  defp tool_calls(_), do: []

  # One item of a dspy.streamify stream, as a map tagged by "type".
  defp event(%PyBridge.Ref{type: "dspy.streaming.messages.StatusMessage"} = item, call),
    do: %{"type" => "status", "message" => PyBridge.attr!(item, "message", call)}

  defp event(%PyBridge.Ref{type: "dspy.streaming.messages.StreamResponse"} = item, call) do
    %{
      "type" => "chunk",
      "predictor" => PyBridge.attr!(item, "predict_name", call),
      "field" => PyBridge.attr!(item, "signature_field_name", call),
      "chunk" => PyBridge.attr!(item, "chunk", call),
      "last" => PyBridge.attr!(item, "is_last_chunk", call)
    }
  end

  defp event(%PyBridge.Ref{type: "dspy.primitives.prediction.Prediction"} = item, call),
    do: %{"type" => "prediction", "prediction" => DSPex.Prediction.to_dict!(item, call)}

  defp event(other, _call), do: %{"type" => "other", "value" => other}

  defp examples!(pairs, call) do
    Enum.map(pairs, fn {question, answer} ->
      [question: question, answer: answer]
      |> Kernel.++(call)
      |> DSPex.Example.create!()
      |> DSPex.Example.with_inputs!(["question"], call)
    end)
  end

  # Tools and metrics run in processes of their own (one per call from
  # Python), so what they saw is collected by an Agent.
  defp with_recorder(fun) do
    {:ok, recorder} = Agent.start_link(fn -> [] end)

    try do
      fun.(recorder)
    after
      Agent.stop(recorder)
    end
  end

  defp record(recorder, entry), do: Agent.update(recorder, &[entry | &1])
  defp recorded(recorder), do: recorder |> Agent.get(& &1) |> Enum.reverse()

  defp normalize(value), do: value |> to_string() |> String.trim() |> String.downcase()
end
