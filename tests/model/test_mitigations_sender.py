"""The sender's overload mitigations: the retry budget and the circuit breaker.

Each test builds the situation the mitigation is for -- a long outage, a
receiver that is down for a while -- and checks what the mitigation promises,
counted both from the counters and from the event log.
"""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from click.testing import CliRunner

import alosim
from alosim.cli import cli
from alosim.model.mitigation import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, TokenBucket
from alosim.scenario import CircuitBreaker as BreakerSpec
from alosim.scenario import RetryBudget
from tests.conftest import ROOT, SCENARIOS, make

# Open-loop arrivals at 100/s for 10 s; both directions cut for the first 8 s.
OUTAGE = """
name: outage
seed: 11
semantics: at-least-once
messages: 1000
sender: {rate: 100/s, window: null, retry: {timeout: 100ms}}
network:
  data: {latency: {dist: exponential, mean: 5ms}}
  ack: {latency: {dist: exponential, mean: 5ms}}
  partitions: [{at: 0s, for: 8s, direction: both}]
observe: {trace_messages: 1000}
max_time: 14s
"""

# Open-loop arrivals at 200/s; the receiver is down from 1 s to 3 s.
RECEIVER_DOWN = """
name: receiver-down
seed: 5
semantics: at-least-once
messages: 1000
sender:
  rate: 200/s
  window: null
  retry: {timeout: 100ms}
  circuit_breaker: {failure_ratio: 0.5, window: 20, open_for: 500ms, probes: 1}
network:
  data: {latency: {dist: exponential, mean: 5ms}}
  ack: {latency: {dist: exponential, mean: 5ms}}
faults: [{target: receiver-0, at: 1s, for: 2s}]
observe: {trace_messages: 1000}
max_time: 30s
"""


# -- the retry budget --------------------------------------------------------------------


def test_a_budget_caps_retransmissions_at_burst_plus_ratio_times_first_attempts():
    unlimited = alosim.simulate(make(OUTAGE)).summary
    budget = alosim.simulate(make(OUTAGE, **{"sender.retry_budget": {"ratio": 0.1, "burst": 10}}))
    s = budget.summary
    first = s["transmissions"] - s["retransmissions"]
    assert first == 1000  # every message was sent once
    bound = 10 + Fraction(1, 10) * first  # 110
    assert s["retransmissions"] <= bound
    # Retries kept asking from the first timeout on, so from then on every
    # token earned was spent: the bound is missed only by what the first
    # 100 ms of arrivals earned into a full bucket (about 1 token) and what
    # is left after the last arrival (less than 1).
    assert s["retransmissions"] > bound - 3
    # Without the budget every message in the outage retries every 100 ms.
    assert unlimited["retransmissions"] > 20 * bound
    # Each refusal is counted, and is in the event log.
    suppressed = [e for e in budget.trace if e.event == "suppressed"]
    assert s["retries_suppressed"] == len(suppressed) > 0
    assert all(e.detail == "retry budget" for e in suppressed)
    # Unsettled (its arrivals over, no token will come), not lost: nothing gave up.
    assert s["lost"] == 0 and s["unsettled"] > 0 and s["stopped_by"] == "max_time"


def test_a_suppressed_retry_waits_one_retry_interval_and_asks_again():
    r = alosim.simulate(make(OUTAGE, **{"sender.retry_budget": {"ratio": 0, "burst": 1}}))
    assert r.summary["retransmissions"] == 1  # the burst, and nothing earned
    # The messages sent during the outage ask every 100 ms (their timeout): once
    # at 100 ms after their send, then each 100 ms until the run stops.
    asks = [e.time_s for e in r.trace if e.event == "suppressed" and e.message == 500]
    sent = [e.time_s for e in r.trace if e.event == "send" and e.message == 500]
    assert len(sent) == 1 and len(asks) > 10
    gaps = [b - a for a, b in zip([sent[0], *asks], asks)]
    assert gaps == pytest.approx([0.1] * len(gaps))


def test_a_message_given_up_while_suppressed_is_lost_to_the_retry_budget():
    r = alosim.simulate(make(OUTAGE, **{"sender.retry_budget": {"ratio": 0.1, "burst": 10},
                                        "sender.retry.delivery_timeout": "2s"}))
    s = r.summary
    assert s["lost"] > 0
    assert s["lost_retry_budget"] > 0
    # The rest ran out of time between retries that were sent.
    assert s["lost_retry_budget"] + s["lost_delivery_timeout"] == s["lost"]
    processed = {e.message for e in r.trace if e.event == "processed"}
    charged = [e for e in r.trace if e.event == "gave_up" and e.message not in processed]
    assert sum(1 for e in charged if e.detail == "retry_budget") == s["lost_retry_budget"]


def test_a_budget_that_never_refuses_changes_nothing():
    path = SCENARIOS / "lossy-both-ways.yaml"
    plain = alosim.simulate(alosim.load_scenario(path)).summary
    generous = alosim.simulate(alosim.load_scenario(
        path, [f"sender.retry_budget={{ratio: 1000, burst: {10**9}}}"])).summary
    assert generous.pop("retries_suppressed") == 0 and generous.pop("lost_retry_budget") == 0
    assert {k: v for k, v in generous.items() if k != "fingerprint"} == {
        k: v for k, v in plain.items() if k != "fingerprint"}


def test_without_the_sections_a_run_is_what_it_was():
    """The example run printed in the README keeps its fingerprint: no new columns,
    no new draws, no new events."""
    readme = (ROOT / "README.md").read_text()
    printed = re.search(r"results: results/ack-lost/seed-7-([0-9a-f]{16})", readme).group(1)
    r = alosim.simulate(alosim.load_scenario(SCENARIOS / "ack-lost.yaml"))
    assert r.fingerprint == printed
    assert not {"retries_suppressed", "breaker_opened", "short_circuited", "lost_retry_budget",
                "lost_circuit_open"} & set(r.summary)


def test_token_bucket_counts_exactly():
    bucket = TokenBucket(RetryBudget(ratio=0.1, burst=2))
    assert bucket.take() and bucket.take() and not bucket.take()
    for _ in range(9):
        bucket.earn()
    assert not bucket.take()  # 0.9 of a token
    bucket.earn()
    assert bucket.take()  # ten earnings of 0.1 are exactly one token
    for _ in range(100):
        bucket.earn()
    assert bucket.level == 2  # capped at the burst


# -- the circuit breaker -------------------------------------------------------------------


def test_a_breaker_opens_while_the_receiver_is_down_and_holds_every_transmission():
    r = alosim.simulate(make(RECEIVER_DOWN))
    s, trace = r.summary, r.trace
    assert s["breaker_opened"] >= 2  # opened, and opened again by a probe sent while still down
    opened = [e for e in trace if e.event == "breaker_open"]
    closed = [e for e in trace if e.event == "breaker_closed"]
    assert len(opened) == s["breaker_opened"] and len(closed) == 1
    assert 1.0 < opened[0].time_s < 1.5  # the failures fill the window soon after the crash
    assert closed[0].time_s > 3.0  # ... and it closes only once the receiver is back
    # Between an opening and its open_for, nothing is sent; then exactly one probe.
    for event in opened:
        at = trace.index(event)
        later = [e for e in trace[at + 1:] if e.event in ("send", "breaker_open", "breaker_closed")]
        assert later[0].event == "send" and later[0].time_s == pytest.approx(event.time_s + 0.5)
        assert later[1].event in ("breaker_open", "breaker_closed")
    # Each message held is counted once per open period (arrivals keep coming).
    held = {(e.message, sum(1 for o in opened if o.time_s <= e.time_s))
            for e in trace if e.event == "held"}
    assert s["short_circuited"] == len(held) > 200
    # Once it closed, every held message went out and was delivered.
    assert s["lost"] == 0 and s["unsettled"] == 0 and s["processed"] >= s["messages"] == 1000


def test_held_messages_go_out_in_creation_order_when_the_breaker_closes():
    r = alosim.simulate(make(RECEIVER_DOWN))
    closing = next(e for e in r.trace if e.event == "breaker_closed")
    burst = [e.message for e in r.trace if e.time_s == closing.time_s and e.event == "send"]
    assert len(burst) > 100 and burst == sorted(burst)


def test_without_a_breaker_the_outage_is_retried_throughout():
    plain = alosim.simulate(make(RECEIVER_DOWN, **{"sender.circuit_breaker": None})).summary
    guarded = alosim.simulate(make(RECEIVER_DOWN)).summary
    # Every message of the 2 s outage retried every 100 ms, against a few probes.
    assert plain["retransmissions"] > 5 * guarded["retransmissions"]
    assert "breaker_opened" not in plain


def test_a_message_given_up_while_held_is_lost_to_the_open_circuit():
    r = alosim.simulate(make(RECEIVER_DOWN, **{"sender.retry.delivery_timeout": "300ms",
                                               "sender.circuit_breaker.open_for": "1s"}))
    s = r.summary
    assert s["lost_circuit_open"] > 0
    processed = {e.message for e in r.trace if e.event == "processed"}
    gave_up = [e for e in r.trace if e.event == "gave_up" and e.message not in processed]
    assert sum(1 for e in gave_up if e.detail == "circuit_open") == s["lost_circuit_open"]
    assert s["lost_circuit_open"] + s["lost_delivery_timeout"] == s["lost"]


def test_negative_acks_are_failures_too():
    # A queue of one that rejects: most arrivals of a burst are nacked.
    r = alosim.simulate(make(RECEIVER_DOWN, **{
        "faults": [], "receiver.processing": {"dist": "constant", "value": 0.02},
        "receiver.queue": {"capacity": 1, "when_full": "reject"}}))
    assert r.summary["nacks_received"] > 0 and r.summary["breaker_opened"] > 0


@pytest.mark.parametrize("durable", [True, False])
def test_a_sender_crash_while_the_breaker_holds_messages(durable):
    faults = [{"target": "receiver-0", "at": 1, "for": 2}, {"target": "sender-0", "at": 1.8, "for": 0.3}]
    r = alosim.simulate(make(RECEIVER_DOWN, faults=faults, **{"sender.durable_outbox": durable}))
    s, trace = r.summary, r.trace
    crash = 1.8
    held_at_crash = {e.message for e in trace if e.event == "held" and e.time_s < crash}
    assert len(held_at_crash) > 100
    if durable:
        # Kept, and sent after the restart (the breakers restart closed).
        assert s["lost"] == 0 and s["unsettled"] == 0 and s["abandoned"] == 0
    else:
        abandoned = {e.message for e in trace if e.event == "abandoned"}
        assert held_at_crash - {e.message for e in trace if e.event == "acked"} <= abandoned
        assert s["lost"] == s["lost_sender_crash"] > 0 and s["lost_circuit_open"] == 0


def test_breaker_states():
    breaker = CircuitBreaker(BreakerSpec(failure_ratio=0.5, window=4, open_for=1.0, probes=2))
    msgs = [alosim.model.message.Message(i, 0, i, 0, 0.0) for i in range(4)]
    assert [breaker.record(m, failed) for m, failed in zip(msgs, (True, False, True))] == [None] * 3
    assert breaker.record(msgs[3], False) is OPEN  # 2 of 4 failed: the ratio is reached
    breaker.open()
    assert breaker.blocks() and breaker.record(msgs[0], True) is None  # outcomes ignored
    breaker.half_open()
    assert not breaker.blocks()
    breaker.sent(msgs[0])
    breaker.sent(msgs[1])
    assert breaker.blocks() and breaker.state is HALF_OPEN
    assert breaker.record(msgs[2], False) is None  # not a probe
    assert breaker.record(msgs[0], False) is None
    assert breaker.record(msgs[1], False) is CLOSED
    breaker.close()
    assert not breaker.blocks() and not breaker.outcomes and breaker.state is CLOSED


# -- the run's summary --------------------------------------------------------------------------


def test_the_summary_shows_the_mitigations_only_when_configured(tmp_path):
    def run(*sets: str) -> str:
        args = ["run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(tmp_path), "--no-plot",
                "--set", "messages=200"]
        for s in sets:
            args += ["--set", s]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        return result.stdout

    plain = run()
    assert "sender mitigations" not in plain
    # Once the 200 first transmissions are made, the budget earns no more tokens: the retries left
    # wait for ever, and the run ends on its stall budget (kept small: the default is 10 million).
    out = run("sender.retry_budget={ratio: 0.05, burst: 2}",
              "sender.circuit_breaker={failure_ratio: 1, window: 1000, open_for: 1s}", "budget.stall_events=20000")
    section = out.split("sender mitigations")[1]
    for label in ("retries suppressed", "breaker opened", "held by an open breaker"):
        assert label in section


# -- bad input ------------------------------------------------------------------------------

_GOOD = {"retry_budget": "{ratio: 0.1, burst: 10}",
         "circuit_breaker": "{failure_ratio: 0.5, window: 20, open_for: 1s}"}


@pytest.mark.parametrize("section, value, expected", [
    ("retry_budget", "{ratio: '0.1', burst: 10}", "sender.retry_budget.ratio: expected a number, got '0.1'"),
    ("retry_budget", "{ratio: true, burst: 10}", "sender.retry_budget.ratio: expected a number, got true"),
    ("retry_budget", "{ratio: -0.1, burst: 10}", "sender.retry_budget.ratio: Input should be greater than or equal to 0"),
    ("retry_budget", "{ratio: .nan, burst: 10}", "sender.retry_budget.ratio:"),
    ("retry_budget", "{ratio: 0.1, burst: 0}", "sender.retry_budget.burst: Input should be greater than or equal to 1"),
    ("retry_budget", "{ratio: 0.1, burst: 2.5}", "sender.retry_budget.burst:"),
    ("retry_budget", "{ratio: 0.1, burst: yes}", "sender.retry_budget.burst: expected a whole number, got true"),
    ("retry_budget", "{ratio: 0.1}", "sender.retry_budget.burst: required field is missing"),
    ("retry_budget", "{ratio: 0.1, brust: 10}", "sender.retry_budget.brust: unknown key; did you mean 'burst'?"),
    ("retry_budget", "0.1", "sender.retry_budget:"),
    ("circuit_breaker", "{failure_ratio: 0, window: 20, open_for: 1s}",
     "sender.circuit_breaker.failure_ratio: Input should be greater than 0"),
    ("circuit_breaker", "{failure_ratio: 1.5, window: 20, open_for: 1s}",
     "sender.circuit_breaker.failure_ratio: Input should be less than or equal to 1"),
    ("circuit_breaker", "{failure_ratio: 0.5, window: 0, open_for: 1s}",
     "sender.circuit_breaker.window: Input should be greater than or equal to 1"),
    ("circuit_breaker", "{failure_ratio: 0.5, window: 20, open_for: 0s}",
     "sender.circuit_breaker.open_for: Input should be greater than 0"),
    ("circuit_breaker", "{failure_ratio: 0.5, window: 20, open_for: 1 fortnight}",
     "sender.circuit_breaker.open_for:"),
    ("circuit_breaker", "{failure_ratio: 0.5, window: 20, open_for: 1s, probes: 0}",
     "sender.circuit_breaker.probes: Input should be greater than or equal to 1"),
    ("circuit_breaker", "{failure_ratio: 0.5, window: 20}", "sender.circuit_breaker.open_for: required field is missing"),
    ("circuit_breaker", "{failure_ratio: 0.5, window: 20, open_for: 1s, probe: 2}",
     "sender.circuit_breaker.probe: unknown key; did you mean 'probes'?"),
])
def test_bad_mitigation_fields_get_one_line_and_exit_2(tmp_path, section, value, expected):
    path = tmp_path / "bad.yaml"
    other = "circuit_breaker" if section == "retry_budget" else "retry_budget"
    path.write_text(f"name: bad\nmessages: 10\nsender:\n  {section}: {value}\n  {other}: {_GOOD[other]}\n")
    out = tmp_path / "out"
    p = CliRunner().invoke(cli, ["run", str(path), "--out", str(out)])
    assert isinstance(p.exception, SystemExit), p.exception  # an error message, not a traceback
    assert p.exit_code == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"alosim: error: {path}: "), p.stderr
    assert expected in lines[0]
    assert not out.exists()  # nothing half-written


def test_no_section_and_null_mean_the_same():
    a = alosim.simulate(make(OUTAGE, messages=100))
    b = alosim.simulate(make(OUTAGE, messages=100, **{"sender.retry_budget": None,
                                                      "sender.circuit_breaker": None}))
    assert a.fingerprint == b.fingerprint


def test_a_closed_loop_stalled_by_its_budget_says_what_ends_it():
    """A closed loop whose window fills with suppressed retries earns no token again."""
    from alosim.budget import stop_note

    scenario = make(OUTAGE, **{
        "sender.rate": None, "sender.window": 4, "max_time": None, "network.partitions": [],
        "network.ack.loss": 0.5, "budget.stall_events": 20_000,
        "sender.retry_budget": {"ratio": 0.01, "burst": 1}})
    r = alosim.simulate(scenario)
    s = r.summary
    assert s["stopped_by"] == "stall" and s["unsettled"] == 4 and s["retries_suppressed"] > 0
    note = stop_note(s, scenario)
    assert "suppressed by sender.retry_budget" in note and "delivery_timeout or max_time" in note
    assert "max_attempts" not in note  # suppressed retries are not attempts: it would not help
