import Config

# The application starts one pool named `PyBridge` from these settings (see the
# `PyBridge` moduledoc for every key); `default_pool: false` turns it off.
if config_env() == :test do
  config :pybridge,
    python_path: [Path.expand("../test/support/python", __DIR__)],
    # Imported before a worker takes calls, so concurrent first calls never
    # see it half-imported (see .notes/runtime-vs-worker.md, item 3).
    imports: ["pybridge_test_support"],
    pool_size: 2,
    timeout: 15_000
end
