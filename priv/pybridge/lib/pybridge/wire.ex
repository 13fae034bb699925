defmodule PyBridge.Wire do
  @moduledoc false
  # Says why `:erlang.binary_to_term(frame, [:safe])` refused a frame from
  # the Python worker, so the caller's error names the real cause instead of
  # a guess. Runs only after a frame was refused, never on the fast path.
  #
  # The External Term Format is prefix-encoded, so one linear pass with a
  # list of what remains to be read visits every term without recursion on
  # the nesting (a deeply nested frame cannot exhaust the stack).

  # The largest integer `binary_to_term` accepts on a 64-bit VM: 524,287
  # 64-bit digits (measured with LARGE_BIG_EXT of growing sizes on OTP 25).
  @max_big_bytes 4_194_296
  @max_atom_chars 255
  @known_tags [97, 98, 70, 99, 106, 110, 111, 100, 115, 118, 119, 104, 105, 108, 116] ++
                [107, 109, 77, 88, 103, 89, 120, 102, 90, 114, 113, 112]

  @doc "The largest integer magnitude, in bytes, this node decodes."
  @spec max_big_bytes() :: pos_integer()
  def max_big_bytes, do: @max_big_bytes

  @doc """
  Why `frame` (one term in the External Term Format, version byte first)
  cannot be decoded safely: the first atom this node does not know (by
  name), an integer over Erlang's size limit, an atom name that is too long,
  or where the term is malformed.
  """
  @spec diagnose(binary()) :: String.t()
  def diagnose(<<131, 80, size::32, compressed::binary>>) do
    case inflate(compressed) do
      {:ok, data} when byte_size(data) == size ->
        scan(data, [{:terms, 1}], 0)

      {:ok, data} ->
        "its compressed data is #{byte_size(data)} bytes, not the #{size} it declares"

      :error ->
        "its compressed data is not a valid zlib stream"
    end
  end

  def diagnose(<<131, rest::binary>>), do: scan(rest, [{:terms, 1}], 1)
  def diagnose(<<>>), do: "it is empty"

  def diagnose(<<version, _::binary>>),
    do: "it does not start with the version byte 131 (it starts with #{version})"

  defp inflate(data) do
    {:ok, :zlib.uncompress(data)}
  rescue
    _ -> :error
  catch
    _, _ -> :error
  end

  # `pending` is what remains to be read from `data` (which starts at byte
  # `offset` of the term): `{:terms, n}` (n terms) and `{:skip, n}` (n bytes
  # of the fixed-size tail of a pid, port or reference).
  defp scan(data, pending, offset)

  defp scan(<<>>, [], _offset), do: no_cause()

  defp scan(data, [], offset),
    do: "#{byte_size(data)} bytes follow the term (at offset #{offset})"

  defp scan(data, [{:terms, 0} | pending], offset), do: scan(data, pending, offset)

  defp scan(data, [{:skip, n} | pending], offset) do
    case data do
      <<_::binary-size(n), rest::binary>> -> scan(rest, pending, offset + n)
      _ -> truncated(data, offset)
    end
  end

  defp scan(data, [{:terms, n} | pending], offset) do
    case step(data) do
      {:ok, used, inner} ->
        <<_::binary-size(used), rest::binary>> = data
        scan(rest, inner ++ [{:terms, n - 1} | pending], offset + used)

      {:cause, cause} ->
        cause <> " (at offset #{offset})"

      :truncated ->
        truncated(data, offset)

      {:unknown_tag, tag} ->
        "it holds an unknown tag #{tag} (at offset #{offset})"
    end
  end

  defp truncated(data, offset),
    do: "it ends before the term does (at offset #{offset}, #{byte_size(data)} bytes left)"

  defp no_cause,
    do: "binary_to_term refused it, but it holds no unknown atom and no oversized integer"

  # One term's header: how many bytes it takes and what follows it that
  # belongs to it, or what is wrong with it.
  defp step(<<97, _, _::binary>>), do: leaf(2)
  defp step(<<98, _::32, _::binary>>), do: leaf(5)
  defp step(<<70, _::64, _::binary>>), do: leaf(9)
  defp step(<<99, _::binary-size(31), _::binary>>), do: leaf(32)
  defp step(<<106, _::binary>>), do: leaf(1)
  defp step(<<110, n, _sign, _::binary-size(n), _::binary>>), do: big(n, 3)
  defp step(<<111, n::32, _sign, _::binary>>) when n > @max_big_bytes, do: big(n, 6)
  defp step(<<111, n::32, _sign, rest::binary>>) when byte_size(rest) >= n, do: big(n, 6)
  defp step(<<100, n::16, name::binary-size(n), _::binary>>), do: atom(name, :latin1, 3 + n)
  defp step(<<115, n, name::binary-size(n), _::binary>>), do: atom(name, :latin1, 2 + n)
  defp step(<<118, n::16, name::binary-size(n), _::binary>>), do: atom(name, :utf8, 3 + n)
  defp step(<<119, n, name::binary-size(n), _::binary>>), do: atom(name, :utf8, 2 + n)
  defp step(<<104, n, _::binary>>), do: {:ok, 2, [{:terms, n}]}
  defp step(<<105, n::32, _::binary>>), do: {:ok, 5, [{:terms, n}]}
  defp step(<<108, n::32, _::binary>>), do: {:ok, 5, [{:terms, n + 1}]}
  defp step(<<116, n::32, _::binary>>), do: {:ok, 5, [{:terms, 2 * n}]}
  defp step(<<107, n::16, _::binary-size(n), _::binary>>), do: leaf(3 + n)
  defp step(<<109, n::32, rest::binary>>) when byte_size(rest) >= n, do: leaf(5 + n)
  defp step(<<77, n::32, _bits, rest::binary>>) when byte_size(rest) >= n, do: leaf(6 + n)
  # Pids, ports and references: a node atom, then fixed-size fields.
  defp step(<<88, _::binary>>), do: {:ok, 1, [{:terms, 1}, {:skip, 12}]}
  defp step(<<103, _::binary>>), do: {:ok, 1, [{:terms, 1}, {:skip, 9}]}
  defp step(<<89, _::binary>>), do: {:ok, 1, [{:terms, 1}, {:skip, 8}]}
  defp step(<<120, _::binary>>), do: {:ok, 1, [{:terms, 1}, {:skip, 12}]}
  defp step(<<102, _::binary>>), do: {:ok, 1, [{:terms, 1}, {:skip, 5}]}
  defp step(<<90, n::16, _::binary>>), do: {:ok, 3, [{:terms, 1}, {:skip, 4 + 4 * n}]}
  defp step(<<114, n::16, _::binary>>), do: {:ok, 3, [{:terms, 1}, {:skip, 1 + 4 * n}]}
  defp step(<<113, _::binary>>), do: {:ok, 1, [{:terms, 3}]}
  # NEW_FUN_EXT: size, arity, uniq, index and free-variable count, then the
  # module, old index, old uniq, pid and the free variables, all terms.
  defp step(<<112, _size::32, _arity, _uniq::binary-size(16), _index::32, free::32, _::binary>>),
    do: {:ok, 30, [{:terms, 4 + free}]}

  defp step(<<tag, _::binary>>) when tag in @known_tags, do: :truncated
  defp step(<<>>), do: :truncated
  defp step(<<tag, _::binary>>), do: {:unknown_tag, tag}

  defp leaf(used), do: {:ok, used, []}

  defp big(bytes, _header) when bytes > @max_big_bytes do
    {:cause,
     "it holds an integer of #{bytes} bytes, over Erlang's limit of #{@max_big_bytes} bytes"}
  end

  defp big(bytes, header), do: leaf(header + bytes)

  defp atom(name, encoding, used) do
    chars = if encoding == :utf8, do: String.length(name), else: byte_size(name)

    cond do
      chars > @max_atom_chars ->
        {:cause,
         "it holds an atom of #{chars} characters, over Erlang's limit of #{@max_atom_chars}"}

      existing_atom?(name, encoding) ->
        leaf(used)

      true ->
        shown = if encoding == :utf8, do: name, else: :unicode.characters_to_binary(name, :latin1)

        {:cause,
         "it holds the atom #{inspect(shown)}, which this node does not know " <>
           "(make it a string in Python)"}
    end
  end

  defp existing_atom?(name, encoding) do
    _ = :erlang.binary_to_existing_atom(name, encoding)
    true
  rescue
    ArgumentError -> false
  end
end
