"""Where output may go: the error for a place that cannot be written, and the
guard that keeps every result file inside its results folder.

Both the run writer (:mod:`alosim.results`) and the sweep store
(:mod:`alosim.store`) need them, and plots read the store: they live here,
below all three, so that imports flow one way.
"""

from __future__ import annotations

from pathlib import Path


class OutputError(Exception):
    """The results folder cannot be written where asked."""


def safe_child(root: Path, *parts: str) -> Path:
    """``root / parts`` -- refusing any path that would leave ``root``."""
    root_resolved = root.resolve()
    target = root.joinpath(*parts).resolve()
    if target != root_resolved and root_resolved not in target.parents:
        raise OutputError(f"refusing to write outside {root}: {'/'.join(parts)!r}")
    return target
