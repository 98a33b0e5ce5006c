"""Writing run results to disk, atomically.

A run lands in ``<out>/<scenario name>/<run id>/``, where the run id is
``seed-<seed>-<fingerprint>``, or ``seed-<seed>-<variant>-<fingerprint>`` for a
variant of the scenario (its ``--set`` options, :func:`alosim.fieldunits.variant_name`,
as a file name shows them: ``seed-7-kind-none-7fd05921a4249ac1``). The same
scenario, seed and options always land in the same folder with the same bytes; the
fingerprint keeps two different runs apart however their variant names are cut short.
The folder is assembled under a temporary
name beside its destination and renamed into place in one step, so a reader
never sees half a result; an interrupted write removes its temporary folder.

Contents:

* ``scenario.yaml`` -- the resolved scenario (every default filled in);
* ``manifest.json`` -- alosim version, seed, fingerprint, wall time, checks,
  the variant's name, when it was written and by which command (for ``alosim results``);
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
from typing import TYPE_CHECKING

from alosim.arguments import expect
from alosim.csvtable import write_table
from alosim.fieldunits import variant_label, variant_name, variant_title
from alosim.files import OutputError, check_writable, ensure_folder, reason, safe_child, utc_now

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from alosim.simulate import RunResult

    #: Draws a run's picture: (series as columns, title, path of the PNG).
    DrawPicture = Callable[[Mapping[str, Sequence[float]], str, Path], None]

__all__ = ["OutputError", "is_complete_run", "prepare_out", "run_dir", "run_id", "safe_child", "write_run"]

def run_id(seed: int, fingerprint: str, variant: str = "") -> str:
    """A run folder's name: ``seed-<seed>-<fingerprint>``, with the variant's name between
    them as a file name shows it (:func:`alosim.fieldunits.variant_label`):
    ``seed-7-kind-none-7fd05921a4249ac1``."""
    label = variant_label(variant)
    return f"seed-{seed}-{label}-{fingerprint}" if label else f"seed-{seed}-{fingerprint}"


def run_dir(out: str | Path, result: RunResult, variant: str = "") -> Path:
    """Where ``result`` (of the variant named ``variant``, if any) lands under ``out``
    (never outside it)."""
    return safe_child(Path(out), result.name, run_id(result.seed, result.fingerprint, variant))


def prepare_out(out: str | Path, name: str) -> Path:
    """Create ``<out>/<name>`` and check that a run can be written there -- before
    simulating, so that an unwritable ``--out`` costs nothing. Returns the folder."""
    folder = ensure_folder(safe_child(Path(out), name))
    check_writable(folder)
    return folder


def is_complete_run(folder: Path, fingerprint: str | None = None) -> bool:
    """Whether ``folder`` holds a complete run (of ``fingerprint``, if given): a readable
    manifest and the summary. A folder of anything else is not taken for one."""
    # Here, not at the top: writing a run reads nothing back, and the stored schemas
    # (pydantic models) cost a short run's start-up.
    from alosim.stored import RUN_MANIFEST, ResultsError, read_json

    try:
        manifest = read_json(folder / "manifest.json", RUN_MANIFEST)
    except (OSError, ResultsError):
        return False
    if not (folder / "summary.csv").is_file():
        return False
    return fingerprint is None or manifest.get("fingerprint") == fingerprint


def write_run(result: RunResult, out: str | Path = "results", *, plot: bool = True,
              command: str | None = None, overrides: Sequence[str] = (),
              draw: DrawPicture | None = None) -> Path:
    """Write ``result`` under ``out`` and return its folder. ``command`` (how the
    run was asked for) goes into the manifest beside the date, for ``alosim results``;
    ``overrides`` (the ``--set`` options the scenario was loaded with) name the variant in
    the folder's name, the manifest and the picture's title. ``draw(series, title, path)``
    draws the picture (default: :func:`alosim.plots.draw_growth`, in this process;
    ``alosim run`` passes a :class:`alosim.plots.ahead.PictureProcess`'s, which has
    matplotlib loaded).

    Raises :class:`OutputError` (naming the path and the reason) when the
    folder cannot be written, or when something that is not this run
    already occupies its path; nothing is left half-written."""
    expect(overrides, (list, tuple), "write_run", "overrides", "the --set options (a list of 'path=value' texts)")
    variant = variant_name(overrides)
    final = run_dir(out, result, variant)
    ensure_folder(final.parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    except OSError as exc:
        raise OutputError(f"cannot write in {final.parent}: {reason(exc)}") from None
    try:
        _fill(tmp, result, plot=plot, command=command, variant=variant, draw=draw)
        _replace_dir(tmp, final, result.fingerprint)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write the results in {final}: {reason(exc)}") from None
    except OutputError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.reason is None:  # already about the run folder itself
            raise
        raise OutputError(f"cannot write the results in {final}: {exc.reason}", exc.reason) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _fill(tmp: Path, result: RunResult, *, plot: bool, command: str | None, variant: str,
          draw: DrawPicture | None) -> None:
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
        "variant": variant,
        "written_at": utc_now(),
        "command": command or "(Python: alosim.write_run)",
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    # Without pandas (see alosim.csvtable): a short run would spend most of its time importing it.
    write_table(tmp / "summary.csv", result.summary_columns())
    write_table(tmp / "timeseries.csv", result.series_columns())
    if result.trace:
        write_table(tmp / "trace.csv", result.trace_columns())
    if plot:
        if draw is None:
            from alosim.plots import draw_growth as draw
        topology = result.scenario.get("topology")
        # A topology's series are its first link's (see alosim.model.topology).
        first = next((link for link in topology["links"] if topology["nodes"][link["from"]]["kind"] == "producer"),
                     None) if topology else None
        where = "" if first is None else " -- first link {from} -> {to}".format(**first)
        draw(result.series_columns(), f"{variant_title(result.name, variant)} (seed {result.seed}){where}",
             tmp / "growth.png")
    for f in tmp.iterdir():
        _fsync(f)
    os.chmod(tmp, 0o755)


def _fsync(path: Path) -> None:
    from alosim import files

    files._sync(path)


def _replace_dir(src: Path, dst: Path, fingerprint: str) -> None:
    """Move ``src`` to ``dst`` in one step. If ``dst`` already holds a complete run
    of the same scenario and seed -- the same fingerprint, so the same results --
    it is kept: the first complete folder wins, and two runs writing at once can
    never mix their files. Anything else at ``dst`` (a file, a folder of other
    things) is refused, never taken for this run and never deleted."""
    try:
        os.rename(src, dst)
        return
    except OSError:
        if not (dst.exists() or dst.is_symlink()):
            raise
    if dst.is_dir() and is_complete_run(dst, fingerprint):
        shutil.rmtree(src, ignore_errors=True)
        return
    what = "a folder that is not a complete run of it" if dst.is_dir() else "a file"
    raise OutputError(f"cannot write the run into {dst}: {what} is in the way; move it away and run again")
