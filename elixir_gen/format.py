"""Formatting generated Elixir with the real formatter, in one `elixir` process.

Starting the BEAM costs about a second, so every file of a generation is
formatted by one process running a small script with the paths as arguments.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

_SCRIPT = r"""
failed =
  Enum.reject(System.argv(), fn path ->
    try do
      formatted = path |> File.read!() |> Code.format_string!() |> IO.iodata_to_binary()
      File.write!(path, formatted <> "\n")
      true
    rescue
      error ->
        IO.puts(:stderr, "#{path}: #{Exception.message(error)}")
        false
    end
  end)

if failed != [], do: System.halt(1)
"""


class FormatError(RuntimeError):
    """The formatter rejected a generated file (a generator bug): the message names it."""


def elixir_executable() -> str:
    exe = os.environ.get("ELIXIR") or shutil.which("elixir")
    if not exe:
        raise FormatError("the Elixir formatter needs `elixir` on PATH (or ELIXIR=/path/to/elixir)")
    return exe


def format_files(paths: list[Path]) -> None:
    """Format `paths` in place; each ends with exactly one newline."""
    if not paths:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".exs", delete=False) as script:
        script.write(_SCRIPT)
    try:
        proc = subprocess.run(
            [elixir_executable(), script.name, *[str(p) for p in paths]],
            capture_output=True,
            text=True,
        )
    finally:
        os.unlink(script.name)
    if proc.returncode != 0:
        raise FormatError(f"the Elixir formatter failed:\n{proc.stderr.strip() or proc.stdout.strip()}")
