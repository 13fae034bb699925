defmodule DSPexProgramsTest do
  # DSPy 3.4's programs and optimizers beyond the demo's (Refine, BestOfN,
  # Parallel, majority, SIMBA), against the real worker and real DSPy,
  # offline: every LM is a scripted DummyLM set on its program, each test in
  # a session of its own. Reward functions and metrics are plain Elixir
  # functions.
  use ExUnit.Case, async: true

  defp in_session(fun), do: PyBridge.with_session(fn session -> fun.(session: session) end)

  defp qa!(answers, call) do
    qa = DSPex.Predict.create!("question -> answer", call)
    DSPex.Predict.set_lm!(qa, DSPex.DummyLM.create!(answers, call), call)
    qa
  end

  defp examples!(pairs, call) do
    for {question, answer} <- pairs do
      DSPex.Example.create!([question: question, answer: answer] ++ call)
      |> DSPex.Example.with_inputs!(["question"], call)
    end
  end

  defp answer!(prediction, call), do: DSPex.Prediction.get!(prediction, "answer", call)

  # An Elixir function that records its calls and scores "4" as right.
  defp recording_reward(call) do
    {:ok, seen} = Agent.start_link(fn -> [] end)

    reward = fn _inputs, prediction ->
      answer = answer!(prediction, call)
      Agent.update(seen, &[answer | &1])
      if answer == "4", do: 1.0, else: 0.0
    end

    {reward, seen}
  end

  describe "DSPex.Refine" do
    test "stops at the first run whose reward reaches the threshold" do
      in_session(fn call ->
        {reward, seen} = recording_reward(call)
        refine = DSPex.Refine.create!(qa!([%{"answer" => "4"}], call), 3, reward, 1.0, call)

        prediction = DSPex.Refine.call!(refine, [question: "2 + 2?"] ++ call)
        assert answer!(prediction, call) == "4"
        assert Agent.get(seen, & &1) == ["4"]
      end)
    end
  end

  describe "DSPex.BestOfN" do
    test "returns the first prediction whose reward reaches the threshold" do
      in_session(fn call ->
        {reward, seen} = recording_reward(call)
        qa = qa!([%{"answer" => "3"}, %{"answer" => "4"}, %{"answer" => "5"}], call)
        best = DSPex.BestOfN.create!(qa, 3, reward, 1.0, call)

        assert best |> DSPex.BestOfN.call!([question: "2 + 2?"] ++ call) |> answer!(call) == "4"
        assert Agent.get(seen, &Enum.reverse/1) == ["3", "4"]
      end)
    end

    test "when no run reaches the threshold, the best prediction" do
      in_session(fn call ->
        qa = qa!([%{"answer" => "3"}, %{"answer" => "4"}, %{"answer" => "5"}], call)

        reward = fn _inputs, prediction ->
          -abs(String.to_integer(answer!(prediction, call)) - 4)
        end

        best = DSPex.BestOfN.create!(qa, 3, reward, 1.0, call)

        assert best |> DSPex.BestOfN.call!([question: "2 + 2?"] ++ call) |> answer!(call) == "4"
      end)
    end
  end

  describe "DSPex.Parallel and DSPex.majority" do
    test "runs {program, inputs} pairs in order; majority/2 takes the vote" do
      in_session(fn call ->
        # A map of answers keyed by the question: the threads may run in any order.
        lm =
          DSPex.DummyLM.create!(
            %{
              "first" => %{"answer" => "4"},
              "second" => %{"answer" => "5"},
              "third" => %{"answer" => "4"}
            },
            call
          )

        qa = DSPex.Predict.create!("question -> answer", call)
        DSPex.Predict.set_lm!(qa, lm, call)
        [example] = examples!([{"third", "4"}], call)
        parallel = DSPex.Parallel.create!([num_threads: 3, disable_progress_bar: true] ++ call)

        predictions =
          DSPex.Parallel.call!(
            parallel,
            [{qa, %{"question" => "first"}}, {qa, %{"question" => "second"}}, {qa, example}],
            call
          )

        assert Enum.map(predictions, &answer!(&1, call)) == ["4", "5", "4"]
        assert predictions |> DSPex.majority!(call) |> answer!(call) == "4"
      end)
    end
  end

  describe "DSPex.SIMBA" do
    test "compile/4 scores the candidates with an Elixir metric and returns a program" do
      in_session(fn call ->
        {:ok, calls} = Agent.start_link(fn -> 0 end)

        metric = fn example, prediction ->
          Agent.update(calls, &(&1 + 1))

          if DSPex.Example.get!(example, "answer", call) == answer!(prediction, call),
            do: 1.0,
            else: 0.0
        end

        lm = DSPex.DummyLM.create!(List.duplicate(%{"answer" => "4"}, 100), call)
        qa = DSPex.Predict.create!("question -> answer", call)
        DSPex.Predict.set_lm!(qa, lm, call)
        trainset = examples!(for(i <- 1..4, do: {"q#{i}", "4"}), call)

        simba =
          DSPex.SIMBA.create!(
            metric,
            [bsize: 2, num_candidates: 2, max_steps: 1, num_threads: 1, prompt_model: lm] ++ call
          )

        program = DSPex.SIMBA.compile!(simba, qa, trainset, call)
        assert Agent.get(calls, & &1) > 0
        assert program |> DSPex.Module.call!([question: "q1"] ++ call) |> answer!(call) == "4"
      end)
    end
  end

  describe "DSPex.GEPA" do
    test "compile/4 with an Elixir metric of five arguments and a reflection LM" do
      in_session(fn call ->
        {:ok, calls} = Agent.start_link(fn -> 0 end)

        # GEPA checks that the metric takes (gold, prediction, trace, pred_name, pred_trace).
        metric = fn gold, prediction, _trace, _pred_name, _pred_trace ->
          Agent.update(calls, &(&1 + 1))

          if DSPex.Example.get!(gold, "answer", call) == answer!(prediction, call),
            do: 1.0,
            else: 0.0
        end

        qa = qa!(List.duplicate(%{"answer" => "4"}, 100), call)

        reflection =
          DSPex.DummyLM.create!(List.duplicate(%{"improved_instruction" => "Add."}, 20), call)

        trainset = examples!(for(i <- 1..4, do: {"q#{i}", "4"}), call)

        gepa =
          DSPex.GEPA.create!(
            metric,
            [max_metric_calls: 8, reflection_lm: reflection, num_threads: 1] ++ call
          )

        program =
          DSPex.GEPA.compile!(gepa, qa, trainset, [valset: Enum.take(trainset, 2)] ++ call)

        assert Agent.get(calls, & &1) > 0
        assert program |> DSPex.Module.call!([question: "q1"] ++ call) |> answer!(call) == "4"
      end)
    end
  end
end
