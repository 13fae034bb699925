defmodule Mix.Tasks.Pybridge.Discover do
  @shortdoc "Writes a PyBridge spec for an installed Python module"
  @moduledoc """
  Introspects an installed Python module and writes a spec to edit:

      $ mix pybridge.discover dspy --depth 0 -o specs/dspy.yaml
      $ mix pybridge.discover json            # prints the spec

  The spec lists the module's public classes and functions; their arguments,
  types and docs go to an introspection cache next to it, which
  `mix pybridge.gen` reads.

  ## Options

    * `-o`, `--output FILE` - where to write the spec (default: print it)
    * `--depth N` - levels of submodules to walk (default: 1)
    * `--submodule NAME` - a submodule to walk besides the module's attributes (repeatable)
    * `--exclude PATTERN` - fnmatch pattern of names to leave out (repeatable; default: `_*`)
    * `--namespace Module` - the Elixir module for the library (default: derived)
    * `--cache PATH` - the introspection cache, relative to the spec
  """
  use Mix.Task

  @switches [
    output: :string,
    depth: :integer,
    submodule: :keep,
    exclude: :keep,
    namespace: :string,
    cache: :string
  ]

  @impl true
  def run(args) do
    {opts, positional} = OptionParser.parse!(args, strict: @switches, aliases: [o: :output])

    module =
      case positional do
        [module] ->
          module

        _ ->
          Mix.raise(
            "expected one Python module, e.g. `mix pybridge.discover dspy`, got: #{inspect(positional)}"
          )
      end

    argv =
      Enum.flat_map(opts, fn
        {:output, file} -> ["-o", file]
        {key, value} -> ["--#{key}", to_string(value)]
      end)

    ["discover", module | argv]
    |> Mix.PyBridge.run!("discovering #{module} failed (see above)")
    |> Mix.PyBridge.print()
  end
end
