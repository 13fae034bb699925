"""The Elixir layer of the model -> source text, through Jinja2 templates.

One template per kind of output (`module.ex.j2`, `test.exs.j2`), shared
macros in `helpers.j2`, filters registered from `FILTERS`. The text is not
indented by hand: `format` runs it through the Elixir formatter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import jinja2

from . import names
from .docstrings import heredoc_body
from .model import ElixirModule, Library


def _keyword_key(name: str) -> str:
    atom = names.atom_literal(name)
    return atom[1:] + ":"


FILTERS: dict[str, Callable[..., str]] = {
    "heredoc": heredoc_body,
    "elixir_string": names.string_literal,
    "atom": names.atom_literal,
    "keyword_key": _keyword_key,
    "number": lambda n: f"{n:_}",
}


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        extensions=["jinja2.ext.do"],
    )
    env.filters.update(FILTERS)
    return env


def render_library(library: Library, with_tests: bool = False) -> tuple[dict[str, str], dict[str, str]]:
    """({lib file: source}, {test file: source}) for every module of a library."""
    env = environment()
    source = Path(library.spec.file).name
    files: dict[str, str] = {}
    tests: dict[str, str] = {}
    for module in library.modules:
        files[module.file] = render_module(env, module, source)
        if with_tests and module.tests:
            tests[module.test_file] = env.get_template("test.exs.j2").render(module=module, source=source)
    return files, tests


def render_module(env: jinja2.Environment, module: ElixirModule, source: str) -> str:
    return env.get_template("module.ex.j2").render(module=module, source=source)
