"""elixir_gen: a YAML spec (or introspection) of a Python API -> typed, documented Elixir modules.

Pipeline: `spec` (YAML with line numbers -> `model.Spec`) -> `build` (with
`introspect` facts -> `model.ElixirModule`s) -> `render` (Jinja2) -> `format`
(the Elixir formatter). `discover` writes specs, `check` reports drift,
`report` measures the output, `lock` records what a spec was generated with;
`cli` is the command line, docs/SPEC.md the spec format.
"""

__version__ = "0.2.0"
