"""The log's picture: duplicate effects per consumer crash against the commit interval.

:func:`commit_replays` takes a table of runs -- one row per (policy, commit
interval), with the measured ``duplicates_per_consumer_crash`` -- and draws
one line per commit policy, with the closed form lambda T / 2 of auto-commit
(:func:`alosim.analytic.auto_commit_duplicates_per_crash`) beside it.
"""

from __future__ import annotations

from typing import Any

from alosim import analytic


def commit_replays(table: Any, rate_per_s: float, ax: Any = None) -> Any:
    """Plot ``table`` (columns ``policy``, ``interval_s``, ``duplicates_per_consumer_crash``);
    returns the figure. The dashed line is lambda T / 2 at ``rate_per_s``."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    for policy in sorted(set(table["policy"])):
        rows = table[table["policy"] == policy].sort_values("interval_s")
        ax.plot(rows["interval_s"], rows["duplicates_per_consumer_crash"], "o-", label=policy)
    intervals = sorted(set(table["interval_s"]))
    ax.plot(intervals, [analytic.auto_commit_duplicates_per_crash(rate_per_s, t) for t in intervals],
            "k--", label=f"λT/2, λ = {rate_per_s:g}/s")
    ax.set_xlabel("commit interval T (s)")
    ax.set_ylabel("duplicate effects per consumer crash")
    ax.legend()
    return fig


__all__ = ["commit_replays"]
