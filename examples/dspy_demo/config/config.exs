import Config

# The PyBridge pool the DSPex modules use. DSPy keeps its settings
# (dspy.configure) per Python process: the demo configures every worker at
# once (PyBridge.broadcast/4), so any pool size works.
config :pybridge,
  # Imported before a worker takes calls: DSPy takes ~0.6 s to import.
  # numpy too: a worker must not encode a reply while a thread is still
  # importing numpy (pybridge_port/values.py looks it up in sys.modules).
  imports: ["dspy", "numpy"],
  # Python's own logging and progress bars go to Logger at :debug.
  output: {:logger, :debug},
  timeout: 120_000

config :logger, level: :info

if config_env() == :test do
  config :logger, level: :warning
end
