"""The pipeline's comparison plot: duplicate effects against lease length.

When processing may outlast the broker's lease (SQS visibility timeout,
JetStream AckWait, Service Bus lock), the duplicate effects per message
depend on the ratio of the lease V to the mean processing time s.
:func:`lease_table` collects that from runs of a pipeline (one row per run:
V, s, the consumer's store, duplicate effects per message), and
:func:`lease_duplicates` draws it, one line per consumer store, with the
closed form :func:`alosim.analytic.lease_redeliveries` beside it -- drawn
only under its own assumptions (no consumer store: every redelivery is
processed), for exponential processing and constant consume latency.

Plot functions take ``ax=None`` and return the figure; the tests check the
plotted data, not pixels.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alosim import analytic


def lease_table(results: Iterable[Any]):  # -> pandas.DataFrame
    """One row per pipeline run: ``visibility_timeout_s``, ``mean_processing_s``,
    ``consumer_store``, ``latency_s`` (the consume links' constant latency, or
    NaN), ``messages``, ``duplicate_effects`` and ``duplicates_per_message``.

    ``results`` are :class:`alosim.simulate.RunResult` objects (or anything
    with the same ``scenario`` and ``summary`` dictionaries), or the run table
    of a sweep as :func:`alosim.load_results` returns it (each row's scenario
    is rebuilt from its sweep folder)."""
    import pandas as pd

    rows = []
    pairs = _sweep_pairs(results) if isinstance(results, pd.DataFrame) else (
        (result.scenario, result.summary) for result in results)
    for scenario, summary in pairs:
        if "broker" not in scenario:
            raise ValueError(f"{scenario.get('name')}: not a pipeline (no broker section)")
        consume = scenario["network"].get("consume") or {}
        latencies = [consume.get(way, {}).get("latency", {}) for way in ("data", "ack")]
        constant = all(l.get("dist") == "constant" for l in latencies) and (
            latencies[0].get("value") == latencies[1].get("value"))
        processing = scenario["consumer"]["processing"]
        rows.append({
            "visibility_timeout_s": float(scenario["broker"]["visibility_timeout"]),
            "mean_processing_s": float(processing.get("mean", processing.get("value", float("nan")))),
            "exponential": processing.get("dist") == "exponential",
            "consumer_store": scenario["consumer"]["dedup"]["kind"],
            "latency_s": float(latencies[0]["value"]) if constant else float("nan"),
            "messages": int(summary["messages"]),
            "duplicate_effects": int(summary["duplicate_processing"]),
            "duplicates_per_message": summary["duplicate_processing"] / max(int(summary["messages"]), 1),
        })
    return pd.DataFrame(rows)


def _sweep_pairs(runs: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(scenario, summary) of each successful run of a sweep's run table."""
    from pathlib import Path

    from alosim.scenario import load_scenario
    from alosim.sweep import expand

    folder = runs.attrs.get("sweep_folder")
    if not folder or not (Path(folder) / "scenario.yaml").is_file():
        raise ValueError("a run table without its sweep folder: pass the table alosim.load_results "
                         "returns (it knows its folder), or RunResult objects")
    plan = expand(load_scenario(Path(folder) / "scenario.yaml"))
    scenarios = {point.index: point.scenario.resolved() for point in plan.points}
    ok = runs[runs["error"] == ""] if "error" in runs else runs
    return [(scenarios[int(row["point"])], {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
            for _, row in ok.iterrows()]


def lease_duplicates(table, *, ax=None, level: float = 0.99):  # -> matplotlib Figure
    """Duplicate effects per message against V / s, a line per consumer store.

    Each point carries a ``level`` normal interval with the variance
    v (1 + v) of a geometric count of mean v (an approximation: exact when
    every further redelivery is as likely as the first). The closed form is
    drawn as a curve over V / s for each (s, L) of the no-store runs with
    exponential processing and constant latency.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.5))
    else:
        fig = ax.figure
    table = table.assign(ratio=table.visibility_timeout_s / table.mean_processing_s)
    grouped = table.groupby(["consumer_store", "ratio"], sort=True).agg(
        duplicate_effects=("duplicate_effects", "sum"), messages=("messages", "sum"),
        visibility_timeout_s=("visibility_timeout_s", "first"),
        mean_processing_s=("mean_processing_s", "first"), latency_s=("latency_s", "first"),
        exponential=("exponential", "all"))
    for store, part in grouped.groupby(level=0, sort=True):
        part = part.droplevel(0)
        x = part.index.to_numpy(dtype=float)
        y = (part.duplicate_effects / part.messages).to_numpy(dtype=float)
        half = [analytic.normal_interval(v, max(v * (1 + v), 1e-12), int(n), level).high - v
                for v, n in zip(y, part.messages)]
        ax.errorbar(x, y, yerr=half, marker="o", capsize=3, linestyle="-",
                    label=f"consumer store: {store}")
    closed = grouped.loc[["none"]] if "none" in grouped.index.get_level_values(0) else grouped.iloc[:0]
    closed = closed[closed.exponential & closed.latency_s.notna()]
    for (s, latency), _ in closed.groupby(["mean_processing_s", "latency_s"], sort=True):
        low = max(closed.index.get_level_values(1).min() * 0.9, 2 * latency / s + 1e-3)
        high = closed.index.get_level_values(1).max() * 1.1
        xs = np.linspace(low, high, 200)
        ys = [analytic.lease_redeliveries(r * s, latency, s) for r in xs]
        ax.plot(xs, ys, color="black", linestyle="--", linewidth=1,
                label=f"closed form, no store (s = {s:g} s, L = {latency * 1000:g} ms)")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("lease / mean processing time  (V / s)")
    ax.set_ylabel("duplicate effects per message")
    ax.set_title("Processing that outlasts its lease")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


__all__ = ["lease_duplicates", "lease_table"]
