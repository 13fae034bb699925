defmodule DSPyDemo.MixProject do
  use Mix.Project

  # DSPy from Elixir, end to end: the DSPex modules generated from
  # specs/dspy.yaml (lib/generated/), an Elixir tool (lib/dspy_demo/tools.ex)
  # and a demo
  # (lib/dspy_demo.ex, run with `mix run demo.exs`).
  def project do
    [
      app: :dspy_demo,
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
