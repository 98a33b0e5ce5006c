"""Docstrings, written in the reStructuredText habits of the code, as Markdown."""

from __future__ import annotations

import inspect
import re

_ROLE = re.compile(r":(?:mod|func|class|data|meth|attr|obj):`~?([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)
_TABLE_RULE = re.compile(r"^\s*=+(\s+=+)+\s*$")


def docstring(obj: object) -> str:
    """The object's own docstring, dedented, as Markdown ('' when it has none: a class
    does not inherit its base's, which for a pydantic model would be pydantic's)."""
    own = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return to_markdown(inspect.cleandoc(own) if own else "")


def first_paragraph(obj: object) -> str:
    """The first paragraph of the docstring, on one line."""
    text = docstring(obj).split("\n\n")[0]
    return " ".join(text.split())


def to_markdown(text: str) -> str:
    """``literal`` -> `literal`, :role:`target` -> `target`, ``=== ===`` tables -> pipe tables."""
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    text = _LITERAL.sub(lambda m: "`" + " ".join(m.group(1).split()) + "`", text)
    return _tables(text)


def _tables(text: str) -> str:
    """Simple reStructuredText tables (rules of ``=`` framing a header) as Markdown tables."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not _TABLE_RULE.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        rule = lines[i]
        starts = [m.start() for m in re.finditer(r"=+", rule)]
        rows: list[list[str]] = []
        i += 1
        rules_seen = 1
        while i < len(lines) and rules_seen < 3:
            if _TABLE_RULE.match(lines[i]):
                rules_seen += 1
            elif lines[i].strip():
                cells = [lines[i][a:b].strip() for a, b in zip(starts, [*starts[1:], None])]
                if not cells[0] and rows:  # a continuation line of the row above
                    rows[-1] = [f"{x} {y}".strip() for x, y in zip(rows[-1], cells)]
                else:
                    rows.append(cells)
            i += 1
        if rows:
            out.append("")
            out.append("| " + " | ".join(rows[0]) + " |")
            out.append("|" + " --- |" * len(rows[0]))
            out.extend("| " + " | ".join(r) + " |" for r in rows[1:])
            out.append("")
    return "\n".join(out)
