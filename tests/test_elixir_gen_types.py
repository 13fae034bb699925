"""Type inference on unannotated libraries (issue 14, types): each rule that reads a type from a
docstring, a stub or the code, with the type it must give — and the ones it must not give.

Every test builds real introspection facts (or a real generated library) from a module written
into a temporary folder; nothing is mocked.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from elixir_gen.build import build_library
from elixir_gen.discover import discover_spec
from elixir_gen.docstrings import doc_type_annotation, parse_docstring
from elixir_gen.introspect import Introspector
from elixir_gen.model import ElixirFunction, Library
from elixir_gen.spec import load_spec
from elixir_gen.stubs import StubIndex
from elixir_gen.types import Position, TypeContext, TypeFact, map_annotation, typespec


def _library(tmp_path: Path, modules: dict[str, str], main: str) -> Library:
    """Write the modules (name -> source; `x.pyi` names a stub), discover `main` and build it."""
    for name, source in modules.items():
        path = tmp_path / (name if name.endswith(".pyi") else f"{name}.py")
        path.write_text(textwrap.dedent(source))
    sys.path.insert(0, str(tmp_path))
    try:
        (tmp_path / f"{main}.yaml").write_text(discover_spec(main, spec_dir=tmp_path))
        return build_library(load_spec(tmp_path / f"{main}.yaml"))
    finally:
        sys.path.remove(str(tmp_path))
        for name in modules:
            sys.modules.pop(name.removesuffix(".pyi"), None)


def _fn(library: Library, python_target: str) -> ElixirFunction:
    return next(f for m in library.modules for f in m.functions if f.python_target == python_target)


def _results(library: Library) -> dict[str, str]:
    """Each module-level function's name -> its result's spec."""
    return {f.python_target.rsplit(".", 1)[-1]: f.value.spec for m in library.modules for f in m.functions if f.kind == "function"}


def _types(fn: ElixirFunction) -> dict[str, str]:
    out = {p.python_name: p.type for p in fn.params if not p.is_receiver}
    out.update({o.python_name: o.typed.spec for o in fn.options})
    out["result"] = fn.value.spec
    return out


# ---------------------------------------------- classes a docstring names, where it is defined

SYMBOLIC = '''
    class Expr:
        """An expression (travels as a handle)."""


    class Set:
        """A set of this package, not Python's set: a handle too."""


    class SolveResult(tuple):
        """A result that is a tuple."""


    def solveset(f, symbol=None, domain=None):
        """Solve.

        Parameters
        ==========

        f : Expr
            The equation.
        symbol : Expr, optional
            The variable.
        domain : Set
            Where.

        Returns
        =======

        Set
            The solutions.
        """
        return Set()


    def summary(x):
        """Summarise.

        Parameters
        ----------
        x : array_like of float

        Returns
        -------
        res : SolveResult
            A tuple.
        """
        return SolveResult()
'''


def test_a_class_the_docstring_names_is_found_where_the_function_is_defined(tmp_path: Path) -> None:
    """`Expr`, `Set` resolve in the function's module: handles; `Set` is the package's, not Python's set
    (which would arrive as a MapSet: a false spec); a tuple subclass arrives as a tuple."""
    lib = _library(tmp_path, {"symbolic_lib": SYMBOLIC}, "symbolic_lib")
    solveset = _types(_fn(lib, "symbolic_lib.solveset"))
    assert solveset["f"] == "SymbolicLib.Expr.t()"
    assert solveset["symbol"] == "SymbolicLib.Expr.t() | nil"
    assert solveset["result"] == "SymbolicLib.Set.t()"
    assert "MapSet" not in solveset["domain"] and solveset["domain"] == "SymbolicLib.Set.t() | nil"
    summary = _types(_fn(lib, "symbolic_lib.summary"))
    assert summary["result"] == "tuple()"
    assert summary["x"] == "list() | PyBridge.NDArray.t() | PyBridge.Ref.t() | number() | boolean()"


PROSE_NAMES = '''
    class Graph:
        """A graph (travels as a handle)."""


    class Function:
        """This package's Function class: not what `function` means in prose."""


    def degree(G, weight=None, callback=None):
        """Degrees.

        Parameters
        ----------
        G : graph
            The graph.
        weight : Prose_names graph
            Another graph, named with the package's name first.
        callback : function
            Called for each node.
        """
'''


def test_a_class_named_in_prose_lowercase_or_after_the_package_name(tmp_path: Path) -> None:
    """networkx's `G : graph` and `G : NetworkX graph` are its Graph (a handle); `function` stays a callable,
    though the package has a class named Function."""
    lib = _library(tmp_path, {"prose_names": PROSE_NAMES}, "prose_names")
    degree = _types(_fn(lib, "prose_names.degree"))
    assert degree["G"] == "ProseNames.Graph.t()"
    assert degree["weight"] == "ProseNames.Graph.t() | nil"
    assert degree["callback"].startswith("fun()") or "->" in degree["callback"], degree["callback"]


def test_a_class_named_in_prose_is_looked_up_in_the_package_namespace_too(tmp_path: Path) -> None:
    """networkx's algorithms never import Graph (they say `nx.Graph`): the package's namespace has it."""
    (tmp_path / "netpkg").mkdir()
    files = {
        "netpkg/__init__": "from netpkg.classes import Graph\nfrom netpkg.algo import degree, order\n",
        "netpkg/classes": 'class Graph:\n    """A graph."""\n',
        "netpkg/algo": '''
            def degree(G):
                """Degree.

                Parameters
                ----------
                G : NetPkg Graph
                    The graph.
                """


            def order(G):
                """Order.

                Parameters
                ----------
                G : graph
                    The graph.
                """
        ''',
    }
    try:
        lib = _library(tmp_path, files, "netpkg")
    finally:
        for name in ("netpkg", "netpkg.classes", "netpkg.algo"):
            sys.modules.pop(name, None)
    assert _types(_fn(lib, "netpkg.degree"))["G"] == "Netpkg.Graph.t()"
    assert _types(_fn(lib, "netpkg.order"))["G"] == "Netpkg.Graph.t()"


def test_doc_names_are_kept_in_the_cache(tmp_path: Path) -> None:
    """What introspection resolved is in the cache, so the spec generates without the library."""
    (tmp_path / "cached_lib.py").write_text(textwrap.dedent(SYMBOLIC))
    sys.path.insert(0, str(tmp_path))
    try:
        import cached_lib  # type: ignore[import-not-found]

        info = Introspector().callable_info(cached_lib.solveset)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("cached_lib", None)
    assert info.doc_names == {"Expr": "cached_lib.Expr", "Set": "cached_lib.Set"}


# ---------------------------------------------------------------- numpydoc type text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1d array_like, optional", "list | numpy.ndarray | float | int | bool"),
        ("(N,) array_like", "list | numpy.ndarray | float | int | bool"),
        ("array_like of float", "list | numpy.ndarray | float | int | bool"),
        ("array_like, 1-Dimensional", "list | numpy.ndarray | float | int | bool"),
        ("2D arrays", "numpy.ndarray | float | int | bool"),
        ("floats, optional", "float"),
        ("(bool, bool), optional", "tuple[bool, bool]"),
        ("3-tuple of (str, float, float), optional", "tuple[str, float, float]"),
        ("str, scalar or callable, optional", "str | float | int | Callable"),
        ("a boolean (default is False)", "bool"),
        ("{None, int, numpy.random.Generator}, optional", "None | int | numpy.random.Generator"),
        ("str or instance of MonteCarloMethod", "str | MonteCarloMethod"),
        ("rv_frozen instance", "rv_frozen"),
        ("~matplotlib.backend_bases.MouseEvent", "matplotlib.backend_bases.MouseEvent"),
        ("callable f(x, *args), optional", "Callable"),
        ("callable, fprime(x, *args)", "Callable"),
        ("function(vector) -> scalar", "Callable"),
        ("ndarray, shape (n,)", "numpy.ndarray | float | int | bool"),
        ("array_like, shape=(n_corr, n)", "list | numpy.ndarray | float | int | bool"),
        ("2-tuple of float", "tuple[float, ...]"),
        ("str, optional (default=None)", "str"),
        ("function, optional, default=None", "Callable"),
        ("str, bool, or None, default=None", "str | bool | None"),
        ("positive integer", "int"),
        ("non-negative int, optional", "int"),
        ("dict-like", "Mapping"),
        ("list-like", "Iterable"),
        ("a list/tuple/set", "list | tuple | set"),
        ("{'default', 'onesided', 'twosided'}, optional", "Literal['default', 'onesided', 'twosided']"),
        ("{0 or 'index', 1 or 'columns', None}, default None", "Literal[0, 'index', 1, 'columns', None]"),
        ("{None, 'pad'/'ffill'}, optional", "Literal[None, 'pad', 'ffill']"),
        ("None, or tuple of str and None, optional", "None | tuple[str | None, ...]"),
    ],
)
def test_numpydoc_type_text(text: str, expected: str) -> None:
    assert doc_type_annotation(text) == expected


def test_prose_around_class_names() -> None:
    """sympy's style: a class with examples of it in parentheses, reST's `.Name`, a qualifier in parentheses."""
    names = {"Point": "sympy.Point", "LinearEntity": "sympy.LinearEntity", "Symbol": "sympy.Symbol", "Expr": "sympy.Expr"}
    assert doc_type_annotation("Point or LinearEntity (Line, Ray, Segment)", names) == "sympy.Point | sympy.LinearEntity"
    assert doc_type_annotation(".Symbol, optional (default=None)", names) == "sympy.Symbol"
    # The slash of `Symbol/Expr` is a choice of items, which is not read: nothing rather than half.
    assert doc_type_annotation("sequence of .Symbol/.Expr", names) is None


@pytest.mark.parametrize("text", ["int, order >= 1", "None or (lower limit, upper limit), optional", "sequence of x, y, [color]"])
def test_type_text_read_only_in_part_gives_nothing(text: str) -> None:
    """A part that is not a type (a constraint, a description) leaves the whole text unread: never half a type."""
    assert doc_type_annotation(text) is None


def test_a_package_class_wins_over_the_word_it_spells() -> None:
    assert doc_type_annotation("Set") == "set"
    assert doc_type_annotation("Set", {"Set": "sympy.sets.sets.Set"}) == "sympy.sets.sets.Set"
    assert doc_type_annotation("list of Symbols", {"Symbol": "sympy.core.symbol.Symbol"}) == "list[sympy.core.symbol.Symbol]"
    # A built-in's name is never taken over by a package's alias.
    assert doc_type_annotation("int", {"int": "somepkg.Int"}) == "int"


def test_returns_section_after_a_blank_line() -> None:
    """sympy's `Returns\\n=======\\n\\nSet\\n    text`: the type is the first line after the blank one."""
    doc = "Solve.\n\nReturns\n=======\n\nSet\n    A set of values.\n"
    parsed = parse_docstring(doc)
    assert parsed.returns is not None and parsed.returns.type == "Set" and parsed.returns.description == "A set of values."


def test_a_path_class_travels_as_text() -> None:
    """The worker sends a pathlib path as a string: `-> Path` is String.t(), not a handle."""
    ins = Introspector()
    name = ins.recorder.text(Path)
    assert name is not None
    ctx = TypeContext(facts=ins.facts)
    assert map_annotation(name, ctx, Position.RESULT).type.render() == "String.t()"
    assert TypeFact("class", "str") == ins.facts[name]


# -------------------------------------------------------------- stubs of inherited methods

STUBBED = '''
    class Artist:
        def get_label(self):
            return self._label

        def set_zorder(self, level):
            self.zorder = level


    class Text(Artist):
        def get_text(self):
            return self._text
'''

STUBBED_PYI = '''
    class Artist:
        def get_label(self) -> str: ...
        def set_zorder(self, level: float) -> None: ...

    class Text(Artist):
        def get_text(self) -> str: ...
'''


def test_an_inherited_method_is_typed_by_the_stub_of_the_class_defining_it(tmp_path: Path) -> None:
    (tmp_path / "stubbed_lib.py").write_text(textwrap.dedent(STUBBED))
    (tmp_path / "stubbed_lib.pyi").write_text(textwrap.dedent(STUBBED_PYI))
    sys.path.insert(0, str(tmp_path))
    try:
        import stubbed_lib  # type: ignore[import-not-found]

        index = StubIndex()
        label = index.find(stubbed_lib.Text.get_label, stubbed_lib.Text)
        zorder = index.find(stubbed_lib.Text.set_zorder, stubbed_lib.Text)
        own = index.find(stubbed_lib.Text.get_text, stubbed_lib.Text)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("stubbed_lib", None)
    assert label is not None and label.returns == "str"
    assert zorder is not None and zorder.params == {"level": "float"} and zorder.returns == "None"
    assert own is not None and own.returns == "str"


def test_a_stub_callable_keeps_its_parameter_list() -> None:
    """`Callable[[A, B], R]` in a stub survived expansion as `Callable[[][A, B], R]`, which no parser reads."""
    assert Introspector().expand("Callable[[int, str], bool]") == "Callable[[int, str], bool]"


# ------------------------------------------------------------------------ results from code

CODE = '''
    class Frozen:
        """A frozen distribution: no __new__ of its own, so calling the class builds one."""

        def __init__(self, dist, *args):
            self.dist, self.args = dist, args


    class Cached:
        """A __new__ may return anything (an interned value, another class)."""

        def __new__(cls, value):
            return value


    class Distribution:
        """Called, it freezes itself."""

        def __call__(self, *args):
            return self.freeze(*args)

        def freeze(self, *args):
            return Frozen(self, *args)


    norm = Distribution()


    def failing(expr, **assumptions):
        failed = {}
        for k in assumptions:
            failed[k] = getattr(expr, k, None)
        return failed


    def known(expr, **assumptions):
        result = True
        for k, v in assumptions.items():
            if v is None:
                result = None
            elif v != getattr(expr, k):
                return False
        return result


    def looped(items):
        out = []
        for out in items:
            pass
        return out


    def decompose(f, depth):
        if depth == 0:
            return [f]
        return [f] + decompose(f, depth - 1)


    def build(x):
        return Frozen(None, x)


    def cached(x):
        return Cached(x)


    def helper(x) -> int:
        return x


    class Meta(type):
        def __call__(cls, *args):
            return 42


    class Built(metaclass=Meta):
        """Its metaclass decides what calling it returns."""


    def metaclassed():
        return Built()


    def via_helper(x):
        return helper(x)
'''


def test_results_read_from_code(tmp_path: Path) -> None:
    lib = _library(tmp_path, {"code_lib": CODE}, "code_lib")
    result = _results(lib)
    # A callable object: its class's __call__, through self.freeze, to a class without __new__: a handle.
    assert result["norm"] == "CodeLib.Frozen.t()"
    # A local bound only by `= {}` (item assignment binds nothing new).
    assert result["failing"] == "map()"
    assert result["known"] == "boolean() | nil"
    # A loop variable rebinds `out`: nothing is known.
    assert result["looped"] == "term()"
    # `[f] + ...` is a list; the recursive call says nothing more.
    assert result["decompose"] == "list()"
    assert result["build"] == "CodeLib.Frozen.t()"
    # A class with its own __new__: the call may return anything.
    assert result["cached"] == "term()"
    # A package function's annotation.
    assert result["via_helper"] == "integer()"
    # A metaclass with its own __call__ may return anything (here an integer, not a Built).
    assert result["metaclassed"] == "term()"


# ------------------------------------------------------------- typeshed-style stubs

VERSIONED = '''
    class Dist:
        def __init__(self, mu=0.0):
            self._mu = mu

        @property
        def mean(self):
            return self._mu


    def correlation(x, y):
        return 0.0


    def decimal_mean(data):
        return data[0]


    def nowhere(x):
        return x
'''

VERSIONED_PYI = """
    import sys
    from decimal import Decimal
    from fractions import Fraction
    from typing import TypeAlias, TypeVar

    _Number: TypeAlias = float | Decimal | Fraction
    _NumberT = TypeVar("_NumberT", float, Decimal)

    class Dist:
        @property
        def mean(self) -> float: ...

    if sys.version_info >= (3, 0):
        def correlation(x: list[_Number], y: list[_Number]) -> float: ...
        def decimal_mean(data: list[_NumberT]) -> _NumberT: ...
    else:
        def correlation(x: str, y: str) -> str: ...

    if sys.version_info >= (99, 0):
        def nowhere(x: int) -> int: ...
"""


def test_stub_blocks_for_this_python_aliases_and_property_getters(tmp_path: Path) -> None:
    """typeshed writes functions under `if sys.version_info >= ...:`, types as stub-only aliases and
    TypeVars, and properties as getters: each is read (a Decimal arrives as a %Decimal{} map)."""
    lib = _library(tmp_path, {"versioned_lib": VERSIONED, "versioned_lib.pyi": VERSIONED_PYI}, "versioned_lib")
    correlation = _types(_fn(lib, "versioned_lib.correlation"))
    assert correlation == {"x": "[number() | map() | PyBridge.Ref.t()]", "y": "[number() | map() | PyBridge.Ref.t()]", "result": "number()"}
    assert _types(_fn(lib, "versioned_lib.decimal_mean"))["result"] == "number() | map()"
    # A block for another Python is not this one's.
    assert _types(_fn(lib, "versioned_lib.nowhere"))["result"] == "term()"
    getter = next(f for m in lib.modules for f in m.functions if f.python_target == "versioned_lib.Dist.mean" and f.kind == "getter")
    assert getter.value.spec == "number()"


# ------------------------------------------------------------------------- attribute getters

ATTRIBUTES = '''
    class Warning2(Warning):
        """A warning with attributes.

        Attributes:
            message: What happened.
            since: When.
        """

        message: str
        since: tuple[int, int]

        def __init__(self, message, since):
            self.message, self.since = message, since

        @property
        def count(self):
            """How many.

            Returns
            -------
            int
                The count.
            """
            return 1
'''


def test_attribute_getters_typed_from_class_annotations_and_property_returns(tmp_path: Path) -> None:
    lib = _library(tmp_path, {"attr_lib": ATTRIBUTES}, "attr_lib")
    getters = {f.python_name: f.value.spec for m in lib.modules for f in m.functions if f.kind == "getter"}
    assert getters == {"message": "String.t()", "since": "{integer(), integer()}", "count": "integer()"}


def test_a_class_constructor_is_typed_by_its_stub(tmp_path: Path) -> None:
    """`json.JSONDecodeError(msg, doc, pos)`: typeshed's `__init__` of the class types the constructor."""
    info = Introspector().constructor_info(__import__("json").JSONDecodeError)
    assert info.params is not None
    assert {p.name: p.stub for p in info.params} == {"msg": "str", "doc": "str", "pos": "int"}


# ----------------------------------------------------------------- false specs this work found

FALSE_SPECS = '''
    import datetime
    from typing import Protocol

    from numpy import ndarray


    class Stamp(datetime.datetime):
        """A datetime subclass (pandas' Timestamp): the worker sends it as a datetime."""


    class Nested(Protocol):
        def __len__(self) -> int: ...


    def pdf(x):
        """Density.

        Returns
        -------
        pdf : ndarray
            The density (a numpy scalar for a scalar x).
        """
        return x


    def interval(confidence):
        """Interval.

        Returns
        -------
        a, b : ndarray of float
            The end-points.
        """
        return confidence, confidence


    def test(x):
        """A test.

        Returns
        -------
        statistic : float
            The statistic.
        pvalue : float
            The p-value.
        """
        return x


    def rollback(dt) -> Stamp:
        return dt


    def root(x) -> complex:
        return x


    def nested(x) -> Nested:
        return x
'''


def test_results_the_worker_sends_as_values_and_tuples_of_returns(tmp_path: Path) -> None:
    lib = _library(tmp_path, {"false_lib": FALSE_SPECS}, "false_lib")
    result = _results(lib)
    # `ndarray` resolves to numpy's class in the module, yet a numpy result may be a scalar.
    assert result["pdf"] == "PyBridge.NDArray.t() | PyBridge.Ref.t() | number() | boolean()"
    # Several named returns are a tuple: the first one's type is not the result's.
    assert result["interval"] == "{term(), term()}"
    assert result["test"] == "term()"
    # A datetime subclass arrives as a datetime, a complex annotation takes a number too,
    # and a protocol is the plain data whose class has its members (a str, a list ... for `__len__`) or a handle.
    assert result["rollback"] == "NaiveDateTime.t() | DateTime.t()"
    assert result["root"] == "number() | PyBridge.Complex.t()"
    assert result["nested"] == "String.t() | PyBridge.Bytes.t() | list() | tuple() | map() | MapSet.t() | PyBridge.NDArray.t() | PyBridge.Ref.t()"


def test_a_protocol_is_the_plain_data_that_has_its_members_or_a_handle() -> None:
    """`SupportsIndex` (stubs) and numpy's `_SupportsArray`: probed on the classes values travel as."""
    from elixir_gen.types import protocol_type

    assert protocol_type(["__index__"], Position.ARG).render() == "boolean() | integer() | PyBridge.NDArray.t() | PyBridge.Ref.t()"
    # A result may be a numpy scalar, which has `__array__` and arrives as a number.
    assert protocol_type(["__array__"], Position.ARG).render() == "PyBridge.NDArray.t() | PyBridge.Ref.t()"
    assert protocol_type(["__array__"], Position.RESULT).render() == "PyBridge.NDArray.t() | boolean() | number() | PyBridge.Complex.t() | PyBridge.Ref.t()"
    assert protocol_type(["quack"], Position.ARG).render() == "PyBridge.Ref.t()"


@pytest.mark.parametrize(
    ("annotation", "arg"),
    [
        ("tuple[()] | None", "{} | nil"),
        ("tuple[int, *tuple[str, ...]]", "tuple()"),
        # A generic alias given its type variables again (numpy's stubs, expanded): the first subscription holds.
        ("numpy.ndarray[tuple[int], numpy.dtype[numpy.generic]][numpy.intp]", "PyBridge.NDArray.t() | PyBridge.Ref.t()"),
        ("_typeshed.Incomplete", "term()"),
    ],
)
def test_stub_annotations_numpy_writes(annotation: str, arg: str) -> None:
    assert typespec(annotation, TypeContext(), Position.ARG) == arg


def test_a_default_adds_its_own_value_to_a_documented_type() -> None:
    """`axis : {0 or 'index'}, default 0` stays `0 | String.t()`; a default alone is a number (wide, never wrong)."""
    from elixir_gen.signature import position_type

    documented = position_type(None, "annotation", None, "{0 or 'index'}, default 0", "0", Position.ARG, TypeContext())
    assert documented.spec == "0 | String.t()"
    assert position_type(None, "annotation", None, "int, default 5", "5", Position.ARG, TypeContext()).spec == "integer()"
    assert position_type(None, "annotation", None, None, "0", Position.ARG, TypeContext()).spec == "number()"
