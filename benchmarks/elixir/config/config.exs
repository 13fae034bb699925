import Config

# The benchmarks start their own pools (of 1 and of 2 workers).
config :pybridge, default_pool: false
config :logger, level: :warning
