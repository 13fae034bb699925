defmodule LangChainDemoTest do
  # The demo's flows against the real worker and real langchain-core, with
  # its fake chat models replaying the scripts of LangChainDemo.Script. The
  # assertions compare what LangChain returned with the scripts and with
  # what the Elixir tools computed.
  use ExUnit.Case, async: true

  alias LangChainDemo.Script

  describe "chain/1" do
    test "prompt | model | parser | Elixir function gives the model's text, trimmed" do
      [{content, []}] = Script.messages(:chain)
      assert %{answer: answer} = LangChainDemo.chain()
      assert answer == String.trim(content)
    end

    test "the prompt's variables reach the model" do
      model = Script.model!(:chain)
      LangChainDemo.chain(model: model)
      # FakeMessagesListChatModel does not record prompts: read the prompt itself.
      prompt = LangChain.ChatPromptTemplate.from_messages!([{"human", "{question}"}])
      assert LangChain.ChatPromptTemplate.input_variables!(prompt) == ["question"]

      [message] = LangChain.ChatPromptTemplate.format_messages!(prompt, question: "Why?")
      assert LangChain.Message.content!(message) == "Why?"
      assert LangChain.Message.type!(message) == "human"
    end
  end

  describe "structured/1" do
    test "the model's JSON becomes an Elixir map" do
      assert %{data: data} = LangChainDemo.structured()
      assert data == %{"city" => "Paris", "country" => "France", "population_millions" => 2.1}
    end
  end

  describe "agent/1" do
    test "the Elixir tools run with the arguments of the model's tool calls" do
      result = LangChainDemo.agent()

      assert result.steps == [
               %{tool: "population", args: %{"city" => "Paris"}, result: "2.1"},
               %{tool: "multiply", args: %{"a" => 6, "b" => 7}, result: "42"}
             ]

      [_, {answer, []}] = Script.messages(:agent)
      assert result.answer == answer
    end

    test "the model sees each tool's name, @doc and typed arguments" do
      tools = LangChainDemo.agent().tools |> Map.new(&{&1.name, &1})

      assert tools["multiply"].description == "Multiplies two integers exactly."

      assert %{"a" => %{"type" => "integer"}, "b" => %{"type" => "integer"}} =
               tools["multiply"].args

      assert tools["population"].description == "The population of a city, in millions of people."
      assert %{"city" => %{"type" => "string"}} = tools["population"].args
    end
  end

  describe "stream/1" do
    test "the model's tokens arrive as an Elixir Stream, in order" do
      [{content, []}] = Script.messages(:stream)
      %{tokens: tokens} = LangChainDemo.stream()
      assert length(tokens) > 5
      assert tokens |> Enum.map(&elem(&1, 0)) |> Enum.join() == content
      times = Enum.map(tokens, &elem(&1, 1))
      assert times == Enum.sort(times)
    end

    test "the stream is lazy: taking two tokens stops the model" do
      model = Script.model!(:stream)
      prompt = LangChain.ChatPromptTemplate.from_messages!([{"human", "{q}"}])
      chain = LangChain.Runnable.pipe!(prompt, [model, LangChain.StrOutputParser.create!()])
      assert ["Paris", " "] = chain |> LangChain.Runnable.stream(%{"q" => "?"}) |> Enum.take(2)
    end
  end

  describe "LangChain.Runnable" do
    test "batch/3 runs several inputs; an Elixir function is a RunnableLambda" do
      shout = LangChain.RunnableLambda.create!(&String.upcase/1)
      assert LangChain.Runnable.batch!(shout, ["a", "b"]) == ["A", "B"]

      template = LangChain.PromptTemplate.from_template!("Hello {name}")
      assert LangChain.PromptTemplate.format!(template, name: "Ada") == "Hello Ada"
    end
  end

  describe "LangChainDemo.CLI" do
    test "prints every step" do
      {:ok, device} = StringIO.open("")
      :ok = LangChainDemo.CLI.main(device)
      {_, output} = StringIO.contents(device)
      assert output =~ "[1/4] prompt | model | parser | Elixir function"
      assert output =~ "population(%{\"city\" => \"Paris\"}) -> 2.1"
      assert output =~ "[4/4] Tokens streamed into Elixir"
    end
  end
end
