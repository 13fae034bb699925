defmodule Mix.Tasks.Pybridge.Check do
  @shortdoc "Checks a PyBridge spec against the installed library and generator"
  @moduledoc """
  Compares a spec with what is installed now and exits with status 1 on any
  difference:

      $ mix pybridge.check specs/dspy.yaml

  It reports, with the spec's line: a library version that no longer
  satisfies the spec's `version`; a library, generator or spec that changed
  since the lock (`specs/dspy.lock`, written by `mix pybridge.gen`) and
  generated files that were edited or removed — the output is then stale:
  regenerate; paths that are gone; arguments that were removed or renamed,
  and new required ones.
  """
  use Mix.Task

  @impl true
  def run(args) do
    spec =
      case OptionParser.parse!(args, strict: []) do
        {_, [spec]} ->
          spec

        {_, other} ->
          Mix.raise(
            "expected one spec, e.g. `mix pybridge.check specs/dspy.yaml`, got: #{inspect(other)}"
          )
      end

    unless File.regular?(spec), do: Mix.raise("no spec at #{spec}")

    ["check", spec]
    |> Mix.PyBridge.run!("#{spec} differs from what is installed (see above)")
    |> String.trim_trailing()
    |> Mix.shell().info()
  end
end
