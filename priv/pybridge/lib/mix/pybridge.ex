defmodule Mix.PyBridge do
  @moduledoc false
  # What the pybridge.* Mix tasks and the :pybridge compiler share: running
  # the generator (`python -m elixir_gen`, which lives next to pybridge_port in
  # the PyBridge repository) with the Python the runtime would start and the
  # PYTHONPATH it would give it (see PyBridge.Config: the `:python` setting,
  # else PYBRIDGE_PYTHON, else the repository's .venv, else python3), and
  # reading the lock a generation writes next to its spec.

  alias PyBridge.Config

  @doc "The Python executable and environment the generator runs with."
  @spec python() :: {String.t(), [{String.t(), String.t() | nil}]}
  def python do
    config = Config.new!(Config.app_defaults())
    {Config.python(config), Config.env(config)}
  end

  @doc """
  Runs `python -m elixir_gen args` in the current directory; returns its
  output (stdout and stderr together) and exit status. A Python that cannot
  be started raises a `Mix.Error` saying how to point at another.
  """
  @spec run([String.t()]) :: {String.t(), non_neg_integer()}
  def run(args) do
    {python, env} = python()

    try do
      System.cmd(python, ["-m", "elixir_gen" | args], env: env, stderr_to_stdout: true)
    rescue
      error in ErlangError ->
        Mix.raise(
          "cannot start Python at #{python} (#{inspect(error.original)}): set PYBRIDGE_PYTHON " <>
            "or `config :pybridge, python: \"/path/to/python\"`"
        )
    end
  end

  @doc """
  Runs the generator and prints its output Mix-style: files it wrote as
  `* generated path`, problems in red. Raises `Mix.Error` (exit status 1)
  when it fails, with `failure` as the message.
  """
  @spec run!([String.t()], String.t()) :: String.t()
  def run!(args, failure) do
    {output, status} = run(args)

    if status == 0 do
      output
    else
      Mix.shell().error(String.trim_trailing(output))
      Mix.raise(failure)
    end
  end

  @doc "Prints generator output, marking the lines that name a file it wrote."
  @spec print(String.t()) :: :ok
  def print(output) do
    output
    |> String.split("\n", trim: true)
    |> Enum.each(fn line ->
      if File.regular?(line),
        do: Mix.shell().info([:green, "* generated ", :reset, line]),
        else: Mix.shell().info(line)
    end)
  end

  @doc "The lock written next to a spec (`specs/x.yaml` -> `specs/x.lock`)."
  @spec lock_path(Path.t()) :: Path.t()
  def lock_path(spec), do: Path.rootname(spec) <> ".lock"

  @doc """
  The lock's fields, and the generated files it lists (path relative to the
  lock's folder -> sha256); nil when there is no lock.
  """
  @spec read_lock(Path.t()) :: {%{String.t() => String.t()}, %{String.t() => String.t()}} | nil
  def read_lock(path) do
    case File.read(path) do
      {:ok, text} ->
        text
        |> String.split("\n", trim: true)
        |> Enum.reject(&String.starts_with?(&1, "#"))
        |> Enum.reduce({%{}, %{}}, fn line, {fields, outputs} ->
          case String.split(line, ": ", parts: 2) do
            ["output", rest] ->
              [digest, file] = String.split(rest, " ", parts: 2)
              {fields, Map.put(outputs, file, digest)}

            [key, value] ->
              {Map.put(fields, key, value), outputs}

            _ ->
              {fields, outputs}
          end
        end)

      {:error, _} ->
        nil
    end
  end

  @doc "The lowercase hex SHA-256 of a file's contents (what the lock records)."
  @spec sha256(Path.t()) :: String.t()
  def sha256(path), do: :crypto.hash(:sha256, File.read!(path)) |> Base.encode16(case: :lower)
end
