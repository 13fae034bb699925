"""pandas DataFrames and Series as Elixir data, one column at a time (see `PyBridge.Frame`).

A numeric or boolean column becomes one numpy array, which the worker sends
as a `PyBridge.NDArray` (one binary, no per-element cost); datetimes become
ISO 8601 strings; any other column a list of its values.
"""

from __future__ import annotations

from typing import Any


def column(series: Any) -> Any:
    """One column's values: a numpy array for numeric and boolean dtypes, else a list."""
    kind = getattr(series.dtype, "kind", "O")
    if kind in "biuf" and not hasattr(series, "cat"):
        return series.to_numpy(copy=False)
    if kind == "c":
        return series.to_numpy(copy=False)
    if kind in "Mm":
        return [None if v is None or v != v else v.isoformat() for v in series.astype(object).where(series.notna(), None)]
    return series.astype(object).where(series.notna(), None).tolist()


def columns(frame: Any, index: bool = False) -> dict[Any, Any]:
    """A DataFrame as `{column name: values}` (a Series as its one column); `index`: add its index as "index"."""
    import pandas  # type: ignore[import-untyped]  # (no stubs; only this helper uses it)

    if isinstance(frame, pandas.Series):
        frame = frame.to_frame()
    out: dict[Any, Any] = {name: column(frame[name]) for name in frame.columns}
    if index:
        out["index"] = column(frame.index.to_series())
    return out


def series(values: Any) -> Any:
    """A Series' values alone (see `column`)."""
    return column(values)
