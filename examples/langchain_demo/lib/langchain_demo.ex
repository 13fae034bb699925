defmodule LangChainDemo do
  @moduledoc """
  The demo's flows, each written the way an application would use the
  generated `LangChain` modules, with no session: the handles a process
  creates stay on one worker.

  Every flow takes `:model`: a chat model handle, or `nil` (the default) for
  `model/1`, which is langchain-core's fake chat model replaying the flow's
  scripted messages (`LangChainDemo.Script`), or the real model named by
  `LANGCHAIN_DEMO_MODEL`. It returns a map of what happened.
  """

  alias LangChain.{AIMessage, ChatPromptTemplate, HumanMessage, Runnable}

  @typedoc "What a flow did."
  @type result :: %{required(atom()) => term()}

  @doc """
  The model for a flow: `LANGCHAIN_DEMO_MODEL` (`provider:model`, e.g.
  `openai:gpt-4o-mini`, through `langchain.chat_models.init_chat_model`,
  which needs `pip install langchain langchain-openai`), else a fake chat
  model scripted for `flow`.
  """
  @spec model(atom()) :: LangChain.ChatModel.t()
  def model(flow) do
    case System.get_env("LANGCHAIN_DEMO_MODEL") do
      name when name in [nil, ""] -> LangChainDemo.Script.model!(flow)
      name -> PyBridge.call!("langchain.chat_models.init_chat_model", [name])
    end
  end

  @doc """
  `prompt | model | parser`, then an Elixir function as a last step: a
  chat prompt with a variable, the model, `LangChain.StrOutputParser` (the
  text) and `String.trim/1`.
  """
  @spec chain(keyword()) :: result()
  def chain(opts \\ []) do
    model = opts[:model] || model(:chain)

    prompt =
      ChatPromptTemplate.from_messages!([
        {"system", "You answer in one sentence."},
        {"human", "{question}"}
      ])

    chain = Runnable.pipe!(prompt, [model, LangChain.StrOutputParser.create!(), &String.trim/1])
    question = "What is the capital of France?"
    %{question: question, answer: Runnable.invoke!(chain, %{"question" => question})}
  end

  @doc """
  Structured output into an Elixir map: the model is asked for JSON with
  given keys and `LangChain.JsonOutputParser` parses its answer.
  """
  @spec structured(keyword()) :: result()
  def structured(opts \\ []) do
    model = opts[:model] || model(:structured)

    prompt =
      ChatPromptTemplate.from_messages!([
        {"system",
         "Answer with a JSON object only, with the keys \"city\" (a string), " <>
           "\"country\" (a string) and \"population_millions\" (a number)."},
        {"human", "Tell me about {city}."}
      ])

    chain = Runnable.pipe!(prompt, [model, LangChain.JsonOutputParser.create!()])
    %{city: "Paris", data: Runnable.invoke!(chain, %{"city" => "Paris"})}
  end

  @doc """
  A tool-calling agent whose tools are Elixir functions
  (`LangChainDemo.Tools`): the model asks for tool calls, Elixir runs them
  (through the LangChain tools), the results go back to the model as tool
  messages, until the model answers. `:steps` lists every tool call and its
  result.
  """
  @spec agent(keyword()) :: result()
  def agent(opts \\ []) do
    tools =
      [&LangChainDemo.Tools.multiply/2, &LangChainDemo.Tools.population/1]
      |> Map.new(fn fun ->
        tool = LangChain.StructuredTool.from_function!(fun)
        {LangChain.Tool.name!(tool), tool}
      end)

    model =
      case opts[:model] || System.get_env("LANGCHAIN_DEMO_MODEL") do
        # The fake models replay their script: they take no tools.
        nil -> model(:agent)
        "" -> model(:agent)
        model -> LangChain.ChatModel.bind_tools!(model_handle(model), Map.values(tools))
      end

    question = "How many people live in Paris, and what is 6 times 7?"

    run_agent(model, tools, [HumanMessage.create!(question)], [], 5)
    |> Map.put(:question, question)
    |> Map.put(:tools, tools |> Map.values() |> Enum.map(&describe_tool/1))
  end

  defp model_handle(%PyBridge.Ref{} = model), do: model
  defp model_handle(name) when is_binary(name), do: model(:agent)

  defp run_agent(_model, _tools, _messages, steps, 0), do: %{answer: nil, steps: steps}

  defp run_agent(model, tools, messages, steps, turns_left) do
    reply = LangChain.ChatModel.invoke!(model, messages)

    case AIMessage.tool_calls!(reply) do
      [] ->
        %{answer: AIMessage.content!(reply), steps: steps}

      calls ->
        results =
          Enum.map(calls, fn %{"name" => name} = call ->
            tool_message = LangChain.Tool.invoke!(Map.fetch!(tools, name), call)
            {call, tool_message}
          end)

        new_steps =
          for {call, message} <- results do
            %{
              tool: call["name"],
              args: call["args"],
              result: LangChain.ToolMessage.content!(message)
            }
          end

        messages = messages ++ [reply | Enum.map(results, &elem(&1, 1))]
        run_agent(model, tools, messages, steps ++ new_steps, turns_left - 1)
    end
  end

  defp describe_tool(tool) do
    %{
      name: LangChain.Tool.name!(tool),
      description: LangChain.Tool.description!(tool),
      args: LangChain.Tool.args!(tool)
    }
  end

  @doc """
  Tokens streamed into Elixir: `prompt | model | parser` run with
  `LangChain.Runnable.stream/3`, an Elixir `Stream` of the text as the model
  writes it. `:tokens` lists them with the milliseconds since the start.
  """
  @spec stream(keyword()) :: result()
  def stream(opts \\ []) do
    model = opts[:model] || model(:stream)
    prompt = ChatPromptTemplate.from_messages!([{"human", "{question}"}])
    chain = Runnable.pipe!(prompt, [model, LangChain.StrOutputParser.create!()])
    question = "Describe Paris in one sentence."
    started = System.monotonic_time(:millisecond)

    tokens =
      chain
      |> Runnable.stream(%{"question" => question})
      |> Enum.map(&{&1, System.monotonic_time(:millisecond) - started})

    %{question: question, tokens: tokens}
  end
end
