import Config

# The PyBridge pool the DSPex modules use. DSPy keeps its settings
# (dspy.configure) per Python process: the demo configures every worker at
# once (PyBridge.broadcast/4), so any pool size works.
config :pybridge,
  # Imported before a worker takes calls: DSPy takes ~0.6 s to import.
  imports: ["dspy"],
  # Python's own logging and progress bars go to Logger at :debug.
  output: {:logger, :debug},
  timeout: 120_000,
  # A real model's key (OPENAI_API_KEY, ...) comes from the shell: workers
  # inherit the whole environment here, not only the default short list.
  inherit_env: true

config :logger, level: :info

if config_env() == :test do
  config :logger, level: :warning
end
