"""Comparing runs side by side: ``alosim compare A B [...]``.

Two configurations are compared best on the same randomness: every input
given as a scenario runs with the **same seed** (common random numbers --
the same arrivals, the same losses where the components match), so their
difference reflects the configurations rather than luck. With ``N``
replications, replication r of every input runs with seed ``seed + r``, and
each difference from the first input gets a paired Student-t confidence
interval: the interval of the mean of the N per-seed differences, with
N - 1 degrees of freedom. Pairing removes the noise the runs share, so the
interval is much narrower than that of two independent means.

An input may also be a stored run (a ``seed-<seed>-[<variant>-]<fingerprint>`` folder,
or a scenario's results folder holding one run): its summary is read back.
Stored runs cannot be replicated, so they compare on one run only.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alosim.figures import DERIVED, FIGURES, PER_MESSAGE, SINGLE_HOP, derived_value, figure, headlines, sig3
from alosim.files import OutputError
from alosim.scenario import Scenario
from alosim.units import format_duration
from alosim.shown import join_lines

#: The summary columns compared: every numeric figure of the registry
#: (:mod:`alosim.figures`), in its order, with its words and unit, and the
#: per-message figures a sweep derives. Bookkeeping (seed, fingerprint) is left out.
_SKIPPED = frozenset({"seed"})
MEASURES: tuple[tuple[str, str], ...] = tuple(
    (f.name, f"{f.section.partition(',')[0]}: {f.header()}" if f.section.endswith("by cause") else f.header())
    for f in [*FIGURES.values(), *(DERIVED[name] for name in PER_MESSAGE)]
    if f.kind != "text" and f.name not in _SKIPPED and not f.name.startswith("check_"))


class CompareError(OutputError):
    """Inputs that cannot be compared (a missing folder, replications of a stored run)."""


@dataclass(frozen=True)
class Input:
    """One side of a comparison: a scenario to run, or a stored run's summary."""

    label: str
    scenario: Scenario | None = None
    summary: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Row:
    measure: str
    label: str
    values: tuple[float, ...]  # per input: the mean over replications
    differences: tuple[tuple[float, float], ...]  # per input after the first: (mean, CI half-width)
    headline: bool = False  # a headline figure of the first input's shape

    @property
    def differs(self) -> bool:
        """Whether any input's value differs from the first's."""
        first = self.values[0]
        return any(not (v == first or (v != v and first != first)) for v in self.values[1:])


@dataclass(frozen=True)
class Comparison:
    labels: tuple[str, ...]
    seeds: tuple[int, ...]
    replications: int
    confidence: float
    rows: tuple[Row, ...]
    checks: tuple[tuple[str, tuple[bool | None, ...]], ...]
    # The seeds each input's runs recorded (a stored run's own; None: not recorded):
    # the runs share random numbers only where these agree.
    recorded_seeds: tuple[tuple[int | None, ...], ...] = ()
    # Whether every input is a scenario (a stored run cannot be run again with more seeds).
    replicable: bool = True

    @property
    def common_seeds(self) -> bool:
        """True when every input's runs were made with the same seeds (common random numbers)."""
        first = self.recorded_seeds[0] if self.recorded_seeds else (None,)
        return None not in first and all(seeds == first for seeds in self.recorded_seeds)
    shape: str = SINGLE_HOP  # of the first input: which rows are its headline

    def frame(self):  # -> pandas.DataFrame
        """One row per measure: each input's value, and each difference from the first
        with the low and high ends of its interval (NaN with one replication)."""
        import pandas as pd

        records = []
        for row in self.rows:
            record: dict[str, Any] = {"measure": row.measure}
            for label, value in zip(self.labels, row.values):
                record[label] = value
            for label, (diff, half) in zip(self.labels[1:], row.differences):
                record[f"{label} - {self.labels[0]}"] = diff
                record[f"{label} - {self.labels[0]} ci_low"] = diff - half
                record[f"{label} - {self.labels[0]} ci_high"] = diff + half
            records.append(record)
        return pd.DataFrame(records)


def stored_run(path: str | Path) -> Input:
    """The summary of the run stored at ``path`` (a run folder, or a scenario folder with one run)."""
    import pandas as pd

    folder = Path(path)
    if folder.is_dir() and not (folder / "summary.csv").is_file():
        runs = sorted(p for p in folder.glob("seed-*") if (p / "summary.csv").is_file())
        if len(runs) != 1:
            found = f"{len(runs)} runs ({', '.join(p.name for p in runs)})" if runs else "no stored run"
            raise CompareError(f"{folder}: expected a scenario file or one run's folder; it holds {found}")
        folder = runs[0]
    if not (folder / "summary.csv").is_file():
        raise CompareError(f"{path}: neither a scenario file nor a results folder with summary.csv")
    from alosim.stored import ResultsError, check_table

    try:
        check_table(folder / "summary.csv")
        row = pd.read_csv(folder / "summary.csv").iloc[0].to_dict()
    except ResultsError as exc:
        raise CompareError(str(exc)) from None
    except (OSError, ValueError, IndexError) as exc:
        raise CompareError(f"{folder / 'summary.csv'}: cannot be read ({exc})") from None
    summary = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    return Input(f"{summary.get('scenario', folder.parent.name)} ({folder.name})", summary=summary)


def _value(summary: Mapping[str, Any], measure: str) -> float | None:
    value = summary[measure] if measure in summary else derived_value(summary, measure)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def compare(inputs: Sequence[Input], *, seed: int | None = None, replications: int = 1,
            confidence: float = 0.95) -> Comparison:
    """Run the scenario inputs with common seeds and compare every input with the first.

    ``seed`` defaults to the first scenario's seed. Replication r runs with
    ``seed + r`` for every scenario input.
    """
    from alosim.simulate import simulate

    if len(inputs) < 2:
        raise CompareError("compare needs at least two inputs")
    if replications < 1:
        raise CompareError(f"--replications must be at least 1, got {replications}")
    if replications > 1 and any(i.scenario is None for i in inputs):
        stored = next(i.label for i in inputs if i.scenario is None)
        raise CompareError(f"{stored}: a stored run cannot be replicated; give scenario files "
                           "for --replications")
    if seed is None:
        seed = next((i.scenario.seed for i in inputs if i.scenario is not None), 0)
    seeds = tuple(seed + r for r in range(replications))
    summaries: list[list[Mapping[str, Any]]] = []
    for item in inputs:
        if item.scenario is None:
            assert item.summary is not None
            summaries.append([item.summary])
        else:
            summaries.append([simulate(item.scenario, seed=s).summary for s in seeds])

    shape = _shape(inputs[0], summaries[0][0])
    leading = {f.name: f.headline[shape] for f in headlines(shape)}
    rows = []
    known = {name for name, _ in MEASURES}
    # A topology's own columns (its nodes', named after them), in its summary's order.
    own = [(name, figure(name).header()) for name in dict.fromkeys(k for runs in summaries for k in runs[0])
           if name not in known and (f := figure(name)) is not None and f.kind not in ("text", "verdict")
           and "topology" in f.shapes]
    for measure, label in [*MEASURES, *own]:
        per_input = [[_value(s, measure) for s in runs] for runs in summaries]
        if all(v is None for values in per_input for v in values):
            continue
        means = tuple(_mean(values) for values in per_input)
        diffs = tuple(_paired(per_input[0], values, confidence) for values in per_input[1:])
        rows.append(Row(measure, label, means, diffs, measure in leading))
    # The headline rows first, in their shape's order; then the others in the registry's.
    rows.sort(key=lambda r: (0, leading[r.measure]) if r.headline else (1, 0))
    check_names = [k for runs in summaries for k in runs[0] if k.startswith("check_")]
    checks = []
    for name in dict.fromkeys(check_names):
        held = tuple(all(bool(s[name]) for s in runs) if name in runs[0] else None for runs in summaries)
        checks.append((name, held))
    recorded = tuple(tuple(_seed(s) for s in runs) for runs in summaries)
    return Comparison(tuple(i.label for i in inputs), seeds, replications, confidence, tuple(rows),
                      tuple(checks), recorded, all(i.scenario is not None for i in inputs), shape)


def _seed(summary: Mapping[str, Any]) -> int | None:
    """The seed a run recorded in its summary (None if it recorded none)."""
    value = summary.get("seed")
    try:
        return None if value is None or isinstance(value, bool) or value != value else int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _shape(item: Input, summary: Mapping[str, Any]) -> str:
    if item.scenario is not None:
        from alosim.printout import shape_of

        return shape_of(item.scenario)
    if "log_records_appended" in summary:
        return "log"
    return "queue" if "publishes_accepted" in summary else SINGLE_HOP


def _mean(values: Sequence[float | None]) -> float:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else math.nan


def _paired(base: Sequence[float | None], other: Sequence[float | None],
            confidence: float) -> tuple[float, float]:
    """Mean of the per-seed differences and the half-width of its paired t interval."""
    from alosim.analytic import student_t_quantile

    diffs = [b - a for a, b in zip(base, other) if a is not None and b is not None]
    if not diffs:
        return math.nan, math.nan
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return mean, math.nan
    t = student_t_quantile(0.5 + confidence / 2, len(diffs) - 1)
    return mean, t * statistics.stdev(diffs) / math.sqrt(len(diffs))


def _kind(measure: str) -> str:
    found = figure(measure)
    return found.kind if found else "ratio"


def _cell(measure: str, value: float, replications: int = 1) -> str:
    if value != value:
        return "-"
    kind = _kind(measure)
    if kind == "verdict":
        return ("yes" if value else "NO") if replications == 1 else f"{value * replications:.0f}/{replications} yes"
    if kind in ("count", "bytes"):
        return f"{value:,.0f}" if value == round(value) else f"{value:,.1f}"
    if kind == "duration":
        return format_duration(value)
    return sig3(value) + ("/s" if kind == "rate" else "")


def _signed(kind: str, value: float) -> str:
    sign = "+" if value > 0 else "-" if value < 0 else ""
    size = abs(value)
    if kind == "duration":
        return sign + format_duration(size)
    if kind in ("count", "bytes"):
        return sign + (f"{size:,.0f}" if size == round(size) else f"{size:,.1f}")
    return sign + sig3(size)


def _diff_cell(measure: str, diff: float, half: float) -> str:
    if diff != diff:
        return "-"
    kind = _kind(measure)
    text = _signed(kind, diff)
    if half == half:
        if kind == "duration":
            text += f" ± {format_duration(half)}"
        elif kind in ("count", "bytes"):
            text += f" ± {half:,.1f}" if half != round(half) else f" ± {half:,.0f}"
        else:
            text += f" ± {half:.2g}"
    return text


def shown_rows(result: Comparison, every: bool = False) -> list[Row]:
    """The rows a terminal shows: the shape's headline rows and those that differ between
    inputs (not the run's bookkeeping, events and simulated time, nor the detail a run's
    printout leaves out, :data:`alosim.printout.DETAIL`); ``every`` row with ``every``."""
    if every:
        return list(result.rows)
    from alosim.printout import DETAIL

    quiet = DETAIL | {f.name for f in FIGURES.values() if f.section == "run"}
    shown = []
    for r in result.rows:
        fig = figure(r.measure)
        if fig is not None and fig.if_nonzero and not r.differs and not any(r.values):
            continue  # nothing happened in any input (no dedup store, say)
        if r.headline or (r.differs and r.measure not in quiet):
            shown.append(r)
    return shown


def format_comparison(result: Comparison, every: bool = False, width: int = 100) -> str:
    """The comparison as a table: a row per measure (the headline rows and those that differ;
    ``every`` row with ``every``), a column per input, then the differences -- in blocks of
    columns no wider than ``width`` characters, each repeating the row labels."""
    n = len(result.labels)
    # The inputs are named once above the table, so that its columns stay narrow.
    header = ["", *(f"[{i + 1}]" for i in range(n)), *(f"[{i + 1}] - [1]" for i in range(1, n))]
    body = []
    rows = shown_rows(result, every)
    for row in rows:
        body.append([row.label, *(_cell(row.measure, v, result.replications) for v in row.values),
                     *(_diff_cell(row.measure, d, h) for d, h in row.differences)])
    for name, held in result.checks:
        cells = ["-" if h is None else ("yes" if h else "NO") for h in held]
        body.append([name[len("check_"):].replace("_", " "), *cells, *([""] * (len(held) - 1))])
    widths = [max(len(c) for c in column) for column in zip(header, *body)]
    lines = [_seed_line(result)]
    lines.extend(f"[{i + 1}] {label}" for i, label in enumerate(result.labels))
    blocks: list[list[int]] = [[]]
    used = widths[0]
    for column in range(1, len(header)):
        if blocks[-1] and used + 2 + widths[column] > width:
            blocks.append([])
            used = widths[0]
        blocks[-1].append(column)
        used += 2 + widths[column]
    for number, block in enumerate(blocks):
        if number:
            lines.append("")
        for cells in [header, *body]:
            lines.append("  ".join([f"{cells[0]:<{widths[0]}}"]
                                   + [f"{cells[c]:>{widths[c]}}" for c in block]).rstrip())
    if not every and len(rows) < len(result.rows):
        lines.append(f"({len(result.rows) - len(rows)} more rows equal for every input, or bookkeeping: --all "
                     "shows every row)")
    return join_lines(lines)


def _seed_line(result: Comparison) -> str:
    """What the inputs' runs recorded about their seeds: common random numbers only when
    every input's runs were made with the same seeds (a stored run keeps its own)."""
    recorded = result.recorded_seeds
    # One run each: replications give intervals, but only where every input can run again.
    single = ("one run each -- give --replications N for confidence intervals" if result.replicable
              else "one run each, without confidence intervals (a stored run cannot be replicated)")
    if not result.common_seeds:
        each = "; ".join(f"[{i + 1}] " + ", ".join("seed unknown" if s is None else f"seed {s}" for s in seeds)
                         for i, seeds in enumerate(recorded))
        return (f"the inputs' runs were made with different seeds ({each}): no common random numbers, "
                f"so each difference also holds the noise of different randomness; {single}")
    seeds = recorded[0]
    if len(seeds) > 1:
        return (f"seeds {seeds[0]}..{seeds[-1]} ({len(seeds)} replications, the same for every input): "
                f"values are means; each difference is the mean of the per-seed differences ± "
                f"half-width of its {result.confidence:.0%} paired t interval")
    return f"seed {seeds[0]} for every scenario (common random numbers); {single}"


__all__ = ["CompareError", "Comparison", "Input", "MEASURES", "Row", "compare", "format_comparison", "shown_rows",
           "stored_run"]
