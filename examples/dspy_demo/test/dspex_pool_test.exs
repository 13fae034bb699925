defmodule DSPexPoolTest do
  # An application's view: DSPy configured once for a whole pool
  # (PyBridge.broadcast/4 of dspy.configure, with the LM made on each worker),
  # then Predict, ChainOfThought, ReAct with an Elixir tool, and
  # BootstrapFewShot + Evaluate with an Elixir metric, from several
  # processes at once, with no session, on a pool of two workers; then every
  # worker is killed, and the same flows run on their replacements.
  use ExUnit.Case, async: true

  import ExUnit.CaptureLog

  @pool DSPexPoolTest.Pool
  @call [pool: @pool]

  # One answer for every prompt: each program reads the fields its signature
  # has. ReAct calls the tool until max_iters, then answers.
  @answer %{
    "next_thought" => "I will multiply with the tool.",
    "next_tool_name" => "multiply",
    "next_tool_args" => %{"a" => 6, "b" => 7},
    "reasoning" => "Six times seven.",
    "answer" => "42"
  }

  setup_all do
    # 8 threads for 4 callers: Evaluate holds its request's thread while its own
    # threads call the Elixir metric, whose calls need threads of their own.
    start_supervised!({PyBridge, name: @pool, pool_size: 2, threads: 8, imports: ["dspy"]})
    :ok
  end

  defp configure_once! do
    lm = PyBridge.deferred("dspy.utils.dummies.DummyLM", [List.duplicate(@answer, 2000)])
    results = PyBridge.broadcast!("dspy.configure", [], [lm: lm], @call)
    assert map_size(results) >= 1 and Enum.all?(Map.values(results), &is_nil/1)
  end

  defp os_pids, do: PyBridge.stats!(@call) |> Enum.map(& &1.pid) |> Enum.sort()

  defp await_workers(count, except \\ []) do
    Stream.repeatedly(fn ->
      case PyBridge.stats(@call) do
        {:ok, stats} -> length(stats) == count and Enum.all?(stats, &(&1.pid not in except))
        {:error, _} -> false
      end
    end)
    |> Enum.find(fn ready? -> ready? || (Process.sleep(20) && false) end)
  end

  defp answer!(prediction), do: DSPex.Prediction.get!(prediction, "answer", @call)

  # Every flow, from one process, without a session.
  defp flows! do
    qa = DSPex.Predict.create!("question -> answer", @call)
    assert qa |> DSPex.Predict.call!([question: "6 * 7?"] ++ @call) |> answer!() == "42"

    cot = DSPex.ChainOfThought.create!("question -> answer", @call)
    prediction = DSPex.ChainOfThought.call!(cot, [question: "6 * 7?"] ++ @call)
    assert DSPex.Prediction.to_dict!(prediction, @call)["reasoning"] == "Six times seven."

    agent =
      DSPex.ReAct.create!(
        "question -> answer",
        [&DSPyDemo.Tools.multiply/2],
        [max_iters: 2] ++ @call
      )

    trajectory =
      DSPex.ReAct.call!(agent, [question: "6 * 7?"] ++ @call)
      |> PyBridge.attr!("trajectory", @call)

    # The observation is what the Elixir function returned for the LM's arguments.
    assert %{
             "tool_name_0" => "multiply",
             "tool_args_0" => %{"a" => 6, "b" => 7},
             "observation_0" => 42
           } = trajectory

    metric = fn example, prediction, _trace ->
      DSPex.Example.get!(example, "answer", @call) == answer!(prediction)
    end

    trainset =
      for question <- ["a", "b", "c"] do
        DSPex.Example.create!([question: question, answer: "42"] ++ @call)
        |> DSPex.Example.with_inputs!(["question"], @call)
      end

    optimizer =
      DSPex.BootstrapFewShot.create!([metric: metric, max_bootstrapped_demos: 2] ++ @call)

    compiled = DSPex.BootstrapFewShot.compile!(optimizer, qa, trainset, @call)
    assert length(DSPex.Predict.demos!(compiled, @call)) >= 2

    # Evaluate calls the metric with two arguments: the trace is nil.
    evaluate = DSPex.Evaluate.create!(trainset, [metric: metric] ++ @call)
    result = DSPex.Evaluate.call!(evaluate, compiled, @call)
    assert DSPex.EvaluationResult.score!(result, @call) == 100.0
    :ok
  end

  defp from_processes!(count) do
    1..count
    |> Task.async_stream(fn _ -> flows!() end, timeout: 120_000, max_concurrency: count)
    |> Enum.each(fn result -> assert result == {:ok, :ok} end)
  end

  test "configured once, every flow works from any process, also after every worker was replaced" do
    await_workers(2)
    configure_once!()
    from_processes!(4)

    old = os_pids()
    capture_log(fn -> Enum.each(old, &System.cmd("kill", ["-9", to_string(&1)])) end)
    await_workers(2, old)
    from_processes!(4)
  end

  test "an Elixir function is a DSPy tool with its name, @doc and argument types" do
    tool = DSPex.Tool.create!(&DSPyDemo.Tools.multiply/2, @call)
    assert DSPex.Tool.name!(tool, @call) == "multiply"
    assert DSPex.Tool.desc!(tool, @call) == "Multiplies two integers exactly."

    assert DSPex.Tool.args!(tool, @call) == %{
             "a" => %{"type" => "integer"},
             "b" => %{"type" => "integer"}
           }

    assert DSPex.Tool.call!(tool, [a: 3, b: 4] ++ @call) == 12
  end

  test "Retrieve and KNNFewShot with the retriever and the LM configured for the pool" do
    await_workers(2)
    configure_once!()
    passages = ["Paris is the capital of France.", "Berlin is the capital of Germany."]
    rm = PyBridge.deferred("dspy.utils.dummies.dummy_rm", [passages])
    PyBridge.broadcast!("dspy.configure", [], [rm: rm], @call)

    retrieve = DSPex.Retrieve.create!([k: 1] ++ @call)
    passages_found = DSPex.Retrieve.call!(retrieve, "capital of France", @call)

    assert PyBridge.attr!(passages_found, "passages", @call) == [
             "Paris is the capital of France."
           ]

    trainset =
      for question <- ["2 + 2?", "3 + 3?", "6 * 7?"] do
        DSPex.Example.create!([question: question, answer: "42"] ++ @call)
        |> DSPex.Example.with_inputs!(["question"], @call)
      end

    vectorizer = DSPex.Embedder.create!(DSPex.DummyVectorizer.create!(@call), @call)
    knn = DSPex.KNNFewShot.create!(2, trainset, vectorizer, [max_bootstrapped_demos: 1] ++ @call)
    student = DSPex.Predict.create!("question -> answer", @call)
    program = DSPex.KNNFewShot.compile!(knn, student, @call)
    assert program |> DSPex.Module.call!([question: "6 * 7?"] ++ @call) |> answer!() == "42"
  end
end
