defmodule DSPyDemo.CLI do
  @moduledoc """
  Runs every flow of `DSPyDemo` and prints what each did and how long it
  took (`mix run demo.exs`).

  DSPy is configured once for every worker of the pool, as an application
  does at start (`PyBridge.broadcast/4` of `dspy.configure`, the LM made on
  each worker with `PyBridge.deferred/3`); no session is needed. By default
  the LM is DSPy's DummyLM and every flow gets a `DSPex.DummyLM` scripted
  with its answers (`DSPyDemo.Script`): no network, no key. With
  `DSPEX_MODEL` set to a LiteLLM model name (`openai/gpt-4o-mini`,
  `anthropic/claude-3-5-haiku-latest`, …) the demo configures
  `dspy.LM(model)` instead and every flow uses it; LiteLLM reads the
  provider's key from its usual variable (`OPENAI_API_KEY`,
  `ANTHROPIC_API_KEY`, …) in the worker's environment.
  """

  @steps [
    {:predict, "Predict"},
    {:chain_of_thought, "ChainOfThought"},
    {:react, "ReAct with an Elixir tool"},
    {:bootstrap, "BootstrapFewShot with an Elixir metric, then Evaluate"},
    {:stream, "Streamed ReAct run"}
  ]

  @doc """
  Runs the demo, printing to `device` (default: standard output). Returns
  `:ok`, or `{:error, titles}` naming the steps that raised (each is
  printed with its error, and the other steps still run).
  """
  @spec main([String.t()], IO.device()) :: :ok | {:error, [String.t()]}
  def main(_argv \\ [], device \\ :stdio) do
    model = System.get_env("DSPEX_MODEL")
    total = System.monotonic_time()

    {setup_ms, lm} = timed(fn -> setup!(model) end)
    version = PyBridge.attr!("dspy", "__version__")
    IO.puts(device, "DSPy #{version} from Elixir through PyBridge; LM: #{lm_label(model)}")
    step_line(device, "setup", "dspy.configure(lm: #{lm}) on every worker", setup_ms)

    failed =
      for {{flow, title}, index} <- Enum.with_index(@steps, 1),
          run_step(
            device,
            "#{index}/#{length(@steps)}",
            title,
            fn -> apply(DSPyDemo, flow, [[lm: flow_lm(model, flow)]]) end,
            &describe(flow, &1)
          ) == :error,
          do: title

    seconds =
      System.convert_time_unit(System.monotonic_time() - total, :native, :millisecond) / 1000

    time = :erlang.float_to_binary(seconds, decimals: 2)

    case failed do
      [] ->
        IO.puts(device, "Done: #{length(@steps)} steps in #{time} s")

      _ ->
        IO.puts(device, "Done in #{time} s; #{length(failed)} of #{length(@steps)} steps failed")
        {:error, failed}
    end
  end

  # A step that raises (a real LM without its key, a network error…) is
  # printed with the error; the others still run.
  defp run_step(device, label, title, fun, describe) do
    {ms, outcome} =
      timed(fn ->
        try do
          {:ok, fun.()}
        rescue
          error in PyBridge.Error -> {:error, "#{error.type}: #{first_line(error.message)}"}
        end
      end)

    step_line(device, label, title, ms)

    case outcome do
      {:ok, result} ->
        Enum.each(describe.(result), &IO.puts(device, "      " <> &1))

      {:error, reason} ->
        IO.puts(device, "      FAILED: " <> reason)
        :error
    end
  end

  defp first_line(text), do: text |> String.split("\n", parts: 2) |> hd()

  # Every worker, and every worker started later, makes its own LM and
  # configures DSPy with it: one call for the whole pool.
  defp setup!(nil) do
    lm = PyBridge.deferred("dspy.utils.dummies.DummyLM", [DSPyDemo.Script.answers(:predict)])
    _results = PyBridge.broadcast!("dspy.configure", [], lm: lm)
    "DummyLM"
  end

  defp setup!(model) do
    _results =
      PyBridge.broadcast!("dspy.configure", [], lm: PyBridge.deferred("dspy.LM", [model]))

    "dspy.LM(#{inspect(model)})"
  end

  # With a real model every flow uses the LM configured in setup!/1. Offline,
  # so does Predict (setup!/1 configured a DummyLM scripted for it); the
  # other flows get a DummyLM with their own script.
  defp flow_lm(nil, :predict), do: nil
  defp flow_lm(nil, flow), do: DSPyDemo.Script.lm!(flow)
  defp flow_lm(_model, _flow), do: nil

  defp lm_label(nil), do: "DSPy's DummyLM, offline (set DSPEX_MODEL to use a real model)"
  defp lm_label(model), do: "#{model} (DSPEX_MODEL)"

  ## What each step shows

  defp describe(:predict, %{question: question, prediction: prediction}) do
    ["question: #{question}", "answer:   #{prediction["answer"]}"]
  end

  defp describe(:chain_of_thought, %{question: question, prediction: prediction} = result) do
    [
      "instructions: #{result.instructions}",
      "question:     #{question}",
      "reasoning:    #{prediction["reasoning"]}",
      "answer:       #{inspect(prediction["answer"])} (an integer: the signature says answer: int)"
    ]
  end

  defp describe(:react, %{question: question, prediction: prediction, tool_calls: calls}) do
    ["question: #{question}"] ++
      trajectory_lines(prediction["trajectory"]) ++
      [
        "the Elixir tool received: #{inspect(calls)}",
        "answer: #{prediction["answer"]}"
      ]
  end

  defp describe(:bootstrap, result) do
    accepted = Enum.count(result.metric_calls, & &1.verdict)
    bootstrapped = Enum.count(result.demos, &(&1["augmented"] == true))

    Enum.map(result.metric_calls, fn call ->
      "metric(#{inspect(call.question)}, answer #{inspect(call.answer)}) -> #{call.verdict}"
    end) ++
      [
        "metric accepted #{accepted} of #{length(result.metric_calls)} traces; " <>
          "compiled program has #{length(result.demos)} demos (#{bootstrapped} bootstrapped)",
        "Evaluate on #{result.evaluated} held-out examples: #{format_score(result.score)}"
      ]
  end

  defp describe(:stream, %{question: question, events: events}) do
    ["question: #{question}"] ++
      Enum.map(events, fn event ->
        at = String.pad_leading("+#{event["at_ms"]} ms", 9)

        case event do
          %{"type" => "status", "message" => message} ->
            "#{at} status: #{message}"

          %{"type" => "chunk", "field" => field, "chunk" => chunk} ->
            "#{at} #{field} chunk: #{inspect(chunk)}"

          %{"type" => "prediction", "prediction" => p} ->
            "#{at} prediction: answer = #{p["answer"]}"

          other ->
            "#{at} #{inspect(other)}"
        end
      end)
  end

  defp trajectory_lines(trajectory) when is_map(trajectory) do
    Stream.iterate(0, &(&1 + 1))
    |> Enum.take_while(&Map.has_key?(trajectory, "tool_name_#{&1}"))
    |> Enum.map(fn i ->
      "step #{i}: #{trajectory["tool_name_#{i}"]}(#{inspect(trajectory["tool_args_#{i}"])}) -> " <>
        inspect(trajectory["observation_#{i}"])
    end)
  end

  defp trajectory_lines(_), do: []

  defp format_score(score) when is_number(score),
    do: "#{:erlang.float_to_binary(score / 1, decimals: 1)}%"

  defp format_score(score), do: inspect(score)

  defp step_line(device, label, title, ms) do
    IO.puts(
      device,
      String.pad_trailing("[#{label}] #{title} ", 66, ".") <> String.pad_leading(" #{ms} ms", 9)
    )
  end

  defp timed(fun) do
    {microseconds, value} = :timer.tc(fun)
    {div(microseconds, 1000), value}
  end
end
