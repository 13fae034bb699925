defmodule DSPyDemo.Script do
  @moduledoc """
  What the offline LM answers in each flow of `DSPyDemo`.

  `DSPex.DummyLM` (DSPy's `dspy.utils.dummies.DummyLM`) returns answers
  given in advance, as maps of output fields: a list is used one call at a
  time, a map answers the prompt whose last message contains its key. DSPy
  does everything else for real: prompts, parsing (`answer: int`), the
  agent loop and its tool calls, bootstrapping, evaluation.
  """

  @typedoc "A DummyLM script: answers in call order, or keyed by a text the prompt contains."
  @type answers :: [map()] | %{String.t() => map()}

  @doc "The answers for a flow of `DSPyDemo` (`:predict`, `:chain_of_thought`, …)."
  @spec answers(atom()) :: answers()
  def answers(:predict), do: [%{"answer" => "Paris"}]

  def answers(:chain_of_thought) do
    [%{"reasoning" => "She starts with 3 and buys 2 × 4 = 8 more: 3 + 8 = 11.", "answer" => "11"}]
  end

  def answers(:react), do: agent_run(1234, 5678)
  def answers(:stream), do: agent_run(12, 12)

  # Keyed by question. The 9 + 8 answer is wrong on purpose: the metric
  # rejects that trace, so only three of the four become bootstrapped demos.
  def answers(:bootstrap) do
    (DSPyDemo.trainset() ++ DSPyDemo.devset())
    |> Map.new(fn {question, answer} -> {question, %{"answer" => answer}} end)
    |> Map.put("What is 9 + 8?", %{"answer" => "18"})
  end

  @doc "A `DSPex.DummyLM` with the answers of a flow, created in the session of `opts`."
  @spec lm!(atom(), keyword()) :: DSPex.DummyLM.t()
  def lm!(flow, opts \\ []), do: DSPex.DummyLM.create!(answers(flow), opts)

  # ReAct asks the LM for a thought, a tool and its arguments until it picks
  # "finish", then for the answer (an extraction step that also reasons).
  defp agent_run(a, b) do
    [
      %{
        "next_thought" => "I need the exact product, so I will use the multiply tool.",
        "next_tool_name" => "multiply",
        "next_tool_args" => %{"a" => a, "b" => b}
      },
      %{
        "next_thought" => "The tool gave the product; I can answer.",
        "next_tool_name" => "finish",
        "next_tool_args" => %{}
      },
      %{"reasoning" => "The multiply tool returned the product.", "answer" => to_string(a * b)}
    ]
  end
end
