"""alosim explore: planted violations it must find and shrink, a safe configuration it
must not report, determinism, resuming, and what the bias of fault times buys.

Budget: with the default settings (explore seed 0, bias 0.5) each planted
violation is found within BUDGET runs; every test here takes a few seconds.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from alosim.explore import (
    ExploreTask,
    base_of,
    explore,
    run_one,
    shrink,
    story,
    violations,
)
from alosim.scenario import load_scenario, parse_scenario
from alosim.simulate import simulate

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
BUDGET = 60  # runs within which each planted violation must be found

PLANTED = {
    "ttl-window": ("""
name: planted-ttl
semantics: exactly-once
messages: 20
sender: {rate: 50/s, window: 64, retry: {policy: exponential, timeout: 200ms, multiplier: 2, max_attempts: 6}}
network: {ack: {loss: 0.3}}
receiver: {dedup: {kind: ttl, window: 300ms, durable: true}}
""", "no_duplicate_processing", "window_expired"),
    "volatile-store": ("""
name: planted-volatile
semantics: exactly-once
messages: 20
sender: {rate: 100/s, window: 8, retry: {timeout: 100ms}}
network: {ack: {loss: 0.2}}
receiver: {processing: {dist: exponential, mean: 1ms}, dedup: {kind: set, durable: false}}
""", "no_duplicate_processing", "store_lost_in_crash"),
    "ack-before-processing": ("""
name: planted-ack-first
semantics: at-least-once
messages: 20
sender: {rate: 50/s, window: 8, retry: {timeout: 100ms}}
receiver: {ack: before-processing, processing: {dist: constant, value: 5ms}}
""", "acked_were_processed", "acked_then_crashed"),
    "bloom-past-capacity": ("""
name: planted-bloom
semantics: exactly-once
messages: 200
sender: {rate: 1000/s, window: 8, retry: {timeout: 100ms}}
receiver: {dedup: {kind: bloom, capacity: 10, fp_rate: 0.01, durable: true}}
""", "none_lost", "bloom_false_positive"),
    "write-delay": ("""
name: planted-write-delay
semantics: exactly-once
messages: 20
sender: {rate: 50/s, window: 8, retry: {timeout: 100ms}}
receiver: {dedup: {kind: set, durable: true, write_delay: 2ms}}
""", "no_duplicate_processing", "crash_before_record"),
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_a_planted_violation_is_found_and_shrunk_to_a_small_story(name: str, tmp_path: Path) -> None:
    text, guarantee, cause = PLANTED[name]
    started = time.perf_counter()
    findings = explore(parse_scenario(text), BUDGET, out=tmp_path)
    assert time.perf_counter() - started < 60  # the search with default settings, shrinking and drawing included
    groups = {(g.guarantee, g.cause): g for g in findings.groups}
    assert (guarantee, cause) in groups, findings
    group = groups[(guarantee, cause)]
    assert group.faults <= 1
    # A Bloom filter sized for 10 ids errs only once it holds more than a few.
    assert group.messages is not None and group.messages <= (40 if name == "bloom-past-capacity" else 3)
    # The minimal scenario, run as a plain scenario, breaks the same guarantee with the same cause.
    minimal = load_scenario(findings.folder / group.folder / "scenario.yaml")
    assert minimal.explore is None
    found = {(g, c) for g, c, _ in violations(minimal, simulate(minimal).summary)}
    assert (guarantee, cause) in found
    assert (findings.folder / group.folder / "trace.txt").read_text().strip()


def test_a_safe_configuration_is_never_reported(tmp_path: Path) -> None:
    findings = explore(load_scenario(SCENARIOS / "explore-safe-config.yaml"), 400, out=tmp_path, draw=False)
    assert findings.runs == 400 and findings.skipped == 0
    assert findings.violating_runs == 0 and findings.groups == ()


@pytest.mark.parametrize(("file", "expected"), [
    ("explore-ttl-window.yaml", {("no_duplicate_processing", "window_expired")}),
    ("explore-volatile-store.yaml", {("no_duplicate_processing", "store_lost_in_crash")}),
    ("explore-safe-config.yaml", set()),
])
def test_shipped_scenarios_find_what_their_description_says(file: str, expected: set, tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIOS / file)
    findings = explore(scenario, 100, out=tmp_path, draw=False)
    found = {(g.guarantee, g.cause) for g in findings.groups}
    assert found == expected
    for guarantee, cause in expected:
        assert f"{guarantee} ({cause})" in scenario.description.replace("\n", " ")
    if not expected:
        assert "nothing" in scenario.description


def test_the_same_command_twice_gives_byte_identical_findings(tmp_path: Path) -> None:
    text = PLANTED["volatile-store"][0]
    first = explore(parse_scenario(text), 30, out=tmp_path / "a")
    second = explore(parse_scenario(text), 30, out=tmp_path / "b")
    names = sorted(p.relative_to(first.folder) for p in first.folder.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(second.folder) for p in second.folder.rglob("*") if p.is_file())
    assert any(n.name == "sequence.png" for n in names)
    for name in names:
        if name.name != "summary.txt":  # names its own folder
            assert (first.folder / name).read_bytes() == (second.folder / name).read_bytes(), name
    assert json.loads((first.folder / "findings.json").read_text())["runs"] == 30


def test_the_executor_does_not_change_the_findings(tmp_path: Path) -> None:
    from alosim.executors import ProcessExecutor

    text = PLANTED["write-delay"][0]
    serial = explore(parse_scenario(text), 12, out=tmp_path / "a", draw=False)
    with ProcessExecutor(2) as pool:
        local = explore(parse_scenario(text), 12, out=tmp_path / "b", executor=pool, draw=False)
    assert (serial.folder / "findings.json").read_bytes() == (local.folder / "findings.json").read_bytes()


def test_a_rerun_continues_from_the_stored_runs(tmp_path: Path) -> None:
    scenario = parse_scenario(PLANTED["write-delay"][0])
    explore(scenario, 10, out=tmp_path, draw=False)
    runs = sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.rglob("run-*.json"))
    assert len(runs) == 10
    more = explore(scenario, 25, out=tmp_path, draw=False)
    after = dict((p.name, p.stat().st_mtime_ns) for p in tmp_path.rglob("run-*.json"))
    assert more.runs == 25 and len(after) == 25
    assert all(after[name] == mtime for name, mtime in runs)  # the first ten were not run again
    # A damaged run file is run again, not trusted.
    damaged = next(more.folder.glob("runs/run-000003.json"))
    damaged.write_text("{not json")
    explore(scenario, 25, out=tmp_path, draw=False)
    assert json.loads(damaged.read_text())["index"] == 3
    fresh = explore(scenario, 25, out=tmp_path / "fresh", draw=False)
    assert (fresh.folder / "findings.json").read_bytes() == (more.folder / "findings.json").read_bytes()


def test_each_run_draws_from_the_seed_and_its_index_only() -> None:
    scenario = base_of(parse_scenario(PLANTED["write-delay"][0]))
    a = [run_one(ExploreTask(scenario, 7, i)) for i in (3, 4)]
    b = [run_one(ExploreTask(scenario, 7, i)) for i in (4, 3)]
    assert a[0].to_json() == b[1].to_json() and a[1].to_json() == b[0].to_json()
    assert a[0].overrides != a[1].overrides
    assert run_one(ExploreTask(scenario, 8, 3)).overrides != a[0].overrides


def test_a_draw_that_is_not_a_valid_scenario_is_skipped_and_counted(tmp_path: Path) -> None:
    text = PLANTED["write-delay"][0] + "explore: {vary: {sender.retry.timeout: [100ms, -1s]}}\n"
    findings = explore(parse_scenario(text), 20, out=tmp_path, draw=False)
    assert 0 < findings.skipped < 20
    stored = [json.loads(p.read_text()) for p in findings.folder.glob("runs/*.json")]
    assert all("sender.retry.timeout" in run["skipped"] for run in stored if run["skipped"])


def test_declared_guarantees_are_checked() -> None:
    scenario = parse_scenario("""
name: limits
semantics: at-least-once
messages: 300
sender: {rate: 1000/s, window: 8, retry: {timeout: 50ms}}
network: {ack: {loss: 0.3, latency: {dist: constant, value: 10ms}}}
receiver: {dedup: {kind: set}}
guarantees: {max_duplicate_effects: 0, max_dedup_entries: 100, max_latency_p99: 1ms}
""")
    summary = simulate(scenario).summary
    found = {(g, c) for g, c, _ in violations(scenario, summary)}
    assert ("max_dedup_entries", "store_size") in found  # 300 ids, all kept
    assert ("max_latency_p99", "latency") in found  # latency is at least 10 ms
    assert not any(g == "max_duplicate_effects" for g, _ in found)  # the set store catches them
    relaxed = scenario.with_overrides({"guarantees.max_dedup_entries": 300, "guarantees.max_latency_p99": "10s"})
    assert violations(relaxed, summary) == []


def test_shrinking_keeps_only_what_the_violation_needs() -> None:
    scenario = base_of(parse_scenario(PLANTED["write-delay"][0]))
    # A crash 1 ms into the 2 ms write of the 8th message's id, another crash
    # before it, and data loss: only the first crash is needed.
    noise = {"faults": [{"target": "receiver-0", "at": 0.05, "for": 0.001}], "network.data.loss": 0.2}
    pilot = simulate(scenario.with_overrides({**noise, "observe.trace_messages": 20}))
    effect = [e.time_s for e in pilot.trace or [] if e.event == "processed" and e.message == 7][0]
    busy = {**noise, "faults": [{"target": "receiver-0", "at": round(effect + 0.001, 6), "for": 0.5},
                                *noise["faults"]]}
    found = {(g, c) for g, c, _ in violations(scenario.with_overrides(busy),
                                              simulate(scenario.with_overrides(busy)).summary)}
    assert ("no_duplicate_processing", "crash_before_record") in found
    shrunk = shrink(scenario, busy, "no_duplicate_processing", "crash_before_record")
    assert shrunk.scenario.messages <= 3 and len(shrunk.scenario.faults) == 1
    assert shrunk.scenario.network.data.loss == 0
    again = shrink(scenario, busy, "no_duplicate_processing", "crash_before_record")
    assert again.data == shrunk.data  # deterministic
    assert story(shrunk).endswith("(crash_before_record)")
    assert "receiver crash at" in story(shrunk)


# A crash must start in the 0.5 ms between a side effect and the record of its
# id, one message in 50 ms: about 1 % of a run. Uniform fault times rarely land
# there; half of the biased ones start just after a side effect or an ack.
NARROW = """
name: narrow-window
semantics: exactly-once
messages: 20
sender: {rate: 20/s, arrivals: periodic, window: 8, retry: {timeout: 100ms}}
receiver: {dedup: {kind: set, durable: true, write_delay: 0.5ms}}
explore: {crashes: [{target: receivers, min: 1, max: 1}], partitions: {max: 0}, bias: BIAS}
"""


def _runs_to_find(bias: float, seed: int, limit: int = 400) -> int:
    scenario = base_of(parse_scenario(NARROW.replace("BIAS", str(bias))))
    for index in range(limit):
        if run_one(ExploreTask(scenario, seed, index)).violations:
            return index + 1
    return limit


def test_the_bias_finds_a_planted_violation_in_fewer_runs() -> None:
    seeds = range(8)
    uniform = [_runs_to_find(0.0, s) for s in seeds]
    biased = [_runs_to_find(0.5, s) for s in seeds]
    # A uniform crash hits the window with p ~ 0.01 (mean ~100 runs); a biased one with
    # p ~ 0.5 * 1/2 (half of the moments are side effects): a few runs.
    assert sum(biased) * 5 < sum(uniform), (biased, uniform)
    assert max(biased) < 40


def test_ranges_that_never_violated() -> None:
    from alosim.explore import RunOutcome, explore_of, never_violated

    spec = explore_of(parse_scenario(BASE_VARY))
    bad = [["no_duplicate_processing", "window_expired", 1]]
    outcomes = [
        RunOutcome(0, {"network.ack.loss": 0.0, "crashes": 0}),
        RunOutcome(1, {"network.ack.loss": 0.05, "crashes": 1}),
        RunOutcome(2, {"network.ack.loss": 0.25, "crashes": 1}, violations=bad),
        RunOutcome(3, {"network.ack.loss": 0.4, "crashes": 2}, violations=bad),
        RunOutcome(4, {"network.ack.loss": 0.3, "crashes": 0}, skipped="not valid"),
    ]
    assert never_violated(outcomes, spec) == [
        "network.ack.loss in [0, 0.1]: 2 runs, no violation",
        "crashes = 0: 1 run, no violation",
    ]


BASE_VARY = PLANTED["write-delay"][0] + "explore: {vary: {network.ack.loss: {min: 0, max: 0.4}}}\n"


def test_the_ttl_window_scenario_needs_a_partition(tmp_path: Path) -> None:
    # Its description: the store is durable and nothing is lost on the network,
    # so crashes alone never make the window too short.
    scenario = load_scenario(SCENARIOS / "explore-ttl-window.yaml", ["explore.partitions.max=0"])
    findings = explore(scenario, 150, out=tmp_path, draw=False)
    assert findings.runs == 150 and findings.groups == ()


def test_ctrl_c_lists_what_was_found_unshrunk_and_a_rerun_shrinks_it(tmp_path: Path) -> None:
    from alosim.executors import SerialExecutor
    from alosim.explore import ExploreInterrupted

    class Interrupted(SerialExecutor):
        def imap_unordered(self, fn, items):  # type: ignore[no-untyped-def]
            for n, finished in enumerate(super().imap_unordered(fn, items)):
                if n == 10:
                    raise KeyboardInterrupt
                yield finished

    scenario = parse_scenario(PLANTED["volatile-store"][0])
    with pytest.raises(ExploreInterrupted) as info:
        explore(scenario, 40, out=tmp_path, executor=Interrupted())
    findings = info.value.findings
    assert findings.interrupted and findings.runs == 10
    assert findings.groups and all(g.story == "not shrunk (interrupted)" for g in findings.groups)
    summary = (findings.folder / "summary.txt").read_text()
    assert "  not shrunk (interrupted)" in summary and "minimal:" not in summary
    again = explore(scenario, 40, out=tmp_path)
    assert not again.interrupted and again.runs == 40
    assert all(g.story.endswith(f"({g.cause})") for g in again.groups)


# Every message's id stays in the set store: the limit of 300 ids is broken by 301
# messages or more, and by no fewer (each message is processed once, nothing is lost).
MANY = """
name: many
messages: 1000
sender: {rate: 1000/s, arrivals: periodic, window: 8, retry: {timeout: 100ms}}
network: {data: {latency: {dist: constant, value: 1ms}}, ack: {latency: {dist: constant, value: 1ms}}}
receiver: {processing: {dist: constant, value: 0.1ms}, dedup: {kind: set}}
guarantees: {max_dedup_entries: 300}
"""


def test_shrinking_bisects_the_message_count() -> None:
    scenario = base_of(parse_scenario(MANY))
    shrunk = shrink(scenario, {}, "max_dedup_entries", "store_size")
    assert shrunk.scenario.messages == 301
    # The run itself, then two passes of the message step (the second keeps nothing; no
    # other step applies): each tries 1, 2 and 3 messages, then bisects between 3 and
    # 1000 -- log2(n) simulations, where removing one message a pass costs a pass per message.
    per_pass = 3 + math.ceil(math.log2(1000 - 3))
    assert shrunk.simulations <= 1 + 2 * per_pass


def test_a_shrink_that_hits_its_cap_says_so_and_not_minimal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import alosim.explore as exploring

    monkeypatch.setattr(exploring, "SHRINK_MAX_RUNS", 5)
    findings = explore(parse_scenario(MANY + "explore: {crashes: [], partitions: {max: 0}}\n"), 2, out=tmp_path,
                       draw=False)
    summary = (findings.folder / "summary.txt").read_text()
    assert "  smallest found within 5 simulations: " in summary and "minimal:" not in summary
    (group,) = findings.groups
    assert group.capped and group.messages > 301
    assert json.loads((findings.folder / "findings.json").read_text())["groups"][0]["capped"] is True
    capped = shrink(base_of(parse_scenario(MANY)), {}, "max_dedup_entries", "store_size")
    assert capped.capped and capped.simulations == 5


def test_a_resumed_search_leaves_a_complete_minimal_scenario_as_it_is(tmp_path: Path) -> None:
    scenario = parse_scenario(PLANTED["volatile-store"][0])
    first = explore(scenario, 12, out=tmp_path, draw=False)
    assert first.groups
    files = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in first.folder.glob("*/*") if p.is_file()}
    assert any(p.name == "scenario.yaml" for p in files)
    time.sleep(0.01)
    for runs in (12, 20):  # the same command, then more runs with the same first run per group
        again = explore(scenario, runs, out=tmp_path, draw=False)
        assert [(g.first_run, g.story) for g in again.groups][:len(first.groups)] == \
            [(g.first_run, g.story) for g in first.groups]
        for path, (data, mtime) in files.items():
            assert (path.read_bytes(), path.stat().st_mtime_ns) == (data, mtime), path


def test_a_search_finished_from_stored_runs_writes_what_a_fresh_one_writes(tmp_path: Path) -> None:
    import shutil

    scenario = parse_scenario(PLANTED["volatile-store"][0])
    fresh = explore(scenario, 12, out=tmp_path, draw=False)
    written = {p.relative_to(fresh.folder): p.read_bytes() for p in fresh.folder.glob("*/*") if p.is_file()}
    assert written
    for group in fresh.groups:  # as if stopped before the groups were written: made from the stored runs
        shutil.rmtree(fresh.folder / group.folder)
    resumed = explore(scenario, 12, out=tmp_path, draw=False)
    for name, data in written.items():
        assert (resumed.folder / name).read_bytes() == data, name
