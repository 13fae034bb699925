# The LangChain demo: `mix run demo.exs` (offline, with langchain-core's fake
# chat models), or with a real provider:
# `LANGCHAIN_DEMO_MODEL=openai:gpt-4o-mini OPENAI_API_KEY=... mix run demo.exs`.
LangChainDemo.CLI.main()
