"""Writing run results to disk, atomically.

A run lands in ``<out>/<scenario name>/<run id>/``, where the run id is
``seed-<seed>-<fingerprint>``: the same scenario and seed always land in the
same folder with the same bytes. The folder is assembled under a temporary
name beside its destination and renamed into place in one step, so a reader
never sees half a result; an interrupted write removes its temporary folder.

Contents:

* ``scenario.yaml`` -- the resolved scenario (every default filled in);
* ``manifest.json`` -- alosim version, seed, fingerprint, wall time, checks,
  when it was written and by which command (for ``alosim results``);
* ``summary.csv`` -- the summary row, without wall time (so it is identical
  between runs);
* ``timeseries.csv`` -- the sampled series;
* ``growth.png`` -- dedup store size and cumulative duplicates over time;
* ``trace.csv`` -- the event log, when the scenario traced messages.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from alosim.simulate import RunResult


class OutputError(Exception):
    """The results folder cannot be written where asked."""


def run_dir(out: str | Path, result: RunResult) -> Path:
    """Where ``result`` lands under ``out`` (never outside it)."""
    return safe_child(Path(out), result.name, f"seed-{result.seed}-{result.fingerprint}")


def safe_child(root: Path, *parts: str) -> Path:
    """``root / parts`` -- refusing any path that would leave ``root``."""
    root_resolved = root.resolve()
    target = root.joinpath(*parts).resolve()
    if target != root_resolved and root_resolved not in target.parents:
        raise OutputError(f"refusing to write outside {root}: {'/'.join(parts)!r}")
    return target


def write_run(result: RunResult, out: str | Path = "results", *, plot: bool = True,
              command: str | None = None) -> Path:
    """Write ``result`` under ``out`` and return its folder. ``command`` (how the
    run was asked for) goes into the manifest beside the date, for ``alosim results``."""
    from alosim import plots

    final = run_dir(out, result)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        import yaml

        (tmp / "scenario.yaml").write_text(
            yaml.safe_dump(result.scenario, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        manifest = {
            "alosim_version": result.version,
            "scenario": result.name,
            "seed": result.seed,
            "fingerprint": result.fingerprint,
            "wall_time_s": round(result.wall_time_s, 6),
            "checks": result.checks,
            "ok": result.ok,
            "written_at": utc_now(),
            "command": command or "(Python: alosim.write_run)",
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        summary = result.summary_frame().drop(columns=["wall_time_s"])
        summary.to_csv(tmp / "summary.csv", index=False, lineterminator="\n")
        series = result.series_frame()
        series.to_csv(tmp / "timeseries.csv", index=False, lineterminator="\n")
        if result.trace:
            result.trace_frame().to_csv(tmp / "trace.csv", index=False, lineterminator="\n")
        if plot:
            fig = plots.store_growth(series, title=f"{result.name} (seed {result.seed})")
            plots.save(fig, tmp / "growth.png")
        for f in tmp.iterdir():
            _fsync(f)
        os.chmod(tmp, 0o755)
        _replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def utc_now() -> str:
    """The wall-clock time, for the record of when results were written (never for a run)."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _replace_dir(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst`` in one step. If ``dst`` exists it is an earlier
    run of the same scenario and seed -- the same fingerprint, so the same
    results -- and it is kept: the first complete folder wins, and two runs
    writing at once can never mix their files."""
    try:
        os.rename(src, dst)
    except OSError:
        if not dst.is_dir():
            raise
        shutil.rmtree(src, ignore_errors=True)
