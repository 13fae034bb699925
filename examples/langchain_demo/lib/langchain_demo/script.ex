defmodule LangChainDemo.Script do
  @moduledoc """
  What the offline models say in each flow of `LangChainDemo`:
  langchain-core's fake chat models replaying scripted AI messages (tool
  calls included). Everything else is real LangChain: prompts, chains,
  parsing, tools and their schemas, streaming.
  """

  alias LangChain.AIMessage

  @doc "The scripted AI messages of a flow: `{content, tool_calls}`."
  @spec messages(atom()) :: [{String.t(), [map()]}]
  def messages(:chain), do: [{"  Paris is the capital of France.  ", []}]

  def messages(:structured),
    do: [{~s({"city": "Paris", "country": "France", "population_millions": 2.1}), []}]

  def messages(:agent) do
    [
      {"",
       [
         %{"name" => "population", "args" => %{"city" => "Paris"}, "id" => "call_1"},
         %{"name" => "multiply", "args" => %{"a" => 6, "b" => 7}, "id" => "call_2"}
       ]},
      {"About 2.1 million people live in Paris, and 6 times 7 is 42.", []}
    ]
  end

  def messages(:stream), do: [{"Paris is a city of light, art and cafés.", []}]

  @doc """
  A fake chat model with the messages of `flow`: `GenericFakeChatModel`
  (it streams, token by token) for `:stream`, `FakeMessagesListChatModel`
  (it replays tool calls) for the others.
  """
  @spec model!(atom()) :: LangChain.ChatModel.t()
  def model!(flow) do
    messages =
      for {content, tool_calls} <- messages(flow) do
        AIMessage.create!(content: content, tool_calls: tool_calls)
      end

    case flow do
      :stream ->
        LangChain.GenericFakeChatModel.create!(PyBridge.call!("builtins.iter", [messages]))

      _ ->
        LangChain.FakeMessagesListChatModel.create!(messages)
    end
  end
end
