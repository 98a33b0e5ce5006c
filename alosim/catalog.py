"""What a results folder holds: every run and sweep, with when and how it was made.

``alosim results [DIR]`` lists, for each scenario folder under ``DIR``:

* each **run** (``seed-<seed>-<fingerprint>/``): when it was written, its
  seed, whether its guarantees held, and the command that wrote it;
* each **sweep** (``sweep-<params>-<hash>/``): when it was last written, the
  swept parameters, points x replications, how many runs are stored (and
  how many failed) -- complete or not -- and the command that wrote it.

Dates and commands come from the run's ``manifest.json`` and the sweep's
``history.jsonl``; folders written before those were recorded show the
file's modification time and no command. Reading never changes anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alosim.store import HISTORY, MANIFEST, RUNS_DIR, _parse_run_file_name, manifest_keys


@dataclass(frozen=True)
class Entry:
    """One run or sweep folder, as ``alosim results`` shows it."""

    kind: str  # "run" or "sweep"
    folder: Path
    scenario: str
    date: str
    what: str  # parameters and counts, or seed and verdict
    status: str  # "complete", "12 of 72 runs stored", "ok", "guarantee violated"
    command: str


def _mtime(path: Path) -> str:
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return "-"
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _run_entry(folder: Path) -> Entry | None:
    manifest = _json(folder / "manifest.json")
    if not isinstance(manifest, dict):
        return None
    verdict = "ok" if manifest.get("ok", True) else "guarantee violated"
    what = "; ".join(filter(None, [f"seed {manifest.get('seed', '?')}", _headline(folder / "summary.csv")]))
    return Entry("run", folder, str(manifest.get("scenario", folder.parent.name)),
                 str(manifest.get("written_at") or _mtime(folder / "manifest.json")),
                 what, verdict, str(manifest.get("command", "-")))


#: How many headline figures of its shape a run's entry shows.
HEADLINE_FIGURES = 3


def _headline(path: Path) -> str:
    """The first headline figures of a stored run's shape (:mod:`alosim.figures`), as
    ``duplicate processing 0, lost 0, ...``; '' when its summary cannot be read."""
    import csv

    from alosim.figures import LOG, QUEUE, SINGLE_HOP, headlines

    try:
        with path.open(encoding="utf-8", newline="") as handle:
            row = next(csv.DictReader(handle), None)
    except (OSError, ValueError, csv.Error):
        return ""
    if not row:
        return ""
    shape = LOG if "log_records_appended" in row else QUEUE if "publishes_accepted" in row else SINGLE_HOP
    shown = []
    for fig in headlines(shape, row)[:HEADLINE_FIGURES]:
        text = row[fig.name]
        try:
            value: Any = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                continue
        shown.append(f"{fig.header()} {fig.format(value)}")
    return ", ".join(shown)


def _history(folder: Path) -> list[dict[str, Any]]:
    try:
        lines = (folder / HISTORY).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def _sweep_entry(folder: Path) -> Entry | None:
    manifest = _json(folder / MANIFEST)
    if not isinstance(manifest, dict):
        return None
    try:
        keys = set(manifest_keys(manifest))
        parameters = [str(p) for p in manifest.get("parameters", [])]
        points = len(manifest["points"])
        replications = int(manifest["replications"])
    except (KeyError, TypeError, ValueError):
        return None
    stored = failed = 0
    runs_dir = folder / RUNS_DIR
    if runs_dir.is_dir():
        for path in sorted(runs_dir.iterdir()):
            key = _parse_run_file_name(path.name)
            if key is None or key not in keys:
                continue
            record = _json(path)
            if not isinstance(record, dict):
                continue
            stored += 1
            failed += 1 if record.get("error") else 0
    total = len(keys)
    status = "complete" if stored == total else f"{stored} of {total} runs stored"
    if failed:
        status += f", {failed} failed"
    history = _history(folder)
    last = history[-1] if history else {}
    what = (f"{' x '.join(parameters) or 'no parameters'}: {points} points x "
            f"{replications} replications = {total} runs")
    return Entry("sweep", folder, str(manifest.get("name", folder.parent.name)),
                 str(last.get("date") or _mtime(folder / MANIFEST)), what, status,
                 str(last.get("command", "-")))


def entries(root: str | Path) -> list[Entry]:
    """Every run and sweep under ``root`` (a results folder, a scenario's folder,
    or one run or sweep folder), by scenario, then newest first."""
    root = Path(root)
    if (root / MANIFEST).is_file() or (root / "manifest.json").is_file():
        folders = [root]
    else:
        scenario_dirs = [root] if any(root.glob("sweep-*")) or any(root.glob("seed-*")) else \
            sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        folders = [f for d in scenario_dirs for f in sorted(d.iterdir())
                   if f.is_dir() and (f.name.startswith("sweep-") or f.name.startswith("seed-"))]
    out = []
    for folder in folders:
        entry = _sweep_entry(folder) if (folder / MANIFEST).is_file() else _run_entry(folder)
        if entry is not None:
            out.append(entry)
    out.sort(key=lambda e: e.folder.name)
    out.sort(key=lambda e: e.date, reverse=True)
    out.sort(key=lambda e: e.scenario)
    return out


def format_entries(root: str | Path, found: list[Entry]) -> str:
    if not found:
        return f"{root}: no runs or sweeps stored here"
    lines = []
    scenario = None
    for e in found:
        if e.scenario != scenario:
            scenario = e.scenario
            lines.append(f"{scenario}")
        lines.append(f"  {e.kind:<5}  {e.date}  {e.folder}")
        lines.append(f"         {e.what}; {e.status}")
        lines.append(f"         made by: {e.command}")
    return "\n".join(lines)


__all__ = ["Entry", "entries", "format_entries"]
