# The smallest real conversation with the worker: an Elixir Port, {packet, 4}
# frames, ETF terms (docs/PROTOCOL.md). The runtime in priv/pybridge does this
# (and much more) for you; this script shows the wire underneath.
#
#     PYBRIDGE_PYTHON=.venv/bin/python elixir examples/hello_port.exs
python = System.get_env("PYBRIDGE_PYTHON") || System.find_executable("python3")
root = Path.expand("..", __DIR__)

port =
  Port.open({:spawn_executable, python}, [
    :binary,
    :exit_status,
    {:packet, 4},
    args: ["-m", "pybridge_port"],
    env: [{~c"PYTHONPATH", String.to_charlist(root)}]
  ])

# `binary_to_term(frame, [:safe])` only accepts atoms that already exist: name
# the ones the worker's hello and errors use (the runtime does the same).
_protocol_atoms = [:hello, :ok, :error, :worker, :pid, :python, :pybridge, :max_frame, :threads]
_error_atoms = [:type, :message, :traceback]

request = fn term ->
  started = System.monotonic_time(:microsecond)
  true = Port.command(port, :erlang.term_to_binary(term))

  receive do
    {^port, {:data, frame}} ->
      {:erlang.binary_to_term(frame, [:safe]), System.monotonic_time(:microsecond) - started}

    {^port, {:exit_status, status}} ->
      raise "the worker exited with status #{status}"
  after
    10_000 -> raise "no answer from the worker within 10 s"
  end
end

{{:hello, 1, info}, _} = request.({:hello, 1, %{}})
IO.puts("worker #{info.worker}: Python #{info.python}, OS pid #{info.pid}")

for {label, term} <- [
      {"statistics.mean([1, 2, 3, 4])", {:call, 1, "statistics.mean", [[1, 2, 3, 4]], [], %{}}},
      {"math.factorial(30)", {:call, 2, "math.factorial", [30], [], %{}}},
      {"json.dumps(%{b: 1, a: [true, nil]}, sort_keys: true)",
       {:call, 3, "json.dumps", [%{b: 1, a: [true, nil]}], [sort_keys: true], %{}}},
      {"math.sqrt(-1)", {:call, 4, "math.sqrt", [-1.0], [], %{}}}
    ] do
  {reply, micros} = request.(term)

  answer =
    case reply do
      {:ok, _id, value} -> inspect(value)
      {:error, _id, error} -> "#{error.type}: #{error.message}"
    end

  IO.puts("#{label} -> #{answer}   (#{micros} µs)")
end

Port.close(port)
