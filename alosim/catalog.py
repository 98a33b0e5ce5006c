"""What a results folder holds: every run and sweep, with when and how it was made.

``alosim results [DIR]`` lists, for each scenario folder under ``DIR``:

* each **run** (``seed-<seed>-[<variant>-]<fingerprint>/``): when it was written, its
  seed, whether its guarantees held, and the command that wrote it;
* each **sweep** (``sweep-<params>-<hash>/``): when it was last written, the
  swept parameters, points x replications, how many runs are stored (and
  how many failed) -- complete or not -- and the command that wrote it.

Dates and commands come from the run's ``manifest.json`` and the sweep's
``history.jsonl``; folders written before those were recorded show the
file's modification time and no command. Reading never changes anything.

Every file is read as :mod:`alosim.stored` reads a store: a regular file
within its size cap, its content matching its schema. A folder whose
definition is damaged (``manifest.json`` replaced by ``/dev/zero`` or a
pipe, a ``sweep.json`` claiming -3 replications) is listed in one line
saying what is wrong, and the listing goes on with the rest; a damaged run
file of a sweep is counted as such, and a damaged history line is skipped
(an append cut short by a crash leaves one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alosim.store import HISTORY, MANIFEST, RUNS_DIR, _parse_run_file_name, manifest_keys
from alosim.stored import HISTORY as HISTORY_KIND
from alosim.stored import (RUN_FILE, RUN_MANIFEST, SWEEP_MANIFEST, ResultsError, Stored, parse_json, read_json,
                            read_text)

RUN_MANIFEST_FILE = "manifest.json"


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
    damage: str = ""  # why the folder cannot be read ("" if it can)


def _mtime(path: Path) -> str:
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return "-"
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _damaged(kind: str, folder: Path, file: str, reason: str) -> Entry:
    return Entry(kind, folder, folder.parent.name, "-", "", "damaged", "-", f"{file}: {reason}")


def _read(folder: Path, file: str, kind: Stored) -> tuple[dict[str, Any] | None, str]:
    """The checked content of ``folder/file``, or None and why it cannot be read."""
    try:
        return read_json(folder / file, kind), ""
    except FileNotFoundError:
        return None, "missing"
    except ResultsError as exc:
        return None, exc.reason or str(exc)


def _run_entry(folder: Path) -> Entry:
    manifest, problem = _read(folder, RUN_MANIFEST_FILE, RUN_MANIFEST)
    if manifest is None:
        return _damaged("run", folder, RUN_MANIFEST_FILE, problem)
    verdict = "ok" if manifest.get("ok", True) else "guarantee violated"
    what = "; ".join(filter(None, [f"seed {manifest['seed']}", _headline(folder / "summary.csv")]))
    return Entry("run", folder, manifest["scenario"],
                 manifest.get("written_at") or _mtime(folder / RUN_MANIFEST_FILE),
                 what, verdict, manifest.get("command") or "-")


#: How many headline figures of its shape a run's entry shows.
HEADLINE_FIGURES = 3


def _headline(path: Path) -> str:
    """The first headline figures of a stored run's shape (:mod:`alosim.figures`), as
    ``duplicate processing 0, lost 0, ...``; '' when its summary cannot be read."""
    import csv
    import io

    from alosim.figures import LOG, QUEUE, SINGLE_HOP, headlines
    from alosim.stored import Stored, read_text

    try:
        text = read_text(path, Stored("a run summary", 1 << 20))
        row = next(csv.DictReader(io.StringIO(text)), None)
    except (OSError, ValueError, csv.Error, ResultsError):
        return ""
    if not row:
        return ""
    shape = LOG if "log_records_appended" in row else QUEUE if "publishes_accepted" in row else SINGLE_HOP
    shown = []
    for fig in headlines(shape, row)[:HEADLINE_FIGURES]:
        cell = row[fig.name]
        try:
            value: Any = int(cell)
        except ValueError:
            try:
                value = float(cell)
            except ValueError:
                continue
        shown.append(f"{fig.header()} {fig.format(value)}")
    return ", ".join(shown)


def _history(folder: Path) -> tuple[list[dict[str, Any]], str]:
    """The readable lines of the history, and why the file cannot be read ("" if it can)."""
    try:
        lines = read_text(folder / HISTORY, HISTORY_KIND).splitlines()
    except FileNotFoundError:
        return [], ""
    except ResultsError as exc:
        return [], exc.reason or str(exc)
    out = []
    for line in lines:
        try:
            out.append(parse_json(line, HISTORY_KIND))
        except ValueError:
            continue  # a line cut short or edited: the others still say who wrote here
    return out, ""


def _sweep_entry(folder: Path) -> Entry:
    manifest, problem = _read(folder, MANIFEST, SWEEP_MANIFEST)
    if manifest is None:
        return _damaged("sweep", folder, MANIFEST, problem)
    keys = set(manifest_keys(manifest))
    parameters = manifest["parameters"]
    points = len(manifest["points"])
    replications = manifest["replications"]
    stored = failed = damaged = 0
    runs_dir = folder / RUNS_DIR
    if runs_dir.is_dir():
        for path in sorted(runs_dir.iterdir()):
            key = _parse_run_file_name(path.name)
            if key is None or key not in keys:
                continue
            try:
                record = read_json(path, RUN_FILE)
            except (OSError, ResultsError):
                damaged += 1
                continue
            if (record["point"], record["replication"]) != key:
                damaged += 1
                continue
            stored += 1
            failed += 1 if record["error"] else 0
    total = len(keys)
    status = "complete" if stored == total else f"{stored} of {total} runs stored"
    if failed:
        status += f", {failed} failed"
    if damaged:
        status += f", {damaged} damaged (computed again by the next 'alosim sweep')"
    history, history_problem = _history(folder)
    last = history[-1] if history else {}
    what = (f"{' x '.join(parameters) or 'no parameters'}: {points} points x "
            f"{replications} replications = {total} runs")
    command = last.get("command", "-")
    if history_problem:
        command = f"- ({HISTORY} is damaged: {history_problem})"
    return Entry("sweep", folder, manifest.get("name") or folder.parent.name,
                 last.get("date") or _mtime(folder / MANIFEST), what, status, command)


def entries(root: str | Path) -> list[Entry]:
    """Every run and sweep under ``root`` (a results folder, a scenario's folder,
    or one run or sweep folder), by scenario, then newest first."""
    root = Path(root)
    if _exists(root / MANIFEST) or _exists(root / RUN_MANIFEST_FILE):
        folders = [root]
    else:
        scenario_dirs = [root] if any(root.glob("sweep-*")) or any(root.glob("seed-*")) else \
            sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        folders = [f for d in scenario_dirs for f in sorted(d.iterdir())
                   if f.is_dir() and (f.name.startswith("sweep-") or f.name.startswith("seed-"))]
    out = []
    for folder in folders:
        is_sweep = folder.name.startswith("sweep-") or _exists(folder / MANIFEST)
        out.append(_sweep_entry(folder) if is_sweep else _run_entry(folder))
    out.sort(key=lambda e: e.folder.name)
    out.sort(key=lambda e: e.date, reverse=True)
    out.sort(key=lambda e: e.scenario)
    return out


def _exists(path: Path) -> bool:
    """Whether anything is at ``path`` (a file, a device, a pipe, a dangling link)."""
    return path.exists() or path.is_symlink()


def format_entries(root: str | Path, found: list[Entry]) -> str:
    """The listing ``alosim results`` prints. Every string that came from a
    file or a folder name is shown escaped: a stored command or scenario name
    cannot add a line, move the cursor or colour the terminal."""
    from alosim.scenario import printable as p

    if not found:
        return f"{p(root)}: no runs or sweeps stored here"
    lines = []
    scenario = None
    for e in found:
        if e.scenario != scenario:
            scenario = e.scenario
            lines.append(p(scenario))
        if e.damage:
            lines.append(f"  {e.kind:<5}  damaged  {p(e.folder)}: {p(e.damage)}")
            continue
        lines.append(f"  {e.kind:<5}  {p(e.date)}  {p(e.folder)}")
        lines.append(f"         {p(e.what)}; {p(e.status)}")
        lines.append(f"         made by: {p(e.command)}")
    return "\n".join(lines)


__all__ = ["Entry", "entries", "format_entries"]
