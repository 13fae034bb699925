defmodule PyBridge.TypeCheck do
  @moduledoc """
  Checks a value against a function's own `@spec` at run time.

  Generated wrappers declare the types Python's annotations, stubs and
  docstrings promise; a promise can be wrong. The tests `elixir_gen --tests`
  generates call every function and check what came back with `check/3`,
  so a false `@spec` fails a test instead of misleading Dialyzer:

      iex> PyBridge.TypeCheck.check(Integer, :parse, :error)
      :ok
      iex> {:error, message} = PyBridge.TypeCheck.check(Integer, :parse, {"1", "x"})
      iex> message =~ "does not match the @spec of Integer.parse"
      true

  The spec is read with `Code.Typespec` from the module's `.beam` (compiled
  with debug info, Mix's default). Types it cannot look into (an opaque
  remote type, a function's arguments) are accepted: the check may be wide,
  never wrong. A stream's spec, `Enumerable.t(item)`, is checked on a list
  of its items.
  """

  @typedoc "An Erlang abstract type, as `Code.Typespec.fetch_specs/1` gives it."
  @type form :: tuple()

  @doc """
  `:ok` when `value` is of the result type of `module.function`'s `@spec`
  (of its highest arity, the one with every default given), else
  `{:error, message}` with the spec and the part of the value that did not match.
  """
  @spec check(module(), atom(), term()) :: :ok | {:error, String.t()}
  def check(module, function, value) when is_atom(module) and is_atom(function) do
    with {:ok, {arity, [spec | _]}} <- fetch_spec(module, function) do
      {:type, _, :fun, [_args, result]} = strip_bounded(spec)
      types = local_types(module)

      case mismatch(value, result, %{module: module, types: types, vars: %{}}) do
        nil ->
          :ok

        {part, type} ->
          spec_text = Code.Typespec.spec_to_quoted(function, spec) |> Macro.to_string()

          {:error,
           "#{inspect(value, limit: 20)} does not match the @spec of #{inspect(module)}.#{function}/#{arity}: " <>
             "#{spec_text}; #{inspect(part, limit: 20)} is not #{type_text(type)}"}
      end
    end
  end

  @doc "Like `check/3`, but raises `ArgumentError` with the message when the value does not match."
  @spec check!(module(), atom(), term()) :: :ok
  def check!(module, function, value) do
    case check(module, function, value) do
      :ok -> :ok
      {:error, message} -> raise ArgumentError, message
    end
  end

  # ------------------------------------------------------------------ specs

  defp fetch_spec(module, function) do
    case Code.Typespec.fetch_specs(module) do
      {:ok, specs} ->
        case for({{^function, arity}, forms} <- specs, do: {arity, forms})
             |> Enum.max_by(&elem(&1, 0), &>=/2, fn -> nil end) do
          nil -> {:error, "#{inspect(module)}.#{function} has no @spec"}
          found -> {:ok, found}
        end

      :error ->
        {:error, "cannot read the specs of #{inspect(module)} (is it compiled with debug info?)"}
    end
  end

  defp strip_bounded({:type, _, :bounded_fun, [fun, _constraints]}), do: fun
  defp strip_bounded(fun), do: fun

  defp local_types(module) do
    case Code.Typespec.fetch_types(module) do
      {:ok, types} ->
        Map.new(types, fn {_kind, {name, form, vars}} -> {{name, length(vars)}, {form, vars}} end)

      :error ->
        %{}
    end
  end

  defp type_text(form) do
    {:"::", _, [_name, quoted]} = Code.Typespec.type_to_quoted({:t, form, []})
    Macro.to_string(quoted)
  rescue
    _ -> inspect(form)
  end

  # ---------------------------------------------------------------- matching

  # nil when `value` is of type `form`, else {the part of the value, the type it is not of}.
  defp mismatch(value, form, ctx) do
    if conforms?(value, form, ctx), do: nil, else: deepest(value, form, ctx)
  end

  # The innermost part that fails, for the message: a tuple's or list's element.
  defp deepest(value, {:type, _, :tuple, types} = form, ctx)
       when is_tuple(value) and is_list(types) do
    if tuple_size(value) == length(types) do
      value
      |> Tuple.to_list()
      |> Enum.zip(types)
      |> Enum.find_value({value, form}, fn {v, t} -> mismatch(v, t, ctx) end)
    else
      {value, form}
    end
  end

  defp deepest(value, {:type, _, :union, types} = form, ctx) do
    # The member of the same shape (a tuple of the same size and first element) explains best.
    same_shape =
      Enum.filter(types, fn
        {:type, _, :tuple, [first | _] = ts}
        when is_tuple(value) and tuple_size(value) == length(ts) ->
          tuple_size(value) > 0 and conforms?(elem(value, 0), first, ctx)

        _ ->
          false
      end)

    case same_shape do
      [one] -> deepest(value, one, ctx)
      _ -> {value, form}
    end
  end

  defp deepest(value, form, _ctx), do: {value, form}

  defp conforms?(_value, {:var, _, :_}, _ctx), do: true

  defp conforms?(value, {:var, _, name}, ctx) do
    case Map.fetch(ctx.vars, name) do
      {:ok, form} -> conforms?(value, form, ctx)
      :error -> true
    end
  end

  defp conforms?(value, {:ann_type, _, [_name, form]}, ctx), do: conforms?(value, form, ctx)
  defp conforms?(value, {:paren_type, _, [form]}, ctx), do: conforms?(value, form, ctx)
  defp conforms?(value, {:atom, _, atom}, _ctx), do: value === atom
  defp conforms?(value, {:integer, _, n}, _ctx), do: value === n

  defp conforms?(value, {:op, _, _, _} = op, _ctx) do
    case literal(op) do
      {:ok, n} -> value === n
      :error -> true
    end
  end

  defp conforms?(value, {:type, _, :union, forms}, ctx),
    do: Enum.any?(forms, &conforms?(value, &1, ctx))

  defp conforms?(value, {:type, _, :range, [lo, hi]}, _ctx) do
    with {:ok, lo} <- literal(lo), {:ok, hi} <- literal(hi) do
      is_integer(value) and value >= lo and value <= hi
    else
      _ -> is_integer(value)
    end
  end

  defp conforms?(value, {:type, _, :tuple, :any}, _ctx), do: is_tuple(value)

  defp conforms?(value, {:type, _, :tuple, forms}, ctx) do
    is_tuple(value) and tuple_size(value) == length(forms) and
      value
      |> Tuple.to_list()
      |> Enum.zip(forms)
      |> Enum.all?(fn {v, t} -> conforms?(v, t, ctx) end)
  end

  defp conforms?(value, {:type, _, list, []}, _ctx) when list in [:list, :maybe_improper_list],
    do: is_list(value)

  defp conforms?(value, {:type, _, :list, [form]}, ctx), do: proper_list_of?(value, form, ctx)

  defp conforms?(value, {:type, _, :nonempty_list, []}, _ctx), do: is_list(value) and value != []

  defp conforms?(value, {:type, _, :nonempty_list, [form]}, ctx),
    do: value != [] and proper_list_of?(value, form, ctx)

  defp conforms?(value, {:type, _, improper, _}, _ctx)
       when improper in [
              :maybe_improper_list,
              :nonempty_maybe_improper_list,
              :nonempty_improper_list
            ],
       do: is_list(value)

  defp conforms?(value, {:type, _, nil, []}, _ctx), do: value == []
  defp conforms?(value, {:type, _, :map, :any}, _ctx), do: is_map(value)

  defp conforms?(value, {:type, _, :map, fields}, ctx),
    do: is_map(value) and map_conforms?(value, fields, ctx)

  defp conforms?(value, {:type, _, :binary, [{:integer, _, 0}, {:integer, _, unit}]}, _ctx),
    do: is_bitstring(value) and rem(bit_size(value), unit) == 0

  defp conforms?(value, {:type, _, :binary, [{:integer, _, size}, {:integer, _, 0}]}, _ctx),
    do: is_bitstring(value) and bit_size(value) == size

  defp conforms?(value, {:type, _, :fun, _}, _ctx), do: is_function(value)

  defp conforms?(value, {:type, _, name, args}, ctx) when is_list(args) do
    case builtin(value, name, args, ctx) do
      :unknown -> true
      result -> result
    end
  end

  defp conforms?(value, {:user_type, _, name, args}, ctx) do
    case Map.fetch(ctx.types, {name, length(args)}) do
      {:ok, {form, vars}} -> conforms?(value, form, %{ctx | vars: bind(vars, args, ctx)})
      :error -> true
    end
  end

  defp conforms?(value, {:remote_type, _, [{:atom, _, module}, {:atom, _, name}, args]}, ctx),
    do: remote?(value, module, name, args, ctx)

  defp conforms?(_value, _form, _ctx), do: true

  defp bind(vars, args, ctx) do
    vars
    |> Enum.zip(args)
    |> Map.new(fn {{:var, _, var}, arg} -> {var, resolve_var(arg, ctx)} end)
  end

  # A type argument that is itself a variable of the caller stands for what the caller bound.
  defp resolve_var({:var, _, name} = form, ctx), do: Map.get(ctx.vars, name, form)
  defp resolve_var(form, _ctx), do: form

  defp proper_list_of?(value, form, ctx) do
    is_list(value) and proper?(value) and Enum.all?(value, &conforms?(&1, form, ctx))
  end

  defp proper?([]), do: true
  defp proper?([_ | tail]), do: proper?(tail)
  defp proper?(_), do: false

  defp map_conforms?(map, fields, ctx) do
    required =
      for {:type, _, :map_field_exact, [key, form]} <- fields do
        case literal_key(key) do
          {:ok, k} ->
            Map.has_key?(map, k) and conforms?(Map.fetch!(map, k), form, ctx)

          :error ->
            Enum.any?(map, fn {k, v} -> conforms?(k, key, ctx) and conforms?(v, form, ctx) end)
        end
      end

    # Every entry is described by some field (a key of a struct, or an optional key type).
    entries =
      Enum.all?(Map.to_list(map), fn {k, v} ->
        Enum.any?(fields, fn {:type, _, _, [key, form]} ->
          conforms?(k, key, ctx) and conforms?(v, form, ctx)
        end)
      end)

    Enum.all?(required) and entries
  end

  defp literal_key({:atom, _, atom}), do: {:ok, atom}
  defp literal_key({:integer, _, n}), do: {:ok, n}
  defp literal_key(_), do: :error

  defp literal({:integer, _, n}), do: {:ok, n}
  defp literal({:op, _, :-, inner}), do: with({:ok, n} <- literal(inner), do: {:ok, -n})
  defp literal(_), do: :error

  # The built-in types; :unknown for those it does not look into.
  defp builtin(v, :any, [], _), do: is_term(v)
  defp builtin(v, :term, [], _), do: is_term(v)
  defp builtin(_v, :none, [], _), do: false
  defp builtin(_v, :no_return, [], _), do: false
  defp builtin(v, :atom, [], _), do: is_atom(v)
  defp builtin(v, :module, [], _), do: is_atom(v)
  defp builtin(v, :node, [], _), do: is_atom(v)
  defp builtin(v, :boolean, [], _), do: is_boolean(v)
  defp builtin(v, :integer, [], _), do: is_integer(v)
  defp builtin(v, :non_neg_integer, [], _), do: is_integer(v) and v >= 0
  defp builtin(v, :pos_integer, [], _), do: is_integer(v) and v > 0
  defp builtin(v, :neg_integer, [], _), do: is_integer(v) and v < 0
  defp builtin(v, :arity, [], _), do: is_integer(v) and v in 0..255
  defp builtin(v, :byte, [], _), do: is_integer(v) and v in 0..255
  defp builtin(v, :char, [], _), do: is_integer(v) and v in 0..0x10FFFF
  defp builtin(v, :float, [], _), do: is_float(v)
  defp builtin(v, :number, [], _), do: is_number(v)
  defp builtin(v, :binary, [], _), do: is_binary(v)
  defp builtin(v, :nonempty_binary, [], _), do: is_binary(v) and v != ""
  defp builtin(v, :bitstring, [], _), do: is_bitstring(v)
  defp builtin(v, :pid, [], _), do: is_pid(v)
  defp builtin(v, :port, [], _), do: is_port(v)
  defp builtin(v, :reference, [], _), do: is_reference(v)
  defp builtin(v, :function, [], _), do: is_function(v)
  defp builtin(v, :tuple, [], _), do: is_tuple(v)
  defp builtin(v, :map, [], _), do: is_map(v)
  defp builtin(v, :struct, [], _), do: is_map(v) and Map.has_key?(v, :__struct__)
  defp builtin(v, :timeout, [], _), do: v == :infinity or (is_integer(v) and v >= 0)
  defp builtin(v, :iodata, [], _), do: is_binary(v) or is_list(v)
  defp builtin(v, :iolist, [], _), do: is_list(v)

  defp builtin(v, :mfa, [], _),
    do: match?({m, f, a} when is_atom(m) and is_atom(f) and is_integer(a), v)

  defp builtin(_v, _name, _args, _ctx), do: :unknown

  defp is_term(_), do: true

  # Remote types: String.t() is a binary; a stream's Enumerable.t(item) is checked on its items;
  # others are read from their module (and accepted when it cannot be read).
  defp remote?(v, String, :t, [], _ctx), do: is_binary(v)
  defp remote?(v, Enumerable, :t, [], _ctx), do: is_list(v) or Enumerable.impl_for(v) != nil

  defp remote?(v, Enumerable, :t, [item], ctx) do
    if is_list(v),
      do: Enum.all?(v, &conforms?(&1, item, ctx)),
      else: Enumerable.impl_for(v) != nil
  end

  defp remote?(v, Task, :t, _, _ctx), do: is_struct(v, Task)

  defp remote?(v, Keyword, :t, [], _ctx),
    do: is_list(v) and Enum.all?(v, &match?({k, _} when is_atom(k), &1))

  defp remote?(v, module, name, args, ctx) do
    types = local_types(module)

    case Map.fetch(types, {name, length(args)}) do
      {:ok, {form, vars}} ->
        conforms?(v, form, %{ctx | module: module, types: types, vars: bind(vars, args, ctx)})

      :error ->
        true
    end
  end
end
