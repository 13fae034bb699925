defmodule PyBridge.Callback do
  @moduledoc false
  # Runs a callback Python asked for: `{:callback, cb_id, request_id, fun |
  # "name", args}`. Each runs in a new process, never in the Worker: a callback
  # may itself call Python (on the same worker, any depth) and wait for it,
  # which the Worker must stay free to serve. The process is not linked to the
  # Worker (a callback crashing must not take the worker down) and always
  # answers, with `{:ok, value}` or an error map Python raises as
  # `CallbackError`. Handles its nested calls create belong to the process
  # that made the original request (`owner`), not to this short-lived one, so
  # a handle it returns to Python stays alive.
  #
  # Across nodes: an Elixir fun runs on the node of the caller that passed it
  # (`start_remote/5`, spawned there with `Node.spawn/4`), because that node
  # has its code (a fun's module may exist only there, and a fun closing over
  # node-local state, a named process or an ETS table, means that node's).
  # The frame goes there undecoded and is decoded there; the reply comes back
  # to the worker as `{PyBridge.Worker, :frame, frame}` (a Port can only be
  # written on its own node). Exported names run on the worker's node, with
  # its pool's `:export_to_python`.

  alias PyBridge.{Client, Telemetry, Worker}
  alias PyBridge.Worker.Replies

  @spec start(port(), pos_integer(), term(), term(), list(), pid() | nil, %{
          optional(String.t()) => {module(), atom(), non_neg_integer()}
        }) :: pid()
  def start(port, max_frame, callback_id, fun, args, owner, exports) do
    spawn(fn ->
      if is_pid(owner) do
        Client.inherit_owner(owner)
        Process.put(:"$callers", [owner])
      end

      reply = observed(fun, args, exports)
      frame = encode(callback_id, reply, max_frame)

      try do
        Port.command(port, frame)
      rescue
        # The worker is gone; so is the Python thread that waited.
        ArgumentError -> true
      end
    end)
  end

  @doc """
  Runs the callback of the undecoded `frame` on `node` (the node of the
  request's caller) and sends the reply frame to `worker`.
  """
  @spec start_remote(node(), pid(), binary(), pid() | nil, pos_integer()) :: pid()
  def start_remote(node, worker, frame, owner, max_frame) do
    Node.spawn(node, __MODULE__, :run_remote, [worker, frame, owner, max_frame])
  end

  @doc false
  @spec run_remote(pid(), binary(), pid() | nil, pos_integer()) :: term()
  def run_remote(worker, frame, owner, max_frame) do
    if is_pid(owner) do
      Client.inherit_owner(owner)
      Process.put(:"$callers", [owner])
    end

    reply =
      try do
        :erlang.binary_to_term(frame, [:safe])
      rescue
        ArgumentError -> {:undecodable, Replies.undecodable(frame)}
      end

    {callback_id, result} =
      case reply do
        {:callback, callback_id, _request_id, fun, args} ->
          {callback_id, observed(fun, args, %{})}

        {:undecodable, error} ->
          {"callback", callback_id} = Replies.head(frame)
          {callback_id, {:error, error}}
      end

    send(worker, {Worker, :frame, encode(callback_id, result, max_frame)})
  end

  defp observed(fun, args, exports) do
    if Telemetry.available?() do
      start = System.monotonic_time()
      result = run(fun, args, exports)

      Telemetry.execute(
        [:pybridge, :callback, :stop],
        %{duration: System.monotonic_time() - start},
        %{
          function: if(is_function(fun), do: inspect(fun), else: fun),
          node: node(),
          status: elem(result, 0)
        }
      )

      result
    else
      run(fun, args, exports)
    end
  end

  defp run(fun, args, exports) do
    {:ok, invoke(fun, args, exports)}
  rescue
    exception -> {:error, error_map(exception, __STACKTRACE__)}
  catch
    kind, reason ->
      {:error,
       %{
         type: "erlang.#{kind}",
         message: Exception.format_banner(kind, reason, __STACKTRACE__),
         traceback: stacktrace(__STACKTRACE__)
       }}
  end

  defp invoke(fun, args, _exports) when is_function(fun) and is_list(args) do
    case :erlang.fun_info(fun, :arity) do
      {:arity, arity} when arity == length(args) ->
        apply(fun, args)

      {:arity, arity} ->
        raise ArgumentError,
              "the Elixir function #{inspect(fun)} takes #{arity} argument(s), Python passed #{length(args)}"
    end
  end

  defp invoke(name, args, exports) when is_binary(name) and is_list(args) do
    case Map.fetch(exports, name) do
      {:ok, {mod, fun, arity}} when arity == length(args) ->
        apply(mod, fun, args)

      {:ok, {mod, fun, arity}} ->
        raise ArgumentError,
              "#{inspect(name)} (#{Exception.format_mfa(mod, fun, arity)}) takes #{arity} " <>
                "argument(s), Python passed #{length(args)}"

      :error ->
        raise ArgumentError,
              "no Elixir function is exported to Python as #{inspect(name)} " <>
                "(known: #{inspect(Map.keys(exports))}); see the :export_to_python option"
    end
  end

  defp invoke(other, args, _exports) do
    raise ArgumentError,
          "Python asked to call #{inspect(other)} with #{inspect(args)}, which is not a function"
  end

  defp error_map(exception, stacktrace) do
    %{
      type: inspect(exception.__struct__),
      message: Exception.message(exception),
      traceback: stacktrace(stacktrace)
    }
  end

  defp stacktrace(stacktrace) do
    Enum.map(stacktrace, &("    " <> Exception.format_stacktrace_entry(&1) <> "\n"))
  end

  defp encode(callback_id, reply, max_frame) do
    frame = :erlang.term_to_binary({:callback_reply, callback_id, reply})

    if byte_size(frame) <= max_frame do
      frame
    else
      error = %{
        type: "pybridge.CodecError",
        message:
          "the callback's result is #{byte_size(frame)} bytes, over max_frame (#{max_frame})",
        traceback: []
      }

      :erlang.term_to_binary({:callback_reply, callback_id, {:error, error}})
    end
  end
end
