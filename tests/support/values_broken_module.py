"""A module that raises while it is imported (the traceback tests import it)."""

raise RuntimeError("broken at import")
