import Config

# The PyBridge pool the LangChain modules use. The handles one process
# creates stay on one worker, so a flow (prompt, model, parser, tools) needs
# no session and any pool size works.
config :pybridge,
  imports: ["langchain_core.prompts", "langchain_core.language_models.fake_chat_models"],
  output: {:logger, :debug},
  timeout: 60_000,
  # A real model's key (OPENAI_API_KEY, ...) comes from the shell: workers
  # inherit the whole environment here, not only the default short list.
  inherit_env: true

config :logger, level: :info

if config_env() == :test do
  config :logger, level: :warning
end
