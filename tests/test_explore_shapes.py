"""alosim explore on every shape: it sees what ``alosim run`` reports on a single hop, a
queue pipeline and a log (one registry of causes, :mod:`alosim.guarantees`), its crashes
reach every node that can crash, and a draw space with no valid run is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import alosim.explore as exploring
from alosim.explore import ExploreTask, base_of, explore, run_one
from alosim.scenario import ScenarioError, parse_scenario
from alosim.simulate import simulate

# A lease (50 ms) shorter than processing (80 ms): every message is delivered again while
# its first copy still processes, and the consumer's set store cannot catch a copy whose
# id is not yet recorded -- duplicate effects although the pipeline is exactly-once.
EXACTLY_ONCE_QUEUE = """
name: eo-queue
semantics: exactly-once
messages: 10
sender: {window: 4, retry: {timeout: 1s}}
broker: {visibility_timeout: 50ms}
consumer: {concurrency: 4, processing: {dist: constant, value: 80ms}}
"""

# Poison messages (30 %) are dead-lettered after two deliveries: lost to the consumer.
POISON = """
name: poison
messages: 20
sender: {window: 4, retry: {timeout: 1s}}
broker: {visibility_timeout: 30s, max_deliveries: 2}
consumer: {processing: {dist: constant, value: 10ms}, poison_probability: 0.3}
guarantees: {max_lost: 0}
"""

# A consumer that crashes 120 ms in, its offsets committed every 100 ms: what it processed
# since its last commit is processed again after the restart.
LOG = """
name: log
messages: 30
sender: {rate: 100/s, window: 8, retry: {timeout: 200ms}}
broker: {kind: log, partitions: 2}
consumer: {count: 2, processing: {dist: constant, value: 5ms}, commit: {policy: interval, interval: 100ms}}
faults: [{target: consumer-0, at: 0.12, for: 0.05}]
guarantees: {max_duplicate_effects: 0}
"""

# The same log, committing before processing: the crash lands while a record whose offset
# is committed is being processed, and nobody processes it again.
LOG_EARLY_COMMIT = LOG.replace("commit: {policy: interval, interval: 100ms}", "commit: {policy: before-processing}") \
    .replace("at: 0.12,", "at: 0.113,")

SINGLE_HOP = """
name: hop
semantics: exactly-once
messages: 20
sender: {rate: 100/s, window: 8, retry: {timeout: 100ms}}
network: {ack: {loss: 0.3}}
receiver: {dedup: {kind: ttl, window: 50ms}}
"""

SHAPES = {"single hop": SINGLE_HOP, "queue": EXACTLY_ONCE_QUEUE, "poison": POISON, "log": LOG_EARLY_COMMIT}


def test_an_exactly_once_queue_pipeline_with_duplicate_effects_is_found(tmp_path: Path) -> None:
    scenario = parse_scenario(EXACTLY_ONCE_QUEUE)
    assert not simulate(scenario).checks["no_duplicate_processing"]  # alosim run: guarantee violated
    findings = explore(scenario, 20, out=tmp_path, draw=False)
    assert findings.skipped == 0  # the default crashes aim at the consumers
    assert ("no_duplicate_processing", "consume_lease_expired") in {(g.guarantee, g.cause) for g in findings.groups}
    drawn = [json.loads(p.read_text()) for p in findings.folder.glob("runs/run-*.json")]
    targets = {f["target"] for run in drawn for f in run["overrides"].get("faults", [])}
    assert targets and all(t.startswith("consumer-") for t in targets)


def test_a_poison_message_pipeline_flags_its_dead_lettered_losses(tmp_path: Path) -> None:
    findings = explore(parse_scenario(POISON), 20, out=tmp_path, draw=False)
    found = {(g.guarantee, g.cause) for g in findings.groups}
    assert {("max_lost", "dead_lettered"), ("none_lost", "dead_lettered")} <= found


def test_a_log_pipeline_flags_its_replays(tmp_path: Path) -> None:
    findings = explore(parse_scenario(LOG), 10, out=tmp_path, draw=False)
    found = {(g.guarantee, g.cause) for g in findings.groups}
    assert ("max_duplicate_effects", "consume_replay_after_crash") in found


@pytest.mark.parametrize(("target", "expected"), [("broker", {"broker"}), ("consumers", {"consumer-0", "consumer-1",
                                                                                         "consumer-2"})])
def test_crashes_reach_the_broker_and_the_consumers(target: str, expected: set[str]) -> None:
    text = EXACTLY_ONCE_QUEUE.replace("concurrency: 4,", "count: 3, concurrency: 4,") + (
        f"explore: {{crashes: [{{target: {target}, min: 1, max: 1}}], partitions: {{max: 0}}}}\n")
    scenario = base_of(parse_scenario(text))
    outcomes = [run_one(ExploreTask(scenario, 0, i)) for i in range(12)]
    assert not any(o.skipped for o in outcomes)
    targets = {f["target"] for o in outcomes for f in o.overrides["faults"]}
    assert targets == expected


def test_a_draw_that_cannot_apply_is_skipped_before_its_pilot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    text = EXACTLY_ONCE_QUEUE + ("explore: {crashes: [{target: consumer-2, min: 1, max: 1}], partitions: {max: 0},"
                                 " vary: {consumer.count: [1, 3]}}\n")
    scenario = base_of(parse_scenario(text))
    simulated = []
    monkeypatch.setattr(exploring, "simulate", lambda s, *a, **k: simulated.append(s) or simulate(s, *a, **k))
    outcomes = [run_one(ExploreTask(scenario, 0, i)) for i in range(8)]
    skipped = [o for o in outcomes if o.skipped]
    assert 0 < len(skipped) < len(outcomes)
    assert all("explore.crashes.0.target: there is no consumer-2" in o.skipped for o in skipped)
    # Each run made counts a pilot and a run with the faults; a skipped draw, nothing.
    assert len(simulated) == 2 * (len(outcomes) - len(skipped))


@pytest.mark.parametrize(("text", "crash", "expected"), [
    (EXACTLY_ONCE_QUEUE, "receivers", "a pipeline has consumers, not receivers (consumer-N or consumers)"),
    (SINGLE_HOP, "broker", "broker needs a pipeline (a 'broker' section)"),
    (SINGLE_HOP, "consumer-0", "consumer-0 needs a pipeline (a 'broker' section)"),
])
def test_a_crash_target_the_scenario_does_not_have_is_refused_before_any_run(
        text: str, crash: str, expected: str, tmp_path: Path) -> None:
    scenario = parse_scenario(text + f"explore: {{crashes: [{{target: {crash}}}]}}\n", "f.yaml")
    with pytest.raises(ScenarioError) as info:
        explore(scenario, 5, out=tmp_path)
    assert str(info.value) == f"f.yaml: explore.crashes.0.target: {expected}"
    assert not any(tmp_path.iterdir())


def test_a_draw_space_without_a_valid_run_is_an_error_not_no_violation(tmp_path: Path) -> None:
    text = SINGLE_HOP + "explore: {vary: {sender.retry.timeout: [-1s, -2s]}}\n"
    with pytest.raises(ScenarioError) as info:
        explore(parse_scenario(text, "f.yaml"), 6, out=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("f.yaml: explore: none of the 6 runs drew a valid scenario (run 0: "
                              "sender.retry.timeout: ")
    assert not list(tmp_path.rglob("findings.json")) and not list(tmp_path.rglob("summary.txt"))


def test_a_pipelines_stores_set_where_biased_faults_fall() -> None:
    from alosim.explore import moments

    text = EXACTLY_ONCE_QUEUE \
        .replace("visibility_timeout: 50ms", "visibility_timeout: 1s, dedup: {kind: ttl, window: 300ms}") \
        .replace("concurrency: 4,", "concurrency: 4, dedup: {kind: set, durable: true, write_delay: 2ms},")
    scenario = parse_scenario(text)
    seen = moments(scenario, simulate(scenario.with_overrides({"observe.trace_messages": 10})))
    assert seen.after_s == 0.002  # a crash between the consumer's effect and the record of its id
    assert seen.ttl_for_s == (0.3, 0.3 + 2 * 1.0)  # a partition long enough for the broker to forget a publish
    findings_text = text + "explore: {crashes: [{min: 1, max: 1}], partitions: {max: 0}}\n"
    outcomes = [run_one(ExploreTask(base_of(parse_scenario(findings_text)), 0, i)) for i in range(30)]
    found = {(g, c) for o in outcomes for g, c, _ in o.violations}
    assert ("no_duplicate_processing", "consume_crash_before_record") in found
