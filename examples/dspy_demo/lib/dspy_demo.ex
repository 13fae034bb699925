defmodule DSPyDemo do
  @moduledoc """
  The demo's flows, one function per DSPy feature, each written the way an
  application would use the generated `DSPex` modules.

  Every flow takes the options `:session` (a `PyBridge.Session`: DSPy's
  settings and the handles of one flow must live in one worker) and `:lm`
  (a `DSPex.LM` or `DSPex.DummyLM` handle given to the flow's programs with
  `DSPex.Module.set_lm/3`; `nil`, the default, uses the LM set with
  `DSPex.configure/1`). It returns a map of what happened, built from what
  DSPy returned. `DSPyDemo.CLI` runs them in order and prints them;
  `DSPyDemo.Script` holds the answers an offline `DSPex.DummyLM` gives.
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
  `DSPex.ReAct` with a tool written in Elixir (`multiply/1`): the LM picks
  the tool and its arguments, Elixir computes the result, the LM answers.
  `:tool_calls` lists the arguments the Elixir function received.
  """
  @spec react(keyword()) :: result()
  def react(opts \\ []) do
    {lm, call} = options!(opts)

    with_recorder(fn recorder ->
      agent = agent!(recorder, call)
      with_lm(agent, lm, call)

      question = agent_questions().react
      prediction = DSPex.ReAct.call!(agent, [question: question] ++ call)

      %{
        question: question,
        prediction: DSPex.Prediction.to_dict!(prediction, call),
        tool_calls: recorded(recorder)
      }
    end)
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
      metric =
        DSPex.Interop.metric!(
          fn example, prediction ->
            verdict = normalize(example["answer"]) == normalize(prediction["answer"])

            record(recorder, %{
              question: example["question"],
              answer: prediction["answer"],
              verdict: verdict
            })

            verdict
          end,
          [name: "exact_answer"] ++ call
        )

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
  when the LM streams, and the final prediction. `:events` lists them in
  the order they arrived, with the milliseconds since the run started.
  """
  @spec stream(keyword()) :: result()
  def stream(opts \\ []) do
    {lm, call} = options!(opts)

    with_recorder(fn recorder ->
      agent = agent!(recorder, call)
      with_lm(agent, lm, call)
      question = agent_questions().stream
      started = System.monotonic_time(:millisecond)

      events =
        agent
        |> DSPex.Interop.stream([question: question], [listen: ["answer"]] ++ call)
        |> Enum.map(&Map.put(&1, "at_ms", System.monotonic_time(:millisecond) - started))

      %{question: question, events: events, tool_calls: recorded(recorder)}
    end)
  end

  @doc """
  The agent's tool: multiplies two integers, in Elixir. DSPy calls it with
  the arguments the LM chose, as a map.
  """
  @spec multiply(%{optional(String.t()) => term()}) :: integer()
  def multiply(%{"a" => a, "b" => b}), do: to_integer(a) * to_integer(b)

  ## Helpers

  defp options!(opts) do
    opts = Keyword.validate!(opts, [:session, lm: nil])
    {opts[:lm], Keyword.take(opts, [:session])}
  end

  defp with_lm(_program, nil, _call), do: :ok
  defp with_lm(program, lm, call), do: DSPex.Module.set_lm!(program, lm, call)

  defp agent!(recorder, call) do
    multiply =
      DSPex.Interop.tool!(
        fn args ->
          record(recorder, args)
          multiply(args)
        end,
        [
          name: "multiply",
          desc: "Multiplies two integers exactly.",
          args: %{"a" => %{"type" => "integer"}, "b" => %{"type" => "integer"}}
        ] ++ call
      )

    DSPex.ReAct.create!("question -> answer", [multiply], [max_iters: 5] ++ call)
  end

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

  defp to_integer(value) when is_integer(value), do: value
  defp to_integer(value) when is_binary(value), do: value |> String.trim() |> String.to_integer()
end
