"""PyBridge's Python worker: serves Elixir over an Erlang port (see docs/PROTOCOL.md)."""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
