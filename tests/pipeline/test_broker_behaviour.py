"""What real brokers and clients do, one message at a time: polled reclaim,
lease extension, pull consumers and the start delay, read off the trace."""

from __future__ import annotations

import numpy as np
import pytest

import alosim
from alosim.model.reclaim import ScanClock
from alosim.scenario import Reclaim
from alosim.streams import Streams
from tests.conftest import make

ONE = """
name: one
messages: 1
observe: {trace_messages: 10}
network:
  data: {latency: {dist: constant, value: 1ms}}
  ack: {latency: {dist: constant, value: 1ms}}
  consume: {data: {latency: {dist: constant, value: 0.0}}, ack: {latency: {dist: constant, value: 0.0}}}
broker: {visibility_timeout: 100ms}
consumer: {concurrency: 10, processing: {dist: constant, value: 300ms}}
"""


def times(text: str, event: str, **overrides: object) -> list[float]:
    trace = alosim.simulate(make(text, **overrides)).trace
    return [round(e.time_s, 9) for e in trace if e.event == event]


# -- polled reclaim -----------------------------------------------------------------------


def test_a_lease_ends_at_the_first_scan_at_or_after_its_deadline():
    # Delivered at 1 ms: the deadline 101 ms meets the scan at 150 ms. The
    # redelivery, made at that scan, has its deadline at 250 ms -- on a scan
    # (0.15 + 0.1 is 0.25000000000000006 in floating point: still that scan).
    # The first delivery's ack at 301 ms settles it before the scan at 350 ms.
    assert times(ONE, "lease_expired") == [0.101, 0.201]  # without reclaim: at each deadline
    assert times(ONE, "lease_expired", **{"broker.reclaim": {"interval": "50ms"}}) == [0.15, 0.25]


def test_an_ack_between_the_deadline_and_the_scan_settles_the_message():
    polled = {"broker.reclaim": {"interval": "50ms"}, "consumer.processing.value": "120ms"}
    assert times(ONE, "lease_expired", **polled) == []
    assert times(ONE, "consumer_acked", **polled) == [0.121]
    assert times(ONE, "lease_expired", **{"consumer.processing.value": "120ms"}) == [0.101]


def test_dead_lettering_is_decided_at_the_scan():
    polled = {"broker.reclaim": {"interval": "50ms"}, "broker.max_deliveries": 1}
    assert times(ONE, "dead_lettered", **polled) == [0.15]
    assert times(ONE, "dead_lettered", **{"broker.max_deliveries": 1}) == [0.101]


def test_jittered_scans_are_uniform_gaps_from_their_own_stream():
    clock = ScanClock(Reclaim(interval=0.05, jitter=True), Streams(7))
    scans, now = [], 0.0
    for _ in range(20_000):
        now = clock.first_at_or_after(now + 1e-6, now)
        scans.append(now)
    gaps = np.diff(scans)
    assert gaps.min() > 0 and gaps.max() <= 0.1
    assert abs(gaps.mean() - 0.05) < 3.29 * 0.1 / np.sqrt(12 * len(gaps))  # Uniform(0, 0.1)
    again = ScanClock(Reclaim(interval=0.05, jitter=True), Streams(7))
    assert again.first_at_or_after(scans[99], 0.0) == scans[99]  # the same seed, the same scans
    assert again.first_at_or_after(scans[10] - 1e-7, 0.0) == scans[10]  # asked out of order


def test_a_grid_scan_is_never_before_now():
    clock = ScanClock(Reclaim(interval=0.05), Streams(1))
    assert clock.first_at_or_after(0.101, 0.0) == pytest.approx(0.15)
    assert clock.first_at_or_after(0.3, 0.3) == pytest.approx(0.3)


# -- lease extension ----------------------------------------------------------------------

LONG = """
name: long
messages: 1
observe: {trace_messages: 10}
network:
  data: {latency: {dist: constant, value: 1ms}}
  ack: {latency: {dist: constant, value: 1ms}}
  consume: {data: {latency: {dist: constant, value: 0.0}}, ack: {latency: {dist: constant, value: 0.0}}}
broker: {visibility_timeout: 1s}
consumer: {concurrency: 10, processing: {dist: constant, value: 10s}, lease_extension: {every: 400ms}}
"""


def test_a_consumer_that_extends_keeps_its_lease_while_it_works():
    result = alosim.simulate(make(LONG))
    assert [e.time_s for e in result.trace if e.event == "lease_expired"] == []
    assert result.summary["duplicate_processing"] == 0
    # one extension every 400 ms from the start at 1 ms, the last at 9.601 s (the ack is at 10.001 s)
    assert result.summary["lease_extensions_applied"] == 24


def test_a_crashed_consumer_stops_extending_and_its_delivery_comes_back_a_lease_later():
    crash = {"faults": [{"target": "consumer-0", "at": "3s", "for": "100ms"}]}
    # Extensions at 0.401, ..., 2.801 s; the crash at 3 s stops them: the
    # lease ends at 2.801 + 1 s, and the message is delivered again then.
    assert times(LONG, "lease_expired", **crash) == [3.801]
    assert times(LONG, "deliver", **crash) == [0.001, 3.801]


def test_a_lease_is_never_extended_past_its_maximum():
    capped = {"consumer.lease_extension.max": "2s"}
    # The delivery at 1 ms may hold its lease until 2.001 s, however often it is extended.
    assert times(LONG, "lease_expired", **capped)[:1] == [2.001]


def test_extensions_travel_on_the_ack_link_and_can_be_lost():
    lossy = {"network.consume.ack.loss": 0.5, "consumer.processing.value": "3s", "messages": 200,
             "sender": {"rate": "100/s", "window": None}}
    s = alosim.simulate(make(LONG, **lossy)).summary
    assert s["lease_extensions_lost"] > 0
    assert s["lease_extensions_sent"] == (s["lease_extensions_lost"] + s["lease_extensions_applied"]
                                          + s["lease_extensions_ignored"])
    assert s["lease_expiries"] > 0  # some lease ran out for want of an extension


# -- pull consumers -----------------------------------------------------------------------

OUTAGE = """
name: outage
messages: 5
observe: {trace_messages: 10}
sender: {rate: 10/s, window: null, arrivals: periodic}
network:
  data: {latency: {dist: constant, value: 1ms}}
  ack: {latency: {dist: constant, value: 1ms}}
  consume: {data: {latency: {dist: constant, value: 0.0}}, ack: {latency: {dist: constant, value: 0.0}}}
broker: {visibility_timeout: 10s}
consumer: {concurrency: 10}
faults: [{target: consumer-0, at: 150ms, for: 1s}]
"""


def test_a_push_broker_delivers_to_a_crashed_consumer_and_waits_out_the_lease():
    trace = alosim.simulate(make(OUTAGE)).trace
    dropped = [e.message for e in trace if e.event == "dropped" and e.detail == "consumer down"]
    assert dropped == [1, 2, 3, 4]  # published while it was down: each redelivered 10 s later
    assert min(e.time_s for e in trace if e.event == "processed" and e.message in dropped) > 10


def test_a_pull_consumer_receives_nothing_while_down_and_fetches_the_backlog_at_once():
    trace = alosim.simulate(make(OUTAGE, **{"consumer.pull": {"batch": 100}})).trace
    assert [e for e in trace if e.event == "dropped"] == []
    deliveries = [(e.message, round(e.time_s, 9)) for e in trace if e.event == "deliver"]
    assert deliveries[0] == (0, 0.101)  # (the first publish is at 100 ms)
    assert sorted(deliveries[1:]) == [(m, 1.15) for m in range(1, 5)]  # at the restart


def test_a_pull_consumer_holds_at_most_its_batch():
    busy = {"consumer.pull": {"batch": 2}, "faults": [], "consumer.processing":
            {"dist": "constant", "value": "1s"}, "sender.arrivals": "periodic"}
    trace = alosim.simulate(make(OUTAGE, **busy)).trace
    starts = sorted(round(e.time_s, 9) for e in trace if e.event == "deliver")
    # two at once; each further one when one of them is done
    assert starts == [0.101, 0.201, 1.101, 1.201, 2.101]


# -- the start delay -----------------------------------------------------------------------


def test_processing_starts_a_start_delay_after_the_arrival_with_the_lease_running():
    delayed = {"consumer.start_delay": {"dist": "constant", "value": "30ms"},
               "consumer.processing.value": "80ms"}
    # 30 + 80 ms outlast the 100 ms lease that began at the delivery at 1 ms:
    # it is redelivered at 101 ms and processed again at 211 ms
    assert times(ONE, "processed", **delayed) == [0.111, 0.211]
    assert times(ONE, "lease_expired", **delayed) == [0.101]
    assert times(ONE, "lease_expired", **{"consumer.processing.value": "80ms"}) == []


def test_a_crash_during_the_start_delay_loses_the_delivery():
    crash = {"consumer.start_delay": {"dist": "constant", "value": "30ms"},
             "consumer.processing.value": "50ms",
             "faults": [{"target": "consumer-0", "at": "10ms", "for": "1s"}]}
    s = alosim.simulate(make(ONE, **crash)).summary
    assert s["consumer_dropped_in_crash"] == 1 and s["processed"] == 1 and s["consume_redeliveries"] >= 1


def test_the_closed_form_meets_a_deadline_on_a_scan_as_the_model_does():
    from alosim import analytic
    from alosim.model.reclaim import TOLERANCE_S

    assert analytic.ON_A_SCAN_S == TOLERANCE_S
    # a lease of 100 ms made at a scan of a 50 ms grid ends on the scan 100 ms later
    assert analytic._grid_overshoot(0.1, 0.05) == 0.0
    assert analytic._grid_overshoot(0.12, 0.05) == pytest.approx(0.03)
