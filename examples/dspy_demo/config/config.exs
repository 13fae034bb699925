import Config

# The PyBridge pool the DSPex modules use. DSPy keeps its settings
# (DSPex.configure/1) per Python process; the demo and the tests run each
# flow in a session (PyBridge.with_session/2), so any pool size works.
config :pybridge,
  python_path: [Path.expand("../priv/python", __DIR__)],
  # Imported before a worker takes calls: DSPy takes ~0.6 s to import.
  imports: ["dspy", "dspex_interop"],
  # Python's own logging and progress bars go to Logger at :debug.
  output: {:logger, :debug},
  timeout: 120_000

config :logger, level: :info

if config_env() == :test do
  config :logger, level: :warning
end
