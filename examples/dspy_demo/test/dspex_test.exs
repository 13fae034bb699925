defmodule DSPexTest do
  # The generated DSPex modules beyond the demo's flows, against the real
  # worker and real DSPy, offline: every LM here is a scripted DummyLM set
  # on its program (nothing global), each test in a session of its own.
  use ExUnit.Case, async: true

  @moduletag :tmp_dir

  defp in_session(fun), do: PyBridge.with_session(fn session -> fun.(session: session) end)

  defp examples!(pairs, call) do
    for {question, answer} <- pairs do
      DSPex.Example.create!([question: question, answer: answer] ++ call)
      |> DSPex.Example.with_inputs!(["question"], call)
    end
  end

  defp counting_metric(call) do
    {:ok, seen} = Agent.start_link(fn -> [] end)

    # A plain Elixir function; DSPy passes the trace (nil from Evaluate).
    metric = fn example, prediction, _trace ->
      example = DSPex.Example.to_dict!(example, call)
      prediction = DSPex.Prediction.to_dict!(prediction, call)
      Agent.update(seen, &[{example["question"], prediction["answer"]} | &1])
      example["answer"] == prediction["answer"]
    end

    {metric, seen}
  end

  describe "DSPex.LM" do
    test "create/2 makes a LiteLLM model without calling it; copy/2 changes settings" do
      in_session(fn call ->
        lm = DSPex.LM.create!("openai/gpt-4o-mini", [temperature: 0.0] ++ call)
        assert DSPex.LM.model!(lm, call) == "openai/gpt-4o-mini"
        assert DSPex.LM.history!(lm, call) == []

        warmer = DSPex.LM.copy!(lm, [temperature: 0.5] ++ call)
        assert %{"temperature" => 0.5} = PyBridge.attr!(warmer, "kwargs", call)
        assert %{"temperature" => 0.0} = PyBridge.attr!(lm, "kwargs", call)
      end)
    end
  end

  describe "DSPex.DummyLM" do
    test "call/2 answers prompts in order, formatted as DSPy's chat adapter expects" do
      in_session(fn call ->
        lm = DSPex.DummyLM.create!([%{"answer" => "one"}, %{"answer" => "two"}], call)
        assert [first] = DSPex.DummyLM.call!(lm, [prompt: "a"] ++ call)
        assert [second] = DSPex.DummyLM.call!(lm, [prompt: "b"] ++ call)
        assert first =~ "one" and second =~ "two"
        assert Enum.map(DSPex.DummyLM.history!(lm, call), & &1["prompt"]) == ["a", "b"]
      end)
    end
  end

  describe "DSPex.Signature" do
    test "create/2 from text with instructions; programs take the handle" do
      in_session(fn call ->
        sig =
          DSPex.Signature.create!(
            "context: list[str], question -> answer: float",
            [instructions: "Answer from the context."] ++ call
          )

        assert DSPex.Signature.signature!(sig, call) == "context, question -> answer"
        assert DSPex.Signature.instructions!(sig, call) == "Answer from the context."

        qa = DSPex.Predict.create!(sig, call)
        lm = DSPex.DummyLM.create!([%{"answer" => "2.5"}], call)
        DSPex.Predict.set_lm!(qa, lm, call)
        prediction = DSPex.Predict.call!(qa, [context: ["x is 2.5"], question: "x?"] ++ call)
        assert DSPex.Prediction.to_dict!(prediction, call) == %{"answer" => 2.5}

        assert DSPex.Predict.dump_state!(qa, call)["signature"]["instructions"] ==
                 "Answer from the context."
      end)
    end

    test "with_instructions/3 makes a new signature on the handle's fields" do
      in_session(fn call ->
        sig = DSPex.Signature.create!("question -> answer: int", call)
        brief = DSPex.Signature.with_instructions!(sig, "Be brief.", call)

        assert DSPex.Signature.instructions!(brief, call) == "Be brief."
        assert DSPex.Signature.signature!(brief, call) == DSPex.Signature.signature!(sig, call)
        refute DSPex.Signature.instructions!(sig, call) == "Be brief."
      end)
    end

    test "a malformed signature is a Python error" do
      in_session(fn call ->
        assert {:error, %PyBridge.Error{type: "builtins.ValueError"}} =
                 DSPex.Signature.create("question answer", call)
      end)
    end
  end

  describe "DSPex.Example and DSPex.Prediction" do
    test "inputs and labels split the fields as with_inputs/3 says" do
      in_session(fn call ->
        [example] = examples!([{"What is 2 + 2?", "4"}], call)

        assert DSPex.Example.to_dict!(example, call) == %{
                 "question" => "What is 2 + 2?",
                 "answer" => "4"
               }

        assert example |> DSPex.Example.inputs!(call) |> DSPex.Example.keys!(call) == ["question"]

        assert example |> DSPex.Example.labels!(call) |> DSPex.Example.to_dict!(call) == %{
                 "answer" => "4"
               }

        assert DSPex.Example.get!(example, "missing", [default: :none] ++ call) == "none"
      end)
    end

    test "a Prediction from a program is an Example too" do
      in_session(fn call ->
        qa = DSPex.Predict.create!("question -> answer, confidence: float", call)

        DSPex.Predict.set_lm!(
          qa,
          DSPex.DummyLM.create!([%{"answer" => "4", "confidence" => 0.9}], call),
          call
        )

        prediction = DSPex.Predict.call!(qa, [question: "2 + 2?"] ++ call)

        assert DSPex.Prediction.get!(prediction, "confidence", call) == 0.9
        assert Enum.sort(DSPex.Prediction.keys!(prediction, call)) == ["answer", "confidence"]
        assert DSPex.Prediction.get_lm_usage!(prediction, call) in [nil, %{}]
      end)
    end
  end

  describe "DSPex.Module" do
    test "save/3 and load/3 carry demos from one program to another", %{tmp_dir: dir} do
      in_session(fn call ->
        path = Path.join(dir, "qa.json")
        qa = DSPex.Predict.create!("question -> answer", call)
        DSPex.Predict.set_demos!(qa, examples!([{"What is 1 + 1?", "2"}], call), call)
        DSPex.Predict.save!(qa, path, call)

        copy = DSPex.Predict.create!("question -> answer", call)
        assert DSPex.Predict.demos!(copy, call) == []
        DSPex.Predict.load!(copy, path, call)

        # Loaded demos are plain dicts: they arrive as maps.
        assert DSPex.Predict.demos!(copy, call) == [
                 %{"question" => "What is 1 + 1?", "answer" => "2"}
               ]

        assert File.read!(path) |> String.contains?("What is 1 + 1?")
      end)
    end

    test "named_predictors/2 and get_lm/2 see inside a composite program" do
      in_session(fn call ->
        cot = DSPex.ChainOfThought.create!("question -> answer", call)
        lm = DSPex.DummyLM.create!([], call)
        DSPex.ChainOfThought.set_lm!(cot, lm, call)

        assert [{"predict", predictor}] = DSPex.ChainOfThought.named_predictors!(cot, call)
        assert predictor.type == "dspy.predict.predict.Predict"
        # Each reply makes a new handle: compare the Python objects.
        assert PyBridge.call!(
                 "operator.is_",
                 [DSPex.ChainOfThought.get_lm!(cot, call), lm],
                 [],
                 call
               )
      end)
    end
  end

  describe "DSPex.ProgramOfThought" do
    test "runs the code the LM wrote in dspy.LocalInterpreter and answers from its output" do
      in_session(fn call ->
        code = "print(sum(range(101)))"

        lm =
          DSPex.DummyLM.create!(
            [
              %{"reasoning" => "Sum the numbers.", "generated_code" => "```python\n#{code}\n```"},
              %{"reasoning" => "The code printed the sum.", "answer" => "5050"}
            ],
            call
          )

        factory = PyBridge.attr!("dspy", "LocalInterpreter", call)

        pot =
          DSPex.ProgramOfThought.create!(
            "question -> answer",
            [interpreter_factory: factory] ++ call
          )

        DSPex.ProgramOfThought.set_lm!(pot, lm, call)

        prediction =
          DSPex.ProgramOfThought.call!(pot, [question: "What is 0 + 1 + … + 100?"] ++ call)

        assert DSPex.Prediction.to_dict!(prediction, call)["answer"] == "5050"

        # What the code printed (computed by Python, not scripted) reached the LM.
        %{"messages" => messages} = lm |> DSPex.DummyLM.history!(call) |> List.last()
        assert List.last(messages)["content"] =~ ~r/code_output ## \]\]\n"#{Enum.sum(0..100)}"/
      end)
    end
  end

  describe "DSPex.Evaluate" do
    test "scores a program with an Elixir metric: the average in percent, per-example results" do
      in_session(fn call ->
        devset = [{"a?", "1"}, {"b?", "2"}, {"c?", "3"}, {"d?", "4"}]
        # The LM gets b? wrong.
        answers = %{
          "a?" => %{"answer" => "1"},
          "b?" => %{"answer" => "5"},
          "c?" => %{"answer" => "3"},
          "d?" => %{"answer" => "4"}
        }

        qa = DSPex.Predict.create!("question -> answer", call)
        DSPex.Predict.set_lm!(qa, DSPex.DummyLM.create!(answers, call), call)
        {metric, seen} = counting_metric(call)

        evaluate =
          DSPex.Evaluate.create!(
            examples!(devset, call),
            [metric: metric, num_threads: 2] ++ call
          )

        result = DSPex.Evaluate.call!(evaluate, qa, call)

        assert Enum.sort(Agent.get(seen, & &1)) ==
                 Enum.sort(for {q, _} <- devset, do: {q, answers[q]["answer"]})

        assert DSPex.EvaluationResult.score!(result, call) == 75.0

        scores =
          for {_example, _prediction, score} <- DSPex.EvaluationResult.results!(result, call),
              do: score

        assert Enum.sort(scores) == [false, true, true, true]
      end)
    end
  end

  describe "DSPex.MIPROv2" do
    test "compiles with an Elixir metric (auto: light) and returns a program with a known instruction" do
      in_session(fn call ->
        trainset = for i <- 1..8, do: {"What is #{i} plus #{i}?", Integer.to_string(2 * i)}
        proposed = "Add the two numbers; answer with digits only."

        # Every answer carries the fields of MIPROv2's own prompts too
        # (dataset summary, program description, instruction proposal), and
        # those prompts are recognised by the input fields they show.
        fields = %{
          "proposed_instruction" => proposed,
          "observations" => "Sums of a number with itself.",
          "summary" => "Small sums.",
          "program_description" => "Answers arithmetic questions.",
          "module_description" => "Predicts the sum."
        }

        answers =
          Map.new(trainset, fn {q, a} -> {q, Map.put(fields, "answer", a)} end)
          |> Map.merge(
            Map.new(
              ["[[ ## program_code ## ]]", "[[ ## examples ## ]]", "[[ ## observations ## ]]"],
              &{&1, fields}
            )
          )

        lm = DSPex.DummyLM.create!(answers, call)
        student = DSPex.Predict.create!("question -> answer", call)
        DSPex.Predict.set_lm!(student, lm, call)
        original = DSPex.Predict.dump_state!(student, call)["signature"]["instructions"]
        {metric, seen} = counting_metric(call)

        optimizer =
          DSPex.MIPROv2.create!(
            metric,
            [
              prompt_model: lm,
              task_model: lm,
              teacher_settings: %{lm: lm},
              auto: "light",
              num_threads: 2
            ] ++ call
          )

        compiled = DSPex.MIPROv2.compile!(optimizer, student, examples!(trainset, call), call)

        judged = Agent.get(seen, & &1)
        assert length(judged) > length(trainset)
        assert Enum.all?(judged, fn {q, answer} -> {q, answer} in trainset end)

        assert DSPex.Predict.dump_state!(compiled, call)["signature"]["instructions"] in [
                 original,
                 proposed
               ]
      end)
    end
  end

  describe "Elixir functions as tools" do
    test "an Elixir tool that raises: ReAct shows the error to the LM and goes on" do
      in_session(fn call ->
        # An anonymous function has no name or doc: DSPex.Tool gives them.
        failing =
          DSPex.Tool.create!(
            fn city -> raise ArgumentError, "no weather for #{city}" end,
            [
              name: "weather",
              desc: "The weather in a city.",
              args: %{"city" => %{"type" => "string"}}
            ] ++ call
          )

        lm =
          DSPex.DummyLM.create!(
            [
              %{
                "next_thought" => "Ask.",
                "next_tool_name" => "weather",
                "next_tool_args" => %{"city" => "Paris"}
              },
              %{
                "next_thought" => "It failed.",
                "next_tool_name" => "finish",
                "next_tool_args" => %{}
              },
              %{"reasoning" => "No data.", "answer" => "unknown"}
            ],
            call
          )

        agent = DSPex.ReAct.create!("question -> answer", [failing], call)
        DSPex.ReAct.set_lm!(agent, lm, call)

        prediction =
          agent
          |> DSPex.ReAct.call!([question: "Weather in Paris?"] ++ call)
          |> DSPex.Prediction.to_dict!(call)

        assert prediction["trajectory"]["observation_0"] =~ "no weather for Paris"
        assert prediction["answer"] == "unknown"
      end)
    end

    test "streamify/2 of a plain Predict yields the prediction only (DummyLM does not stream)" do
      in_session(fn call ->
        qa = DSPex.Predict.create!("question -> answer", call)
        DSPex.Predict.set_lm!(qa, DSPex.DummyLM.create!([%{"answer" => "42"}], call), call)
        listener = DSPex.StreamListener.create!("answer", call)

        streamer =
          DSPex.streamify!(qa, [stream_listeners: [listener], async_streaming: false] ++ call)

        assert [%PyBridge.Ref{type: "dspy.primitives.prediction.Prediction"} = prediction] =
                 PyBridge.stream({streamer, "__call__"}, [], [question: "?"], call)
                 |> Enum.to_list()

        assert DSPex.Prediction.to_dict!(prediction, call) == %{"answer" => "42"}
      end)
    end
  end
end
