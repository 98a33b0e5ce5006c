"""Cost that the input does not announce: work one event does many times over,
livelocks the schema can foresee, copies in flight, trace sizes.

Each case runs under a small budget, so every test here takes a second or
two; each would run for minutes (or refuse nothing) without the bound it tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import alosim
from alosim.budget import (
    BYTES_PER_COPY,
    BYTES_PER_MESSAGE,
    CHECK_EVERY,
    WORK,
    WORK_PER_PROGRESS,
    memory_estimate,
    stop_note,
)
from alosim.observe import TraceEvent
from alosim.scenario import ScenarioError
from tests.conftest import ROOT, make


def refusal(text: str, **overrides: object) -> str:
    with pytest.raises(ScenarioError) as info:
        make(text, **overrides)
    return str(info.value)


def progress(summary: dict) -> int:
    """The progress the stall budget pays for: messages created, settled, first processed, lost."""
    once = summary["processed"] - summary["duplicate_processing"]
    return 2 * summary["messages"] - summary["unsettled"] + once + summary["lost"]


def assert_within_budget(scenario: alosim.Scenario, cause: str) -> dict:
    """The run stops for a stall, having done no more work than its budget announces,
    and the note names what grew."""
    started = time.perf_counter()
    result = alosim.simulate(scenario)
    assert time.perf_counter() - started < 20
    s = result.summary
    assert s["stopped_by"] == "stall"
    budget = scenario.budget.stall_events
    assert s["events"] <= budget + WORK_PER_PROGRESS * progress(s) + 2 * CHECK_EVERY
    assert s["stall_cause"] == cause and s["stall_cause_count"] > 0
    note = stop_note(s, scenario)
    assert note is not None and WORK[cause] in note and "\n" not in note
    return s


# -- work that one event does many times over ------------------------------------------------

# A lease of a microsecond against 10 ms of processing: each delivery is leased
# again about ten thousand times before its ack, while messages trickle in
# (one a millisecond) -- progress enough to reset a budget that counts events
# without progress, never enough to pay for the redeliveries.
SHORT_LEASE = """
name: short-lease
messages: 500
sender: {rate: 1000/s, window: 8}
broker: {visibility_timeout: 1us, prefetch: 5}
consumer: {processing: {dist: constant, value: 10ms}}
budget: {stall_events: 20000}
"""


def test_a_lease_far_shorter_than_processing_ends_within_its_budget():
    s = assert_within_budget(make(SHORT_LEASE), "lease_expiries")
    assert s["lease_expiries"] >= s["stall_cause_count"]
    note = stop_note(s, make(SHORT_LEASE))
    assert "broker.visibility_timeout = 1 us" in note and "max_deliveries" in note
    assert "sender.retry.max_attempts" not in note  # the producers are not the cause


# Zero-latency links and a queue of one that rejects: every rejection is
# retried at once, and simulated time never leaves 0.
REJECTING = """
name: rejecting
messages: 20
network:
  data: {latency: {dist: constant, value: 0s}}
  ack: {latency: {dist: constant, value: 0s}}
receiver: {queue: {capacity: 1, when_full: reject}, processing: {dist: constant, value: 1s}}
budget: {stall_events: 200000}
"""


def test_nacks_at_time_zero_count_against_the_stall_budget():
    s = assert_within_budget(make(REJECTING), "rejections")
    assert s["sim_time_s"] == 0
    # Each rejection is work beside its events: together they stay within the budget.
    assert s["events"] + s["stall_cause_count"] <= 200_000 + 4 * CHECK_EVERY
    note = stop_note(s, make(REJECTING))
    assert "receiver.queue.capacity (now 1)" in note


def test_copies_that_pile_up_count_against_the_memory_budget():
    # Each rejection leaves a retry timer behind until its deadline, which never comes.
    scenario = make(REJECTING, **{"budget.stall_events": 10**9, "budget.memory": "4MiB"})
    started = time.perf_counter()
    s = alosim.simulate(scenario).summary
    assert time.perf_counter() - started < 10
    assert s["stopped_by"] == "memory" and s["stall_cause"] == "copies"
    held = s["stall_cause_count"] * BYTES_PER_COPY + s["unsettled"] * BYTES_PER_MESSAGE
    assert 4 << 20 < held < (4 << 20) + 4 * CHECK_EVERY * BYTES_PER_COPY
    note = stop_note(s, scenario)
    assert note.startswith(f"stopped: the run held {s['stall_cause_count']:,} copies")


# A pause of a microsecond every two: a million fault events per simulated
# second, against a message every 10 ms.
PAUSES = """
name: pauses
messages: 500
sender: {rate: 100/s, window: 8}
receiver: {processing: {dist: constant, value: 1ms}}
faults: [{target: receivers, kind: pause, mtbf: 1us, mttr: 1us}]
budget: {stall_events: 20000}
"""


def test_fault_events_count_against_the_stall_budget():
    s = assert_within_budget(make(PAUSES), "faults")
    assert "mtbf down to 1 us" in stop_note(s, make(PAUSES))


# An auto-commit every microsecond, against a message every 10 ms.
COMMITS = """
name: commits
messages: 500
sender: {rate: 100/s, window: 8}
broker: {kind: log}
consumer: {processing: {dist: constant, value: 1ms}, commit: {policy: interval, interval: 1us}}
budget: {stall_events: 20000}
"""


def test_commit_ticks_count_against_the_stall_budget():
    s = assert_within_budget(make(COMMITS), "commits")
    assert "consumer.commit.interval = 1 us" in stop_note(s, make(COMMITS))


def test_the_note_does_not_recommend_a_limit_that_is_set():
    scenario = make("""
name: limited
messages: 100
sender: {window: 8, retry: {timeout: 1ms, max_attempts: 1000000}}
network: {ack: {loss: 0.9999999}}
budget: {stall_events: 20000}
""")
    s = assert_within_budget(scenario, "retransmissions")
    note = stop_note(s, scenario)
    assert "Retries go on until sender.retry.max_attempts = 1,000,000" in note
    assert "set sender.retry.max_attempts" not in note


def test_a_healthy_pipeline_draining_its_backlog_is_not_a_stall():
    # The producers are done at once; the consumer then works for a long while.
    # Its first effects are progress, so a small budget does not stop it.
    scenario = make("""
name: backlog
messages: 3000
sender: {window: 3000}
broker: {visibility_timeout: 1h}
consumer: {processing: {dist: exponential, mean: 10ms}}
budget: {stall_events: 1000}
""")
    s = alosim.simulate(scenario).summary
    assert s["stopped_by"] == "settled" and s["processed"] == 3000


def _rss_kib(status: Path) -> int:
    """A running process's resident set size, in KiB (0 once it has gone)."""
    try:
        line = next(l for l in status.read_text().splitlines() if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0
    return int(line.split()[1])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_a_large_run_at_once(tmp_path, sig):
    path = tmp_path / "churn.yaml"
    path.write_text("name: churn\nmessages: 20\n"
                    "broker: {visibility_timeout: 1us, max_deliveries: 1000000}\n"
                    "consumer: {processing: {dist: constant, value: 100ms}}\n")
    child = subprocess.Popen([sys.executable, "-m", "alosim", "run", str(path), "--no-plot",
                              "--out", str(tmp_path / "out")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    # Wait until the run holds 130 MB of copies (about 4 s here): seconds to free one by one.
    status = Path(f"/proc/{child.pid}/status")
    deadline = time.perf_counter() + 20
    while time.perf_counter() < deadline and _rss_kib(status) < 130_000:
        time.sleep(0.1)
    assert _rss_kib(status) >= 130_000, "the run never grew to 130 MB"
    child.send_signal(sig)
    signalled = time.perf_counter()
    _, err = child.communicate(timeout=60)
    assert time.perf_counter() - signalled < 1.5
    assert child.returncode == 1 and "Traceback" not in err


# -- livelocks the schema can foresee ---------------------------------------------------------

QUEUE = """
name: q
messages: 20
broker: {}
consumer: {processing: {dist: constant, value: 10ms}}
"""

FOREVER = ("redelivered forever and the run could never end; set broker.max_deliveries (then it is "
           "dead-lettered) or max_time")


@pytest.mark.parametrize(("field", "what"), [
    ("nack_probability", "every delivery fails and is nacked, and nothing limits the deliveries: "
                         "each message would be"),
    ("poison_probability", "every message is poison, and nothing limits the deliveries: it would be"),
])
def test_certain_failure_without_a_delivery_limit_is_refused(field, what):
    assert refusal(QUEUE, **{f"consumer.{field}": 1}) == f"<test>: consumer.{field}: {what} {FOREVER}"
    for limit in ({"broker.max_deliveries": 3}, {"max_time": "10s"}):
        make(QUEUE, **{f"consumer.{field}": 1}, **limit)  # something ends it: accepted


def test_a_lease_below_every_processing_under_at_most_once_is_refused():
    message = refusal(QUEUE, semantics="at-most-once", **{
        "broker.visibility_timeout": "100ms", "consumer.processing": {"dist": "constant", "value": "1s"}})
    assert message.startswith("<test>: broker.visibility_timeout: a lease of 100 ms is shorter than every "
                              "processing (at least 1 s): under at-most-once")
    assert message.endswith("lengthen the lease or set broker.max_deliveries: 1")
    # Processing that may be shorter than the lease (exponential) is a question, not a livelock.
    make(QUEUE, semantics="at-most-once", **{
        "broker.visibility_timeout": "100ms", "consumer.processing": {"dist": "exponential", "mean": "1s"}})
    make(QUEUE, semantics="at-most-once", **{
        "broker.visibility_timeout": "100ms", "broker.max_deliveries": 1,
        "consumer.processing": {"dist": "constant", "value": "1s"}})


def test_a_lease_a_million_times_shorter_than_a_delivery_is_refused():
    message = refusal(QUEUE, **{"broker.visibility_timeout": "1us",
                                "consumer.processing": {"dist": "constant", "value": "1s"}})
    assert message.startswith("<test>: broker.visibility_timeout: a delivery takes 1.04 s on average from "
                              "lease to ack")
    assert "redelivered about 1.04e+06 times before its first ack" in message


LOG = """
name: l
messages: 50
broker: {kind: log}
consumer: {processing: {dist: constant, value: 100ms}}
"""


def test_a_poll_interval_below_one_record_is_refused():
    assert refusal(LOG, **{"consumer.max_poll_interval": "50ms"}) == (
        "<test>: consumer.max_poll_interval: 50 ms is shorter than processing one record (at least "
        "100 ms): every member would be kicked out on every batch and its successor replay the batch "
        "from the last commit, without end; lengthen it (or shorten the processing), or set max_time")
    make(LOG, **{"consumer.max_poll_interval": "150ms"})


def test_an_absurd_rebalance_delay_is_refused():
    assert refusal(LOG, **{"consumer.rebalance_delay": "1e8s"}).startswith(
        "<test>: consumer.rebalance_delay: a rebalance stops the group for 1,160 d, while each "
        "member's auto-commit ticks 2e+07 times (at most 1e+06)")


@pytest.mark.parametrize(("path", "value"), [
    ("broker.visibility_timeout", "1e10s"), ("broker.redelivery_backoff", "1e10s"),
    ("consumer.processing", {"dist": "constant", "value": "1e10s"})])
def test_pipeline_durations_beyond_what_alosim_simulates_are_refused(path, value):
    assert f"<test>: {path}: " in refusal(QUEUE, **{path: value})
    assert "longer than alosim simulates" in refusal(QUEUE, **{path: value})


def test_a_commit_interval_below_a_microsecond_is_refused():
    message = refusal(LOG, **{"consumer.commit.interval": "0.5us"})
    assert message.startswith("<test>: consumer.commit.interval: 5e-07 s is shorter than alosim simulates")


def test_faults_far_more_frequent_than_messages_are_refused():
    message = refusal(PAUSES, **{"messages": 1, "duration": None, "sender.rate": None,
                                 "receiver.processing": {"dist": "constant", "value": "10s"}})
    assert message.startswith("<test>: faults.0.mtbf: about 1e+07 pause and recovery events")
    assert "per message (at most 1e+06); make them rarer" in message


# -- copies in flight and trace sizes -----------------------------------------------------------

COPIES = """
name: copies
messages: 10
sender: {retry: {timeout: 2us}}
network:
  data: {latency: {dist: constant, value: 1s}}
"""


def test_the_memory_estimate_counts_copies_in_flight():
    # Ten messages, a window of 8, a retry every 2 us against a round trip of
    # 1.02 s: about 510,000 copies of each in flight before the first ack.
    parts = {path: size for path, _, size in memory_estimate(make(COPIES))}
    copies = parts["sender.retry.timeout"] / BYTES_PER_COPY
    assert 8 * 1.02 / 2e-6 * 0.99 < copies < 8 * 1.02 / 2e-6 * 1.01
    message = refusal(COPIES, **{"budget.memory": "1GiB"})
    assert message.startswith("<test>: sender.retry.timeout: the scenario would allocate about 1.14 GiB")
    assert "copies in flight (510,001 per message before its first ack)" in message


def test_a_trace_that_outgrows_the_memory_budget_stops_the_run():
    # 20 messages with a lease of 10 ms against 1 s of processing: the copies pile
    # up quadratically, beyond the static estimate (a hundred copies a message).
    scenario = make(QUEUE, **{"broker.visibility_timeout": "10ms",
                              "consumer.processing": {"dist": "constant", "value": "1s"},
                              "observe.trace_messages": 20, "budget.memory": "8MiB"})
    s = alosim.simulate(scenario).summary
    assert s["stopped_by"] == "memory" and s["stall_cause"] == "trace"
    assert stop_note(s, scenario).startswith(f"stopped: the trace held {s['stall_cause_count']:,} rows")


def test_a_trace_stops_at_ten_thousand_rows_a_message():
    # The same, with room in memory: 20 messages traced would keep 4.5 GB of rows.
    scenario = make(QUEUE, **{"broker.visibility_timeout": "10ms",
                              "consumer.processing": {"dist": "constant", "value": "1s"},
                              "observe.trace_messages": 20, "budget.stall_events": 2_000_000})
    result = alosim.simulate(scenario)
    s = result.summary
    assert s["stopped_by"] == "memory" and s["stall_cause"] == "trace"
    assert 200_000 < len(result.trace) == s["stall_cause_count"] < 200_000 + 10 * CHECK_EVERY
    assert stop_note(s, scenario) == (
        f"stopped: the trace held {len(result.trace):,} rows, more than 10,000 for each of the 20 "
        "traced messages: they are retried or redelivered over and over (the first rows tell why)")


def test_a_picture_of_too_many_lanes_is_refused(tmp_path):
    from alosim import seqdiagram

    events = [TraceEvent(0.001 * i, f"sender-{i}", "send", i, 1) for i in range(40)]
    events += [TraceEvent(0.001 * i + 0.0005, f"receiver-{i}", "arrive", i, 1) for i in range(40)]
    with pytest.raises(seqdiagram.PictureTooLarge, match="80 lanes"):
        seqdiagram.draw(events)
    path = tmp_path / "wide.yaml"
    path.write_text("name: wide\nmessages: 40\nsender: {count: 40, window: 1}\nreceiver: {count: 40}\n")
    p = subprocess.run([sys.executable, "-m", "alosim", "trace", str(path), "--messages", "40",
                        "--png", str(tmp_path / "wide.png")], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 2
    assert p.stderr.splitlines() == [
        f"alosim: error: {path}: the trace has 80 lanes (one per actor); a sequence diagram holds at "
        "most 32: trace fewer messages (--messages) or draw a scenario with fewer senders, receivers "
        "or consumers"]
    assert not Path(tmp_path / "wide.png").exists()


def test_the_smallest_stall_budget_still_stops_a_run():
    # (Below one check interval: a batch without progress uses it up.)
    scenario = make(PAUSES, **{"budget.stall_events": 1000})
    s = alosim.simulate(scenario).summary
    assert s["stopped_by"] == "stall" and s["events"] <= 2 * CHECK_EVERY


def test_a_poll_interval_below_one_batch_stalls_naming_it():
    # 500 records of 1 ms in a batch, 100 ms allowed: each member is kicked out
    # on every full batch and its successor replays it. (One record fits in the
    # interval, so this is not refused: smaller batches would get through.)
    scenario = make("""
name: batches
messages: 2000
sender: {window: 2000}
broker: {kind: log}
consumer: {processing: {dist: constant, value: 1ms}, max_poll_interval: 100ms,
           commit: {policy: after-batch}}
budget: {stall_events: 100000}
""")
    s = assert_within_budget(scenario, "rebalances")
    note = stop_note(s, scenario)
    assert "consumer.max_poll_interval = 100 ms on one batch (consumer.fetch_batch = 500)" in note
    assert "max_attempts" not in note
