defmodule LangChainDemo.MixProject do
  use Mix.Project

  # LangChain (langchain-core) from Elixir: the LangChain modules generated
  # from specs/langchain.yaml (lib/generated/), Elixir tools
  # (lib/langchain_demo/tools.ex) and the flows (lib/langchain_demo.ex, run
  # with `mix run demo.exs`).
  def project do
    [
      app: :langchain_demo,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: [{:pybridge, path: "../../priv/pybridge"}]
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end
end
