"""Text shown to a person: what came from input or storage cannot forge a line.

A scenario's file name, a ``--with`` value, a stored command, a run file's
error message or a swept value may hold a newline, a carriage return, a line
separator or a terminal escape. Printed as they are, they would add lines
that look like alosim's own ("alosim: error: ...") or repaint the terminal.
Every printout is built as a list of lines and joined by :func:`join_lines`,
which shows each line with its control characters escaped
(:func:`printable`): a line stays one line.

This module imports nothing from alosim.
"""

from __future__ import annotations

from collections.abc import Iterable


def printable(text: object) -> str:
    """One line, whatever a key or value contained: control characters and
    line separators (newlines, NEL, U+2028, ...) are shown escaped."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def join_lines(lines: Iterable[object]) -> str:
    """``lines`` joined by newlines, each shown by :func:`printable` (so a value
    with a newline inside stays on its line)."""
    return "\n".join(printable(line) for line in lines)


__all__ = ["join_lines", "printable"]
