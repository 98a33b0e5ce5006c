"""Sweeps: many runs of one scenario, expanded first, then executed, then stored.

A scenario's ``sweep`` section names dotted paths into the scenario and the
values each takes (see :class:`alosim.scenario.Sweep`). :func:`expand`
turns it into a :class:`SweepPlan`:

* ``grid`` keys vary as a cartesian product, the first key slowest;
* ``zip`` keys vary together (their lists have one length), and each zipped
  tuple is crossed with every grid combination (the grid varies slower);
* every point is validated as a scenario of its own before anything runs,
  so a bad path or value fails at once, naming the path and the point;
* replication r of every point runs with seed ``scenario.seed + r``: common
  random numbers, so that two points (say two semantics) see the same
  arrivals, losses and latencies, and their difference is measured with
  less noise than two independent runs would give.

:func:`run_sweep` executes the runs the results store does not hold yet on
an :class:`alosim.executors.Executor`, stores each one as it finishes, and
writes the tables at the end -- also when it is interrupted, which raises
:class:`SweepInterrupted` with what was stored. A run that raises is stored
with its error and the sweep goes on.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from alosim import __version__
from alosim.arguments import expect, expect_path
from alosim.executors import Executor, Finished, SerialExecutor
from alosim.fieldunits import scenario_overrides, variant_name
from alosim.scenario import Scenario, ScenarioError
from alosim.shown import printable
from alosim.store import (
    FORMAT,
    LATENCY_SAMPLES_MAX,
    RunRecord,
    SweepStore,
    thin,
)

# Paths a sweep may not vary, and why.
_FIXED_PATHS: dict[str, str] = {
    "seed": "replications choose the seeds (replication r runs with seed + r at every point); "
            "set sweep.replications instead",
    "name": "the name picks the results folder and is the same for every point",
    "description": "the description does not change a run",
    "expect": "the expected figures do not change a run",
    "sweep": "a sweep cannot vary its own definition",
}
# Expanding a point validates a scenario (about 0.5 ms and 7 kB each), so the
# plan is bounded before anything is expanded: 10,000 points take a few
# seconds and well under 100 MB; a million would take minutes and gigabytes.
MAX_POINTS = 10_000
MAX_RUNS = 100_000


@dataclass(frozen=True)
class Point:
    """One combination of swept values, validated as a scenario of its own."""

    index: int
    written: tuple[tuple[str, Any], ...]  # the values as the file writes them
    values: tuple[tuple[str, Any], ...]  # as resolved (units converted, presets applied)
    scenario: Scenario

    def label(self) -> str:
        return ", ".join(f"{path}={value}" for path, value in self.written) or "(no parameters)"


@dataclass(frozen=True)
class RunTask:
    """One run to execute: a point's scenario and a replication's seed."""

    point: int
    replication: int
    seed: int
    values: tuple[tuple[str, Any], ...]
    scenario: Scenario

    @property
    def key(self) -> tuple[int, int]:
        return (self.point, self.replication)


@dataclass(frozen=True)
class SweepPlan:
    """The expanded sweep: its points, replications and the hash that names its folder."""

    scenario: Scenario
    parameters: tuple[str, ...]
    points: tuple[Point, ...]
    replications: int

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def runs(self) -> int:
        return len(self.points) * self.replications

    def seed(self, replication: int) -> int:
        """Common random numbers: the seed of replication r is the same at every point."""
        return self.scenario.seed + replication

    def tasks(self) -> list[RunTask]:
        """Every run, point by point, replication by replication."""
        return [
            RunTask(p.index, r, self.seed(r), p.values, p.scenario)
            for p in self.points
            for r in range(self.replications)
        ]

    @cached_property
    def digest(self) -> str:
        """A hash of what the runs compute: each point's values and resolved scenario."""
        payload = {
            "format": FORMAT,
            "alosim": __version__,
            "parameters": list(self.parameters),
            "points": [
                {"values": [[k, v] for k, v in p.values], "scenario": _hashed_scenario(p.scenario)}
                for p in self.points
            ],
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "alosim_version": __version__,
            "name": self.name,
            "sweep": self.digest,
            "parameters": list(self.parameters),
            "replications": self.replications,
            "seeds": f"{self.scenario.seed} + replication",
            "points": [
                {"point": p.index, "set": dict(p.written), "values": dict(p.values)}
                for p in self.points
            ],
        }


def _hashed_scenario(scenario: Scenario) -> dict[str, Any]:
    data = scenario.resolved()
    data.pop("description", None)
    data.pop("expect", None)
    data.pop("sweep", None)
    return data


# -- expansion -----------------------------------------------------------------------


def expand(scenario: Scenario) -> SweepPlan:
    """Expand and validate the sweep of ``scenario``; raise ScenarioError if any point is bad."""
    expect(scenario, Scenario, "expand", "scenario", "a Scenario (from alosim.load_scenario)")
    source = scenario.origin
    sweep = scenario.sweep
    if sweep is None:
        raise ScenarioError(source, [("sweep", "no sweep section: add one, e.g. "
                                      "sweep: {grid: {network.ack.loss: [0.1, 0.2]}}, or use 'alosim run'")])
    _check_paths(source, sweep.grid, sweep.zip)
    zipped = _zipped(source, sweep.zip)
    grid_paths = list(sweep.grid)
    sizes = [len(v) for v in sweep.grid.values()] + ([len(zipped)] if zipped else [])
    count = math.prod(sizes)
    if count > MAX_POINTS:
        product = " x ".join(f"{n:,}" for n in sizes)
        raise ScenarioError(source, [("sweep", f"expands to {count:,} points ({product}); at most "
                                      f"{MAX_POINTS:,} are allowed: vary fewer values at once")])
    total = count * sweep.replications
    if total > MAX_RUNS:
        raise ScenarioError(source, [("sweep", f"expands to {total:,} runs ({count:,} points x "
                                      f"{sweep.replications:,} replications); at most {MAX_RUNS:,} "
                                      "are allowed")])
    if scenario.seed + sweep.replications > 2**63:
        raise ScenarioError(source, [("seed", f"seed + replications must stay below 2**63 (replication r "
                                      f"runs with seed + r); got seed {scenario.seed}")])
    combos = [
        tuple(zip(grid_paths, grid_values)) + zip_values
        for grid_values in itertools.product(*sweep.grid.values())
        for zip_values in (zipped or [()])
    ]
    parameters = tuple(grid_paths) + tuple(sweep.zip)
    points = tuple(_point(scenario, index, written) for index, written in enumerate(combos))
    return SweepPlan(scenario, parameters, points, sweep.replications)


def _check_paths(source: str, grid: Mapping[str, list[Any]], zipped: Mapping[str, list[Any]]) -> None:
    problems: list[tuple[str, str]] = []
    seen: list[str] = []
    for section, values in (("grid", grid), ("zip", zipped)):
        for path, options in values.items():
            where = f"sweep.{section}.{path}"
            keys = path.split(".")
            if not path or not all(keys):
                problems.append((where, "expected a dotted path such as network.ack.loss"))
            elif keys[0] in _FIXED_PATHS:
                problems.append((where, f"cannot be swept: {_FIXED_PATHS[keys[0]]}"))
            elif not options:
                problems.append((where, "expected a non-empty list of values"))
            for other in seen:
                if path == other or path.startswith(other + ".") or other.startswith(path + "."):
                    problems.append((where, f"overlaps {other!r}, which is swept already"))
            seen.append(path)
    if problems:
        raise ScenarioError(source, problems)


def _zipped(source: str, zipped: Mapping[str, list[Any]]) -> list[tuple[tuple[str, Any], ...]]:
    lengths = {len(values) for values in zipped.values()}
    if len(lengths) > 1:
        detail = ", ".join(f"{path} has {len(values)}" for path, values in zipped.items())
        raise ScenarioError(source, [("sweep.zip", f"lists varied together need one length: {detail}")])
    paths = list(zipped)
    return [tuple(zip(paths, values)) for values in zip(*zipped.values())]


def _point(scenario: Scenario, index: int, written: tuple[tuple[str, Any], ...]) -> Point:
    try:
        variant = scenario.with_overrides(dict(written), drop_sweep=True)
    except ScenarioError as exc:
        label = ", ".join(f"{path}={value!r}" for path, value in written)
        problems = [(path, f"{message} (in sweep point {index}: {label})") for path, message in exc.problems]
        raise ScenarioError(exc.source, problems, exc.more) from None
    # Every field of the validated point, of every shape: resolved() leaves out
    # what a run of this shape does not read (broker.kind of a queue, the
    # guarantees alosim explore checks), but a swept path is a value of the point.
    every_field = variant.model_dump(mode="json", by_alias=True)
    values = tuple((path, _value_at(every_field, path, written_as=value)) for path, value in written)
    return Point(index, written, values, variant)


def _value_at(data: Mapping[str, Any], path: str, *, written_as: Any) -> Any:
    """The value at dotted ``path`` in ``data``; ``written_as`` (the value as the sweep
    writes it) where ``data`` has no such field."""
    node: Any = data
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return written_as
        node = node[key]
    return node


# -- one run -------------------------------------------------------------------------


def run_task(task: RunTask) -> RunRecord:
    """Simulate one run of a sweep; an exception becomes the record's error.

    Executed in a worker: it returns plain data only -- the summary, the
    thinned series and the latency sample, never the trace itself.
    """
    from alosim.simulate import simulate

    try:
        result = simulate(task.scenario, seed=task.seed)
    except Exception as exc:  # noqa: BLE001 -- a failing run is a result
        return failed_record(task, exc)
    return RunRecord(
        point=task.point,
        replication=task.replication,
        seed=task.seed,
        values=task.values,
        summary=dict(result.summary),
        series=thin(result.series),
        latency_s=latency_sample(result.trace or []),
        wall_time_s=result.wall_time_s,
    )


def _record(finished: Finished[RunTask, RunRecord]) -> RunRecord:
    """The record of a finished run; an error the executor reported becomes a failed run."""
    if finished.error is not None or finished.value is None:
        return failed_record(finished.item, finished.error or RuntimeError("the executor returned nothing"))
    return finished.value


def failed_record(task: RunTask, exc: BaseException) -> RunRecord:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {Path(last[0].filename).name}:{last[0].lineno})" if last else ""
    return RunRecord(task.point, task.replication, task.seed, task.values, None,
                     error=f"{type(exc).__name__}: {exc}{where}")


def latency_sample(trace: Sequence[Any], limit: int = LATENCY_SAMPLES_MAX) -> list[float] | None:
    """Create-to-first-processing latency of each traced message that was processed.

    In message order, at most ``limit``; None when the run traced nothing.
    """
    if not trace:
        return None
    created: dict[int, float] = {}
    processed: dict[int, float] = {}
    for event in trace:
        if event.event == "create":
            created[event.message] = event.time_s
        elif event.event == "processed" and event.message not in processed:
            processed[event.message] = event.time_s
    ids = sorted(m for m in processed if m in created)[:limit]
    return [processed[m] - created[m] for m in ids]


# -- the whole sweep -----------------------------------------------------------------


@dataclass(frozen=True)
class SweepOutcome:
    """What a call of :func:`run_sweep` did."""

    folder: Path
    total: int
    reused: int
    computed: int
    errors: int

    @property
    def stored(self) -> int:
        return self.reused + self.computed


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: every finished run is stored; running again computes the rest."""

    def __init__(self, outcome: SweepOutcome) -> None:
        super().__init__(f"interrupted: {outcome.stored} of {outcome.total} runs stored in {outcome.folder}")
        self.outcome = outcome


def run_sweep(
    plan: SweepPlan | Scenario,
    *,
    out: str | Path = "results",
    executor: Executor | None = None,
    progress: bool = False,
    retry_errors: bool = False,
    on_result: Callable[[RunRecord], None] | None = None,
    command: str | None = None,
    overrides: Sequence[str] = (),
) -> SweepOutcome:
    """Run every run of the sweep that is not stored yet under ``out``; write the tables.

    ``executor`` defaults to running in this process. ``retry_errors`` runs
    again the runs stored with an error. ``on_result`` is called with each
    record once it is stored. ``command`` is how the sweep was asked for,
    recorded in the folder's history (``alosim results``); ``overrides`` (the ``--set``
    options the scenario was loaded with) name the variant in the folder's name, its
    manifest and its pictures' titles (those of the ``sweep`` section are the sweep's own). Ctrl-C raises :class:`SweepInterrupted` after
    the tables have been written with every finished run.
    """
    expect(plan, (SweepPlan, Scenario), "run_sweep", "plan",
           "a Scenario (from alosim.load_scenario) or a SweepPlan (from alosim.sweep.expand)")
    expect_path(out, "run_sweep", "out")
    expect(overrides, (list, tuple), "run_sweep", "overrides", "the --set options (a list of 'path=value' texts)")
    if isinstance(plan, Scenario):
        plan = expand(plan)
    executor = executor or SerialExecutor()
    manifest = plan.manifest()
    variant = variant_name(scenario_overrides(overrides))
    if variant:  # a sweep of the scenario as written keeps the manifest it always had
        manifest["variant"] = variant
    store = SweepStore.open(out, plan.name, plan.digest, manifest, plan.scenario.source_yaml())
    stored = store.stored()
    tasks = plan.tasks()
    keys = [t.key for t in tasks]
    todo = [t for t in tasks if t.key not in stored or (retry_errors and stored[t.key])]
    reused = len(tasks) - len(todo)
    computed = 0
    bar = _progress_bar(len(todo), plan.name, enabled=progress)
    try:
        with closing(executor.imap_unordered(run_task, todo)) as results:
            for finished in results:
                record = _record(finished)
                store.add(record)
                computed += 1
                bar.update(1)
                if on_result is not None:
                    on_result(record)
    except KeyboardInterrupt:
        bar.close()
        store.log(command, computed, interrupted=True)
        data = store.consolidate(plan.parameters, keys)
        raise SweepInterrupted(_outcome(store.folder, len(tasks), reused, computed, data.runs)) from None
    bar.close()
    store.log(command, computed)
    data = store.consolidate(plan.parameters, keys)
    return _outcome(store.folder, len(tasks), reused, computed, data.runs)


def describe(plan: SweepPlan) -> str:
    """One line: how many points, replications and runs."""
    return printable(f"{plan.name}: {len(plan.points)} points x {plan.replications} replications = "
                     f"{plan.runs} runs ({', '.join(plan.parameters) or 'no parameters'})")


def _outcome(folder: Path, total: int, reused: int, computed: int, runs: Any) -> SweepOutcome:
    errors = int((runs["error"] != "").sum()) if "error" in runs else 0
    return SweepOutcome(folder, total, reused, computed, errors)


def _progress_bar(total: int, name: str, *, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit="run", disable=not enabled or total == 0,
                dynamic_ncols=True, smoothing=0.1)


__all__ = [
    "Point",
    "RunTask",
    "SweepInterrupted",
    "SweepOutcome",
    "SweepPlan",
    "describe",
    "expand",
    "run_sweep",
    "run_task",
]
