"""The generator on libraries it was not written for (issue: any library, not only DSPy),
Python side: what discover writes always generates, file names, signatures, docs,
types from numpydoc, attributes and operators. Compiling and calling is in
test_libraries.py.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from elixir_gen import names
from elixir_gen.build import build_library
from elixir_gen.discover import discover_spec
from elixir_gen.model import ElixirModule, Library
from elixir_gen.spec import load_spec


def _library(tmp_path: Path, module: str, source: str, spec: str | None = None) -> Library:
    """Write `module`.py, then the spec (`discover` writes one when none is given), and build it."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    sys.path.insert(0, str(tmp_path))
    try:
        text = discover_spec(module, spec_dir=tmp_path) if spec is None else textwrap.dedent(spec)
        (tmp_path / f"{module}.yaml").write_text(text)
        return build_library(load_spec(tmp_path / f"{module}.yaml"))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(module, None)


def _discovered(tmp_path: Path, module: str, roots: tuple[str, ...]) -> Library:
    """Discover `module` (depth 0) from the packages written in `tmp_path` and build it; the spec is
    `<last part>.yaml`. The modules of `roots` are forgotten afterwards."""
    spec = tmp_path / f"{module.rsplit('.', 1)[-1]}.yaml"
    sys.path.insert(0, str(tmp_path))
    try:
        spec.write_text(discover_spec(module, depth=0, spec_dir=tmp_path))
        return build_library(load_spec(spec))
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] in roots]:
            sys.modules.pop(name)


def _module(library: Library, name: str) -> ElixirModule:
    return next(m for m in library.modules if m.name == name)


# ----------------------------------------------------- 1. discover always generates

OVERRIDES = '''
    class Base:
        """A base."""

        def fit(self, x: int) -> int:
            """Fit."""
            return x

        def fit_predict(self, x: int) -> int:
            """Fit and predict."""
            return x

        @property
        def size(self) -> int:
            """A property the child makes a method."""
            return 1


    class Child(Base):
        """Overrides a parent's method with a property, and a property with a method."""

        @property
        def fit_predict(self) -> int:
            """A value here."""
            return 2

        def size(self, scale: int) -> int:
            """A method here."""
            return scale


    class GrandChild(Child):
        """Inherits both overrides."""
'''


def test_discover_writes_a_spec_that_generates_when_a_property_overrides_a_method(tmp_path: Path) -> None:
    library = _library(tmp_path, "overrides", OVERRIDES)
    child = {f.name: f for f in _module(library, "Overrides.Child").functions}
    assert child["fit_predict"].kind == "getter" and child["size"].kind == "method"
    grand = {f.name: f for f in _module(library, "Overrides.GrandChild").functions}
    assert grand["fit_predict"].kind == "getter" and grand["size"].kind == "method" and "set_size" not in grand


def test_an_inherited_method_the_class_overrides_with_a_property_is_left_out(tmp_path: Path) -> None:
    # The spec discover wrote before: the child lists no property, and extends the parent.
    spec = """
        python_module: overrides
        classes:
          - python_path: overrides.Base
            elixir_module: Overrides.Base
            methods: [{name: fit}, {name: fit_predict}]
          - python_path: overrides.Child
            elixir_module: Overrides.Child
            extends: Overrides.Base
    """
    library = _library(tmp_path, "overrides", OVERRIDES, spec)
    child = {f.name for f in _module(library, "Overrides.Child").functions}
    assert "fit" in child and "fit_predict" not in child


# ------------------------------------------------------------- 10. file names


@pytest.mark.parametrize(
    "module, file",
    [("DSPex", "dspex"), ("MIPROv2", "miprov2"), ("ReAct", "react"), ("ReActV2", "react_v2"), ("DSPyError", "dspy_error"), ("ChainOfThought", "chain_of_thought"), ("HTTPServer", "http_server"), ("KNNFewShot", "knn_few_shot"), ("LMError", "lm_error"),
     ("NetworkXNoCycle", "network_x_no_cycle"), ("NetworkXError", "network_x_error"), ("DSPyError", "dspy_error"), ("IOError", "io_error")],
)
def test_file_names_as_a_person_writes_them(module: str, file: str) -> None:
    assert names.file_stem(module) == file


def test_generated_files_are_named_as_a_person_writes_them(tmp_path: Path) -> None:
    source = '''
        class ReAct:
            """Reason and act."""

        class React:
            """Reads the same as ReAct: its file must differ."""
    '''
    spec = """
        python_module: agents
        elixir_module: DSPex
        classes:
          - {python_path: agents.ReAct, elixir_module: DSPex.ReAct}
          - {python_path: agents.React, elixir_module: DSPex.React}
    """
    library = _library(tmp_path, "agents", source, spec)
    files = [m.file for m in library.modules]
    assert files[0] == "dspex/react.ex" and len(set(files)) == len(files)


# ------------------------------------------------------------------- 8. docs

RST = '''Compute things.

See :ref:`the user guide <user_guide>` and :func:`numpy.sum`, as in [1]_.

.. versionadded:: 1.2
   The axis argument.

.. _a-target:

.. plot::
   import matplotlib

.. note:: This is slow.

Parameters
----------
x : int
    The x.

    .. deprecated:: 2.0
        Use y.

References
----------
.. [1] Smith, J. "A paper",
       Journal, 2001.
.. [2] Doe, J. "Another", 2002.
'''


def test_rest_leftovers_become_readable_markdown() -> None:
    from elixir_gen.docgen import doc_markdown
    from elixir_gen.docstrings import parse_docstring

    parsed = parse_docstring(RST)
    text = doc_markdown(parsed)
    assert ".. " not in text and ":ref:" not in text and "plot" not in text and "a-target" not in text
    assert "See the user guide and `numpy.sum`, as in [1]." in text
    assert "*Added in version 1.2.* The axis argument." in text
    assert "> **Note:** This is slow." in text
    # Each reference its own list item, not one run-together paragraph.
    assert '* [1] Smith, J. "A paper", Journal, 2001.\n* [2] Doe, J. "Another", 2002.' in text
    assert parsed.params["x"].description == "The x.\n\n*Deprecated since version 2.0.* Use y."


FOOTNOTES = """Validate.

If the schema names a known meta-schema [#]_ it is used; a draft [#]_ otherwise.

Raises:

    `pkg.ValidationError`:

        if the instance is invalid

    `pkg.SchemaError`:

        if the schema itself is invalid

.. rubric:: Footnotes
.. [#] known by a registered validator
.. [#] the latest one
"""


def test_auto_numbered_footnotes_and_code_marked_exception_names() -> None:
    """jsonschema's docs: `[#]_` footnotes numbered as Sphinx shows them, and Google `Raises:` items whose
    names are marked as code, each with its own description (they ran together as debris)."""
    from elixir_gen.docgen import doc_markdown
    from elixir_gen.docstrings import parse_docstring

    parsed = parse_docstring(FOOTNOTES)
    text = doc_markdown(parsed)
    assert "meta-schema [1] it is used; a draft [2] otherwise." in text
    assert "**Footnotes**\n\n* [1] known by a registered validator\n* [2] the latest one" in text
    assert "[#]" not in text
    assert [(r.name, r.description) for r in parsed.raises] == [("pkg.ValidationError", "if the instance is invalid"), ("pkg.SchemaError", "if the schema itself is invalid")]


@pytest.mark.parametrize(
    "python, elixir",
    [("False", "false"), ("True", "true"), ("None", "nil"), ("'auto'", '"auto"'), ("(1, 2.5)", "{1, 2.5}"), ("[None]", "[nil]"), ("np.float64", "np.float64"), ("<function f at 0x7f00aa>", "<function f>")],
)
def test_defaults_are_shown_as_elixir_values(python: str, elixir: str) -> None:
    from elixir_gen.docgen import elixir_default

    assert elixir_default(python) == elixir


def test_generated_docs_show_elixir_defaults(tmp_path: Path) -> None:
    source = '''
        def fit(x: int, verbose: bool = False, mode: str = "auto", cb=None):
            """Fit."""
    '''
    library = _library(tmp_path, "fitting", source, "python_module: fitting\nfunctions:\n  - python_path: fitting.fit\n")
    doc = library.modules[0].functions[0].doc
    assert "default `false`" in doc and 'default `"auto"`' in doc and "default `nil`" in doc
    assert "False" not in doc.split("## Python")[0] and "None" not in doc.split("## Python")[0]


# -------------------------------------------------------------- 5. operators

OPERANDS = '''
    class Money(float):
        """A number that inherits its arithmetic from float."""


    class Vec:
        """A vector with its own operators."""

        def __init__(self, x: float, y: float) -> None:
            self.x, self.y = x, y

        def __add__(self, other: "Vec") -> "Vec":
            return Vec(self.x + other.x, self.y + other.y)

        def __mul__(self, k: float) -> "Vec":
            return Vec(self.x * k, self.y * k)

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Vec) and (self.x, self.y) == (other.x, other.y)

        def __neg__(self) -> "Vec":
            return Vec(-self.x, -self.y)
'''

OPERATOR_SPEC = """
    python_module: operands
    classes:
      - python_path: operands.Money
        methods: [{name: __add__}, {name: __mul__}, {name: __truediv__}, {name: __eq__}, {name: __lt__}]
      - python_path: operands.Vec
        methods: [{name: __add__}, {name: __mul__}, {name: __eq__}, {name: __neg__}]
"""


def test_dunder_methods_named_in_a_spec_generate_as_operators(tmp_path: Path) -> None:
    library = _library(tmp_path, "operands", OPERANDS, OPERATOR_SPEC)
    money = {f.name: f for f in _module(library, "Operands.Money").functions}
    assert {"add", "mul", "truediv", "eq", "lt"} <= set(money)
    assert (money["truediv"].call.runtime, money["truediv"].call.target, money["truediv"].call.args.vars[0]) == ("call", "operator.truediv", "ref")
    vec = {f.name: f for f in _module(library, "Operands.Vec").functions}
    assert vec["add"].call.target == "operator.add" and vec["neg"].call.args.vars == ["ref"]
    assert vec["add"].value.spec == "Operands.Vec.t()" and vec["eq"].value.spec == "boolean()"


CONTAINER = '''
    class Bag:
        """Holds items."""

        def __init__(self, *items):
            self.items = list(items)

        def __len__(self):
            return self.size

        def __contains__(self, item):
            return self.items.count(item)

        def __repr__(self):
            return self.render()

        def __str__(self):
            return self.render()
'''


def test_container_dunders_are_called_through_the_builtin_that_guarantees_their_type(tmp_path: Path) -> None:
    """`len/1` is Python's `len(bag)`: whatever `__len__`'s code returns, `len` gives an int or raises.

    So the result is typed from the built-in, not from the method's code (which says nothing here).
    """
    library = _library(tmp_path, "bags", CONTAINER)
    bag = {f.python_name: f for f in _module(library, "Bags.Bag").functions}
    expected = {"__len__": ("builtins.len", "integer()"), "__contains__": ("operator.contains", "boolean()"), "__repr__": ("builtins.repr", "String.t()"), "__str__": ("builtins.str", "String.t()")}
    for dunder, (target, spec) in expected.items():
        fn = bag[dunder]
        assert (fn.call.runtime, fn.call.target, fn.call.args.vars[0], fn.value.spec) == ("call", target, "ref", spec), dunder


# ---------------------------------------------------- 4. attributes and properties

ESTIMATOR = '''
    class Estimator:
        """Fits a line.

        Parameters
        ----------
        fit_intercept : bool, default=True
            Whether to fit the intercept.

        Attributes
        ----------
        coef_ : float
            The slope, set by `fit`.
        n_iter_ : int
            Iterations run.
        """

        def __init__(self, fit_intercept: bool = True) -> None:
            self.fit_intercept = fit_intercept

        def fit(self, x: list, y: list) -> "Estimator":
            """Fit."""
            self.coef_ = 2.0
            self.n_iter_ = 1
            return self

        @property
        def fitted(self) -> bool:
            """Whether fit ran."""
            return hasattr(self, "coef_")
'''


def test_documented_attributes_and_properties_get_getters(tmp_path: Path) -> None:
    library = _library(tmp_path, "estimators", ESTIMATOR)
    functions = {f.name: f for f in _module(library, "Estimators.Estimator").functions}
    assert functions["fitted"].kind == "getter" and functions["fitted"].value.spec == "boolean()"
    coef, n_iter = functions["coef"], functions["n_iter"]
    assert coef.kind == "getter" and coef.call.attribute == "coef_" and coef.value.spec == "number()"
    assert n_iter.value.spec == "integer()" and "Iterations run." in n_iter.doc
    assert "set_coef" not in functions and not library.warnings


# ------------------------------------------------ 2. and 3. types from docstrings

NUMPYDOC = '''
    def cluster(X, n="auto", kernel="linear", tol=1e-3, weights=None):
        """Cluster.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data.
        n : int, default='auto'
            How many clusters.
        kernel : {'linear', 'poly'}, default='linear'
            The kernel.
        tol : float, optional
            Tolerance.
        weights : ndarray of shape (n_samples,) or None
            Weights.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The labels.
        """
'''


def test_numpydoc_types_are_read_and_never_narrower_than_the_default(tmp_path: Path) -> None:
    library = _library(tmp_path, "clusters", NUMPYDOC, "python_module: clusters\nfunctions:\n  - python_path: clusters.cluster\n")
    fn = library.modules[0].functions[0]
    assert fn.params[0].type == "list() | PyBridge.NDArray.t() | PyBridge.Ref.t() | number() | boolean()"
    options = {o.python_name: o.type for o in fn.options}
    # "int, default='auto'": the default is a value the argument takes too.
    assert options["n"] == "integer() | String.t()"
    assert options["kernel"] == "String.t()" and options["tol"] == "number()"
    assert options["weights"] == "PyBridge.NDArray.t() | PyBridge.Ref.t() | number() | boolean() | nil"
    # A result numpy documents as an array may be a numpy scalar, which arrives as a number.
    assert fn.value_type == "PyBridge.NDArray.t() | PyBridge.Ref.t() | number() | boolean()"


def test_standard_library_types_from_typeshed() -> None:
    from elixir_gen.stubs import StubIndex
    import json

    entry = StubIndex().find(json.dumps)
    assert entry is not None and entry.returns == "str"


# ------------------------------------------------------------------ 6. signatures

SIGNATURES = '''
    class Backend:
        """Takes anything."""

        def __init__(self, *args, backend=None, **kwargs):
            self.args = args

    def head(frame, n=5, *, sort=False):
        """The first rows."""
        return frame[:n]
'''


DISPATCHED = '''
    class Graph:
        """A graph whose `__new__` takes a backend and passes the rest on, as networkx's dispatcher does."""

        def __new__(cls, *args, backend=None, **kwargs):
            return object.__new__(cls)

        def __init__(self, incoming_graph_data=None, **attr):
            self.data = incoming_graph_data
'''


def test_a_dispatching_new_gives_way_to_init(tmp_path: Path) -> None:
    """`(*args, backend=None, **kwargs)` only passes everything on: `create` takes what `__init__` names."""
    library = _library(tmp_path, "dispatched", DISPATCHED)
    create = next(f for f in _module(library, "Dispatched.Graph").functions if f.name == "create")
    assert [o.python_name for o in create.options] == ["incoming_graph_data"] and create.accepts_any_keyword


def test_what_python_accepts_is_callable_or_refused_with_how_to_call(tmp_path: Path) -> None:
    spec = """
        python_module: sigs
        classes:
          - python_path: sigs.Backend
        functions:
          - python_path: sigs.head
    """
    library = _library(tmp_path, "sigs", SIGNATURES, spec)
    create = _module(library, "Sigs.Backend").functions[0]
    # create(), create(args), create(args, opts): *args may be left out.
    assert create.arities == [0, 1, 2] and create.params[0].head == "args \\\\ []"
    head = _module(library, "Sigs").functions[0]
    assert head.prelude.keywords_only == "head: the optional Python arguments (n) go in the keyword list, as in head(frame, n: ...); found: "
    from elixir_gen.render import environment

    text = environment().get_template("module.ex.j2").render(module=_module(library, "Sigs"), source="sigs.yaml")
    assert "unless Keyword.keyword?(opts) do" in text and "raise ArgumentError" in text


# ------------------------------------------------------------------------ 9. size

HIERARCHY = '''
    __all__ = ["Basic", "Leaf"]


    class Basic:
        """The root of the expressions."""

        def subs(self, old: int, new: int) -> "Basic":
            """Substitutes `old` by `new`.

            A second paragraph that the inherited docs must not repeat.
            """
            return self

        def free(self) -> int:
            """The free symbols."""
            return 0


    class _Function(Basic):
        """Not exported: the class between them."""

        def free(self) -> int:
            """Overridden in the unexported class."""
            return 1


    class Leaf(_Function):
        """A leaf."""

        def own(self) -> int:
            """Its own method."""
            return 2
'''


def test_a_class_inherits_from_its_nearest_wrapped_ancestor_and_does_not_repeat_it(tmp_path: Path) -> None:
    """sympy's `floor` derives from an unexported class: it must not relist Basic's methods."""
    library = _library(tmp_path, "hierarchy", HIERARCHY)
    spec = (tmp_path / "hierarchy.yaml").read_text()
    leaf_entry = spec[spec.index("python_path: hierarchy.Leaf"):]
    assert "extends: Hierarchy.Basic" in leaf_entry
    # Its own method, and the one its unexported parent overrides; not `subs`, which Basic defines.
    assert "- name: own" in leaf_entry and "- name: free" in leaf_entry and "- name: subs" not in leaf_entry
    leaf = {fn.name: fn for fn in _module(library, "Hierarchy.Leaf").functions}
    assert leaf["subs"].delegate_to == "Hierarchy.Basic"
    # Its doc is the summary and where the full doc is, not the whole doc again.
    assert leaf["subs"].doc == "Substitutes `old` by `new`.\n\nInherited from `Hierarchy.Basic`: see `Hierarchy.Basic.subs/4`."
    assert leaf["free"].delegate_to is None and leaf["free"].doc.startswith("Overridden in the unexported class.")
    from elixir_gen.render import render_library

    source = render_library(library)[0]["hierarchy/leaf.ex"]
    assert "def subs(ref, old, new, opts \\\\ []), do: Hierarchy.Basic.subs(ref, old, new, opts)" in source
    assert "second paragraph" not in source


def _package(tmp_path: Path, groups: dict[str, int]) -> None:
    """A package `many` re-exporting `n` functions from each private submodule `_name`."""
    pkg = tmp_path / "many"
    pkg.mkdir()
    imports = []
    for group, n in groups.items():
        body = "".join(f'def {group}_{i}(x: int, *, scale: float = 1.0) -> float:\n    """{group} number {i}.\n\n    More about it.\n    """\n    return x * scale\n\n\n' for i in range(n))
        (pkg / f"_{group}.py").write_text(body)
        imports.append(f"from ._{group} import " + ", ".join(f"{group}_{i}" for i in range(n)))
    (pkg / "__init__.py").write_text("\n".join(imports) + "\n")


def test_a_module_of_very_many_functions_is_split_by_the_submodule_that_defines_them(tmp_path: Path) -> None:
    """scipy.stats' 285 functions were one 43,000-line module, whose compile time grows faster than its size."""
    from elixir_gen import build

    _package(tmp_path, {"alpha": 70, "beta": 40, "gamma": 3})
    library = _discovered(tmp_path, "many", ("many",))
    modules = {m.name: m for m in library.modules}
    assert set(modules) == {"Many", "Many.Alpha", "Many.Beta"}
    assert 113 > build.SPLIT_ABOVE and 3 < build.SUBMODULE_FUNCTIONS
    alpha, parent = modules["Many.Alpha"], modules["Many"]
    assert sorted(fn.name for fn in alpha.functions) == sorted(f"alpha_{i}" for i in range(70)) and alpha.file == "many/alpha.ex"
    assert all(fn.delegate_to is None and "## Options" in fn.doc for fn in alpha.functions)
    # The parent keeps every function, so the API does not change: a one-line call with its @spec and summary.
    by_name = {fn.name: fn for fn in parent.functions}
    assert len(by_name) == 113
    assert by_name["alpha_0"].delegate_to == "Many.Alpha" and by_name["beta_1"].delegate_to == "Many.Beta"
    assert by_name["alpha_0"].doc == "alpha number 0.\n\nDefined in `Many.Alpha`: see `Many.Alpha.alpha_0/2` for its full docs."
    assert by_name["alpha_0"].opts_spec == "[Many.Alpha.alpha_0_option()]"
    assert parent.moduledoc.endswith("the Python submodules that define them: `Many.Alpha`, `Many.Beta`.")
    # A group too small for a module of its own stays whole in the parent.
    assert by_name["gamma_2"].delegate_to is None and "## Options" in by_name["gamma_2"].doc
    # The quality report counts each function once.
    from elixir_gen.report import report

    assert report(library).functions == 113
    from elixir_gen.render import render_library

    files = render_library(library)[0]
    assert "def alpha_0(x, opts \\\\ []), do: Many.Alpha.alpha_0(x, opts)" in files["many.ex"]
    # Structure, not seconds: the parent's lines are a few per function once its docs moved out.
    assert files["many.ex"].count("\n") < 15 * 113 < files["many/alpha.ex"].count("\n") * 113 / 70


# ------------------------------- found on libraries the issue does not name


def test_a_package_re_exporting_its_twin_package_of_the_same_distribution_keeps_those_members(tmp_path: Path) -> None:
    """`discover attrs` wrote no module: every member of `attrs` is defined in `attr`, which the same
    distribution installs. A re-export from another distribution (here the standard library) stays skipped."""
    (tmp_path / "twin_impl").mkdir()
    (tmp_path / "twin_impl" / "__init__.py").write_text(
        textwrap.dedent(
            '''
            import functools


            def define(cls: type, *, frozen: bool = False) -> type:
                """Make a class."""
                return cls


            frozen = functools.partial(define, frozen=True)


            class Field:
                """A field."""

                def __init__(self, name: str) -> None:
                    self.name = name
            '''
        )
    )
    (tmp_path / "twin").mkdir()
    (tmp_path / "twin" / "__init__.py").write_text("from json import dumps\nfrom twin_impl import Field, define, frozen\n\n__all__ = ['Field', 'define', 'dumps', 'frozen']\n")
    info = tmp_path / "twin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: twin\nVersion: 1.0\n")
    (info / "top_level.txt").write_text("twin\ntwin_impl\n")
    library = _discovered(tmp_path, "twin", ("twin", "twin_impl"))
    functions = {f.name: f for f in _module(library, "Twin").functions}
    assert {"define", "frozen"} <= set(functions) and "dumps" not in functions
    assert "Twin.Field" in {m.name for m in library.modules}
    assert "#   twin.dumps: re-exported from json" in (tmp_path / "twin.yaml").read_text()


FACTORY = '''
    def _wrap(name, doc):
        def f(x):
            return x
        f.__name__ = name
        f.__doc__ = doc
        return f


    sqrt = _wrap("sqrt", "Square root.")
    exp = _wrap("exp", "Exponential.")
    root = sqrt
'''


def test_functions_a_factory_made_are_distinct_functions(tmp_path: Path) -> None:
    """mpmath's sqrt, exp, sin, … are closures of one factory, all named `_wrap_libmp_function.<locals>.f`:
    discover took them for aliases of one function and kept one of about a hundred."""
    library = _library(tmp_path, "factory", FACTORY)
    functions = {f.name: f for f in _module(library, "Factory").functions}
    assert {"sqrt", "exp"} <= set(functions)
    assert functions["exp"].doc.startswith("Exponential.") and functions["sqrt"].doc.startswith("Square root.")


CACHED = '''
    import functools


    class Graph:
        """A graph."""

        @functools.cached_property
        def nodes(self) -> list:
            """The nodes, computed once."""
            return [1, 2]
'''


def test_a_cached_property_gets_a_getter(tmp_path: Path) -> None:
    """networkx's Graph.nodes, .edges, .degree and .adj are functools.cached_property: they had no function."""
    library = _library(tmp_path, "cached", CACHED)
    functions = {f.name: f for f in _module(library, "Cached.Graph").functions}
    assert functions["nodes"].kind == "getter" and functions["nodes"].call.attribute == "nodes"
    assert functions["nodes"].value.spec == "list()" and "computed once" in functions["nodes"].doc
    assert "set_nodes" not in functions


NUMERIC = '''
    class Ratio:
        """A ratio."""

        def __init__(self, n: int, d: int = 1) -> None:
            self.n, self.d = n, d

        def __mul__(self, other: "Ratio") -> "Ratio":
            return Ratio(self.n * other.n, self.d * other.d)

        def __lt__(self, other: "Ratio") -> bool:
            return self.n * other.d < other.n * self.d

        def __add__(self, other: "Ratio") -> "Ratio":
            return self.add(other)

        def add(self, other: "Ratio", *, reduce: bool = True) -> "Ratio":
            """Add, and reduce unless told not to."""
            return Ratio(self.n * other.d + other.n * self.d, self.d * other.d)

        def __radd__(self, other: int) -> "Ratio":
            return self
'''


def test_discover_writes_the_operators_a_class_defines_in_python(tmp_path: Path) -> None:
    """`discover fractions` skipped Fraction's `__add__`, `__lt__`, … as 'a dunder method without an
    Elixir counterpart', though a spec naming them generates `add/3`, `lt/3`: 3/4 + 1/2 was unreachable."""
    from elixir_gen.report import report

    library = _library(tmp_path, "numeric", NUMERIC)
    ratio = {f.name: f for f in _module(library, "Numeric.Ratio").functions}
    assert (ratio["mul"].call.target, ratio["mul"].value.spec) == ("operator.mul", "Numeric.Ratio.t()")
    assert ratio["lt"].call.target == "operator.lt" and ratio["lt"].value.spec == "boolean()"
    # `__add__` would be `add`, which the class's own method is: that one stays, with its options.
    assert ratio["add"].call.target != "operator.add" and "radd" not in ratio
    spec = (tmp_path / "numeric.yaml").read_text()
    assert "name: __mul__" in spec and "name: __add__" not in spec
    assert report(library).private_members == []
    # Operators seldom have a docstring: the doc says what Python computes, not "it has no Python docstring".
    assert ratio["mul"].doc.startswith("`a * b` in Python, with this object as `a` (`operator.mul(a, b)`")
    assert report(library).docs_missing == []


DATA_MODEL = '''
    class Bag:
        """A bag."""

        def __init__(self, items, label):
            self.items, self.label = items, label

        def __str__(self):
            return self.label

        def __repr__(self):
            return self.label

        def __len__(self):
            return self.items.count()
'''


def test_str_repr_and_len_return_what_python_requires_of_them(tmp_path: Path) -> None:
    """Fraction's `to_string` and `repr` were `{:ok, term()}`: Python's str() and repr() take nothing but a str."""
    library = _library(tmp_path, "bags", DATA_MODEL)
    bag = {f.name: f for f in _module(library, "Bags.Bag").functions}
    assert bag["to_string"].value.spec == "String.t()" and bag["repr"].value.spec == "String.t()"
    assert bag["len"].value.spec == "integer()"


SHADOWING = '''
    def inspect(obj):
        """Describe an object (attrs has one)."""
        return str(obj)


    def evolve(*args, **changes):
        """A copy of args[0] with changes."""
        return args[0]
'''


def test_argument_checks_do_not_call_a_generated_function_named_like_a_kernel_one(tmp_path: Path) -> None:
    """`attrs.evolve(p, x: 5)` (p not in a list) raised "construction of binary failed": the check's message
    called the module's own `inspect/1`, the wrapper of `attrs.inspect`, instead of Kernel's."""
    from elixir_gen.render import render_library

    library = _library(tmp_path, "shadowing", SHADOWING)
    source = render_library(library)[0]["shadowing.ex"]
    assert "unless is_list(args) do" in source and "as in evolve([...]); found: \" <> Kernel.inspect(args)" in source
    assert " inspect(args)" not in source.replace("Kernel.inspect(args)", "")


def test_members_of_a_modules_c_accelerator_are_its_own(tmp_path: Path) -> None:
    """`discover heapq` wrote heapq.merge, nlargest and nsmallest only: heappush, heappop, … are defined in
    `_heapq` (csv's reader and writer in `_csv`), and were skipped as 're-exported from _heapq'."""
    (tmp_path / "_accel.py").write_text('def push(heap: list, item: int) -> None:\n    """Push."""\n    heap.append(item)\n')
    (tmp_path / "_other.py").write_text('def pop(heap: list) -> int:\n    """Pop."""\n    return heap.pop()\n')
    library = _library(tmp_path, "accel", "from _accel import push\nfrom _other import pop\n\n\ndef merge(a: list) -> list:\n    \"\"\"Merge.\"\"\"\n    return a\n")
    for name in ("_accel", "_other"):
        sys.modules.pop(name, None)
    assert {f.name for f in _module(library, "Accel").functions} == {"push", "merge"}


def test_string_annotations_may_name_what_the_module_imports_for_type_checkers_only(tmp_path: Path) -> None:
    """`if TYPE_CHECKING: from .models import Model` then `def load(m: Model)` under postponed annotations
    (requests, and most annotated libraries): the name is not in the module at run time, and was term()."""
    pkg = tmp_path / "tcpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text('class Model:\n    """A model."""\n\n    def size(self) -> int:\n        """Its size."""\n        return 1\n')
    (pkg / "api.py").write_text(
        textwrap.dedent(
            '''
            from __future__ import annotations

            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                from collections import OrderedDict

                from .models import Model


            def load(m: Model, extra: OrderedDict | None = None) -> Model:
                """Load a model."""
                return m
            '''
        )
    )
    library = _discovered(tmp_path, "tcpkg.api", ("tcpkg",))
    load = next(f for m in library.modules for f in m.functions if f.name == "load")
    assert load.params[0].typed.spec == "PyBridge.Ref.t()" and load.value.spec == "PyBridge.Ref.t()"
