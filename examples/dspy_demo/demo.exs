# The DSPy demo: `mix run demo.exs` (offline, with DSPy's DummyLM), or with a
# real model: `DSPEX_MODEL=openai/gpt-4o-mini OPENAI_API_KEY=... mix run demo.exs`.
# Exits with status 1 when a step failed.
with {:error, _failed} <- DSPyDemo.CLI.main(System.argv()), do: exit({:shutdown, 1})
