"""The summary columns a scenario's ``expect:`` block may name, by the shape its validation
sees (``single-hop``, ``queue pipeline``, ``log pipeline``): a view of the registry of figures,
which knows which shapes report each column (:func:`alosim.figures.summary_columns`).
Kept for :mod:`alosim.scenario`'s validation; new code asks :mod:`alosim.figures`.
"""

from __future__ import annotations

from alosim.figures import LOG, QUEUE, SINGLE_HOP
from alosim.figures import summary_columns as _summary_columns

#: The shapes of a scenario's validation, and the registry's shape of each.
SHAPES: dict[str, str] = {"single-hop": SINGLE_HOP, "queue pipeline": QUEUE, "log pipeline": LOG}


def summary_columns(shape: str) -> frozenset[str]:
    """Every column a run of ``shape`` may report (optional ones included), and the derived ratios."""
    if shape not in SHAPES:
        raise ValueError(f"expected one of {', '.join(SHAPES)}, got {shape!r}")
    return _summary_columns(SHAPES[shape])


__all__ = ["SHAPES", "summary_columns"]
