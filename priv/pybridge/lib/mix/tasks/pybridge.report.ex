defmodule Mix.Tasks.Pybridge.Report do
  @shortdoc "Prints the quality report of a PyBridge spec's generated modules"
  @moduledoc """
  Builds a spec's modules without writing them and prints the quality
  report: modules and functions, the share of `@spec`s without `term()`, the
  share of argument, option and result positions with a concrete type (and
  every position Python types that the output could not keep), private
  members, docs that only repeat `object`'s, docs missing, and the members
  skipped with why:

      $ mix pybridge.report specs/dspy.yaml
      $ mix pybridge.report specs/dspy.yaml --json

  ## Options

    * `--json` - print the report as JSON
  """
  use Mix.Task

  @impl true
  def run(args) do
    {opts, positional} = OptionParser.parse!(args, strict: [json: :boolean])

    spec =
      case positional do
        [spec] ->
          spec

        _ ->
          Mix.raise(
            "expected one spec, e.g. `mix pybridge.report specs/dspy.yaml`, got: #{inspect(positional)}"
          )
      end

    unless File.regular?(spec), do: Mix.raise("no spec at #{spec}")

    ["report", spec | if(opts[:json], do: ["--json"], else: [])]
    |> Mix.PyBridge.run!("the report of #{spec} failed (see above)")
    |> String.trim_trailing()
    |> Mix.shell().info()
  end
end
