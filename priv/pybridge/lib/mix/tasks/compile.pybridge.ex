defmodule Mix.Tasks.Compile.Pybridge do
  @shortdoc "Regenerates the modules of PyBridge specs that changed"
  @moduledoc """
  A Mix compiler that keeps generated modules in step with their specs.
  List the specs in the configuration and put the compiler before Elixir's:

      # config/config.exs
      config :pybridge,
        specs: [
          "specs/dspy.yaml",
          {"specs/numpy.yaml", output: "lib/numpy", tests: "test/numpy"}
        ]

      # mix.exs
      def project do
        [compilers: [:pybridge] ++ Mix.compilers(), ...]
      end

  Each `mix compile` compares every spec with its lock (`specs/dspy.lock`,
  written by each generation): when the spec's hash, or a generated file's,
  differs from what the lock recorded, or a file is missing, or the lock
  lists files outside the configured folders, the spec is generated again
  (`mix pybridge.gen`); the Elixir compiler then compiles what changed.
  When the committed output is current nothing runs — Python is not needed
  to build a project whose generated code is up to date. (That the installed
  library or the generator changed is for `mix pybridge.check`, which needs
  Python.)

  Options per spec: `:output` (default `"lib"`) and `:tests`, a folder for
  the ExUnit smoke tests (default: none).
  """
  use Mix.Task.Compiler

  alias Mix.Task.Compiler.Diagnostic

  @impl true
  def run(_args) do
    results =
      :pybridge
      |> Application.get_env(:specs, [])
      |> List.wrap()
      |> Enum.map(&normalize/1)
      |> Enum.map(&compile_spec/1)

    errors = for {:error, diagnostics} <- results, d <- diagnostics, do: d

    cond do
      errors != [] -> {:error, errors}
      Enum.any?(results, &(&1 == :ok)) -> {:ok, []}
      true -> {:noop, []}
    end
  end

  defp normalize(spec) when is_binary(spec), do: normalize({spec, []})

  defp normalize({spec, opts}) when is_binary(spec) and is_list(opts) do
    opts = Keyword.validate!(opts, output: "lib", tests: nil)
    {spec, opts[:output], opts[:tests]}
  end

  defp normalize(other) do
    Mix.raise(
      "config :pybridge, specs: expected a list of paths or {path, output: dir, tests: dir}, got: #{inspect(other)}"
    )
  end

  defp compile_spec({spec, output, tests}) do
    cond do
      not File.regular?(spec) ->
        {:error, [diagnostic(spec, 0, "no spec at #{spec} (listed in config :pybridge, :specs)")]}

      current?(spec, [output | List.wrap(tests)]) ->
        :noop

      true ->
        generate(spec, output, tests)
    end
  end

  @doc false
  # Whether the spec's generated files are what its lock says they are.
  @spec current?(Path.t(), [Path.t()]) :: boolean()
  def current?(spec, folders) do
    lock = Mix.PyBridge.lock_path(spec)

    case Mix.PyBridge.read_lock(lock) do
      {%{"spec_sha256" => digest}, outputs} when outputs != %{} ->
        base = Path.dirname(lock)
        roots = Enum.map(folders, &(Path.expand(&1) <> "/"))

        digest == Mix.PyBridge.sha256(spec) and
          Enum.all?(outputs, fn {file, sha} ->
            path = Path.expand(file, base)

            Enum.any?(roots, &String.starts_with?(path, &1)) and File.regular?(path) and
              Mix.PyBridge.sha256(path) == sha
          end)

      _ ->
        false
    end
  end

  defp generate(spec, output, tests) do
    Mix.shell().info("Generating #{output} from #{spec} (pybridge)")

    argv =
      ["generate", spec, "-o", output] ++
        if(tests, do: ["--tests", "--tests-dir", tests], else: [])

    case Mix.PyBridge.run(argv) do
      {_output, 0} ->
        :ok

      {text, _status} ->
        Mix.shell().error(String.trim_trailing(text))
        {:error, diagnostics(spec, text)}
    end
  end

  # Spec problems come as `file:line: message`; anything else is one error.
  defp diagnostics(spec, text) do
    found =
      for line <- String.split(text, "\n"),
          [_, file, number, message] <- [Regex.run(~r/^\s*(\S+?):(\d+): (.*)$/, line)],
          do: diagnostic(file, String.to_integer(number), message)

    if found == [], do: [diagnostic(spec, 0, String.trim(text))], else: found
  end

  defp diagnostic(file, line, message) do
    %Diagnostic{
      compiler_name: "pybridge",
      file: Path.expand(file),
      position: line,
      message: message,
      severity: :error
    }
  end
end
