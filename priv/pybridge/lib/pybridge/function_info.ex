defmodule PyBridge.FunctionInfo do
  @moduledoc false
  # What Python shows of an Elixir function passed to it: its name, its
  # parameters (names, and Python types where the @spec says them), and its
  # @doc. Libraries that take callables read these: a DSPy or LangChain
  # tool shows the LM its name, description and argument schema, DSPy's
  # GEPA checks that a metric takes five arguments.
  #
  # Python asks for it only when something reads the callable's metadata
  # (`pybridge_port/elixir_function.py` calls `describe/1` back through the
  # fun itself), so passing a function costs nothing more on the wire.
  # Names and docs come from the module's docs chunk (`Code.fetch_docs/1`,
  # modules compiled to .beam files with docs), types from its specs; an
  # anonymous function has neither: `arg1`, `arg2`, ... and no doc.

  @typedoc "The metadata, as Python reads it (string keys)."
  @type t :: %{required(String.t()) => term()}

  @doc "The metadata of `fun`."
  @spec describe(function()) :: t()
  def describe(fun) when is_function(fun) do
    info = Function.info(fun)
    {module, name, arity} = {info[:module], info[:name], info[:arity]}

    case info[:type] do
      :external ->
        {params, doc} = docs(module, name, arity)

        %{
          "name" => Atom.to_string(name),
          "qualname" => inspect(module) <> "." <> Atom.to_string(name),
          "module" => inspect(module),
          "arity" => arity,
          "params" => params,
          "doc" => doc
        }
        |> Map.merge(types(module, name, arity))

      :local ->
        %{
          "name" => "anonymous_fn_" <> Integer.to_string(arity),
          "qualname" => inspect(module) <> "." <> Atom.to_string(name),
          "module" => inspect(module),
          "arity" => arity,
          "params" => default_params(arity),
          # No names: keyword arguments are passed in the order given.
          "anonymous" => true,
          "param_types" => List.duplicate(nil, arity),
          "return_type" => nil,
          "doc" => nil
        }
    end
  end

  defp default_params(arity), do: Enum.map(1..arity//1, &"arg#{&1}")

  defp docs(module, name, arity) do
    with {:docs_v1, _, _, _, _, _, docs} <- Code.fetch_docs(module),
         {_, _, signatures, doc, _} <- find_doc(docs, name, arity) do
      {params(signatures, arity), doc_text(doc)}
    else
      _ -> {default_params(arity), nil}
    end
  end

  # A function with default arguments is documented once, at its highest arity.
  defp find_doc(docs, name, arity) do
    Enum.find(docs, fn
      {{kind, ^name, doc_arity}, _, _, _, meta} when kind in [:function, :macro] ->
        doc_arity - Map.get(meta, :defaults, 0) <= arity and arity <= doc_arity

      _ ->
        false
    end)
  end

  defp doc_text(%{"en" => text}), do: String.trim(text)
  defp doc_text(_none_or_hidden), do: nil

  defp params([signature | _], arity) do
    case Code.string_to_quoted(signature) do
      {:ok, {_name, _, args}} when is_list(args) and length(args) >= arity ->
        args |> Enum.take(arity) |> Enum.with_index(1) |> Enum.map(&param_name/1)

      _ ->
        default_params(arity)
    end
  end

  defp params(_, arity), do: default_params(arity)

  defp param_name({{:\\, _, [arg, _default]}, index}), do: param_name({arg, index})

  defp param_name({{name, _, context}, index}) when is_atom(name) and is_atom(context) do
    case Atom.to_string(name) do
      "_" <> _ -> "arg#{index}"
      text -> text
    end
  end

  defp param_name({_pattern, index}), do: "arg#{index}"

  # Python types of the parameters and of the result, from the first @spec
  # clause of that arity; `nil` where the type does not map plainly.
  defp types(module, name, arity) do
    with {:ok, specs} <- Code.Typespec.fetch_specs(module),
         {_, [{:type, _, :fun, [{:type, _, :product, args}, result]} | _]} <-
           find_spec(specs, name, arity) do
      # A lower arity of a function with defaults: the leading parameters.
      types = args |> Enum.take(arity) |> Enum.map(&python_type/1)
      %{"param_types" => types, "return_type" => python_type(result)}
    else
      _ -> %{"param_types" => List.duplicate(nil, arity), "return_type" => nil}
    end
  end

  defp find_spec(specs, name, arity) do
    List.keyfind(specs, {name, arity}, 0) ||
      specs
      |> Enum.filter(fn {{spec_name, spec_arity}, _} ->
        spec_name == name and spec_arity > arity
      end)
      |> Enum.min_by(fn {{_, spec_arity}, _} -> spec_arity end, fn -> nil end)
  end

  defp python_type({:ann_type, _, [_var, type]}), do: python_type(type)

  defp python_type({:type, _, kind, []})
       when kind in [:integer, :non_neg_integer, :pos_integer, :neg_integer],
       do: "int"

  defp python_type({:type, _, :float, []}), do: "float"
  defp python_type({:type, _, :number, []}), do: "float"
  defp python_type({:type, _, :boolean, []}), do: "bool"
  defp python_type({:type, _, :binary, []}), do: "str"
  defp python_type({:remote_type, _, [{:atom, _, String}, {:atom, _, :t}, []]}), do: "str"
  defp python_type({:type, _, :list, _}), do: "list"
  defp python_type({:type, _, :map, _}), do: "dict"
  defp python_type(_other), do: nil
end
