defmodule PyBridge.Deferred do
  @moduledoc """
  A Python call made later, on each worker, where its result is needed:
  inside the arguments of a pool's `:setup` calls and of
  `PyBridge.broadcast/4`.

  A handle (`PyBridge.Ref`) names an object in one worker, so it cannot
  configure every worker. A deferred call is made on each worker (on the
  thread that runs setup), and its result takes its place there:

      PyBridge.broadcast("dspy.configure", [], lm: PyBridge.deferred("dspy.LM", ["openai/gpt-4o-mini"]))

  Deferred calls may nest (`PyBridge.deferred("f", [PyBridge.deferred("g")])`).
  Build them with `PyBridge.deferred/3`.
  """

  @enforce_keys [:target]
  defstruct target: nil, args: [], kwargs: []

  @type t :: %__MODULE__{
          target: String.t(),
          args: list(),
          kwargs: keyword() | %{optional(atom() | String.t()) => term()}
        }
end
