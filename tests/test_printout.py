"""A run's printout leads with the answer of its shape, made from the registry of figures."""

from __future__ import annotations

import alosim
from alosim.cli import format_summary
from alosim.printout import shape_of
from tests.conftest import SCENARIOS


def printout(name: str, overrides: tuple[str, ...] = ()) -> list[str]:
    scenario = alosim.load_scenario(SCENARIOS / f"{name}.yaml", list(overrides))
    result = alosim.simulate(scenario)
    return format_summary(scenario, result.summary, 0.0).splitlines()


def value(lines: list[str], label: str) -> str:
    line = next(line.strip() for line in lines if line.strip().startswith(label + "  "))
    return line[len(label):].strip()


def test_a_queue_pipeline_leads_with_its_duplicate_effects_by_hop_and_cause():
    lines = printout("visibility-timeout-too-short")
    assert "queue pipeline" in lines[0]
    first = lines[:12]
    assert lines[1].strip() == "duplicate effects, by hop and cause"
    assert value(first, "duplicate processing") == "463"
    assert value(first, "consume: lease expired") == "463"
    # A single hop's figures that a pipeline cannot make non-zero are left out.
    assert not [line for line in lines if line.strip().startswith("duplicate deliveries")]
    assert not [line for line in lines if line.strip().startswith("outbox wait")]


def test_a_log_leads_with_its_crashes_and_the_replays_and_losses_per_crash():
    lines = printout("kafka-auto-commit-replay", ("duration=300s",))
    assert lines[1].strip() == "replays and losses per consumer crash"
    assert lines[2].split()[:2] == ["consumer", "crashes"] and int(lines[2].split()[-1]) >= 1
    assert lines[3].strip().startswith("replays (per crash)")
    assert lines[4].strip().startswith("losses (per crash)")
    replays = float(value(lines, "replays (per crash)").replace(",", ""))
    assert replays == round(replays, max(0, 2 - len(str(int(replays))) + 1))  # three significant figures


def test_at_most_once_says_why_the_sender_gave_up_on_more_messages_than_were_lost():
    lines = printout("at-most-once")
    gave_up = next(i for i, line in enumerate(lines) if line.strip().startswith("sender gave up"))
    assert value(lines, "sender gave up") == "1,901" and value(lines, "lost (never processed)") == "1,012"
    assert lines[gave_up + 1].strip() == ("(889 of these had been processed, only their acks were lost; "
                                          "the other 1,012 are losses)")
    # No dedup store: its figures cannot be non-zero and are not shown.
    assert not [line for line in lines if "dedup" in line]


def test_more_duplicates_caught_than_duplicate_deliveries_carries_its_reason():
    from alosim.printout import notes

    summary = {"duplicate_deliveries": 4445, "duplicates_detected": 4478, "duplicate_processing": 0}
    assert "still waited" in notes(summary)["duplicates_detected"]
    assert notes({"duplicate_deliveries": 5, "duplicates_detected": 5}) == {}


def test_a_rate_driven_run_states_its_duplicates_and_losses_per_hour_and_per_day():
    lines = printout("visibility-timeout-too-short")
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("at 20 messages/s"))
    assert lines[at].split()[-4:] == ["per", "hour", "per", "day"]
    # 463 duplicate effects of 2,000 messages at 20/s: 463 / 100 s = 16,668 per hour.
    assert lines[at + 1].split()[-2:] == ["16,700", "400,000"]


def test_shapes():
    def load(name: str) -> str:
        return shape_of(alosim.load_scenario(SCENARIOS / f"{name}.yaml"))

    assert [load(n) for n in ("ack-lost", "sqs-fifo", "kafka-commit-interval", "metastable-retry-storm")] == [
        "single-hop", "queue", "log", "overload"]


def test_the_title_names_the_dedup_store_an_at_least_once_scenario_adds():
    lines = printout("ack-lost", ("messages=200",))
    assert lines[0] == "ack-lost  (single hop, at-least-once + dedup set, seed 7)"
    assert printout("exactly-once", ("messages=200",))[0] == "exactly-once  (single hop, exactly-once, seed 1)"
    assert "at-least-once + broker dedup ttl" in printout("sqs-fifo", ("messages=200",))[0]
    assert "+ dedup" not in printout("lossy-both-ways", ("messages=200",))[0]


def test_a_pipeline_or_a_log_is_not_held_against_the_single_hop_duplicate_deliveries():
    from alosim.printout import notes

    log = {"duplicate_deliveries": 0, "duplicate_processing": 248, "log_records_appended": 100}
    queue = {"duplicate_deliveries": 0, "duplicate_processing": 463, "publishes_accepted": 100}
    assert notes(log) == {} and notes(queue) == {}
    assert "duplicate_processing" in notes({"duplicate_deliveries": 4, "duplicate_processing": 4104})
