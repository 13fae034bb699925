defmodule PyBridge.MixProject do
  use Mix.Project

  def project do
    [
      app: :pybridge,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      elixirc_paths: elixirc_paths(Mix.env()),
      # Only the Mix tasks hash files with :crypto (Mix has it loaded); the
      # runtime itself does not need the application.
      xref: [exclude: [:crypto]],
      deps: []
    ]
  end

  def application do
    [
      extra_applications: [:logger],
      mod: {PyBridge.Application, []}
    ]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_env), do: ["lib"]
end
