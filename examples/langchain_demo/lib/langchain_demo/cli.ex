defmodule LangChainDemo.CLI do
  @moduledoc """
  Runs every flow of `LangChainDemo` and prints what each did
  (`mix run demo.exs`): offline with langchain-core's fake chat models, or
  with the model `LANGCHAIN_DEMO_MODEL` names.
  """

  @steps [
    {:chain, "prompt | model | parser | Elixir function"},
    {:structured, "Structured output into an Elixir map"},
    {:agent, "Tool-calling agent with Elixir tools"},
    {:stream, "Tokens streamed into Elixir"}
  ]

  @doc "Runs the demo, printing to `device` (default: standard output)."
  @spec main(IO.device()) :: :ok
  def main(device \\ :stdio) do
    version = PyBridge.attr!("langchain_core", "__version__")

    model =
      case System.get_env("LANGCHAIN_DEMO_MODEL") do
        name when name in [nil, ""] -> "langchain-core's fake chat models, offline"
        name -> "#{name} (LANGCHAIN_DEMO_MODEL)"
      end

    IO.puts(
      device,
      "LangChain (langchain-core #{version}) from Elixir through PyBridge; model: #{model}"
    )

    for {{flow, title}, index} <- Enum.with_index(@steps, 1) do
      {microseconds, result} = :timer.tc(LangChainDemo, flow, [[]])
      label = String.pad_trailing("[#{index}/#{length(@steps)}] #{title} ", 60, ".")
      IO.puts(device, label <> String.pad_leading(" #{div(microseconds, 1000)} ms", 9))
      Enum.each(describe(flow, result), &IO.puts(device, "      " <> &1))
    end

    :ok
  end

  defp describe(:chain, result),
    do: ["question: #{result.question}", "answer:   #{result.answer}"]

  defp describe(:structured, result), do: ["#{result.city}: #{inspect(result.data)}"]

  defp describe(:agent, result) do
    Enum.map(
      result.tools,
      &"tool #{&1.name}(#{Enum.join(Map.keys(&1.args), ", ")}): #{&1.description}"
    ) ++
      ["question: #{result.question}"] ++
      Enum.map(result.steps, &"#{&1.tool}(#{inspect(&1.args)}) -> #{&1.result}") ++
      ["answer: #{result.answer}"]
  end

  defp describe(:stream, result) do
    ["question: #{result.question}"] ++
      Enum.map(result.tokens, fn {token, ms} -> "+#{ms} ms #{inspect(token)}" end)
  end
end
