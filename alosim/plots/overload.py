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
  (:func:`alosim.analytic.collapse_load`) as a vertical line. Like every
  sweep plot it lives in :mod:`alosim.plots` (``--kind collapse``), which
  this module builds on; it is re-exported here.

Both take ``ax``/``axes`` to draw into and return the figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from alosim import overload as measures
from alosim.plots import collapse, two_panels

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from alosim.scenario import Scenario


def unfit_reason(scenario: Scenario) -> str | None:
    """Why :func:`overload` cannot picture ``scenario`` (None when it can).

    The picture is a single hop's receiver queue and goodput around a pause or
    slow-down of its receivers. A pipeline has no such receiver, and its
    consumers cannot be paused or slowed: drawn anyway, it would show the
    unused receiver's empty queue as if it described the run."""
    if scenario.broker is not None:
        return (f"the overload plot pictures a single hop's receiver queue around a pause or "
                f"slow-down; {scenario.name} is a {scenario.broker.kind} pipeline, which has no "
                "such receiver and no slowdown (see its consumer columns in the summary instead)")
    return None


def overload(series: Mapping[str, Sequence[float]], scenario: Scenario, *, title: str = "",
             axes: Sequence[Axes] | None = None, verdict: measures.Recovery | None = None) -> Figure:
    """Queue length above; goodput, offered load and throughput per second below.

    ``verdict`` is the run's own (measured at every sampling instant, see
    :class:`alosim.overload.RecoveryDetector`); without it, it is read off
    ``series``, as coarse as the series is. ValueError for a scenario it
    cannot picture (:func:`unfit_reason`)."""
    reason = unfit_reason(scenario)
    if reason is not None:
        raise ValueError(reason)
    fig, top, bottom = two_panels(axes)
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
    if verdict is None:
        verdict = measures.recovery(scenario, series)
    if verdict.recovered and verdict.trigger_end_s is not None and verdict.recovery_time_s is not None:
        at = verdict.trigger_end_s + verdict.recovery_time_s
        bottom.axvline(at, color="tab:green", linestyle="-.",
                       label=f"recovered (+{verdict.recovery_time_s:.3g} s)")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        # Beside the axes, never on the data (a queue that grows fills the upper left).
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", borderaxespad=0)
    headline = {True: "recovered", False: "did not recover", None: "no verdict"}[verdict.recovered]
    if verdict.undecided:
        headline = "undecided"
    top.set_title(f"Queue and goodput around the slowdown ({headline})", fontsize=10)
    if title:  # the run's name and variant, above both panels
        fig.suptitle(title, fontsize=11)
    if axes is None:
        fig.set_size_inches(9.5, 5.5)  # room for the legends beside the axes
    return fig


def variant_of(run_folder: Path) -> str:
    """The variant the run in ``run_folder`` was made with (``policy=fixed, lifo_above=20``):
    its manifest's ``variant``, or for a run stored before manifests named it, the ``--set``
    options of its command (:func:`alosim.fieldunits.variant`)."""
    from alosim.fieldunits import variant
    from alosim.stored import RUN_MANIFEST, ResultsError, read_json

    try:
        manifest = read_json(run_folder / "manifest.json", RUN_MANIFEST)
    except (OSError, ResultsError):
        return ""
    if manifest.get("variant") is not None:
        return manifest["variant"]
    return variant(manifest.get("command") or "")


def write_overload_plot(run_folder: str | Path, out: str | Path) -> list[Path]:
    """Draw :func:`overload` for the run stored in ``run_folder`` as PNG and SVG in ``out``."""
    import pandas as pd

    from alosim.fieldunits import variant_title
    from alosim.files import check_writable, ensure_folder
    from alosim.plots import save
    from alosim.scenario import load_scenario
    from alosim.store import ResultsError
    from alosim.stored import check_table

    folder = Path(run_folder)
    if folder.is_dir() and not (folder / "timeseries.csv").is_file():
        runs = sorted(p for p in folder.glob("seed-*") if (p / "timeseries.csv").is_file())
        if len(runs) == 1:
            folder = runs[0]
    if not (folder / "timeseries.csv").is_file() or not (folder / "scenario.yaml").is_file():
        raise ResultsError(f"{run_folder}: the overload plot needs one run's folder "
                           "(with timeseries.csv and scenario.yaml), as alosim run writes it")
    scenario = load_scenario(folder / "scenario.yaml")
    reason = unfit_reason(scenario)
    if reason is not None:
        raise ResultsError(f"{run_folder}: {reason}")
    check_table(folder / "timeseries.csv")
    frame = pd.read_csv(folder / "timeseries.csv")
    series = {name: frame[name].tolist() for name in frame.columns}
    verdict = stored_verdict(folder, scenario, series)
    variant = variant_of(folder)
    fig = overload(series, scenario, title=variant_title(scenario.name, variant), verdict=verdict)
    target = ensure_folder(Path(out))
    check_writable(target)
    written = []
    for suffix in (".png", ".svg"):
        path = target / f"overload{suffix}"
        save(fig, path)
        written.append(path)
    return written


def stored_verdict(folder: Path, scenario: Scenario,
                    series: Mapping[str, Sequence[float]]) -> measures.Recovery:
    """The verdict the run measured (``recovered`` and ``recovery_time_s`` of its
    summary.csv), on top of what its stored series tells (trigger, horizon)."""
    import dataclasses
    import math

    import pandas as pd

    verdict = measures.recovery(scenario, series)
    from alosim.stored import ResultsError, check_table

    try:
        check_table(folder / "summary.csv")
        row = pd.read_csv(folder / "summary.csv").iloc[0]
    except (OSError, ValueError, IndexError, ResultsError):
        return verdict  # no summary to read: the series' own verdict, which says how coarse it is
    if verdict.trigger is None or "recovered" not in row or "recovery_time_s" not in row:
        return verdict

    def missing(value: object) -> bool:
        return value is None or (isinstance(value, float) and math.isnan(value))

    recovered = None if missing(row["recovered"]) else str(row["recovered"]).strip().lower() == "true"
    time_s = None if missing(row["recovery_time_s"]) else float(row["recovery_time_s"])
    return dataclasses.replace(verdict, recovered=recovered, recovery_time_s=time_s,
                               step_s=verdict.sample_every_s)


__all__ = ["collapse", "overload", "stored_verdict", "unfit_reason", "variant_of", "write_overload_plot"]
