defmodule PyBridge.Worker.Replies do
  @moduledoc false
  # What the worker does with a frame from Python that answers a request.
  #
  # The frame is not decoded here: its head (`{tag, id, ...}`, read from the
  # first bytes) says whose it is, and the binary goes to that caller, which
  # decodes it in its own process. So replies are decoded in parallel on every
  # scheduler instead of one after another in the worker, and a decoded term
  # is never copied between processes. A final reply (`:ok`, `:error`) takes
  # the request's entry and lowers the worker's load; a `:chunk` leaves both.
  #
  # Frames that are not replies (hello, callbacks, output, scope notices) are
  # decoded by the worker, with `binary_to_term(frame, [:safe])`.

  alias PyBridge.Conn

  # Frames this large are let go of at once (a GC of the worker's small heap),
  # not when the worker's heap next fills up: large replies must not keep
  # their memory in the pool after the caller is done with them.
  @large 1024 * 1024

  @type routed :: {:reply | :chunk, integer(), pid() | nil} | :unknown_id | :not_a_reply

  @doc "Sends a reply frame to the caller waiting for it; what it was, for the worker's books."
  @spec route(binary(), Conn.t() | :ets.tid(), :counters.counters_ref() | nil) :: routed()
  def route(frame, requests, load) do
    result =
      case head(frame) do
        {tag, id} when tag in ["ok", "error"] ->
          case :ets.take(requests, id) do
            [{^id, alias, _caller, owner}] ->
              # The load first: the caller, once woken, may route its next
              # request at once, and must not see this one still counted.
              if load, do: :counters.sub(load, 1, 1)
              send(alias, {PyBridge.Worker, :reply, id, frame})
              {:reply, id, owner}

            [] ->
              :unknown_id
          end

        {"chunk", id} ->
          case :ets.lookup(requests, id) do
            [{^id, alias, _caller, _owner}] ->
              send(alias, {PyBridge.Worker, :chunk, id, frame})
              {:chunk, id, nil}

            [] ->
              :unknown_id
          end

        _ ->
          :not_a_reply
      end

    if byte_size(frame) >= @large, do: :erlang.garbage_collect()
    result
  end

  @doc """
  `{tag, id}` of a frame `{tag, id, ...}` with an atom tag and an integer id,
  as the worker encodes them, read without decoding the rest; `:error` otherwise.
  """
  @spec head(binary()) :: {binary(), integer()} | :error
  def head(<<131, 104, arity, 119, size, tag::binary-size(size), rest::binary>>)
      when arity >= 2,
      do: id(tag, rest)

  def head(<<131, 104, arity, 118, size::16, tag::binary-size(size), rest::binary>>)
      when arity >= 2,
      do: id(tag, rest)

  def head(_frame), do: :error

  defp id(tag, rest) do
    case integer(rest) do
      {id, _rest} -> {tag, id}
      :error -> :error
    end
  end

  defp integer(<<97, id, rest::binary>>), do: {id, rest}
  defp integer(<<98, id::signed-32, rest::binary>>), do: {id, rest}

  defp integer(<<110, n, sign, id::little-unsigned-size(n)-unit(8), rest::binary>>) when n <= 8,
    do: {if(sign == 0, do: id, else: -id), rest}

  defp integer(_rest), do: :error

  @doc """
  Of a callback frame `{:callback, callback_id, request_id, fun, args}`:
  `{:ok, request_id, named?}`, `named?` when `fun` is an exported name (a
  binary) rather than an Elixir fun, read without decoding the frame.
  """
  @spec callback_request(binary()) :: {:ok, integer(), boolean()} | :error
  def callback_request(<<131, 104, 5, 119, 8, "callback", rest::binary>>) do
    with {_callback_id, rest} <- integer(rest),
         {request_id, <<fun_tag, _::binary>>} <- integer(rest) do
      {:ok, request_id, fun_tag == 109}
    end
  end

  def callback_request(_frame), do: :error

  @doc """
  A reply the caller decodes: `{:ok, value}` or `{:error, error_map}`. A frame
  that `binary_to_term(.., [:safe])` refuses becomes a `pybridge.CodecError`
  that says what in it could not be decoded.
  """
  @spec decode(binary()) :: {:ok, term()} | {:error, map()}
  def decode(frame) do
    case :erlang.binary_to_term(frame, [:safe]) do
      {:ok, _id, value} -> {:ok, value}
      {:error, _id, error} -> {:error, error}
      {:chunk, _id, value} -> {:ok, value}
    end
  rescue
    ArgumentError -> {:error, undecodable(frame)}
  end

  @doc "The error of a frame from Python that cannot be decoded safely."
  @spec undecodable(binary()) :: map()
  def undecodable(frame) do
    %{
      type: "pybridge.CodecError",
      message:
        "the Python worker's reply (#{byte_size(frame)} bytes) cannot be decoded safely: " <>
          PyBridge.Wire.diagnose(frame),
      traceback: []
    }
  end
end
