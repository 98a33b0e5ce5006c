"""The results store of a sweep: one row per run, resumable, the same bytes every time.

A sweep lands in ``<out>/<scenario name>/sweep-<params>-<hash>/`` (``params``:
the swept paths abbreviated, e.g. ``semantics_ack.loss``), or for a variant of the
scenario made with ``--set``, ``sweep-<params>-<variant>-<hash>/`` (the variant as
:func:`alosim.fieldunits.variant_label` shows it). Folders named ``sweep-<hash>``, or
without their variant, by earlier versions are still read and resumed. The hash covers the
resolved scenario of every point and the swept values (not the file's path,
its description, the wall-clock time or the number of replications), so the
same sweep always finds the same folder, and raising ``replications`` later
reuses the replications already run.

Contents:

* ``sweep.json`` -- the swept parameters, each point's values (as written and
  as resolved), replications, alosim version;
* ``scenario.yaml`` -- the scenario as given (with any ``--set`` values) and
  its ``sweep`` section, which expands again into the same points (each
  point's resolved values are in ``sweep.json``);
* ``runs/p<point>-r<replication>.json`` -- one file per finished run, written
  under a temporary name and renamed into place, so an interrupted sweep
  loses only the runs in progress. These files are the source of truth; the
  tables below are built from them.
* ``runs.parquet`` and ``runs.csv`` -- the run table, one row per (point,
  replication), sorted by both. Columns: ``point``, one column per swept
  parameter named by its dotted path (its resolved value: ``250ms`` becomes
  ``0.25``), ``replication``, ``seed``, every column of the run summary,
  the derived ``duplicate_processing_per_message`` and ``lost_per_message``,
  and ``error`` (empty when the run succeeded). A summary column with the
  name of a swept parameter is kept as ``<name>_measured``. Wall-clock time
  is left out, so identical sweeps give identical bytes;
* ``timings.csv`` -- the wall-clock time of each run;
* ``history.jsonl`` -- one line per ``alosim sweep`` (or :func:`run_sweep`)
  that wrote here: date, command, runs computed (shown by ``alosim results``);
* ``series.parquet`` -- each run's sampled time series (at most
  :data:`SERIES_ROWS_MAX` rows per run, evenly thinned), keyed by point and
  replication;
* ``latency.parquet`` -- create-to-processed latency of each traced message
  (``observe.trace_messages``; at most :data:`LATENCY_SAMPLES_MAX` per run);
* ``plots/`` -- the comparison plots (see :mod:`alosim.plots`).

:func:`load_results` reads the run table back as a DataFrame (rebuilding it
from ``runs/`` if a sweep was stopped before it could write it), and
:func:`aggregate` reduces it to one row per point with the mean and a
Student-t confidence interval of each measure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alosim.observe import SERIES_COLUMNS
from alosim.arguments import expect, expect_path
from alosim.figures import PER_MESSAGE
from alosim.files import OutputError, ensure_folder, refuse_symlink, safe_child, utc_now, write_atomic
from alosim.stored import (RUN_FILE, SWEEP_MANIFEST, ResultsError, check_table, parse_json, read_json,
                            read_text)

if TYPE_CHECKING:
    import pandas as pd

FORMAT = 1
SERIES_ROWS_MAX = 1000
LATENCY_SAMPLES_MAX = 20_000

MANIFEST = "sweep.json"
RUNS_DIR = "runs"
PLOTS_DIR = "plots"
RUNS_TABLE = "runs.parquet"
RUNS_CSV = "runs.csv"
SERIES_TABLE = "series.parquet"
LATENCY_TABLE = "latency.parquet"
TIMINGS_CSV = "timings.csv"
HISTORY = "history.jsonl"

# Summary columns that repeat the scenario rather than measure it: when a
# swept parameter has the same name, the parameter's column is enough.
_ECHO_COLUMNS = frozenset({"scenario", "semantics", "seed"})
#: The per-message figures a run table adds (:data:`alosim.figures.PER_MESSAGE`), each by the
#: count it divides: (``duplicate_processing_per_message``, ``duplicate_processing``), ...
_DERIVED: tuple[tuple[str, str], ...] = tuple(PER_MESSAGE.items())

Key = tuple[int, int]


# -- one run -------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """What one run of a sweep produced, as plain data (one file in ``runs/``)."""

    point: int
    replication: int
    seed: int
    values: tuple[tuple[str, Any], ...]
    summary: dict[str, Any] | None
    series: dict[str, list[float]] | None = None
    latency_s: list[float] | None = None
    error: str = ""
    wall_time_s: float = 0.0

    @property
    def key(self) -> Key:
        return (self.point, self.replication)

    def to_json(self) -> str:
        data = {
            "format": FORMAT,
            "point": self.point,
            "replication": self.replication,
            "seed": self.seed,
            "values": [[path, value] for path, value in self.values],
            "error": self.error,
            "wall_time_s": self.wall_time_s,
            "summary": self.summary,
            "series": self.series,
            "latency_s": self.latency_s,
        }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        """The record in ``text``; ValueError saying what is wrong if it is not one
        (checked against :class:`alosim.stored.RunFile`)."""
        data = parse_json(text, RUN_FILE)
        return cls(
            point=data["point"],
            replication=data["replication"],
            seed=data["seed"],
            values=tuple((path, value) for path, value in data["values"]),
            summary=data["summary"],
            series=data.get("series"),
            latency_s=data.get("latency_s"),
            error=data["error"],
            wall_time_s=float(data.get("wall_time_s", 0.0)),
        )


def thin(series: Mapping[str, Sequence[float]], max_rows: int = SERIES_ROWS_MAX) -> dict[str, list[float]]:
    """At most ``max_rows`` evenly spaced rows of ``series``, always keeping the first and last."""
    n = len(next(iter(series.values()), []))
    if n <= max_rows:
        return {name: list(values) for name, values in series.items()}
    keep = sorted({round(i * (n - 1) / (max_rows - 1)) for i in range(max_rows)})
    return {name: [values[i] for i in keep] for name, values in series.items()}


def run_file_name(key: Key) -> str:
    return f"p{key[0]:06d}-r{key[1]:06d}.json"


def _parse_run_file_name(name: str) -> Key | None:
    stem, dot, ext = name.partition(".")
    point, dash, replication = stem.partition("-")
    if ext != "json" or not dash or point[:1] != "p" or replication[:1] != "r":
        return None
    try:
        return int(point[1:]), int(replication[1:])
    except ValueError:
        return None


# -- writing -------------------------------------------------------------------------


#: A temporary file older than this was left by a writer that is gone.
STALE_TEMPORARY_S = 3600.0


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through ``write(tmp)`` on a temporary file, then rename it into place."""
    write_atomic(path, write)


def _write_text(path: Path, text: str) -> None:
    _write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


class SweepStore:
    """The folder of one sweep: run files in, tables out."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.runs_dir = folder / RUNS_DIR
        self._manifest: dict[str, Any] | None = None  # the definition this store writes, if any

    @classmethod
    def open(cls, out: str | Path, name: str, digest: str, manifest: Mapping[str, Any],
             scenario_yaml: str) -> SweepStore:
        """The store for sweep ``digest`` of scenario ``name`` under ``out``, created if new."""
        parameters = manifest.get("parameters", ())
        folder = safe_child(Path(out), name, folder_name(parameters, digest, manifest.get("variant", "")))
        for legacy in (safe_child(Path(out), name, folder_name(parameters, digest)),
                       safe_child(Path(out), name, f"sweep-{digest}")):
            if legacy != folder and legacy.is_dir() and not folder.exists():
                folder = legacy  # written before folder names said what was swept: resume it there
                break
        ensure_folder(folder)
        refuse_symlink(folder / RUNS_DIR, "the run files")
        refuse_symlink(folder / PLOTS_DIR, "the plots")
        ensure_folder(folder / RUNS_DIR)
        store = cls(folder)
        try:
            store._remove_temporaries()
        except OSError as exc:
            raise OutputError(f"cannot write the sweep results in {folder}: {exc}") from None
        store._manifest = dict(manifest)
        with store.locked():
            store._write_manifest()
            _write_text(folder / "scenario.yaml", scenario_yaml)
        return store

    def _write_manifest(self) -> None:
        if self._manifest is not None:
            text = json.dumps(self._manifest, indent=2, allow_nan=False) + "\n"
            _write_text(self.folder / MANIFEST, text)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the sweep folder's lock: several sweeps may write into one folder at
        once (the same sweep started twice, or with different ``replications``),
        and its definition and tables are updated by one of them at a time.

        The lock is ``flock`` on the folder itself (no lock file to leave
        behind); where the platform has no ``fcntl`` it is a no-op."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX
            yield
            return
        try:
            fd = os.open(self.folder, os.O_RDONLY)
        except OSError as exc:
            raise OutputError(f"cannot open the sweep folder {self.folder}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _remove_temporaries(self) -> None:
        """Left behind by a run file or table whose writing was interrupted.

        Only old ones: a temporary file of a few seconds may belong to another
        sweep writing into this folder right now, and is none of ours."""
        cutoff = time.time() - STALE_TEMPORARY_S
        for directory in (self.folder, self.runs_dir, self.folder / PLOTS_DIR):
            for path in directory.glob(".*.tmp"):
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink(missing_ok=True)
                except FileNotFoundError:
                    pass  # renamed into place meanwhile

    def log(self, command: str | None, computed: int, interrupted: bool = False) -> None:
        """Add one line to ``history.jsonl``: when, by which command, how many runs computed.

        What ``alosim results`` shows; never part of the results themselves.
        """
        entry = {"date": utc_now(), "command": command or "(Python: alosim.run_sweep)",
                 "computed": computed, "interrupted": interrupted}
        try:
            with open(self.folder / HISTORY, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
        except OSError:
            pass  # the history is a convenience; the runs are stored already

    def stored(self) -> dict[Key, str]:
        """The readable runs on disk: key -> error ('' for a run that succeeded)."""
        return {record.key: record.error for record in self.records()}

    def _run_files(self) -> list[tuple[Key, Path]]:
        if not self.runs_dir.is_dir():
            return []
        files = []
        for path in self.runs_dir.iterdir():
            key = _parse_run_file_name(path.name)
            if key is not None:
                files.append((key, path))
        return sorted(files)

    def add(self, record: RunRecord) -> Path:
        """Write one finished run (atomically)."""
        path = self.runs_dir / run_file_name(record.key)
        _write_text(path, record.to_json())
        return path

    def records(self, keys: Iterable[Key] | None = None, *, strict: bool = False) -> list[RunRecord]:
        """The stored runs, sorted by key; only ``keys`` if given.

        A damaged run file is skipped (so the sweep computes that run again),
        or with ``strict`` raises :class:`ResultsError` naming the file."""
        wanted = None if keys is None else set(keys)
        out = []
        for key, path in self._run_files():
            if wanted is not None and key not in wanted:
                continue
            try:
                record = RunRecord.from_json(read_text(path, RUN_FILE))
                if record.key != key:
                    raise ValueError(f"holds run {record.key}, not {key}")
            except (OSError, ValueError, ResultsError) as exc:
                if strict:
                    problem = exc.reason if isinstance(exc, ResultsError) else str(exc)
                    raise ResultsError(
                        f"{path}: the results store is damaged ({problem}); run 'alosim sweep' "
                        "again to compute this run afresh") from None
                continue  # unreadable: missing, so computed again
            out.append(record)
        return out

    def consolidate(self, parameters: Sequence[str], keys: Iterable[Key]) -> SweepData:
        """Build the tables from the run files of ``keys`` and write them atomically.

        The sweep's definition (``sweep.json``) is written again with them,
        under the folder's lock: when several sweeps of one folder (say with
        different ``replications``) finish at once, the last one leaves its
        definition and its tables, which describe the same runs."""
        with self.locked():
            data = tables(self.records(keys), parameters, folder=self.folder)
            self.write_tables(data)
            self._write_manifest()
        return data

    def write_tables(self, data: SweepData) -> None:
        self._write_tables(data)

    def _write_tables(self, data: SweepData) -> None:
        folder = self.folder
        _write_atomic(folder / RUNS_TABLE, lambda tmp: data.runs.to_parquet(tmp, index=False))
        _write_atomic(folder / RUNS_CSV,
                      lambda tmp: csv_runs(data.runs).to_csv(tmp, index=False, lineterminator="\n"))
        _write_atomic(folder / SERIES_TABLE, lambda tmp: data.series.to_parquet(tmp, index=False))
        _write_atomic(folder / LATENCY_TABLE, lambda tmp: data.latency.to_parquet(tmp, index=False))
        _write_atomic(folder / TIMINGS_CSV,
                      lambda tmp: data.timings.to_csv(tmp, index=False, lineterminator="\n"))


# -- tables --------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepData:
    """The tables of one sweep."""

    folder: Path | None
    parameters: tuple[str, ...]
    runs: pd.DataFrame
    series: pd.DataFrame
    latency: pd.DataFrame
    timings: pd.DataFrame
    #: The scenario's name and the variant's (:func:`alosim.fieldunits.variant_name`), from
    #: the sweep's manifest: what its pictures' titles call it.
    name: str = ""
    variant: str = ""


def tables(records: Sequence[RunRecord], parameters: Sequence[str],
           folder: Path | None = None) -> SweepData:
    """The run, series, latency and timing tables of ``records``, sorted by key."""
    import pandas as pd

    records = sorted(records, key=lambda r: r.key)
    parameters = tuple(parameters)
    rows, columns = _run_rows(records, parameters)
    runs = _typed_frame(rows, columns)
    timings = pd.DataFrame({
        "point": pd.Series([r.point for r in records], dtype="int64"),
        "replication": pd.Series([r.replication for r in records], dtype="int64"),
        "wall_time_s": pd.Series([r.wall_time_s for r in records], dtype="float64"),
    })
    return SweepData(folder, parameters, runs, _series_table(records), _latency_table(records), timings)


def _run_rows(records: Sequence[RunRecord],
              parameters: tuple[str, ...]) -> tuple[list[dict[str, Any]], list[str]]:
    summary_columns: list[str] = []
    seen: set[str] = set()
    rows = []
    for record in records:
        row: dict[str, Any] = {"point": record.point}
        values = dict(record.values)
        for path in parameters:
            row[path] = values.get(path)
        row["replication"] = record.replication
        row["seed"] = record.seed
        for name, value in (record.summary or {}).items():
            column = _summary_column(name, parameters)
            if column is None:
                continue
            row[column] = value
            if column not in seen:
                seen.add(column)
                summary_columns.append(column)
        if record.summary is not None:
            messages = max(int(record.summary.get("messages", 0)), 1)
            for derived, count in _DERIVED:
                if count in record.summary:
                    row[derived] = record.summary[count] / messages
        row["error"] = record.error
        rows.append(row)
    derived = [name for name, count in _DERIVED if count in seen]
    columns = ["point", *parameters, "replication", "seed", *summary_columns, *derived, "error"]
    return rows, columns


def _summary_column(name: str, parameters: tuple[str, ...]) -> str | None:
    if name == "seed":
        return None
    if name in parameters:
        return None if name in _ECHO_COLUMNS else f"{name}_measured"
    return name


def _column_dtype(values: Sequence[Any]) -> str | None:
    """The pandas dtype that holds ``values`` (None when they are not all of one scalar kind)."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not present:
        return "float64" if values else None
    if all(isinstance(v, bool) for v in present):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "Int64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float64"
    if all(isinstance(v, str) for v in present):
        return "str"
    return None


def _typed_frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """A DataFrame with one dtype per column decided by what the column holds, not by
    which rows happen to be missing: so tables with and without failed runs agree."""
    import pandas as pd

    data = {}
    for column in columns:
        values = [row.get(column) for row in rows]
        dtype = _column_dtype(values)
        if dtype is None:  # a parameter whose values are mappings or mixed kinds
            values = [None if v is None else json.dumps(v, sort_keys=True) for v in values]
            dtype = "str"
        if dtype == "float64":
            values = [math.nan if v is None else float(v) for v in values]
        data[column] = pd.Series(values, dtype=dtype)
    frame = pd.DataFrame(data, columns=list(columns))
    if "error" in frame:
        frame["error"] = frame["error"].fillna("")
    return frame


def _series_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    parts: dict[str, list[Any]] = {"point": [], "replication": []}
    parts.update({name: [] for name in SERIES_COLUMNS})
    for record in records:
        if not record.series:
            continue
        n = len(record.series.get("time_s", []))
        parts["point"].append(np.full(n, record.point, dtype=np.int64))
        parts["replication"].append(np.full(n, record.replication, dtype=np.int64))
        for name in SERIES_COLUMNS:
            dtype = np.float64 if name == "time_s" else np.int64
            parts[name].append(np.asarray(record.series.get(name, [0] * n), dtype=dtype))
    columns = {}
    for name, chunks in parts.items():
        dtype = np.float64 if name == "time_s" else np.int64
        columns[name] = np.concatenate(chunks).astype(dtype) if chunks else np.empty(0, dtype=dtype)
    return pd.DataFrame(columns)


def _latency_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    points, replications, latencies = [], [], []
    for record in records:
        samples = record.latency_s or []
        points.append(np.full(len(samples), record.point, dtype=np.int64))
        replications.append(np.full(len(samples), record.replication, dtype=np.int64))
        latencies.append(np.asarray(samples, dtype=np.float64))

    def join(chunks: list[Any], dtype: Any) -> Any:
        return np.concatenate(chunks).astype(dtype) if chunks else np.empty(0, dtype=dtype)

    return pd.DataFrame({
        "point": join(points, np.int64),
        "replication": join(replications, np.int64),
        "latency_s": join(latencies, np.float64),
    })


# -- reading -------------------------------------------------------------------------


#: Longest part of a sweep folder's name that names the swept parameters.
LABEL_MAX = 60


def abbreviate(path: str) -> str:
    """A swept path as a folder name shows it: its last two keys (``ack.loss``)."""
    keys = [k for k in str(path).split(".") if k]
    short = ".".join(keys[-2:]) or "x"
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in short)


def folder_name(parameters: Iterable[str], digest: str, variant: str = "") -> str:
    """``sweep-<swept paths abbreviated>[-<variant>]-<hash>``: readable (the variant as
    :func:`alosim.fieldunits.variant_label` shows it), and still decided by the hash alone
    (the same sweep always lands in the same folder)."""
    from alosim.fieldunits import variant_label

    label = "_".join(abbreviate(p) for p in parameters)
    if len(label) > LABEL_MAX:
        label = label[:LABEL_MAX].rstrip("._-")
    label = "-".join(part for part in (label, variant_label(variant)) if part)
    return f"sweep-{label}-{digest}" if label else f"sweep-{digest}"


def sweeps_in(path: Path) -> list[Path]:
    """The sweep folders directly under ``path``, most recently written first.

    Recency is the time ``sweep.json`` was last written (every ``alosim sweep``
    writes it), ties broken by name.
    """
    found = [p for p in path.glob("sweep-*") if (p / MANIFEST).is_file()]

    def written(p: Path) -> float:
        try:
            return (p / MANIFEST).stat().st_mtime
        except OSError:
            return 0.0

    return sorted(found, key=lambda p: (-written(p), p.name))


def sweep_folder(path: str | Path, sweep: str | None = None,
                 note: Callable[[str], None] | None = None) -> Path:
    """The sweep folder that ``path`` names: the folder itself, a file in it, or a
    scenario's results folder holding sweeps.

    When the scenario's folder holds several sweeps, ``sweep`` picks one (its
    folder name, or any part of it that only one name contains: ``ack.loss``,
    a hash prefix); without it the most recently written is taken, and
    ``note`` (default: a :class:`UserWarning`) says which.
    """
    path = Path(path)
    if path.is_file():
        path = path.parent
    if not path.exists():
        raise ResultsError(f"{path}: no such results folder")
    if (path / MANIFEST).is_file():
        return path
    candidates = sweeps_in(path)
    if not candidates:
        raise ResultsError(f"{path}: not a sweep results folder (no {MANIFEST}); run 'alosim sweep' first")
    if sweep is not None:
        exact = [p for p in candidates if p.name == sweep]
        matches = exact or [p for p in candidates if sweep in p.name]
        if len(matches) == 1:
            return matches[0]
        names = ", ".join(p.name for p in (matches or candidates))
        problem = "matches several sweeps" if matches else "matches no sweep"
        raise ResultsError(f"{path}: {sweep!r} {problem} ({names})")
    if len(candidates) > 1:
        message = (f"{path} holds {len(candidates)} sweeps; using the most recent, "
                   f"{candidates[0].name} (choose another with --sweep NAME or sweep=NAME; "
                   f"'alosim results {path}' lists them)")
        if note is None:
            import warnings

            warnings.warn(message, UserWarning, stacklevel=3)
        else:
            note(message)
    return candidates[0]


def read_manifest(folder: Path) -> dict[str, Any]:
    """The sweep's definition, checked (:class:`alosim.stored.SweepManifest`);
    :class:`ResultsError` naming the file if it is missing or damaged."""
    path = folder / MANIFEST
    try:
        return read_json(path, SWEEP_MANIFEST)
    except FileNotFoundError:
        raise ResultsError(f"{path}: cannot be read (no such file)", "no such file") from None


def plots_folder(folder: Path) -> Path:
    """The ``plots/`` folder of a sweep, refused if it is a symbolic link."""
    path = folder / PLOTS_DIR
    refuse_symlink(path, "the plots")
    return path


def manifest_keys(manifest: Mapping[str, Any]) -> list[Key]:
    """Every (point, replication) the manifest's sweep consists of."""
    replications = int(manifest["replications"])
    return [(int(point["point"]), r) for point in manifest["points"] for r in range(replications)]


def load_sweep(path: str | Path, sweep: str | None = None,
               note: Callable[[str], None] | None = None) -> SweepData:
    """All tables of the sweep at ``path`` (see :func:`sweep_folder`)."""
    import pandas as pd

    expect_path(path, "load_sweep")
    if sweep is not None:
        expect(sweep, str, "load_sweep", "sweep", "a sweep folder's name, or a part of it (str)")
    folder = sweep_folder(path, sweep, note)
    manifest = read_manifest(folder)
    parameters = tuple(str(p) for p in manifest["parameters"])
    name = manifest.get("name") or folder.parent.name
    variant = manifest.get("variant") or ""
    store = SweepStore(folder)
    wanted = set(manifest_keys(manifest))
    on_disk = {key for key, _ in store._run_files()} & wanted
    try:
        for table in (RUNS_TABLE, SERIES_TABLE, LATENCY_TABLE, TIMINGS_CSV):
            check_table(folder / table)
        runs = pd.read_parquet(folder / RUNS_TABLE)
        in_table = set(zip(runs["point"].tolist(), runs["replication"].tolist()))
        if in_table == on_disk:
            return SweepData(
                folder, parameters, runs,
                pd.read_parquet(folder / SERIES_TABLE),
                pd.read_parquet(folder / LATENCY_TABLE),
                pd.read_csv(folder / TIMINGS_CSV),
                name, variant,
            )
    except (OSError, ValueError, KeyError, ResultsError):
        pass  # missing, stale or damaged: rebuilt from the run files below
    try:
        data = tables(store.records(wanted, strict=True), parameters, folder=folder)
        return dataclasses.replace(data, name=name, variant=variant)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResultsError(f"{folder}: the run files cannot be read ({exc})") from None


def load_results(path: str | Path, sweep: str | None = None) -> pd.DataFrame:
    """The run table of the sweep at ``path``: one row per (point, replication).

    ``path`` is a sweep folder (``results/<name>/sweep-<params>-<hash>``), a
    file in it, or ``results/<name>``: then ``sweep`` picks one of its sweeps
    (a part of the folder name only it contains), and without it the most
    recent is taken, with a warning that names it. The table knows its folder
    (``runs.attrs["sweep_folder"]``), so that what is drawn from it can rebuild
    each point's scenario (:func:`alosim.plots.pipeline.lease_table`).
    """
    expect_path(path, "load_results")
    data = load_sweep(path, sweep)
    runs = data.runs
    runs.attrs["sweep_folder"] = str(data.folder) if data.folder is not None else ""
    return runs


def value_text(value: Any) -> str:
    """A swept value as the sweep table and the legends show it, spelt as a scenario file
    writes it: ``null`` for a swept null (a missing value in a parameter column: a
    point's values are always known), ``true``/``false``, numbers as Python writes
    them, text as it is, on one line (a column of mappings or mixed kinds already holds
    JSON text)."""
    import numpy as np
    import pandas as pd

    from alosim.scenario import printable

    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, sort_keys=True)
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))  # 0.3, 0.0: a float column reads as floats
    return printable(value)


def csv_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The run table as ``runs.csv`` writes it: a swept null spelt ``null`` in its parameter
    column (read back as missing by pandas), so that no swept value is an empty cell."""
    params = parameters(runs)
    if not params:
        return runs
    out = runs.copy()
    for param in params:
        column = out[param]
        if column.isna().any():
            out[param] = column.astype(object).where(column.notna(), "null")
    return out


def parameters(runs: pd.DataFrame) -> list[str]:
    """The swept parameters of a run table: its columns between ``point`` and ``replication``."""
    columns = list(runs.columns)
    if "point" not in columns or "replication" not in columns:
        raise ResultsError("not a sweep run table: expected 'point' and 'replication' columns")
    return columns[columns.index("point") + 1 : columns.index("replication")]


# -- aggregation ---------------------------------------------------------------------


def measures(runs: pd.DataFrame) -> list[str]:
    """The numeric measures of a run table (not keys, seeds, parameters or flags)."""
    import pandas as pd

    skip = {"point", "replication", "seed", *parameters(runs)}
    return [
        column for column in runs.columns
        if column not in skip
        and pd.api.types.is_numeric_dtype(runs[column])
        and not pd.api.types.is_bool_dtype(runs[column])
    ]


def aggregate(runs: pd.DataFrame, columns: Sequence[str] | None = None, *,
              confidence: float = 0.95) -> pd.DataFrame:
    """One row per point: its parameters, ``runs`` (successful runs), ``errors``, and
    for each measure ``<m>_mean``, ``<m>_ci_low`` and ``<m>_ci_high``.

    The interval is Student's t with n - 1 degrees of freedom, n the number of
    successful runs with a value for the measure; NaN with fewer than two.
    Replications of a point are independent (each has its own seed), so this
    is the textbook interval for a mean.
    """
    import numpy as np
    import pandas as pd

    expect(runs, pd.DataFrame, "aggregate", "runs", "a run table (a pandas DataFrame from load_results)")
    expect(confidence, (int, float), "aggregate", "confidence", "a number between 0 and 1")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"expected a confidence level between 0 and 1, got {confidence!r}")
    names = list(columns) if columns is not None else measures(runs)
    missing = [m for m in names if m not in runs.columns]
    if missing:
        raise ResultsError(f"no such column in the run table: {', '.join(missing)}")
    params = parameters(runs)
    failed = runs["error"].fillna("") != "" if "error" in runs else pd.Series(False, index=runs.index)
    by_point = runs.groupby("point", sort=True)
    points = by_point.size().index
    out: dict[str, Any] = {"point": points.to_numpy()}
    if params:
        # Each point's values with their column's type (an integer column with a swept
        # null stays integers), a swept null kept as one (first() would skip it).
        first = runs.drop_duplicates("point").set_index("point").reindex(points)
        for param in params:
            out[param] = first[param].array
    out["runs"] = (~failed).groupby(runs["point"]).sum().reindex(points).to_numpy(dtype=np.int64)
    out["errors"] = failed.groupby(runs["point"]).sum().reindex(points).to_numpy(dtype=np.int64)
    ok = runs[~failed]
    for name in names:
        grouped = ok[name].astype("float64").groupby(ok["point"])
        mean = grouped.mean().reindex(points).to_numpy()
        std = grouped.std(ddof=1).reindex(points).to_numpy()
        n = grouped.count().reindex(points).fillna(0).to_numpy(dtype=np.int64)
        t = np.array([_t(confidence, k) for k in n.tolist()], dtype=float)
        half = t * std / np.sqrt(np.maximum(n, 1))
        out[f"{name}_mean"] = mean
        out[f"{name}_ci_low"] = mean - half
        out[f"{name}_ci_high"] = mean + half
    return pd.DataFrame(out)


@functools.lru_cache(maxsize=256)
def _t(confidence: float, n: int) -> float:
    """The t quantile of a two-sided ``confidence`` interval from ``n`` values (NaN below 2)."""
    from alosim.analytic import student_t_quantile

    return student_t_quantile(0.5 + confidence / 2, n - 1) if n >= 2 else math.nan
