"""Pictures of overload: one run around its slowdown, and goodput against offered load.

* :func:`overload` -- a run's queue length (top) and its goodput, offered
  load and throughput per sampling interval (bottom) against simulated
  time, the slowdown (pause or slow-down) shaded, and the moment the run
  recovered when it did (:mod:`alosim.overload`).
* :func:`collapse` -- a sweep's goodput against the offered rate
  (``sender.rate``), one line per combination of the other swept parameters
  (say, the retry policy), with the ideal line goodput = offered load and,
  for a fixed timeout on one exponential worker, the load at which the
  retry-amplification fixed point stops existing
  (:func:`alosim.analytic.collapse_load`) as a vertical line.

Both take ``ax``/``axes`` to draw into and return the figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alosim import analytic
from alosim import overload as measures

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from alosim.scenario import Scenario
    from alosim.store import SweepData


def overload(series: Mapping[str, Sequence[float]], scenario: Scenario, *, title: str = "",
             axes: Sequence[Axes] | None = None) -> Figure:
    """Queue length above; goodput, offered load and throughput per second below."""
    if axes is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(7, 5.5), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True)
    else:
        top, bottom = axes
        fig = top.figure  # type: ignore[assignment]
    workers = scenario.receiver.count * scenario.receiver.workers
    rates = measures.rates(series, workers)
    top.plot(series["time_s"], series["queue_length"], color="tab:purple", label="queue length")
    top.set_ylabel("copies waiting")
    bottom.plot(rates["time_s"], rates["offered_per_s"], color="tab:gray", linestyle="--",
                label="offered load (created/s)")
    bottom.plot(rates["time_s"], rates["throughput_per_s"], color="tab:orange", linestyle=":",
                label="throughput (processed/s, duplicates too)")
    bottom.plot(rates["time_s"], rates["goodput_per_s"], color="tab:green", label="goodput (unique/s)")
    bottom.set_ylabel("messages per second")
    bottom.set_xlabel("simulated time (s)")
    for fault in scenario.faults:
        if fault.kind in ("pause", "slow") and fault.at is not None and fault.for_ is not None:
            for ax in (top, bottom):
                ax.axvspan(fault.at, fault.at + fault.for_, color="tab:red", alpha=0.15,
                           label=f"{fault.kind} {fault.for_:g} s" if ax is top else None)
    verdict = measures.recovery(scenario, series)
    if verdict.recovered and verdict.trigger_end_s is not None and verdict.recovery_time_s is not None:
        at = verdict.trigger_end_s + verdict.recovery_time_s
        bottom.axvline(at, color="tab:green", linestyle="-.", label=f"recovered (+{verdict.recovery_time_s:.3g} s)")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    headline = {True: "recovered", False: "did not recover", None: "no verdict"}[verdict.recovered]
    if verdict.undecided:
        headline = "undecided"
    top.set_title(title or f"Queue and goodput around the slowdown ({headline})")
    return fig


def _fixed_point_loads(scenarios: Mapping[int, Scenario] | None) -> list[tuple[float, float, float]]:
    """(collapse rate per sender, mu, T) for each distinct fixed-timeout, one-worker,
    exponential, no-dedup configuration among the sweep's points."""
    from alosim.dists import Constant, Exponential

    found: dict[tuple[float, float, int], None] = {}
    for sc in (scenarios or {}).values():
        retry = sc.sender.retry
        data, ack = sc.network.data.latency, sc.network.ack.latency
        if (sc.broker is not None or sc.receiver.count != 1 or sc.receiver.workers != 1
                or not isinstance(sc.receiver.processing, Exponential) or retry.policy != "fixed"
                or retry.jitter != "none" or retry.max_attempts is not None
                or sc.receiver.dedup.kind != "none"
                or not isinstance(data, Constant) or not isinstance(ack, Constant)):
            continue
        timeout = retry.timeout - data.value - ack.value
        if timeout > 0:
            found[(1.0 / sc.receiver.processing.mean, timeout, sc.sender.count)] = None
    return [(analytic.collapse_load(mu, t) * mu / count, mu, t) for mu, t, count in found]


def collapse(runs: pd.DataFrame, *, scenarios: Mapping[int, Scenario] | None = None,
             ax: Axes | None = None) -> Figure:
    """Goodput against ``sender.rate``, one line per other swept parameter combination."""
    from alosim.plots import _axis_label, metric_against_parameter

    x = "sender.rate"
    fig = metric_against_parameter(runs, x, "goodput_per_s", ax=ax)
    axis = fig.axes[0] if ax is None else ax
    rates = sorted(float(r) for r in runs[x].dropna().unique())
    if rates:
        axis.plot(rates, rates, color="black", linewidth=0.8, alpha=0.5, label="goodput = offered load")
    for rate, mu, timeout in _fixed_point_loads(scenarios):
        axis.axvline(rate, color="tab:red", linestyle=":",
                     label=f"fixed-point collapse {rate:.3g}/s (mu = {mu:g}/s, T = {timeout:g} s)")
    axis.set_xlabel(_axis_label(x) + " (offered messages/s)")
    axis.set_ylabel("goodput (unique messages processed/s)")
    axis.set_title("Goodput against offered load")
    handles, labels = axis.get_legend_handles_labels()
    axis.legend(handles, [_short(label) for label in labels], fontsize="small",
                loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=1)
    return fig


def _short(label: str) -> str:
    """A line's label without the dotted prefixes and the unlimited attempts (nan)."""
    parts = [p.replace("sender.retry.", "").replace("semantics=", "")
             for p in label.split(", ") if not p.endswith("max_attempts=nan")]
    return ", ".join(p.replace("max_attempts=1", "one attempt") for p in parts)


def collapse_unfit_reason(data: SweepData) -> str | None:
    """Why the collapse plot does not fit ``data`` (None when it does)."""
    if "sender.rate" not in data.parameters:
        return "needs sender.rate in the sweep"
    if "goodput_per_s" not in data.runs.columns:
        return "the runs have no goodput_per_s column (stored by an older alosim?)"
    return None


def write_overload_plot(run_folder: str | Path, out: str | Path) -> list[Path]:
    """Draw :func:`overload` for the run stored in ``run_folder`` as PNG and SVG in ``out``."""
    import pandas as pd

    from alosim.files import check_writable, ensure_folder
    from alosim.plots import save
    from alosim.scenario import load_scenario
    from alosim.store import ResultsError

    folder = Path(run_folder)
    if folder.is_dir() and not (folder / "timeseries.csv").is_file():
        runs = sorted(p for p in folder.glob("seed-*") if (p / "timeseries.csv").is_file())
        if len(runs) == 1:
            folder = runs[0]
    if not (folder / "timeseries.csv").is_file() or not (folder / "scenario.yaml").is_file():
        raise ResultsError(f"{run_folder}: the overload plot needs one run's folder "
                           "(with timeseries.csv and scenario.yaml), as alosim run writes it")
    scenario = load_scenario(folder / "scenario.yaml")
    frame = pd.read_csv(folder / "timeseries.csv")
    series = {name: frame[name].tolist() for name in frame.columns}
    fig = overload(series, scenario, title=f"{scenario.name}: queue and goodput around the slowdown")
    target = ensure_folder(Path(out))
    check_writable(target)
    written = []
    for suffix in (".png", ".svg"):
        path = target / f"overload{suffix}"
        save(fig, path)
        written.append(path)
    return written


__all__ = ["collapse", "collapse_unfit_reason", "overload", "write_overload_plot"]
