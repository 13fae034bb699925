defmodule DSPyDemoTest do
  # The demo's flows against the real worker and real DSPy. Each test opens
  # its own session and gives its programs their own scripted DummyLM
  # (nothing global is configured), so the tests can run concurrently. The
  # assertions compare what DSPy returned with what the LM was scripted to
  # say and with what the Elixir callbacks received.
  use ExUnit.Case, async: true

  alias DSPyDemo.Script

  defp in_session(fun), do: PyBridge.with_session(fn session -> fun.(session: session) end)

  defp last_prompt(lm, call) do
    %{"messages" => messages} = lm |> DSPex.DummyLM.history!(call) |> List.last()
    messages
  end

  describe "predict/1" do
    test "returns the prediction as a map: the answer the LM gave, nothing else" do
      in_session(fn call ->
        lm = Script.lm!(:predict, call)
        result = DSPyDemo.predict([lm: lm] ++ call)

        assert [result.prediction] == Script.answers(:predict)
        assert result.question == DSPyDemo.predict_question()
        assert [_system, %{"role" => "user", "content" => content}] = last_prompt(lm, call)
        assert content =~ DSPyDemo.predict_question()
      end)
    end

    test "uses the LM set with DSPex.configure/1 when given none" do
      # A pool of its own: configure/1 changes the settings of its worker.
      start_supervised!({PyBridge, name: DSPyDemoTest.Pool, pool_size: 1})
      call = [pool: DSPyDemoTest.Pool]
      # The pool option is not a flow option; a session pins the pool's only worker.
      PyBridge.with_session(
        fn session ->
          lm = Script.lm!(:predict, session: session)
          DSPex.configure!(lm: lm, session: session)
          result = DSPyDemo.predict(session: session)

          assert [result.prediction] == Script.answers(:predict)
          assert length(DSPex.DummyLM.history!(lm, session: session)) == 1
        end,
        call
      )
    end
  end

  describe "chain_of_thought/1" do
    test "gives the LM's reasoning and parses the answer as the signature's int" do
      in_session(fn call ->
        lm = Script.lm!(:chain_of_thought, call)
        result = DSPyDemo.chain_of_thought([lm: lm] ++ call)
        [scripted] = Script.answers(:chain_of_thought)

        assert result.prediction["reasoning"] == scripted["reasoning"]
        assert result.prediction["answer"] == String.to_integer(scripted["answer"])
        assert Map.keys(result.prediction) |> Enum.sort() == ["answer", "reasoning"]
        # The signature's instructions reached the LM.
        assert [%{"role" => "system", "content" => system} | _] = last_prompt(lm, call)
        assert system =~ result.instructions
      end)
    end
  end

  describe "react/1" do
    test "the Elixir tool gets the arguments the LM chose; its result is the observation" do
      in_session(fn call ->
        result = DSPyDemo.react([lm: Script.lm!(:react, call)] ++ call)
        [choice, finish, extract] = Script.answers(:react)
        args = choice["next_tool_args"]
        trajectory = result.prediction["trajectory"]

        assert result.tool_calls == [args]
        assert trajectory["tool_name_0"] == choice["next_tool_name"]
        assert trajectory["tool_args_0"] == args
        assert trajectory["observation_0"] == args["a"] * args["b"]
        assert trajectory["tool_name_1"] == finish["next_tool_name"]
        assert result.prediction["answer"] == extract["answer"]
        assert result.prediction["reasoning"] == extract["reasoning"]
      end)
    end
  end

  describe "bootstrap/1" do
    test "the Elixir metric judges every training trace; the accepted ones become demos" do
      in_session(fn call ->
        result = DSPyDemo.bootstrap([lm: Script.lm!(:bootstrap, call)] ++ call)
        scripted = Script.answers(:bootstrap)

        # The metric saw every training example, with the LM's answer for it.
        assert Enum.map(result.metric_calls, & &1.question) ==
                 Enum.map(DSPyDemo.trainset(), &elem(&1, 0))

        for {%{question: q, answer: answer, verdict: verdict}, {q, label}} <-
              Enum.zip(result.metric_calls, DSPyDemo.trainset()) do
          assert answer == scripted[q]["answer"]
          assert verdict == (answer == label)
        end

        accepted = for %{verdict: true, question: q} <- result.metric_calls, do: q
        assert accepted != [] and length(accepted) < length(DSPyDemo.trainset())

        # The accepted traces are the bootstrapped demos, with the LM's answers.
        bootstrapped = Enum.filter(result.demos, &(&1["augmented"] == true))
        assert Enum.map(bootstrapped, & &1["question"]) == accepted
        assert Enum.all?(bootstrapped, &(&1["answer"] == scripted[&1["question"]]["answer"]))
        # The rest are labeled examples (max_labeled_demos: 4), never a rejected answer.
        assert length(result.demos) == 4

        assert Enum.all?(
                 result.demos,
                 &({&1["question"], &1["answer"]} in DSPyDemo.trainset() or &1["augmented"])
               )

        # Evaluate ran the compiled program over the devset with the same metric.
        correct = Enum.count(DSPyDemo.devset(), fn {q, a} -> scripted[q]["answer"] == a end)
        assert result.evaluated == length(DSPyDemo.devset())
        assert result.score == Float.round(100 * correct / length(DSPyDemo.devset()), 2)
      end)
    end
  end

  describe "stream/1" do
    test "yields status messages as the Elixir tool runs, then the prediction" do
      in_session(fn call ->
        result = DSPyDemo.stream([lm: Script.lm!(:stream, call)] ++ call)
        [choice, _finish, extract] = Script.answers(:stream)

        assert result.tool_calls == [choice["next_tool_args"]]
        {statuses, [last]} = Enum.split(result.events, -1)
        assert [%{"type" => "status", "message" => start}, %{"type" => "status"}] = statuses
        assert start =~ choice["next_tool_name"]
        assert %{"type" => "prediction", "prediction" => prediction} = last
        assert prediction["answer"] == extract["answer"]

        assert prediction["trajectory"]["observation_0"] ==
                 Enum.reduce(Map.values(choice["next_tool_args"]), &*/2)

        times = Enum.map(result.events, & &1["at_ms"])
        assert times == Enum.sort(times)
      end)
    end
  end

  describe "DSPyDemo.Tools.multiply/2" do
    test "takes the arguments as the LM sends them, integers or digits" do
      assert DSPyDemo.Tools.multiply(12, " 3") == 36
    end
  end
end
