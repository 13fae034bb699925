defmodule PyBridgeBench.Json do
  @moduledoc false
  # Elixir 1.14 has no JSON module and the benchmarks take no dependencies:
  # this encodes the plain data the benchmarks report (maps, lists, numbers,
  # strings, atoms).

  def encode(value), do: IO.iodata_to_binary(encode_value(value))

  defp encode_value(nil), do: "null"
  defp encode_value(true), do: "true"
  defp encode_value(false), do: "false"
  defp encode_value(value) when is_atom(value), do: encode_value(Atom.to_string(value))
  defp encode_value(value) when is_integer(value), do: Integer.to_string(value)
  defp encode_value(value) when is_float(value), do: :erlang.float_to_binary(value, [:short])

  defp encode_value(value) when is_binary(value) do
    escaped =
      for <<char::utf8 <- value>>, into: "" do
        case char do
          ?" -> "\\\""
          ?\\ -> "\\\\"
          c when c < 0x20 -> "\\u" <> String.pad_leading(Integer.to_string(c, 16), 4, "0")
          c -> <<c::utf8>>
        end
      end

    [?", escaped, ?"]
  end

  defp encode_value(value) when is_list(value),
    do: [?[, Enum.intersperse(Enum.map(value, &encode_value/1), ?,), ?]]

  defp encode_value(value) when is_map(value) do
    pairs = Enum.map(value, fn {k, v} -> [encode_value(to_string(k)), ?:, encode_value(v)] end)
    [?{, Enum.intersperse(pairs, ?,), ?}]
  end
end
