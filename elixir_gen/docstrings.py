"""Python docstrings -> structured sections and readable Markdown; Markdown -> safe Elixir heredocs.

Docstrings come in three common dialects: Google (`Args:` sections with
`name (type): text` items), NumPy (underlined `Parameters` sections with
`name : type` items) and Sphinx (`:param x:`, `:type x:`, `:returns:`,
`:rtype:`, `:raises E:` fields), plus `>>>` examples and reST literal
blocks. `parse_docstring` splits one into its free text (rendered as
Markdown: headings, fenced code, inline code for reST roles) and the
parameter, return and exception items, so the generator can render those
with the Elixir types and the defaults it knows. `doc_type_annotation`
reads the type a docstring writes (`int, optional`, `list of str`,
`str or None`) as an annotation, a source of types when the code has none.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Mapping

_PARAM_SECTIONS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments", "kwargs", "other parameters", "other args", "keyword parameters"}
_RETURN_SECTIONS = {"returns", "return", "yields", "yield"}
_RAISE_SECTIONS = {"raises", "raise", "exceptions", "except"}
_ITEM_SECTIONS = _PARAM_SECTIONS | _RAISE_SECTIONS | {"attributes", "methods"}
_CODE_SECTIONS = {"example", "examples", "usage"}
_SECTIONS = _PARAM_SECTIONS | _RETURN_SECTIONS | _RAISE_SECTIONS | _CODE_SECTIONS | {
    "attributes", "note", "notes", "warning", "warnings", "see also", "references", "todo", "methods", "tip", "important",
}
_UNDERLINE = re.compile(r"^\s*(-{3,}|={3,}|~{3,})\s*$")
_GOOGLE_HEADER = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*$")
_GOOGLE_ITEM = re.compile(r"^(\*{0,2}[A-Za-z_][\w.]*)\s*(\(([^)]*(?:\([^)]*\)[^)]*)*)\))?\s*:\s*(.*)$")
_NUMPY_ITEM = re.compile(r"^(\*{0,2}[A-Za-z_][\w.]*(?:\s*,\s*\*{0,2}[A-Za-z_][\w.]*)*)\s*(?::\s*(.*))?$")
_SPHINX_FIELD = re.compile(r"^:(param|parameter|arg|argument|key|keyword|type|returns?|rtype|raises?|except|exception|yields?|ytype)(\s+[^:]+)?:\s*(.*)$")


@dataclass
class DocItem:
    """One documented parameter, result or exception."""

    name: str  # the parameter (or exception) name; "" for a result
    type: str | None = None  # as the docstring writes it
    description: str = ""


@dataclass
class ParsedDoc:
    body: str = ""  # Markdown of everything but the items below
    params: dict[str, DocItem] = field(default_factory=dict)
    returns: DocItem | None = None
    raises: list[DocItem] = field(default_factory=list)
    attributes: dict[str, DocItem] = field(default_factory=dict)  # an `Attributes` section's items (also in `body`)

    def param_types(self) -> dict[str, str]:
        return {k: v.type for k, v in self.params.items() if v.type}


def parse_docstring(doc: str | None) -> ParsedDoc:
    """Split a docstring into Markdown text and its parameter, return and exception items."""
    out = ParsedDoc()
    if not doc or not doc.strip():
        return out
    lines = _directives(_number_footnotes(inspect.cleandoc(doc).expandtabs(4).splitlines()))
    body: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        stripped = line.strip()
        nxt = lines[i + 1].rstrip() if i + 1 < len(lines) else ""
        # NumPy: a title underlined with dashes.
        if stripped and not line.startswith(" ") and _UNDERLINE.match(nxt) and len(nxt.strip()) >= min(3, len(stripped)):
            i = _section(stripped, lines, i + 2, out, body, numpy=True)
            continue
        # Google: `Args:` alone on a line.
        m = _GOOGLE_HEADER.match(line)
        if m and m.group(1).strip().lower() in _SECTIONS:
            i = _section(m.group(1).strip(), lines, i + 1, out, body, numpy=False)
            continue
        # Sphinx field lists.
        if _SPHINX_FIELD.match(stripped):
            i = _sphinx_field(lines, i, out)
            continue
        if stripped.startswith(">>>"):
            block, i = _doctest_block(lines, i)
            _blank(body)
            body.extend(["```python", *block, "```", ""])
            continue
        if stripped.endswith("::") and _indented_block_follows(lines, i + 1):
            text = stripped[:-1] if stripped != "::" else ""
            if text:
                body.append(text)
            block, i = _indented_block(lines, i + 1)
            _blank(body)
            body.extend([_fence(block), *block, "```", ""])
            continue
        if stripped.startswith("```"):
            # A Markdown fence already: copy it through unchanged.
            body.append(stripped)
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i].rstrip())
                i += 1
            if i < len(lines):
                body.append(lines[i].strip())
                i += 1
            continue
        if not stripped:
            body.append("")
        else:
            # An indented paragraph would become a Markdown code block: keep code, unindent prose.
            body.append(line if _looks_like_code(line) else stripped)
        i += 1
    out.body = _inline_markup("\n".join(body)).strip("\n")
    for item in list(out.params.values()) + list(out.attributes.values()) + out.raises + ([out.returns] if out.returns else []):
        item.description = _inline_markup(item.description).strip()
        if item.type:
            item.type = _strip_roles(item.type)
    return out


def to_markdown(doc: str | None) -> str:
    """Readable Markdown for a whole docstring ('' for none): its text, then its items as lists."""
    parsed = parse_docstring(doc)
    parts = [parsed.body] if parsed.body else []
    if parsed.params:
        parts.append("## Arguments\n\n" + "\n".join(item_line(f"`{p.name}`", p.type, None, p.description) for p in parsed.params.values()))
    if parsed.returns:
        parts.append("## Returns\n\n" + returns_text(parsed.returns.type, parsed.returns.description))
    if parsed.raises:
        parts.append("## Raises\n\n" + "\n".join(item_line(f"`{r.name}`", None, None, r.description) for r in parsed.raises))
    return "\n\n".join(parts)


def item_line(label: str, type_text: str | None, default: str | None, description: str) -> str:
    """`* label (`type`, default `x`) - description`, continuation lines indented under the bullet."""
    meta = [f"`{type_text}`"] if type_text else []
    if default is not None:
        meta.append(f"default `{default}`")
    head = f"* {label}" + (f" ({', '.join(meta)})" if meta else "")
    if not description:
        return head
    text = _indent_continuation(description)
    return f"{head} - {text}"


def returns_text(type_text: str | None, description: str) -> str:
    head = f"`{type_text}`" if type_text else ""
    if description:
        return f"{head} - {description}" if head else description
    return head


def _indent_continuation(text: str) -> str:
    lines = text.split("\n")
    return "\n".join([lines[0]] + [("  " + l if l.strip() else "") for l in lines[1:]])


# ---------------------------------------------------------------- sections


def _section(title: str, lines: list[str], i: int, out: ParsedDoc, body: list[str], numpy: bool) -> int:
    key = title.lower()
    content, i = _section_lines(lines, i, numpy)
    if key in _PARAM_SECTIONS or key in _RAISE_SECTIONS:
        items = _items(content, numpy)
        if key in _PARAM_SECTIONS:
            for item in items:
                for name in [n.strip() for n in item.name.split(",")]:
                    out.params.setdefault(name.lstrip("*"), DocItem(name, item.type, item.description))
        else:
            out.raises.extend(DocItem(it.name, None, it.description) for it in items)
        return i
    if key in _RETURN_SECTIONS and out.returns is None:
        out.returns = _returns(content, numpy)
        return i
    _blank(body)
    body.append(f"## {title}")
    body.append("")
    if key in _CODE_SECTIONS:
        body.extend(_code_section(content))
    elif key in ("attributes", "methods"):
        items = _items(content, numpy)
        body.extend(item_line(f"`{it.name}`", it.type, None, it.description) for it in items)
        if key == "attributes":
            for it in items:
                for name in [n.strip() for n in it.name.split(",")]:
                    out.attributes.setdefault(name, DocItem(name, it.type, it.description))
    else:
        body.extend(_prose(content))
    body.append("")
    return i


def _section_lines(lines: list[str], i: int, numpy: bool) -> tuple[list[str], int]:
    """The lines of a section, unindented; it ends at the next header or at text back at column 0."""
    content: list[str] = []
    while i < len(lines):
        line = lines[i].rstrip()
        nxt = lines[i + 1].rstrip() if i + 1 < len(lines) else ""
        if line and not line.startswith(" "):
            if numpy:
                if _UNDERLINE.match(nxt) or _is_header(line):
                    break
            else:
                break
        if _SPHINX_FIELD.match(line.strip()) and not line.startswith(" "):
            break
        content.append(line)
        i += 1
    while content and not content[-1].strip():
        content.pop()
    width = min((len(l) - len(l.lstrip()) for l in content if l.strip()), default=0)
    return [l[width:] for l in content], i


def _is_header(line: str) -> bool:
    m = _GOOGLE_HEADER.match(line)
    return bool(m and m.group(1).strip().lower() in _SECTIONS)


def _items(content: list[str], numpy: bool) -> list[DocItem]:
    """`name (type): text` (Google) or `name : type` + indented text (NumPy) items."""
    items: list[tuple[DocItem, list[str]]] = []
    for line in content:
        top = line.strip() and not line.startswith(" ")
        if top:
            # `` `pkg.Error`: `` (a Google item whose name is marked as code) reads like `pkg.Error:`.
            key = re.sub(r"^(?::[\w:]+:)?`+~?([^`]+?)`+(?=\s*[(:]|\s*$)", r"\1", line.strip())
            m = (_NUMPY_ITEM if numpy else _GOOGLE_ITEM).match(key)
            if m and numpy:
                items.append((DocItem(m.group(1), (m.group(2) or "").strip() or None, ""), []))
                continue
            if m:
                items.append((DocItem(m.group(1), m.group(3), ""), [m.group(4).strip()] if m.group(4).strip() else []))
                continue
        if items:
            items[-1][1].append(line)
        elif line.strip():
            items.append((DocItem(line.strip(), None, ""), []))
    for item, lines in items:
        item.description = _item_description(lines)
    return [item for item, _ in items]


def _item_description(lines: list[str]) -> str:
    """An item's text: prose lines joined, blank lines kept as paragraph breaks, `::` blocks and doctests fenced.

    `lines[0]` is the text after the item's name (indent 0); the others keep
    their indentation, so a `::` block is whatever is indented deeper than
    the line that introduces it.
    """
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    if not lines:
        return ""
    indents = [0] + [len(l) - len(l.lstrip()) for l in lines[1:]]
    out: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append(" ".join(paragraph))
            paragraph.clear()

    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if not s:
            flush()
            if out and out[-1] != "":
                out.append("")
            i += 1
            continue
        if s.startswith(">>>"):
            flush()
            doctest: list[str] = []
            while i < len(lines) and lines[i].strip():
                doctest.append(lines[i].strip())
                i += 1
            out.extend(["", "```python", *doctest, "```", ""])
            continue
        if s.endswith("::"):
            depth = indents[i]
            paragraph.append(s[:-1] if s != "::" else "")
            flush()
            j = i + 1
            block: list[str] = []
            while j < len(lines) and (not lines[j].strip() or indents[j] > depth):
                block.append(lines[j].rstrip())
                j += 1
            while block and not block[-1].strip():
                block.pop()
            while block and not block[0].strip():
                block.pop(0)
            if block:
                width = min(len(b) - len(b.lstrip()) for b in block if b.strip())
                block = [b[width:] for b in block]
                out.extend(["", _fence(block), *block, "```", ""])
                i = j
                continue
            i += 1
            continue
        if s.startswith(("- ", "* ", "+ ")):
            flush()
            out.append(s)
        elif out and out[-1].startswith(("- ", "* ", "+ ")) and not paragraph:
            out[-1] += " " + s
        else:
            paragraph.append(s)
        i += 1
    flush()
    while out and not out[-1]:
        out.pop()
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def _returns(content: list[str], numpy: bool) -> DocItem:
    text = list(content)
    while text and not text[0].strip():  # `Returns\n=======\n\nSet\n    ...`: a blank line after the title
        text.pop(0)
    if not text:
        return DocItem("")
    first = text[0].strip()
    if numpy:
        # `type` or `name : type`, then an indented description.
        m = _NUMPY_ITEM.match(first)
        type_text = (m.group(2) if m and m.group(2) else first) if m else first
        desc = " ".join(l.strip() for l in text[1:] if l.strip())
        named = [l for l in text if re.match(r"^\*{0,2}[A-Za-z_]\w*(\s*,\s*\*{0,2}[A-Za-z_]\w*)*\s+:\s+\S", l)]
        if len(named) > 1 or (m and m.group(2) and "," in m.group(1)):
            # `statistic : float` then `pvalue : float`, or `a, b : ndarray`: the function returns several
            # values (a tuple); the first one's type is not the result's.
            return DocItem("", None, " ".join(l.strip() for l in text if l.strip()))
        return DocItem("", type_text.strip() if _plausible_type(type_text) else None, desc if _plausible_type(type_text) else " ".join(l.strip() for l in text))
    m = re.match(r"^([^:\s][^:]*?):\s+(.*)$", first) or re.match(r"^([^:\s][^:]*?):$", first)
    if m and _plausible_type(m.group(1)):
        rest = [m.group(2)] if m.lastindex and m.lastindex >= 2 else []
        return DocItem("", m.group(1).strip(), _prose_text(rest + text[1:]))
    return DocItem("", None, _prose_text(text))


def _prose_text(lines: list[str]) -> str:
    return "\n".join(_prose(lines)).strip()


def _prose(lines: list[str]) -> list[str]:
    """Section text: paragraphs unindented, bullet lists and code kept."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith(">>>"):
            block, i = _doctest_block(lines, i)
            _blank(out)
            out.extend(["```python", *block, "```", ""])
            continue
        out.append(line if _looks_like_code(line) or line.lstrip().startswith(("-", "*", "+")) and line.startswith("  ") else line.strip())
        i += 1
    return out


def _code_section(content: list[str]) -> list[str]:
    """An Examples section: doctests and indented code fenced, prose kept."""
    out: list[str] = []
    i = 0
    while i < len(content):
        line = content[i]
        s = line.strip()
        if s.startswith("```"):
            out.append(s)
            i += 1
            while i < len(content) and not content[i].strip().startswith("```"):
                out.append(content[i])
                i += 1
            if i < len(content):
                out.append(content[i].strip())
                i += 1
            continue
        if s.startswith(">>>") or (line.startswith("    ") and s) or (_code_like(s) and not s.endswith((".", ":"))):
            block: list[str] = []
            while i < len(content) and (content[i].strip() or (i + 1 < len(content) and content[i + 1].startswith(" ") and block)):
                if not content[i].strip() and not (i + 1 < len(content) and (content[i + 1].startswith(" ") or _code_like(content[i + 1].strip()))):
                    break
                block.append(content[i].rstrip())
                i += 1
            width = min((len(b) - len(b.lstrip()) for b in block if b.strip()), default=0)
            block = [b[width:] for b in block]
            _blank(out)
            out.extend([_fence(block), *block, "```", ""])
            continue
        out.append(s)
        i += 1
    while out and not out[-1]:
        out.pop()
    return out


_CODE_START = re.compile(r"^(import |from \w|[A-Za-z_][\w.]*\s*=|[A-Za-z_][\w.]*\(|print\(|class |def |@|for |with |async |await |#)")


def _code_like(line: str) -> bool:
    return bool(_CODE_START.match(line))


def _fence(block: list[str]) -> str:
    return "```python" if any(b.lstrip().startswith(">>>") or _code_like(b.lstrip()) for b in block) else "```"


def _sphinx_field(lines: list[str], i: int, out: ParsedDoc) -> int:
    m = _SPHINX_FIELD.match(lines[i].strip())
    assert m
    kind, arg, text = m.group(1), (m.group(2) or "").strip(), m.group(3).strip()
    i += 1
    while i < len(lines) and lines[i].startswith(" ") and lines[i].strip():
        text += " " + lines[i].strip()
        i += 1
    if kind in ("param", "parameter", "arg", "argument", "key", "keyword"):
        parts = arg.rsplit(" ", 1)
        name = parts[-1]
        item = out.params.setdefault(name, DocItem(name))
        if len(parts) == 2:
            item.type = parts[0]
        item.description = text
    elif kind == "type":
        out.params.setdefault(arg, DocItem(arg)).type = text
    elif kind in ("returns", "return", "yields", "yield"):
        out.returns = out.returns or DocItem("")
        out.returns.description = text
    elif kind in ("rtype", "ytype"):
        out.returns = out.returns or DocItem("")
        out.returns.type = text
    else:
        out.raises.append(DocItem(arg or "Exception", None, text))
    return i


# ------------------------------------------------------------- reST directives

_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([A-Za-z][\w:-]*)::\s*(.*)$")
_CITATION = re.compile(r"^(\s*)\.\.\s+\[([^\]]+)\]\s*(.*)$")
_COMMENT = re.compile(r"^(\s*)\.\.(\s.*)?$")
_ADMONITIONS = {"note", "warning", "tip", "important", "hint", "caution", "attention", "danger", "error", "seealso", "admonition"}
_VERSIONS = {"versionadded": "Added in version {v}.", "versionchanged": "Changed in version {v}.", "deprecated": "Deprecated since version {v}."}


def _directive_body(lines: list[str], i: int, indent: int) -> tuple[list[str], int]:
    """The lines indented deeper than `indent` from `i` on (blank lines inside kept), unindented."""
    block: list[str] = []
    while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
        block.append(lines[i].rstrip())
        i += 1
    while block and not block[-1].strip():
        block.pop()
    while block and not block[0].strip():
        block.pop(0)
    width = min((len(b) - len(b.lstrip()) for b in block if b.strip()), default=0)
    return [b[width:] for b in block], i


def _number_footnotes(lines: list[str]) -> list[str]:
    """reST's auto-numbered footnotes (`text [#]_`, `.. [#] note`) numbered as Sphinx shows them: the
    references in their order, the notes in theirs."""
    refs = notes = 0
    out: list[str] = []
    for line in lines:
        c = _CITATION.match(line)
        if c and c.group(2) == "#":
            notes += 1
            line = line.replace("[#]", f"[{notes}]", 1)
        elif "[#]_" in line:
            parts = line.split("[#]_")
            for k, part in enumerate(parts[1:]):
                parts[k + 1] = f"[{refs + k + 1}]_" + part
            refs += len(parts) - 1
            line = "".join(parts)
        out.append(line)
    return out


def _directives(lines: list[str]) -> list[str]:
    """reST directives as text a reader of `h` wants: versions and admonitions as sentences,
    citations (`.. [1] ...`) one list item each, math and code fenced, Sphinx machinery dropped."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _DIRECTIVE.match(line)
        c = _CITATION.match(line) if not m else None
        if m:
            pad, name, arg = m.group(1), m.group(2).lower(), m.group(3).strip()
            body, i = _directive_body(lines, i + 1, len(pad))
            text = " ".join(b.strip() for b in body if b.strip())
            if name in _VERSIONS:
                sentence = _VERSIONS[name].format(v=arg) if arg else _VERSIONS[name].replace(" {v}", "")
                out.extend(["", f"{pad}*{sentence}*" + (f" {text}" if text else ""), ""])
            elif name in _ADMONITIONS:
                label = "See also" if name == "seealso" else name.capitalize()
                content = " ".join(x for x in (arg if name != "admonition" else "", text) if x)
                out.extend(["", f"{pad}> **{label}:** {content}".rstrip(), ""])
            elif name == "rubric" and arg:
                out.extend(["", f"{pad}**{arg}**", ""])
            elif name in ("math", "code-block", "code", "sourcecode"):
                fence = "```" + (arg if name != "math" and arg else "")
                code = ([arg] if name == "math" and arg else []) + body
                out.extend(["", pad + fence, *[pad + b for b in code], pad + "```", ""])
            # Anything else (plot, autosummary, toctree, image, only, ...) is for Sphinx: dropped.
            continue
        if c:
            pad, label, text = c.group(1), c.group(2), c.group(3).strip()
            body, i = _directive_body(lines, i + 1, len(pad))
            joined = " ".join([text] + [b.strip() for b in body if b.strip()]).strip()
            if out and out[-1].strip() and not out[-1].lstrip().startswith("* ["):
                out.append("")
            out.append(f"{pad}* [{label}] {joined}")
            continue
        if _COMMENT.match(line) and not line.strip().startswith("..."):
            # `.. _label:` targets and reST comments.
            _, i = _directive_body(lines, i + 1, len(line) - len(line.lstrip()))
            continue
        out.append(line)
        i += 1
    return out


# ------------------------------------------------------------------ helpers


# Cross-references: the text a reader sees, not code (`:ref:`Title <target>`` -> Title).
_PLAIN_ROLE = re.compile(r":(?:std:)?(?:ref|doc|term|numref|abbr|label|cite|footcite):`~?([^`<]+?)(?:\s*<[^>]+>)?`")
_CITATION_REF = re.compile(r"\[([\w#*-]+)\]_")
_ROLE = re.compile(r":(?:py:)?[a-z]+(?::[a-z]+)?:`~?!?([^`<]+?)(?:\s*<[^>]+>)?`")
_DOUBLE_BACKTICKS = re.compile(r"``([^`]+)``")


def _strip_roles(text: str) -> str:
    text = _ROLE.sub(r"\1", _PLAIN_ROLE.sub(r"\1", text))
    return text.replace("`", "").strip()


def _inline_markup(text: str) -> str:
    """reST inline markup outside code fences: ``code`` and :role:`name` become `code`."""
    out: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence:
            line = _DOUBLE_BACKTICKS.sub(r"`\1`", _ROLE.sub(r"`\1`", _CITATION_REF.sub(r"[\1]", _PLAIN_ROLE.sub(r"\1", line))))
        out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out))


def _blank(out: list[str]) -> None:
    if out and out[-1] != "":
        out.append("")


def _looks_like_code(line: str) -> bool:
    return line.startswith("    ") and bool(re.search(r"[=(){}\[\]]", line))


def _doctest_block(lines: list[str], i: int) -> tuple[list[str], int]:
    indent = len(lines[i]) - len(lines[i].lstrip())
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
    width = min((len(b) - len(b.lstrip()) for b in block if b), default=0)
    return [b[width:] for b in block], i


# --------------------------------------------------------- docstring types


_WORDS = {
    "string": "str", "str": "str", "unicode": "str",
    "integer": "int", "int": "int", "float": "float", "number": "float", "double": "float",
    "bool": "bool", "boolean": "bool", "none": "None", "dict": "dict", "dictionary": "dict", "mapping": "Mapping",
    "list": "list", "sequence": "Sequence", "tuple": "tuple", "set": "set", "bytes": "bytes",
    "callable": "Callable", "function": "Callable", "iterable": "Iterable", "iterator": "Iterator", "any": "Any", "object": "Any",
    "dict-like": "Mapping", "list-like": "Iterable",
}
# numpy's words for arrays. An array argument also takes a list or a number; an array result
# may be a numpy scalar, which arrives as a number (wide, never wrong).
_ARRAYS = {
    "array-like": "list | numpy.ndarray | float | int | bool",
    "array_like": "list | numpy.ndarray | float | int | bool",
    "arraylike": "list | numpy.ndarray | float | int | bool",
    "ndarray": "numpy.ndarray | float | int | bool",
    "array": "numpy.ndarray | float | int | bool",
    "numpy.ndarray": "numpy.ndarray | float | int | bool",
    "np.ndarray": "numpy.ndarray | float | int | bool",
    "scalar": "float | int",
}
_PLAUSIBLE = re.compile(r"^[\w.\[\], |'\"(){}=-]+$")


def _plausible_type(text: str | None) -> bool:
    if not text:
        return False
    text = _strip_roles(text)
    return bool(_PLAUSIBLE.match(text)) and len(text) <= 80 and doc_type_annotation(text) is not None


# Sizes and shapes written before or after an array word: `1d array_like`, `(N,) array_like`,
# `2D arrays`, `array_like, 1-Dimensional`. They say nothing about the type.
_SHAPE_PREFIX = re.compile(r"^(?:\([^)]*\)|\d+(?:-?[dD])(?:/\d+-?[dD])*)\s+(?=\S)")
_SHAPE_SUFFIX = re.compile(r",\s*\d+-?d(?:imensional)?$", flags=re.I)
_ARTICLE = re.compile(r"^(?:an?|the)\s+", flags=re.I)
_INSTANCE = re.compile(r"^(?:(?:an?\s+)?instance\s+of\s+(?P<a>\S+)|(?P<b>\S+)\s+(?:instance|object)s?)$", flags=re.I)
_N_TUPLE = re.compile(r"^(?:\d+-)?tuple(?:\s+of)?\s*(?=\()", flags=re.I)
# Not inside a quoted choice: `{'default', 'onesided'}` names a value called default.
_QUALIFIER = re.compile(r"\s*[,(]?\s*\b(?<!['\"])(optional|default[s]?\b.*|keyword-only|keyword only)\)?\s*$", flags=re.I)
# `positive integer`, `non-negative float`: a constraint on the value, not another type.
_SIGN = re.compile(r"^(?:strictly\s+)?(?:positive|negative|non-?negative|non-?positive|non-?zero)\s+(?=\S)", flags=re.I)
# `Point or LinearEntity (Line, Ray, Segment)`: examples of the class named before them.
_EXAMPLES = re.compile(r"^(?P<name>~?\.?[A-Za-z_][\w.]*)\s+\([^()]*\)$")
_BUILTIN_NAMES = frozenset({"int", "float", "str", "bool", "bytes", "list", "dict", "tuple", "set", "frozenset", "object", "complex", "type", "None"})


def _split_top(text: str, seps: str) -> list[str]:
    """`text` split at `seps` (a regex) where no bracket, brace or parenthesis is open."""
    parts, depth, last = [], 0, 0
    for m in re.finditer(r"[\[\](){}]|" + seps, text):
        tok = m.group(0)
        if tok in "[({":
            depth += 1
        elif tok in "])}":
            depth -= 1
        elif depth == 0:
            parts.append(text[last:m.start()])
            last = m.end()
    parts.append(text[last:])
    return [p.strip() for p in parts]


def doc_type_annotation(text: str | None, names: Mapping[str, str] | None = None) -> str | None:
    """The annotation a docstring's type text stands for (`int, optional` -> `int`), None when unclear.

    `names`: the classes the docstring's names stand for where the function
    is defined (`Symbol` -> `sympy.core.symbol.Symbol`), read by
    introspection; such a class wins over the everyday word it spells
    (`Set` is sympy's, not Python's set). Every part of the text must be
    read, or nothing is: a type may be wide, never a guess.
    """
    from .types import AnnotationSyntaxError, parse_annotation

    if not text:
        return None
    names = names or {}
    t = _strip_roles(text).strip().rstrip(".").strip()
    # `str, optional (default=None)`, `function, optional, default=None`: every trailing qualifier goes.
    while True:
        stripped = _QUALIFIER.sub("", t).strip().rstrip(",").strip()
        if stripped == t:
            break
        t = stripped
    # numpydoc: `ndarray of shape (n_samples,)`, `array-like of shape (n, m)`: the shape is no type.
    t = re.sub(r"\s+of\s+shape\s*\([^)]*\)", "", t, flags=re.I).strip()
    t = _SHAPE_SUFFIX.sub("", t).strip()
    # `ndarray, shape (n,)`, `array_like, shape=(n, m)`, `ndarray, shape(n,)`: the shape is no type either.
    t = re.sub(r"\s*,?\s*(?:with\s+)?shape\s*=?\s*\([^)]*\)$", "", t, flags=re.I).strip()
    # `callable f(x, *args)`, `callable, fprime(x, *args)`, `function(x) -> f`: a callable, its call described.
    if re.fullmatch(r"(?:callable|function)\b[ ,]*[\w']*\s*\(.*\)(?:\s*->\s*[\w ,]+)?", t, flags=re.I):
        t = "callable"
    if not t:
        return None

    def choices(inner: str) -> str | None:
        """`{'linear', 'poly'}`: literals; `{None, int, Generator}`: literals and types; `{0 or 'index', 1}`:
        values that mean the same thing, each a choice."""
        values = [v.strip() for v in _split_top(inner, r",|\s+or\s+|\s*/\s*")]
        if not values or not all(values):
            return None
        if all(re.fullmatch(r"'[^']*'|\"[^\"]*\"|-?\d+(\.\d+)?|None|True|False", v) for v in values):
            return "Literal[" + ", ".join(values) + "]"
        mapped = [word(v) for v in values]
        return None if any(m is None for m in mapped) else " | ".join(m for m in mapped if m)

    def word(w: str) -> str | None:
        w = _ARTICLE.sub("", w.strip()).strip()
        w = _SHAPE_PREFIX.sub("", w)
        if not w:
            return None
        unsigned = _SIGN.sub("", w)
        if unsigned != w and unsigned.lower() in _WORDS:
            return _WORDS[unsigned.lower()]
        examples = _EXAMPLES.fullmatch(w)
        if examples and examples.group("name").lstrip("~.") in names:
            return names[examples.group("name").lstrip("~.")]
        branded = re.fullmatch(r"([A-Za-z]\w*)\s+([A-Za-z_]\w*)", w)
        if branded and branded.group(2) in names and names[branded.group(2)].split(".")[0].lower() == branded.group(1).lower():
            return names[branded.group(2)]  # `NetworkX graph`: the package's name before its class's
        if re.fullmatch(r"'[^']*'|\"[^\"]*\"", w):
            return f"Literal[{w}]"  # `'auto' or int`: the string itself, not a class named auto
        if re.fullmatch(r"-?\d+(\.\d+)?|True|False", w):
            return f"Literal[{w}]" if "." not in w else "float"
        if w.startswith("{") and w.endswith("}"):
            return choices(w[1:-1])
        tup = _N_TUPLE.sub("", w)
        if tup.startswith("(") and tup.endswith(")"):
            # `(float, float)`, `3-tuple of (str, float, float)`: a tuple of those.
            items = [word(i) for i in _split_top(tup[1:-1], ",")]
            return None if not items or any(i is None for i in items) else f"tuple[{', '.join(i for i in items if i)}]"
        m = _INSTANCE.fullmatch(w)
        if m:
            return word(m.group("a") or m.group("b"))
        low = w.lower()
        if low in _ARRAYS:
            # Before the package's names: `ndarray` is numpy's, and a numpy result may be a scalar.
            return _ARRAYS[low]
        name = w.lstrip("~").lstrip(".") if re.fullmatch(r"~?\.?[A-Za-z_][\w.]*", w) else w
        if name in names and name not in _BUILTIN_NAMES:
            return names[name]
        m = re.fullmatch(r"(array[-_]?like|ndarray|array)\s+of\s+.+", w, flags=re.I)
        if m:
            return _ARRAYS[m.group(1).lower().replace("arraylike", "array_like")] if m.group(1).lower() in _ARRAYS else None
        m = re.fullmatch(r"(list|sequence|tuple|set|iterable|iterator)\s+of\s+(.+?)", re.sub(r"^\d+-(?=tuple)", "", w), flags=re.I)
        if m:
            item = m.group(2)
            single = item[:-1] if item.endswith("s") else None  # `list of Symbols`, `list of ints`
            plural_known = single is not None and (single in names or single.lower() in _WORDS or single.lower() in _ARRAYS)
            if single is None and re.search(r"\s(?:and|or)\s", item):
                # `tuple of ndarray and None`: items of either type.
                both = [word(i) for i in re.split(r"\s+(?:and|or)\s+", item)]
                inner = None if any(b is None for b in both) else " | ".join(b for b in both if b)
            else:
                inner = word(single) if single is not None and plural_known else word(item)
            outer = _WORDS[m.group(1).lower()]
            return f"{outer}[{inner}, ...]" if inner and outer == "tuple" else f"{outer}[{inner}]" if inner else None
        if low in _WORDS:
            return _WORDS[low]
        if low.endswith("s") and (low[:-1] in _WORDS or low[:-1] in _ARRAYS):
            return word(w[:-1])  # `floats`, `2D arrays`
        if name != w:
            w = name
        try:
            parse_annotation(w)
        except AnnotationSyntaxError:
            return None
        return w if re.fullmatch(r"[A-Za-z_][\w.]*(\[.*\])?", w) else None

    if t.startswith("{") and t.endswith("}") and t.count("{") == 1:
        return choices(t[1:-1])
    # `a list/tuple/set` is a choice, but in `sequence of Symbol/Expr` the choice is the items'.
    slash = r"|\s*/\s*" if not re.search(r"\bof\b", t) else ""
    parts = _split_top(t, r",?\s+or\s+|\s*\|\s*|," + slash) if "[" not in t else [t]
    mapped = [word(p) for p in parts]
    if not mapped or any(m is None for m in mapped):
        return None
    return mapped[0] if len(mapped) == 1 else " | ".join(m for m in mapped if m)


def everyday_word(word: str) -> bool:
    """A word a docstring uses for a Python type or an array (`function`, `integer`, `set`), which a
    package's class of that name (sympy's Function, Integer, Set) does not stand for in prose."""
    low = word.lower()
    return low in _WORDS or low in _ARRAYS or low in _BUILTIN_NAMES or (low.endswith("s") and low[:-1] in _WORDS)


def type_names(doc: str | None) -> set[str]:
    """The (dotted) names the type texts of a docstring's items use (`Symbol`, `np.random.Generator`),
    without reST's `~` and leading dots: what introspection looks up where the function is defined."""
    parsed = parse_docstring(doc)
    texts = [i.type for i in (*parsed.params.values(), *parsed.attributes.values(), parsed.returns) if i is not None and i.type]
    found: set[str] = set()
    for text in texts:
        for m in re.finditer(r"(?<![\w'\"])[~.]*([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)", _strip_roles(text)):
            name = m.group(1)
            if name not in _BUILTIN_NAMES and name.lower() not in ("optional", "default", "or", "of", "shape", "none", "true", "false"):
                found.add(name)
    return found


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
