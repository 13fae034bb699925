# The Erlang side of tests/test_codec_erlang.py: one process answers every
# command of a test run, so pids, references, ports and funs it makes stay
# comparable (===) for the whole run.
#
# One command per line on stdin, one answer per line on stdout; every field
# after the command word is base64, so no value can break the framing.
#
#   EVAL <id> <elixir expression> <term_to_binary options as an expression>
#       evaluates the expression, keeps its value under <id> and answers
#       "OK <:erlang.term_to_binary(value, options)>" or "ERR <message>".
#   CHECK <id> <binary>
#       answers "OK" if :erlang.binary_to_term(binary, [:safe]) === the value
#       kept under <id>, else "ERR <message>".
#
# The peer exits when its input closes.

defmodule CodecPeer.Funs do
  # A fun from a compiled module, next to the erl_eval funs that EVAL makes.
  def adder(y), do: fn x -> x + y end
end

defmodule CodecPeer do
  def loop(values) do
    case IO.binread(:stdio, :line) do
      line when is_binary(line) ->
        {reply, values} = handle(String.split(String.trim_trailing(line, "\n"), " "), values)
        IO.binwrite(:stdio, reply <> "\n")
        loop(values)

      _eof_or_error ->
        :ok
    end
  end

  defp handle(["EVAL", id, expression, options], values) do
    {value, _binding} = Code.eval_string(Base.decode64!(expression))
    {options, _binding} = Code.eval_string(Base.decode64!(options))
    {"OK " <> Base.encode64(:erlang.term_to_binary(value, options)), Map.put(values, id, value)}
  rescue
    error -> {error_reply(Exception.format(:error, error, __STACKTRACE__)), values}
  end

  defp handle(["CHECK", id, binary], values) do
    expected = Map.fetch!(values, id)

    reply =
      try do
        got = :erlang.binary_to_term(Base.decode64!(binary), [:safe])

        if got === expected,
          do: "OK",
          else: error_reply("got #{inspect(got, limit: 30)}, expected #{inspect(expected, limit: 30)}")
      rescue
        error -> error_reply("binary_to_term(bin, [:safe]) raised: " <> Exception.message(error))
      end

    {reply, values}
  end

  defp handle(other, values), do: {error_reply("unknown command: #{inspect(other)}"), values}

  defp error_reply(message), do: "ERR " <> Base.encode64(message)
end

CodecPeer.loop(%{})
