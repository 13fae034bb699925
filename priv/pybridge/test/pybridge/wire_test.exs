defmodule PyBridge.WireTest do
  use ExUnit.Case, async: true

  alias PyBridge.Wire

  # Every atom below is made from a string built at run time, so that this
  # module's own code never creates it.
  defp unknown(suffix), do: "pybridge_wire_test_unknown_" <> suffix

  describe "diagnose/1" do
    test "names the first atom this node does not know, as UTF-8 and Latin-1 atoms" do
      name = unknown("utf8")
      frame = <<131, 104, 3, 119, 2, "ok", 97, 7, 119, byte_size(name), name::binary>>
      assert Wire.diagnose(frame) =~ ~s(the atom "#{name}", which this node does not know)

      name = unknown("latin1_é") |> :unicode.characters_to_binary(:utf8, :latin1)
      frame = <<131, 108, 1::32, 100, byte_size(name)::16, name::binary, 106>>
      assert Wire.diagnose(frame) =~ ~s(the atom "#{unknown("latin1_é")}")
    end

    test "finds an unknown atom inside pids, funs and maps" do
      term =
        {:ok, 1,
         [self(), make_ref(), %{"a" => [1.5, {1, 2}, <<1, 2, 3>>, 2 ** 200]}, &Enum.map/2]}

      known = :erlang.term_to_binary(term)
      name = unknown("map_key")

      frame =
        <<131, 104, 2>> <>
          binary_part(known, 1, byte_size(known) - 1) <>
          <<116, 1::32, 119, byte_size(name), name::binary, 106>>

      assert Wire.diagnose(frame) =~ name
    end

    test "names an integer over Erlang's limit with its size" do
      frame = <<131, 111, 4_194_297::32, 0>> <> :binary.copy(<<1>>, 4_194_297)

      assert Wire.diagnose(frame) ==
               "it holds an integer of 4194297 bytes, over Erlang's limit of 4194296 bytes (at offset 1)"

      assert Wire.max_big_bytes() == 4_194_296
    end

    test "names an atom name over 255 characters" do
      frame = <<131, 118, 300::16>> <> String.duplicate("a", 300)
      assert Wire.diagnose(frame) =~ "an atom of 300 characters, over Erlang's limit of 255"
    end

    test "says where a malformed frame goes wrong" do
      valid = :erlang.term_to_binary({:ok, 1, "a string"})
      assert Wire.diagnose(binary_part(valid, 0, 8)) =~ "it ends before the term does"
      assert Wire.diagnose(valid <> "x") =~ "1 bytes follow the term"
      assert Wire.diagnose(<<131, 250>>) =~ "unknown tag 250"
      assert Wire.diagnose(<<1, 2>>) =~ "version byte 131"
      assert Wire.diagnose(<<131, 80, 100::32, "not zlib">>) =~ "not a valid zlib stream"
    end

    test "looks inside compressed frames, and does not recurse on nesting" do
      name = unknown("compressed")
      plain = <<104, 2, 97, 1, 119, byte_size(name), name::binary>>
      frame = <<131, 80, byte_size(plain)::32>> <> :zlib.compress(plain)
      assert Wire.diagnose(frame) =~ name

      deep = Enum.reduce(1..1_000_000, [], fn _, acc -> [acc] end)
      assert Wire.diagnose(:erlang.term_to_binary(deep)) =~ "holds no unknown atom"
    end
  end
end
