defmodule PyBridge.Worker.Startup do
  @moduledoc false
  # How a worker starts: the Port to `python -m pybridge_port`, the handshake,
  # the startup imports, and the words for a start that failed (with what
  # Python printed, found by running the import again when it died early).

  alias PyBridge.{Config, Error}

  @doc "Opens the Port and sends the handshake; `{:ok, port}` or the startup failure."
  @spec open(Config.t()) :: {:ok, port()} | {:error, term()}
  def open(config) do
    python = Config.python(config)

    port_opts = [
      :binary,
      :exit_status,
      :use_stdio,
      :hide,
      {:packet, 4},
      args: Config.args(config),
      env: Enum.map(Config.env(config), &port_env/1)
    ]

    port = Port.open({:spawn_executable, python}, port_opts)
    hello = {:hello, 1, %{exports: Config.export_names(config)}}
    true = Port.command(port, :erlang.term_to_binary(hello))
    {:ok, port}
  rescue
    error in [ErlangError, ArgumentError] ->
      reason =
        case error do
          %ErlangError{original: reason} -> reason
          other -> Exception.message(other)
        end

      {:error,
       failure(
         "cannot start Python executable #{inspect(Config.python(config))}: " <>
           "#{format_posix(reason)} (set the :python option or PYBRIDGE_PYTHON)"
       )}
  end

  @doc "Sends the startup imports; returns them by request id."
  @spec send_imports(Config.t(), (tuple() -> :ok)) :: %{pos_integer() => String.t()}
  def send_imports(config, send_frame) do
    Map.new(config.imports, fn module ->
      id = System.unique_integer([:positive, :monotonic])
      send_frame.({:import, id, module})
      {id, module}
    end)
  end

  @doc "The exit reason of a worker that could not start."
  @spec failure(String.t()) :: {:shutdown, {:startup_failed, Error.t()}}
  def failure(message) do
    {:shutdown, {:startup_failed, Error.new("pybridge.WorkerUnavailable", message)}}
  end

  @doc """
  Why Python exited before it was ready: it wrote the reason to the BEAM's
  stderr (fds are redirected to frames only once the worker runs), so the
  import is run again to put the reason in the error.
  """
  @spec diagnose(Config.t()) :: String.t()
  def diagnose(config) do
    python = Config.python(config)

    task =
      Task.async(fn ->
        System.cmd(python, ["-c", "import pybridge_port.__main__"],
          env: Config.env(config),
          stderr_to_stdout: true
        )
      end)

    case Task.yield(task, 10_000) || Task.shutdown(task, :brutal_kill) do
      {:ok, {output, status}} when status != 0 ->
        ": `#{python} -c 'import pybridge_port.__main__'` says:\n" <> String.trim(output)

      _ ->
        " (see its stderr above)"
    end
  catch
    _kind, _reason -> " (see its stderr above)"
  end

  defp port_env({key, nil}), do: {String.to_charlist(key), false}
  defp port_env({key, value}), do: {String.to_charlist(key), String.to_charlist(value)}

  defp format_posix(reason) when is_atom(reason) do
    case :file.format_error(reason) do
      ~c"unknown POSIX error" ++ _ -> inspect(reason)
      text -> "#{text} (#{reason})"
    end
  end

  defp format_posix(reason), do: inspect(reason)
end
