"""Text shown to a person: one line, whatever the input held."""

from __future__ import annotations


def printable(text: object) -> str:
    """One line, whatever a key or value contained: control characters and
    line separators (newlines, NEL, U+2028, ...) are shown escaped."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
