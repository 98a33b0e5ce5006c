"""The log's picture: duplicate effects per consumer crash against the commit interval.

:func:`commit_replays` takes a table of runs -- one row per (policy, commit
interval), with the measured ``duplicates_per_consumer_crash`` -- and draws
one line per commit policy, with the closed form lambda T / 2 of auto-commit
(:func:`alosim.analytic.auto_commit_duplicates_per_crash`) beside it.

:func:`commit_interval_sweep` draws the same from a sweep's run table (the
``commit-interval`` kind of ``alosim plot``): the sweep zips
``consumer.commit.policy`` with ``consumer.commit.interval``; the ``interval``
policy is a line against T (mean over replications, 95 % confidence bars),
and a policy that does not commit on a clock (after each record, after each
batch, ...) is a level line across the same T, since T does not change it.
"""

from __future__ import annotations

from typing import Any

from alosim import analytic


def commit_replays(table: Any, rate_per_s: float, ax: Any = None) -> Any:
    """Plot ``table`` (columns ``policy``, ``interval_s``, ``duplicates_per_consumer_crash``);
    returns the figure. The dashed line is lambda T / 2 at ``rate_per_s``.

    With a ``crashes`` column, each auto-commit point carries the 99 % interval of a mean
    over that many crashes, its variance the closed form's
    (:func:`alosim.analytic.auto_commit_duplicates_variance`): a point on few crashes shows
    how little it says."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    for policy in sorted(set(table["policy"])):
        rows = table[table["policy"] == policy].sort_values("interval_s")
        if "crashes" in rows and policy == "interval":
            half = [2.576 * (analytic.auto_commit_duplicates_variance(rate_per_s, t) / max(int(n), 1)) ** 0.5
                    for t, n in zip(rows["interval_s"], rows["crashes"])]
            ax.errorbar(rows["interval_s"], rows["duplicates_per_consumer_crash"], yerr=half, fmt="o-",
                        capsize=3, label=f"{policy} (99 % interval)")
        else:
            ax.plot(rows["interval_s"], rows["duplicates_per_consumer_crash"], "o-", label=policy)
    intervals = sorted(set(table["interval_s"]))
    ax.plot(intervals, [analytic.auto_commit_duplicates_per_crash(rate_per_s, t) for t in intervals],
            "k--", label=f"λT/2, λ = {rate_per_s:g}/s")
    ax.set_xlabel("commit interval T (s)")
    ax.set_ylabel("duplicate effects per consumer crash")
    ax.legend()
    return fig


POLICY = "consumer.commit.policy"
INTERVAL = "consumer.commit.interval"
METRIC = "duplicates_per_consumer_crash"


def consumer_rate_per_s(scenario: Any) -> float | None:
    """The rate of records one member of the group processes (None without a fixed rate):
    the producers' rate shared evenly by the consumers -- which holds when the
    partitions split evenly among them."""
    if scenario.sender.rate is None or scenario.consumer is None:
        return None
    return float(scenario.sender.rate * scenario.sender.count / scenario.consumer.count)


def commit_interval_sweep(runs: Any, rate_per_s: float, ax: Any = None) -> Any:
    """Duplicate effects per consumer crash against the commit interval, one line per
    commit policy, and lambda T / 2 at ``rate_per_s``; returns the figure."""
    import matplotlib.pyplot as plt

    from alosim.store import aggregate

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    else:
        fig = ax.figure
    if "error" in runs:
        runs = runs[runs["error"] == ""]
    agg = aggregate(runs, [METRIC])
    intervals = sorted(set(agg.loc[agg[POLICY] == "interval", INTERVAL]) or set(agg[INTERVAL]))
    for policy in sorted(set(agg[POLICY])):
        rows = agg[agg[POLICY] == policy].sort_values(INTERVAL, kind="stable")
        mean = rows[f"{METRIC}_mean"].to_numpy(dtype=float)
        if policy == "interval":
            low = mean - rows[f"{METRIC}_ci_low"].to_numpy(dtype=float)
            high = rows[f"{METRIC}_ci_high"].to_numpy(dtype=float) - mean
            ax.errorbar(rows[INTERVAL].to_numpy(dtype=float), mean, yerr=[low, high], fmt="o-",
                        capsize=3, label="interval (auto-commit)")
        else:
            level = float(mean.mean())
            ax.plot(intervals, [level] * len(intervals), ":", label=f"{policy} (no clock)")
    ax.plot(intervals, [analytic.auto_commit_duplicates_per_crash(rate_per_s, t) for t in intervals],
            "k--", label=f"λT/2, λ = {rate_per_s:g}/s")
    ax.set_xlabel("commit interval T (s)")
    ax.set_ylabel("duplicate effects per consumer crash")
    ax.set_title("Replays per consumer crash against the commit interval")
    ax.grid(True, alpha=0.3)
    ax.legend(title="commit policy", fontsize="small")
    return fig


__all__ = ["commit_interval_sweep", "commit_replays", "consumer_rate_per_s"]
