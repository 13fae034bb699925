defmodule Mix.Tasks.Pybridge.Gen do
  @shortdoc "Generates Elixir modules from a PyBridge spec"
  @moduledoc """
  Generates typed, documented Elixir modules from a PyBridge spec (a YAML
  file describing a Python library's API, see `docs/SPEC.md`):

      $ mix pybridge.gen specs/dspy.yaml
      $ mix pybridge.gen specs/dspy.yaml -o lib/dspy --tests --tests-dir test/dspy

  It runs `python -m elixir_gen` with the Python the runtime starts (the
  `:python` setting of `config :pybridge`, else `PYBRIDGE_PYTHON`, else the
  PyBridge repository's `.venv`, else `python3`), prints every file written
  and the quality report (how many `@spec` positions have a concrete type,
  members skipped, docs missing), and writes the lock next to the spec
  (`specs/dspy.lock`), which `mix pybridge.check` and the `:pybridge`
  compiler read.

  ## Options

    * `-o`, `--output DIR` - folder for the `.ex` files (default: `lib`)
    * `--tests` - also write ExUnit smoke tests from the spec's examples
    * `--tests-dir DIR` - folder for the tests (default: `test`)
    * `--refresh` - introspect the library again instead of reading the cache
    * `--no-lock` - do not write the lock

  A spec with problems prints each one as `file:line: message` and the task
  exits with status 1.
  """
  use Mix.Task

  @switches [
    output: :string,
    tests: :boolean,
    tests_dir: :string,
    refresh: :boolean,
    lock: :boolean
  ]

  @impl true
  def run(args) do
    {opts, positional} = OptionParser.parse!(args, strict: @switches, aliases: [o: :output])

    spec =
      case positional do
        [spec] ->
          spec

        _ ->
          Mix.raise(
            "expected one spec, e.g. `mix pybridge.gen specs/dspy.yaml`, got: #{inspect(positional)}"
          )
      end

    unless File.regular?(spec), do: Mix.raise("no spec at #{spec}")

    argv =
      ["generate", spec, "-o", Keyword.get(opts, :output, "lib")] ++
        if(opts[:tests],
          do: ["--tests", "--tests-dir", Keyword.get(opts, :tests_dir, "test")],
          else: []
        ) ++
        if(opts[:refresh], do: ["--refresh"], else: []) ++
        if(opts[:lock] == false, do: ["--no-lock"], else: [])

    argv
    |> Mix.PyBridge.run!("#{spec} could not be generated (see above)")
    |> Mix.PyBridge.print()
  end
end
