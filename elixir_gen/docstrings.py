"""Python docstrings -> readable Markdown, and Markdown -> safe Elixir heredocs.

Docstrings come in three common dialects (Google `Args:` sections, NumPy
underlined sections, reST `::` literal blocks) plus `>>>` examples. Each is
turned into what ExDoc renders well: `##` headings, bullet lists of
parameters, fenced code blocks. Text that fits none of them passes through.
"""

from __future__ import annotations

import inspect
import re

_GOOGLE_SECTIONS = {
    "args", "arguments", "parameters", "params", "keyword args", "keyword arguments",
    "kwargs", "other parameters", "returns", "return", "yields", "yield", "raises",
    "raise", "exceptions", "attributes", "example", "examples", "note", "notes",
    "warning", "warnings", "see also", "references", "todo", "methods",
}
_ITEM_SECTIONS = {
    "args", "arguments", "parameters", "params", "keyword args", "keyword arguments",
    "kwargs", "other parameters", "attributes", "raises", "raise", "exceptions",
    "returns", "return", "yields", "yield", "methods",
}
_UNDERLINE = re.compile(r"^\s*(-{3,}|={3,}|~{3,})\s*$")
_GOOGLE_HEADER = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*$")
_GOOGLE_ITEM = re.compile(r"^(\*{0,2}[A-Za-z_][\w.]*)\s*(\(([^)]*)\))?\s*:\s*(.*)$")
_NUMPY_ITEM = re.compile(r"^(\*{0,2}[A-Za-z_][\w., ]*?)\s*(:\s*(.*))?$")


def to_markdown(doc: str | None) -> str:
    """Readable Markdown for a Python docstring ('' for none)."""
    if not doc or not doc.strip():
        return ""
    lines = inspect.cleandoc(doc).expandtabs(4).splitlines()
    out: list[str] = []
    i = 0
    section: str | None = None
    while i < len(lines):
        line = lines[i].rstrip()
        stripped = line.strip()
        nxt = lines[i + 1].rstrip() if i + 1 < len(lines) else ""
        # NumPy: a title underlined with dashes.
        if stripped and not line.startswith(" ") and _UNDERLINE.match(nxt) and len(nxt.strip()) >= min(3, len(stripped)):
            section = stripped.lower()
            _blank(out)
            out.append(f"## {stripped}")
            out.append("")
            i += 2
            continue
        # Google: `Args:` alone on a line.
        m = _GOOGLE_HEADER.match(line)
        if m and m.group(1).lower() in _GOOGLE_SECTIONS:
            section = m.group(1).lower()
            _blank(out)
            out.append(f"## {m.group(1)}")
            out.append("")
            i += 1
            if section in _ITEM_SECTIONS:
                i = _google_items(lines, i, out)
            continue
        # Doctest examples.
        if stripped.startswith(">>>"):
            block, i = _doctest_block(lines, i)
            _blank(out)
            out.extend(["```python", *block, "```", ""])
            continue
        # NumPy item sections: `name : type` with an indented description.
        if section in _ITEM_SECTIONS and stripped and not line.startswith(" ") and not _is_google_header(line):
            i = _numpy_item(lines, i, out)
            continue
        # reST literal block introduced by `::`.
        if stripped.endswith("::") and _indented_block_follows(lines, i + 1):
            text = stripped[:-1] if stripped != "::" else ""
            if text:
                out.append(_indent_of(line) + text)
            block, i = _indented_block(lines, i + 1)
            _blank(out)
            fence = "```python" if any(b.lstrip().startswith(">>>") for b in block) else "```"
            out.extend([fence, *block, "```", ""])
            continue
        if not stripped:
            out.append("")
        else:
            # An indented paragraph would become a Markdown code block.
            out.append(stripped if not _looks_like_code(line) else line)
        i += 1
    return _inline_markup("\n".join(out)).strip("\n")


_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`]+)`")
_DOUBLE_BACKTICKS = re.compile(r"``([^`]+)``")


def _inline_markup(text: str) -> str:
    """reST inline markup outside code fences: ``code`` and :role:`name` become `code`."""
    out: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence:
            line = _DOUBLE_BACKTICKS.sub(r"`\1`", _ROLE.sub(r"`\1`", line))
        out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out))


def _is_google_header(line: str) -> bool:
    m = _GOOGLE_HEADER.match(line)
    return bool(m and m.group(1).lower() in _GOOGLE_SECTIONS)


def _blank(out: list[str]) -> None:
    if out and out[-1] != "":
        out.append("")


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _looks_like_code(line: str) -> bool:
    return line.startswith("    ") and bool(re.search(r"[=(){}\[\]]", line))


def _doctest_block(lines: list[str], i: int) -> tuple[list[str], int]:
    indent = len(_indent_of(lines[i]))
    block: list[str] = []
    while i < len(lines) and lines[i].strip():
        block.append(lines[i][indent:].rstrip() if lines[i][:indent].strip() == "" else lines[i].strip())
        i += 1
    return block, i


def _indented_block_follows(lines: list[str], i: int) -> bool:
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i < len(lines) and lines[i].startswith((" ", "\t"))


def _indented_block(lines: list[str], i: int) -> tuple[list[str], int]:
    while i < len(lines) and not lines[i].strip():
        i += 1
    block: list[str] = []
    while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
        block.append(lines[i].rstrip())
        i += 1
    while block and not block[-1]:
        block.pop()
    width = min((len(_indent_of(b)) for b in block if b), default=0)
    return [b[width:] for b in block], i


def _google_items(lines: list[str], i: int, out: list[str]) -> int:
    """`name (type): description` items indented under a Google header."""
    base: int | None = None
    while i < len(lines):
        line = lines[i].rstrip()
        if not line.strip():
            # A blank line ends the section unless indented items follow.
            if i + 1 < len(lines) and lines[i + 1].startswith(" "):
                i += 1
                continue
            break
        indent = len(_indent_of(line))
        if indent == 0:
            break
        if base is None:
            base = indent
        m = _GOOGLE_ITEM.match(line.strip())
        if indent == base and m:
            name, kind, desc = m.group(1), m.group(3), m.group(4)
            out.append(f"* `{name}`" + (f" (`{kind}`)" if kind else "") + (f" - {desc}" if desc else ""))
        elif indent == base:
            out.append(f"* {line.strip()}")
        else:
            out.append("  " + line.strip())
        i += 1
    out.append("")
    return i


def _numpy_item(lines: list[str], i: int, out: list[str]) -> int:
    """`name : type` followed by an indented description."""
    head = lines[i].strip()
    m = _NUMPY_ITEM.match(head)
    if m and m.group(2):
        item = f"* `{m.group(1).strip()}` (`{m.group(3).strip()}`)" if m.group(3) else f"* `{m.group(1).strip()}`"
    elif m:
        item = f"* `{head}`"
    else:
        item = f"* {head}"
    i += 1
    desc: list[str] = []
    while i < len(lines) and lines[i].startswith(" ") and lines[i].strip():
        desc.append(lines[i].strip())
        i += 1
    out.append(item + (" - " + " ".join(desc) if desc else ""))
    return i


def heredoc_body(markdown: str) -> str:
    """Text that is safe between `\"\"\"` delimiters of an Elixir heredoc.

    Backslashes and `#{` would otherwise be escapes and interpolation, and a
    `\"\"\"` would end the heredoc.
    """
    text = markdown.replace("\\", "\\\\").replace("#{", "\\#{").replace('"""', '\\"\\"\\"')
    # Control characters other than newline do not belong in docs.
    text = "".join(c if c == "\n" or c.isprintable() else " " for c in text)
    return "\n".join(line.rstrip() for line in text.split("\n"))


def summary(doc: str | None) -> str:
    """The first paragraph of a docstring, on one line."""
    if not doc:
        return ""
    first = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(first.split())
