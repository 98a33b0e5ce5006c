"""Search for guarantee violations, and shrink each one to its smallest story.

``alosim run`` measures what a configuration costs under the faults a
scenario names. :func:`explore` asks the opposite question: is there *any*
combination of faults (and of the knobs the scenario lets vary) under which
the configuration breaks a guarantee -- and what is the smallest scenario
that shows it? It is swarm testing for delivery configurations:

1. **Draw.** Run ``i`` of a search with seed ``S`` draws its variation from
   the named random streams ``explore.run.<i>.*`` of ``S`` (numpy
   ``SeedSequence``, :mod:`alosim.streams`): the knobs of ``explore.vary``,
   the simulation seed, then crashes and partitions. The same ``S`` and ``i``
   always draw the same variation, whichever executor ran it and in
   whatever order, so the same command finds the same things.
2. **Check.** Each variation is simulated and checked: the checks of its
   semantics (those ``alosim run`` reports) and the limits it declares in
   ``guarantees:``, both read from one registry of causes
   (:mod:`alosim.guarantees`) for a single hop, a queue pipeline and a log.
   Every violation is a pair (guarantee, cause); the cause is the summary
   column that counted it (``duplicates_<cause>``, a pipeline's
   ``duplicates_consume_<cause>``, ``lost_<cause>``, ...; ``store_size``
   and ``latency`` for the dedup store and latency limits).
3. **Shrink.** For each (guarantee, cause) the first run showing it is
   simplified step by step (:data:`SHRINK_STEPS`): fewer messages (a
   bisection), fewer faults, shorter faults, earlier times, constant
   distributions, fewer actors, lower loss. A simplification is kept when
   the scenario still violates the same guarantee with the same cause; the
   loop ends when none applies -- or at :data:`SHRINK_MAX_RUNS`
   simulations, and then the result is called the smallest found, not
   minimal. The result is a plain scenario file that ``alosim run``
   reproduces, written with its trace and sequence diagram.

**What may crash.** A crash space targets anything a scenario's ``faults:``
may crash (:data:`alosim.scenario.FAULT_TARGET`): senders, receivers, and
in a pipeline its consumers and broker; left out, the far end (receivers,
or consumers). A target the scenario lacks is refused before the search
starts; a draw whose target does not exist (``consumer-2`` of a drawn
``consumer.count: 1``) is skipped before its pilot run. A search none of
whose draws is valid is an error, not "no violation found".

**Where fault times are drawn (the bias).** Violations hide in short
windows: between a side effect and the record of its id (``write_delay``),
between an early ack and the end of processing, between processing and the
ack that would stop the resends. Uniform fault times over a run rarely land
there. So each run first simulates its variation without the drawn faults
(the *pilot*) and notes the moments that matter: every arrival, every side
effect (``processed``) and every ack sent. A fraction ``explore.bias`` of
fault start times (default one half) is drawn just after one such moment,
picked at random: within the ``write_delay`` after it, or within 1 ms when
there is none. When the dedup store is a TTL store, a biased partition
lasts between the window and the window plus twice the retry timeout (long
enough for a resend to find the id forgotten). The rest stays uniform, so
the bias narrows nothing away. ``tests/test_explore.py::
test_the_bias_finds_a_planted_violation_in_fewer_runs`` measures the gain.

**Resuming.** Each finished run is stored as one small JSON file under
``<out>/<name>/explore-<hash>/runs/`` (written atomically); the hash covers
what the runs compute (scenario, explore and guarantees sections, seed), not
their number. Running again, with the same or a larger ``--runs``, computes
only the runs not stored; Ctrl-C keeps every finished run. A group's folder
ends with ``minimal.json``; a search that finds the group's first run the
same leaves a folder that has it as it is (neither shrunk nor written again).
Stored runs keep their keys in the order they were drawn, so a search
finished from stored runs writes the same bytes as one that made them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alosim import __version__, guarantees
from alosim.executors import Executor, Finished, SerialExecutor
from alosim.stored import EXPLORE_RUN, ResultsError, Stored, read_json, read_text
from alosim.files import ensure_folder, refuse_symlink, safe_child, write_text_atomic
from alosim.scenario import (
    CrashSpace,
    Explore,
    Guarantees,
    PartitionSpace,
    Scenario,
    ScenarioError,
    set_path,
    target_problem,
    validate_scenario,
)
from alosim.shown import join_lines
from alosim.simulate import RunResult, simulate
from alosim.streams import Streams
from alosim.units import parse_duration, parse_rate

FORMAT = 1
#: Faults when the scenario has no explore section: up to two crashes of the far end
#: (receivers, or a pipeline's consumers) and one partition.
DEFAULT_EXPLORE = Explore(crashes=[CrashSpace(max=2)], partitions=PartitionSpace(max=1))
DEFAULT_FOR_S = (0.01, 1.0)  # how long a drawn fault lasts when the section does not say
PILOT_TRACE_MAX = 10_000  # messages whose moments the pilot run notes
SHRINK_MAX_RUNS = 2000  # simulations one shrink may spend (each of a scenario that only gets smaller)
TRACE_MAX = 100  # messages traced (and drawn) in a minimal scenario
MOMENTS = ("arrive", "processed", "ack_sent")  # the events whose times matter to a fault
SHIFTS = 8  # earlier moments a shrinking step tries for one fault
MIN_FAULT_S = 1e-3  # shrinking makes no fault shorter than this


# -- drawing a variation -------------------------------------------------------------


def explore_of(scenario: Scenario) -> Explore:
    """The scenario's explore section, with the default faults where it is silent and
    every crash aimed: a crash space without a target crashes the far end."""
    spec = scenario.explore or DEFAULT_EXPLORE
    far_end = "nodes" if scenario.is_topology else "consumers" if scenario.is_pipeline else "receivers"
    crashes = [space if space.target is not None else space.model_copy(update={"target": far_end})
               for space in (DEFAULT_EXPLORE.crashes if spec.crashes is None else spec.crashes) or []]
    update: dict[str, Any] = {"crashes": crashes}
    if scenario.is_topology:
        if scenario.explore is None or scenario.explore.partitions is None:
            update["partitions"] = None  # a topology's partitions are its links'
    elif spec.partitions is None:
        update["partitions"] = DEFAULT_EXPLORE.partitions
    return spec.model_copy(update=update)


def check_crashes(scenario: Scenario, spec: Explore, *, exact: bool = True) -> None:
    """Refuse a crash space whose target ``scenario`` does not have (receivers in a
    pipeline, a broker on a single hop, ``consumer-5`` of two), naming the field. With
    ``exact`` false only the kind is checked: a drawn count may make the number fit."""
    for i, space in enumerate(spec.crashes or []):
        target = space.target or ""
        if scenario.is_topology and target == "nodes":
            continue  # any node that receives (drawn at random)
        kind = f"{target.partition('-')[0].removesuffix('s')}s" if target[-1:].isdigit() else target
        problem = target_problem(scenario, target if exact or target_problem(scenario, kind) else kind)
        if problem is not None:
            raise ScenarioError(scenario.origin, [(f"explore.crashes.{i}.target", problem)])


def _rng(seed: int, index: int, part: str) -> Any:
    return Streams(seed).generator(f"explore.run.{index}.{part}")


def draw_knobs(scenario: Scenario, spec: Explore, seed: int, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The knob values (and simulation seed) of run ``index``: overrides and drawn parameters."""
    rng = _rng(seed, index, "knobs")
    overrides: dict[str, Any] = {}
    drawn: dict[str, Any] = {}
    if spec.vary_seed:
        overrides["seed"] = int(rng.integers(0, 2**31))
    for path, choice in spec.vary.items():  # in the file's order
        value, shown = _draw_value(path, choice, rng, scenario.origin)
        overrides[path] = value
        drawn[path] = shown
    return overrides, drawn


def check_vary(scenario: Scenario, spec: Explore) -> None:
    """Refuse, before any run, a range that cannot be read and a path that is not a
    scenario field (a value the scenario refuses is only a skipped draw), and a
    scenario the search does not take yet (a topology)."""
    if scenario.topology is not None and spec.partitions is not None and spec.partitions.max > 0:
        raise ScenarioError(scenario.origin, [("explore.partitions", (
            "a topology's partitions are its links' (topology.links.N.partitions): explore draws "
            "crashes of its nodes only; set explore.partitions to null"))])
    rng = Streams(0).generator("explore.check")
    for path, choice in spec.vary.items():
        value, _ = _draw_value(path, choice, rng, scenario.origin)
        try:
            scenario.with_overrides({path: value})
        except ScenarioError as exc:
            for where, message in exc.problems:
                if message.startswith("unknown key") or message.endswith("is not a mapping"):
                    raise ScenarioError(scenario.origin, [(f"explore.vary.{path}",
                                                           f"not a field of the scenario ({where}: {message})")])


def _draw_value(path: str, choice: Any, rng: Any, source: str) -> tuple[Any, Any]:
    if isinstance(choice, list):
        value = choice[int(rng.integers(0, len(choice)))]
        return value, value
    low, high = choice["min"], choice["max"]
    if isinstance(low, int) and isinstance(high, int):
        if low > high:
            raise ScenarioError(source, [(f"explore.vary.{path}", f"expected min <= max, got {low} > {high}")])
        value = int(rng.integers(low, high + 1))
        return value, value
    parse: Callable[[Any], float] = float
    if isinstance(low, str) or isinstance(high, str):
        parse = parse_rate if "/" in f"{low}{high}" else parse_duration
    try:
        lo, hi = parse(low), parse(high)
    except ValueError as exc:
        raise ScenarioError(source, [(f"explore.vary.{path}", str(exc))]) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ScenarioError(source, [(f"explore.vary.{path}", f"expected min <= max, got {low} > {high}")])
    value = _tidy(lo + (hi - lo) * float(rng.random()))
    return value, value


def _tidy(seconds: float) -> float:
    """Six significant digits: drawn values read well and survive a YAML round trip."""
    return float(f"{seconds:.6g}")


@dataclass(frozen=True)
class Moments:
    """What the pilot run saw: when side effects and acks happen, and how long a run lasts."""

    end_s: float
    times_s: tuple[float, ...]
    after_s: float  # how far after a moment a biased fault starts
    ttl_for_s: tuple[float, float] | None  # biased partition lengths (TTL store only)


def moments(scenario: Scenario, result: RunResult) -> Moments:
    """The pilot's moments, and the stores that set how a biased fault is drawn: the
    far end's (receiver or consumer: its ``write_delay``) and the store that answers
    the sender's resends across a partition (receiver, or a pipeline's broker: its TTL)."""
    times = sorted({e.time_s for e in result.trace or [] if e.event in MOMENTS})
    far_end = scenario.consumer.dedup if scenario.consumer is not None else scenario.receiver.dedup
    resends = scenario.broker.dedup if scenario.broker is not None else scenario.receiver.dedup
    ttl = None
    if resends.kind == "ttl" and resends.window is not None:
        ttl = (resends.window, resends.window + 2 * scenario.sender.retry.timeout)
    return Moments(float(result.summary["sim_time_s"]), tuple(times),
                   far_end.write_delay if far_end.write_delay > 0 else 1e-3, ttl)


def draw_faults(scenario: Scenario, spec: Explore, seed: int, index: int,
                seen: Moments) -> tuple[dict[str, Any], dict[str, Any]]:
    """The crashes and partitions of run ``index``, added to the scenario's own."""
    rng = _rng(seed, index, "faults")
    faults = [f.model_dump(mode="json", by_alias=True, exclude_none=True) for f in scenario.faults]
    drawn: dict[str, Any] = {}
    crashes = 0
    for i, space in enumerate(spec.crashes or []):
        count = int(rng.integers(space.min, space.max + 1))
        crashes += count
        for _ in range(count):
            target = space.target or ""
            if target == "nodes" and scenario.topology is not None:
                receiving = [name for name, node in scenario.topology.nodes.items() if node.kind != "producer"]
                target = receiving[int(rng.integers(0, len(receiving)))]
            elif target in ("receivers", "senders", "consumers"):
                kind = target[:-1]
                total = getattr(scenario, kind).count
                target = f"{kind}-{int(rng.integers(0, total))}"
            at, biased = _start(rng, space.at, seen, spec.bias)
            low, high = space.for_ or DEFAULT_FOR_S
            faults.append({"target": target, "at": at, "for": _tidy(max(1e-6, rng.uniform(low, high)))})
    drawn["crashes"] = crashes
    overrides: dict[str, Any] = {"faults": faults} if crashes else {}
    space = spec.partitions
    if space is not None and space.max > 0:
        partitions = [p.model_dump(mode="json", by_alias=True) for p in scenario.network.partitions]
        count = int(rng.integers(space.min, space.max + 1))
        for _ in range(count):
            direction = space.direction[int(rng.integers(0, len(space.direction)))]
            at, biased = _start(rng, space.at, seen, spec.bias)
            low, high = space.for_ or DEFAULT_FOR_S
            if biased and seen.ttl_for_s is not None and space.for_ is None:
                low, high = seen.ttl_for_s
            partitions.append({"at": at, "for": _tidy(max(1e-6, rng.uniform(low, high))),
                               "direction": direction})
        drawn["partitions"] = count
        if count:
            overrides["network.partitions"] = partitions
    return overrides, drawn


def _start(rng: Any, window: tuple[float, float] | None, seen: Moments, bias: float) -> tuple[float, bool]:
    """A fault's start: just after a moment that matters (with probability ``bias``) or uniform."""
    low, high = window or (0.0, seen.end_s)
    near = [t for t in seen.times_s if low <= t <= high]
    if near and float(rng.random()) < bias:
        moment = near[int(rng.integers(0, len(near)))]
        return _tidy(moment + seen.after_s * float(rng.random())), True
    return _tidy(low + (high - low) * float(rng.random())), False


# -- one run -------------------------------------------------------------------------


@dataclass(frozen=True)
class ExploreTask:
    """Run ``index`` of a search: picklable, so that any executor can run it."""

    scenario: Scenario
    seed: int
    index: int


@dataclass
class RunOutcome:
    """What one run of the search found (plain data, stored as JSON)."""

    index: int
    drawn: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    violations: list[list[Any]] = field(default_factory=list)  # [guarantee, cause, amount]
    skipped: str = ""  # why the draw was not run (a variation that is not a valid scenario)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "drawn": self.drawn, "overrides": self.overrides,
                "violations": self.violations, "skipped": self.skipped}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunOutcome:
        return cls(int(data["index"]), dict(data["drawn"]), dict(data["overrides"]),
                   [list(v) for v in data["violations"]], str(data["skipped"]))


def base_of(scenario: Scenario) -> Scenario:
    """The scenario a search varies: its own, tracing nothing (runs are checked by their summary)."""
    return scenario.with_overrides({"observe.trace_messages": 0}, drop_sweep=True)


def run_one(task: ExploreTask) -> RunOutcome:
    """Draw run ``task.index``'s variation, simulate it and check its guarantees."""
    scenario, spec = task.scenario, explore_of(task.scenario)
    outcome = RunOutcome(task.index)
    try:
        knobs, drawn = draw_knobs(scenario, spec, task.seed, task.index)
        varied = scenario.with_overrides(knobs)
        check_crashes(varied, spec)  # before the pilot: a draw that cannot apply costs nothing
        messages = varied.messages or PILOT_TRACE_MAX
        pilot = simulate(varied.with_overrides({"observe.trace_messages": min(messages, PILOT_TRACE_MAX)}))
        faults, drawn_faults = draw_faults(varied, spec, task.seed, task.index, moments(varied, pilot))
        drawn.update(drawn_faults)
        outcome.overrides = {**knobs, **faults}
        outcome.drawn = drawn
        final = varied.with_overrides(faults) if faults else varied
    except ScenarioError as exc:
        outcome.skipped = str(exc).split("\n")[0]
        return outcome
    result = pilot if not faults else simulate(final)
    outcome.violations = violations(final, result.summary)  # its semantics may be a knob too
    return outcome


def violations(scenario: Scenario, summary: Mapping[str, Any]) -> list[list[Any]]:
    """Every [guarantee, cause, amount] a run's summary breaks, in a fixed order: the
    checks of its semantics (those ``alosim run`` reports) and the limits of its
    ``guarantees:`` section, charged to causes by :mod:`alosim.guarantees`."""
    return [[v.guarantee, v.cause, v.amount]
            for v in guarantees.violations(scenario.semantics, summary, scenario.guarantees)]


# -- shrinking -----------------------------------------------------------------------


LATENCY_PATHS = ("network.data.latency", "network.ack.latency", "receiver.processing",
                 "network.consume.data.latency", "network.consume.ack.latency", "consumer.processing")

#: A scenario that still breaks the guarantee: validated, its run, and the amount.
Found = tuple[Scenario, RunResult, Any]
#: A simplification kept: the scenario as written, and what it found.
Kept = tuple[dict[str, Any], Found]
#: Simulates a candidate: what it found, or None if it no longer breaks the guarantee.
Check = Callable[[dict[str, Any]], Found | None]
Step = Callable[[dict[str, Any], Scenario, Check], Kept | None]


def _get(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for key in path.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _with(data: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(data))
    set_path(copy, path, value)
    return copy


#: Message counts tried before bisecting: most stories need one message, and a
#: run of one message costs least.
FEW_MESSAGES = (1, 2, 3)


def _fewer_messages(data: dict[str, Any], scenario: Scenario, check: Check) -> Kept | None:
    """The fewest messages that still break it: :data:`FEW_MESSAGES` first, then a
    bisection between the largest of them and the count now -- about log2(n)
    simulations, not one per message removed. A run that lasts ``duration``
    instead is halved."""
    n = scenario.messages
    if n is None:
        if scenario.duration is not None and scenario.duration > 1e-3:
            return _first(iter([_with(data, "duration", _tidy(scenario.duration / 2))]), check)
        return None
    for m in FEW_MESSAGES:
        if m < n:
            candidate = _with(data, "messages", m)
            found = check(candidate)
            if found is not None:
                return candidate, found
    low, high = FEW_MESSAGES[-1], n  # low messages do not break it, high messages do
    best: Kept | None = None
    while high - low > 1:
        middle = (low + high) // 2
        candidate = _with(data, "messages", middle)
        found = check(candidate)
        if found is not None:
            high, best = middle, (candidate, found)
        else:
            low = middle
    return best


def _fault_lists(data: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    return [(path, list(_get(data, path) or [])) for path in ("faults", "network.partitions")]


def _fewer_faults(data: dict[str, Any], scenario: Scenario) -> Iterator[dict[str, Any]]:
    """Each fault left out; then each left out while another one starts as early as it
    did (a crash that delayed a message can often be replaced by a longer partition)."""
    for path, items in _fault_lists(data):
        for i in range(len(items)):
            yield _with(data, path, items[:i] + items[i + 1:])
    scheduled = list(_each_scheduled(data))
    for gone_path, gone_items, gone, gone_item in scheduled:
        start = parse_duration(gone_item["at"])
        fewer = _with(data, gone_path, gone_items[:gone] + gone_items[gone + 1:])
        for path, items, i, item in _each_scheduled(fewer):
            at, length = parse_duration(item["at"]), parse_duration(item["for"])
            if start < at:
                yield _replace(fewer, path, items, i, {**item, "at": start, "for": _tidy(at + length - start)})


def _each_scheduled(data: Mapping[str, Any]) -> Iterator[tuple[str, list[Any], int, dict[str, Any]]]:
    for path, items in _fault_lists(data):
        for i, item in enumerate(items):
            if isinstance(item, Mapping) and "at" in item and "for" in item:
                yield path, items, i, dict(item)


def _replace(data: Mapping[str, Any], path: str, items: list[Any], i: int, item: dict[str, Any]) -> dict[str, Any]:
    return _with(data, path, items[:i] + [item] + items[i + 1:])


def _shorter_faults(data: dict[str, Any], scenario: Scenario) -> Iterator[dict[str, Any]]:
    for path, items, i, item in _each_scheduled(data):
        length = parse_duration(item["for"])
        # Round lengths first, then halves, never below 1 ms: a story reads
        # "for 1 ms", not "for 1.82 µs" (a shorter crash shows nothing more).
        for shorter in (1e-3, 1e-2, 0.1, math.floor(length * 1000) / 1000, length / 2):
            if MIN_FAULT_S <= shorter < length:
                yield _replace(data, path, items, i, {**item, "for": _tidy(shorter)})


def _earlier_times(data: dict[str, Any], scenario: Scenario) -> Iterator[dict[str, Any]]:
    """Earlier and rounder start times; and the same offset after an earlier moment of
    the same kind (a crash 1 ms after the 8th side effect moves to 1 ms after the 1st),
    which lets the next pass drop the messages the fault no longer needs."""
    scheduled = list(_each_scheduled(data))
    if not scheduled:
        return
    for path, items, i, item in scheduled:
        at = parse_duration(item["at"])
        for earlier in (0.0, at / 2, math.floor(at * 1000) / 1000, math.floor(at * 10000) / 10000):
            if earlier < at:
                yield _replace(data, path, items, i, {**item, "at": _tidy(earlier)})
    traced = min(scenario.messages or PILOT_TRACE_MAX, PILOT_TRACE_MAX)
    events = simulate(scenario.with_overrides({"observe.trace_messages": traced})).trace or []
    for path, items, i, item in scheduled:
        at = parse_duration(item["at"])
        before = [e for e in events if e.event in MOMENTS and e.time_s <= at]
        if not before:
            continue
        last = before[-1]
        offset = at - last.time_s
        same = sorted({e.time_s for e in before if e.event == last.event and e.message < last.message})
        for moment in same[:SHIFTS]:
            earlier = _tidy(moment + offset)
            if earlier < at:  # a moment at the same time gives the same scenario: no progress
                yield _replace(data, path, items, i, {**item, "at": earlier})


def _constant_distributions(data: dict[str, Any], scenario: Scenario) -> Iterator[dict[str, Any]]:
    resolved = scenario.resolved()
    for path in LATENCY_PATHS:
        dist = _get(resolved, path)
        if isinstance(dist, Mapping) and dist.get("dist") != "constant":
            mean = _dist_mean(scenario, path)
            if math.isfinite(mean):
                yield _with(data, path, {"dist": "constant", "value": _tidy(mean)})
    if scenario.sender.retry.jitter != "none":
        yield _with(data, "sender.retry.jitter", "none")
    if scenario.sender.rate is not None and scenario.sender.arrivals == "poisson":
        yield _with(data, "sender.arrivals", "periodic")


def _dist_mean(scenario: Scenario, path: str) -> float:
    node: Any = scenario
    for key in path.split("."):
        node = getattr(node, key)
    return float(node.mean)


def _fewer_actors(data: dict[str, Any], scenario: Scenario) -> Iterator[dict[str, Any]]:
    far_end = "consumer" if scenario.consumer is not None else "receiver"
    for kind, count in (("sender", scenario.sender.count), (far_end, getattr(scenario, far_end).count)):
        for fewer in sorted({1, count - 1}):
            if 1 <= fewer < count:
                candidate = _with(data, f"{kind}.count", fewer)
                faults = []
                for fault in list(_get(candidate, "faults") or []):
                    target = str(fault.get("target", ""))
                    if target.startswith(f"{kind}-") and int(target.split("-")[1]) >= fewer:
                        fault = {**fault, "target": f"{kind}-{fewer - 1}"}
                    faults.append(fault)
                if faults:
                    candidate = _with(candidate, "faults", faults)
                yield candidate


def _links(scenario: Scenario) -> list[tuple[str, Any]]:
    """The scenario's links by path: the first hop's, and a queue pipeline's consume links."""
    if scenario.topology is not None:
        return [(f"topology.links.{i}.{way}", getattr(link, way))
                for i, link in enumerate(scenario.topology.links) for way in ("data", "ack")]
    network = scenario.network
    links = [("network.data", network.data), ("network.ack", network.ack)]
    if network.consume is not None:
        links += [("network.consume.data", network.consume.data), ("network.consume.ack", network.consume.ack)]
    return links


def _lower_loss(data: dict[str, Any], scenario: Scenario) -> Iterator[dict[str, Any]]:
    for path, link in _links(scenario):
        if isinstance(link.loss, float) and link.loss > 0:
            for lower in (0.0, link.loss / 2):
                yield _with(data, f"{path}.loss", _tidy(lower))
        if link.duplicate > 0:
            yield _with(data, f"{path}.duplicate", 0.0)


def _first(candidates: Iterator[dict[str, Any]], check: Check) -> Kept | None:
    """The first of ``candidates`` that still breaks it."""
    for candidate in candidates:
        found = check(candidate)
        if found is not None:
            return candidate, found
    return None


def _tried_in_turn(candidates: Callable[[dict[str, Any], Scenario], Iterator[dict[str, Any]]]) -> Step:
    """A step that tries ``candidates`` in turn and keeps the first that still breaks it."""
    return lambda data, scenario, check: _first(candidates(data, scenario), check)


#: The simplifications, in the order they are tried. A step gets the scenario as
#: written, as validated, and a check (None: it no longer breaks the guarantee
#: with the cause) and returns what it kept, or None.
SHRINK_STEPS: tuple[tuple[str, Step], ...] = (
    ("fewer messages", _fewer_messages),
    ("fewer faults", _tried_in_turn(_fewer_faults)),
    ("shorter faults", _tried_in_turn(_shorter_faults)),
    ("earlier times", _tried_in_turn(_earlier_times)),
    ("constant distributions", _tried_in_turn(_constant_distributions)),
    ("fewer actors", _tried_in_turn(_fewer_actors)),
    ("lower loss", _tried_in_turn(_lower_loss)),
)


@dataclass(frozen=True)
class Shrunk:
    """The smallest scenario found that still breaks ``guarantee`` with ``cause``:
    minimal (no step simplifies it further) unless ``capped``, when shrinking
    stopped at its budget of simulations first."""

    guarantee: str
    cause: str
    data: dict[str, Any]  # the scenario as written
    scenario: Scenario
    result: RunResult
    amount: Any
    simulations: int
    capped: bool = False


class _Spent(Exception):
    """The simulations a shrink may spend are spent."""


def shrink(base: Scenario, overrides: Mapping[str, Any], guarantee: str, cause: str,
           *, max_runs: int | None = None) -> Shrunk:
    """Simplify ``base`` with ``overrides`` while it still breaks ``guarantee`` with ``cause``.

    A fixed-point loop: run the steps of :data:`SHRINK_STEPS` in order until
    one keeps a simpler scenario that still violates, start again from the
    first step; stop when a whole pass keeps nothing, or after ``max_runs``
    simulations (default :data:`SHRINK_MAX_RUNS`; then the result is
    ``capped``: the smallest found, not shown minimal). Deterministic: the
    same input gives the same result.
    """
    data = json.loads(json.dumps(_written(base.with_overrides(overrides))))
    spent = 0
    max_runs = SHRINK_MAX_RUNS if max_runs is None else max_runs

    def check(candidate: dict[str, Any]) -> Found | None:
        nonlocal spent
        if spent >= max_runs:
            raise _Spent
        spent += 1
        try:
            scenario = validate_scenario(candidate, base.origin)
        except ScenarioError:
            return None
        result = simulate(scenario)
        for g, c, amount in violations(scenario, result.summary):
            if (g, c) == (guarantee, cause):
                return scenario, result, amount
        return None

    found = check(data)
    if found is None:
        raise ValueError(f"the run to shrink does not break {guarantee} ({cause})")
    capped = False
    try:
        progress = True
        while progress:
            progress = False
            for _, step in SHRINK_STEPS:
                kept = step(data, found[0], check)
                if kept is not None:
                    (data, found), progress = kept, True
                    break
    except _Spent:
        capped = True
    return Shrunk(guarantee, cause, data, found[0], found[1], found[2], spent, capped)


def _written(scenario: Scenario) -> dict[str, Any]:
    """The scenario as written, without the sections a run does not read."""
    data = dict(scenario._source or scenario.resolved())
    for key in ("explore", "sweep"):
        data.pop(key, None)
    return data


# -- the story of a minimal scenario -------------------------------------------------


def _seconds(value: float) -> str:
    if value == 0:
        return "0 s"
    if value < 1e-3:
        return f"{value * 1e6:.3g} µs"
    if value < 0.01:
        return f"{value * 1000:.3g} ms"
    return f"{value:.3g} s"


def story(shrunk: Shrunk) -> str:
    """One line: what the minimal scenario does and what breaks, e.g.
    ``3 messages, 1 receiver crash at 0.41 s for 0.2 s: 1 duplicate effect (store_lost_in_crash)``."""
    scenario = shrunk.scenario
    parts = []
    n = scenario.messages
    parts.append(f"{n} message{'s' if n != 1 else ''}" if n is not None else f"{_seconds(scenario.duration or 0)} of messages")
    for fault in scenario.faults:
        kind = fault.target.split("-")[0].rstrip("s")
        if fault.at is not None and fault.for_ is not None:
            parts.append(f"{kind} crash at {_seconds(fault.at)} for {_seconds(fault.for_)}")
        else:
            parts.append(f"{kind} crashes every {_seconds(fault.mtbf or 0)} on average")
    for partition in scenario.network.partitions:
        which = "" if partition.direction == "both" else f"{partition.direction} "
        parts.append(f"{which}partition at {_seconds(partition.at)} for {_seconds(partition.for_)}")
    for path, link in _links(scenario):
        if isinstance(link.loss, float) and link.loss > 0:
            parts.append(f"{path.removeprefix('network.').replace('.', ' ')} loss {link.loss:g}")
    return f"{', '.join(parts)}: {_effect(shrunk.guarantee, shrunk.amount)} ({shrunk.cause})"


def _effect(guarantee: str, amount: Any) -> str:
    if guarantee in ("no_duplicate_processing", "max_duplicate_effects"):
        return f"{amount} duplicate effect{'s' if amount != 1 else ''}"
    if guarantee in ("none_lost", "max_lost"):
        return f"{amount} lost message{'s' if amount != 1 else ''}"
    if guarantee == "acked_were_processed":
        return f"{amount} acked message{'s' if amount != 1 else ''} never processed"
    if guarantee == "max_dedup_entries":
        return f"{amount} ids in the dedup store at once"
    if guarantee == "key_order":
        return f"{amount} effect{'s' if amount != 1 else ''} out of key order"
    return f"latency p99 {_seconds(float(amount))}"


# -- the search ----------------------------------------------------------------------


def search_digest(scenario: Scenario, seed: int) -> str:
    """What names a search's folder: what its runs compute, not how many there are."""
    payload = {
        "format": FORMAT,
        "alosim": __version__,
        "seed": seed,
        "scenario": _written(base_of(scenario)) | {"description": None},
        "explore": explore_of(scenario).model_dump(mode="json", by_alias=True),
        "guarantees": (scenario.guarantees or Guarantees()).model_dump(mode="json"),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Group:
    """The runs that broke one guarantee with one cause, and the minimal scenario of it."""

    guarantee: str
    cause: str
    runs: int
    first_run: int
    folder: str
    story: str
    messages: int | None
    faults: int
    simulations: int
    capped: bool = False  # shrinking hit its cap: the smallest found, not shown minimal


@dataclass(frozen=True)
class Findings:
    """What a search found: plain data, written as findings.json and summary.txt."""

    name: str
    seed: int
    runs: int
    skipped: int
    violating_runs: int
    groups: tuple[Group, ...]
    never_violated: tuple[str, ...]
    folder: Path
    interrupted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "seed": self.seed, "runs": self.runs, "skipped": self.skipped,
            "violating_runs": self.violating_runs,
            "groups": [g.__dict__ for g in self.groups],
            "never_violated": list(self.never_violated),
        }


class ExploreInterrupted(KeyboardInterrupt):
    """Ctrl-C during a search: finished runs are stored and what they found is written."""

    def __init__(self, findings: Findings) -> None:
        super().__init__(f"interrupted after {findings.runs} runs; findings in {findings.folder}")
        self.findings = findings


def explore(scenario: Scenario, runs: int, *, seed: int = 0, out: str | Path = "results",
            executor: Executor | None = None, progress: bool = False,
            draw: bool = True) -> Findings:
    """Search ``runs`` variations of ``scenario`` for violations and shrink each kind found.

    Stores each run under ``<out>/<name>/explore-<hash>/runs/`` (reused by a
    later call), writes the minimal scenario of each (guarantee, cause) with
    its trace and, with ``draw``, its sequence diagram, then findings.json and
    summary.txt. Ctrl-C raises :class:`ExploreInterrupted` once what was found
    so far is written.
    """
    base = base_of(scenario)
    spec = explore_of(scenario)
    check_vary(base, spec)
    check_crashes(base, spec, exact=False)
    folder = ensure_folder(safe_child(Path(out), scenario.name, f"explore-{search_digest(scenario, seed)}"))
    runs_folder = folder / "runs"
    refuse_symlink(runs_folder, "the runs of a search")
    ensure_folder(runs_folder)
    stored = _stored(runs_folder, runs)
    todo = [ExploreTask(base, seed, i) for i in range(runs) if i not in stored]
    executor = executor or SerialExecutor()
    bar = _progress_bar(len(todo), scenario.name, enabled=progress)
    interrupted = False
    try:
        with closing(executor.imap_unordered(run_one, todo)) as results:
            for finished in results:
                outcome = _outcome(finished)
                text = json.dumps(outcome.to_json())
                write_text_atomic(runs_folder / f"run-{outcome.index:06d}.json", text + "\n")
                # What a later search reads back, in the same order: the same findings.
                stored[outcome.index] = RunOutcome.from_json(json.loads(text))
                bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
        stored = _stored(runs_folder, runs)  # a run stored just before Ctrl-C counts too
    finally:
        bar.close()
    outcomes = [stored[i] for i in sorted(stored) if i < runs]
    if not interrupted:
        refuse_no_valid_run(scenario, outcomes)
        try:
            return _findings(scenario, base, spec, seed, outcomes, folder, draw=draw, interrupted=False)
        except KeyboardInterrupt:
            pass  # while shrinking: say what the runs found, unshrunk
    # Interrupted: list what was found without shrinking it (a rerun shrinks).
    raise ExploreInterrupted(_findings(scenario, base, spec, seed, outcomes, folder, draw=False,
                                       interrupted=True))


def refuse_no_valid_run(scenario: Scenario, outcomes: Sequence[RunOutcome]) -> None:
    """A search none of whose draws could run has searched nothing: that is an error in
    what it may draw, not "no violation found"."""
    if not outcomes or any(not o.skipped for o in outcomes):
        return
    first = outcomes[0]
    why = first.skipped.removeprefix(f"{scenario.origin}: ")
    what = "could be simulated" if why.startswith("failed: ") else "drew a valid scenario"
    raise ScenarioError(scenario.origin, [("explore", f"none of the {len(outcomes)} runs {what} "
                                                      f"(run {first.index}: {why})")])


def _outcome(finished: Finished[ExploreTask, RunOutcome]) -> RunOutcome:
    if finished.error is not None or finished.value is None:
        error = finished.error or RuntimeError("the executor returned nothing")
        return RunOutcome(finished.item.index, skipped=f"failed: {type(error).__name__}: {error}")
    return finished.value


def _stored(runs_folder: Path, runs: int) -> dict[int, RunOutcome]:
    found: dict[int, RunOutcome] = {}
    for path in sorted(runs_folder.glob("run-*.json")):
        try:
            outcome = RunOutcome.from_json(read_json(path, EXPLORE_RUN))
        except (OSError, ResultsError):
            continue  # damaged: run again
        if f"run-{outcome.index:06d}.json" == path.name and outcome.index < runs:
            found[outcome.index] = outcome
    return found


def _findings(scenario: Scenario, base: Scenario, spec: Explore, seed: int, outcomes: Sequence[RunOutcome],
              folder: Path, *, draw: bool, interrupted: bool) -> Findings:
    first: dict[tuple[str, str], int] = {}
    count: dict[tuple[str, str], int] = {}
    for outcome in outcomes:
        for key in sorted({(g, c) for g, c, _ in outcome.violations}):
            count[key] = count.get(key, 0) + 1
            first.setdefault(key, outcome.index)
    by_index = {o.index: o for o in outcomes}
    groups = []
    for key in sorted(first):
        guarantee, cause = key
        if interrupted:
            groups.append(Group(guarantee, cause, count[key], first[key], "", "not shrunk (interrupted)",
                                None, 0, 0))
            continue
        made = stored_minimal(folder, guarantee, cause, seed=seed, run=first[key], draw=draw)
        if made is None:  # not made yet, or not finished: shrink (again) and write it
            shrunk = shrink(base, by_index[first[key]].overrides, guarantee, cause)
            made = write_minimal(shrunk, folder, seed=seed, run=first[key], draw=draw)
        groups.append(Group(guarantee, cause, count[key], first[key], made.folder, made.story, made.messages,
                            made.faults, made.simulations, made.capped))
    findings = Findings(scenario.name, seed, len(outcomes), sum(1 for o in outcomes if o.skipped),
                        sum(1 for o in outcomes if o.violations), tuple(groups),
                        tuple(never_violated(outcomes, spec)), folder, interrupted)
    write_text_atomic(folder / "findings.json", json.dumps(findings.to_json(), indent=2) + "\n")
    write_text_atomic(folder / "summary.txt", format_findings(findings, where=folder) + "\n")
    return findings


@dataclass(frozen=True)
class Minimal:
    """What a group's folder holds: where, the story of its scenario and how it was
    shrunk. Written last into ``minimal.json``: a folder with it is complete."""

    folder: str  # relative to the search's folder
    seed: int
    run: int
    guarantee: str
    cause: str
    story: str
    messages: int | None
    faults: int
    simulations: int
    capped: bool
    drawn: bool

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **self.__dict__}


MINIMAL_FILE = "minimal.json"
MINIMAL_FILE_MAX_BYTES = 64 << 10
MINIMAL_RECORD = Stored("a minimal scenario's record", MINIMAL_FILE_MAX_BYTES)


def stored_minimal(folder: Path, guarantee: str, cause: str, *, seed: int, run: int,
                   draw: bool) -> Minimal | None:
    """The group's folder as an earlier search left it, if it is complete and was shrunk
    from the same run (with its picture, when ``draw``); None if it must be made."""
    sub = safe_child(folder, f"{guarantee}-{cause}")
    path = sub / MINIMAL_FILE
    try:
        if sub.is_symlink() or path.is_symlink():
            return None
        data = json.loads(read_text(path, MINIMAL_RECORD))
        made = Minimal(**{k: v for k, v in data.items() if k != "format"})
    except (OSError, ValueError, TypeError, AttributeError, ResultsError):
        return None  # missing or damaged: made again
    if (data.get("format") != FORMAT or (made.folder, made.seed, made.run, made.guarantee, made.cause)
            != (sub.name, seed, run, guarantee, cause) or (draw and not made.drawn)):
        return None
    counts = (made.faults, made.simulations) + ((made.messages,) if made.messages is not None else ())
    if not (isinstance(made.story, str) and all(type(n) is int and n >= 0 for n in counts)
            and type(made.capped) is bool and type(made.drawn) is bool):
        return None
    needed = ["scenario.yaml", "trace.txt", "sequence.mmd"] + (["sequence.png"] if made.drawn else [])
    if not all((sub / name).is_file() for name in needed):
        return None
    return made


def _write_unless_same(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, unless the file already holds exactly it
    (a search run again leaves a finished file as it was)."""
    data = text.encode("utf-8")
    try:
        if not path.is_symlink() and path.is_file() and path.stat().st_size == len(data) \
                and path.read_bytes() == data:
            return
    except OSError:
        pass
    write_text_atomic(path, text)


def write_minimal(shrunk: Shrunk, folder: Path, *, seed: int, run: int, draw: bool = True) -> Minimal:
    """Write the minimal scenario, its trace and diagram into ``folder/<guarantee>-<cause>/``,
    then ``minimal.json``, which says the folder is complete."""
    from alosim import trace as tracing

    sub = safe_child(folder, f"{shrunk.guarantee}-{shrunk.cause}")
    refuse_symlink(sub, "a minimal scenario")
    ensure_folder(sub)
    data = json.loads(json.dumps(shrunk.data))
    data.pop("expect", None)  # the figures the original's description quotes, not the minimal one's
    if not data.get("faults"):
        data.pop("faults", None)
    network = data.get("network")
    if isinstance(network, dict) and not network.get("partitions"):
        network.pop("partitions", None)
    data["name"] = f"{shrunk.scenario.name}-minimal"[:100]
    data["description"] = (
        f"The smallest scenario alosim explore (seed {seed}, run {run}) found that breaks "
        f"{shrunk.guarantee} with cause {shrunk.cause}: {story(shrunk)}. Running it reproduces that.")
    traced = min(shrunk.scenario.messages or TRACE_MAX, TRACE_MAX)
    data.setdefault("observe", {})
    data["observe"] = {**data["observe"], "trace_messages": traced}
    scenario = validate_scenario(data, shrunk.scenario.origin)
    result = simulate(scenario)
    text = yaml.safe_dump({k: v for k, v in data.items()}, sort_keys=False, allow_unicode=True, width=100)
    _write_unless_same(sub / "scenario.yaml", text)
    events = result.trace or []
    _write_unless_same(sub / "trace.txt", tracing.format_log(events) + "\n")
    _write_unless_same(sub / "sequence.mmd", tracing.mermaid(events, topology=scenario.is_topology))
    if draw:
        import matplotlib.pyplot as plt

        from alosim import plots, seqdiagram

        try:
            topology = scenario.is_topology  # (its links' latencies: as the trace shows them)
            figure = seqdiagram.draw(events, title=f"{shrunk.guarantee} ({shrunk.cause})",
                                     data_latency_s=None if topology else scenario.network.data.latency.mean,
                                     ack_latency_s=None if topology else scenario.network.ack.latency.mean,
                                     topology=topology)
        except seqdiagram.PictureTooLarge:
            draw = False  # too many lanes to read: trace.txt and sequence.mmd stand for it
        else:
            plots.save(figure, sub / "sequence.png")
            plt.close(figure)
    made = Minimal(sub.name, seed, run, shrunk.guarantee, shrunk.cause, story(shrunk), shrunk.scenario.messages,
                   len(shrunk.scenario.faults) + len(shrunk.scenario.network.partitions), shrunk.simulations,
                   shrunk.capped, draw)
    write_text_atomic(sub / MINIMAL_FILE, json.dumps(made.to_json(), indent=2) + "\n")
    return made


# -- ranges that never violated ------------------------------------------------------

BINS = 4


def never_violated(outcomes: Sequence[RunOutcome], spec: Explore) -> list[str]:
    """The drawn values (or quarters of a range) in which runs were made and none violated."""
    ran = [o for o in outcomes if not o.skipped]
    names: list[str] = []
    for o in ran:
        names += [k for k in o.drawn if k not in names]
    lines = []
    for name in names:
        values = [(o.drawn[name], bool(o.violations)) for o in ran if name in o.drawn]
        numbers = [v for v, _ in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        ranged = isinstance(spec.vary.get(name), Mapping) and len(numbers) == len(values) and \
            not all(isinstance(v, int) for v in numbers)
        if ranged:
            low, high = min(numbers), max(numbers)
            width = (high - low) / BINS or 1.0
            for b in range(BINS):
                lo, hi = low + b * width, low + (b + 1) * width
                inside = [bad for v, bad in values if lo <= v < hi or (b == BINS - 1 and v == hi)]
                if inside and not any(inside):
                    lines.append(f"{name} in [{lo:.4g}, {hi:.4g}]: {_runs(len(inside))}, no violation")
        else:
            for value in sorted({json.dumps(v) for v, _ in values}):
                inside = [bad for v, bad in values if json.dumps(v) == value]
                if not any(inside):
                    lines.append(f"{name} = {value}: {_runs(len(inside))}, no violation")
    return lines


def _runs(n: int) -> str:
    return f"{n} run{'s' if n != 1 else ''}"


# -- the summary a person reads ------------------------------------------------------


def format_findings(findings: Findings, *, where: Path | None = None) -> str:
    """The summary a person reads. Paths are shown relative to ``where`` when under it
    (summary.txt: relative to the findings folder), else as they are."""
    lines = [f"{findings.name}: {findings.runs} runs (explore seed {findings.seed}), "
             f"{findings.skipped} draws skipped (not a valid scenario), "
             f"{findings.violating_runs} with violations"]
    if findings.interrupted:
        lines.append("interrupted: what the runs made so far found, not shrunk; run again to continue")
    if not findings.groups:
        lines.append("no violation found")
    for group in findings.groups:
        lines.append("")
        lines.append(f"{group.guarantee} ({group.cause}): {group.runs} run{'s' if group.runs != 1 else ''}, "
                     f"first run {group.first_run}")
        if not group.folder:  # interrupted before shrinking
            lines.append(f"  {group.story}")
        elif group.capped:
            lines.append(f"  smallest found within {group.simulations} simulations: {group.story}")
        else:
            lines.append(f"  minimal: {group.story}")
        if group.folder:
            lines.append(f"  scenario: {shown_path(findings.folder / group.folder / 'scenario.yaml', where)}")
    if findings.never_violated:
        lines.append("")
        lines.append("never violated:")
        lines += [f"  {line}" for line in findings.never_violated]
    return join_lines(lines)


def shown_path(path: Path, where: Path | None) -> Path:
    if where is not None:
        try:
            return path.relative_to(where.resolve())
        except ValueError:
            pass
    return path


def _progress_bar(total: int, name: str, *, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=f"explore {name}", unit="run", disable=not enabled or total == 0,
                dynamic_ncols=True, smoothing=0.1)


__all__ = [
    "ExploreInterrupted",
    "Findings",
    "Group",
    "Shrunk",
    "explore",
    "format_findings",
    "shown_path",
    "run_one",
    "shrink",
    "story",
    "violations",
]
