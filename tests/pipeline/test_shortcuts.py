"""The broker's and the consumers' shortcuts for the common configuration change no result.

A publish written at once into an unbounded queue that pushes is accepted in
``Broker.on_packet`` itself -- and, untraced, with one consumer that has room
and nothing queued, leased to it there too (a publish its store catches
included); a lease that runs out with nothing queued, at a broker with one
consumer and no limit on deliveries, is leased again at once; an untraced ack of an entry in flight settles
it in ``Broker.on_consumer_packet``. A consumer that neither waits, fails,
extends nor acks first completes a delivery in one method
(``Consumer._complete``), or, untraced with instant processing and no pull,
in ``Consumer.on_packet``. Each run here is made twice, with the shortcuts
and with the general path forced (every stage in its own method), and must
give the same fingerprint: the summary, the series and the trace, byte for
byte.
"""

from __future__ import annotations

from typing import Any

import pytest

import alosim
from alosim.model.broker import Broker
from alosim.model.consumer import Consumer
from tests.conftest import make

BASE = """
name: shortcuts
messages: 300
sender: {window: 16, retry: {timeout: 20ms}}
network:
  data: {loss: 0.1, latency: {dist: exponential, mean: 2ms}}
  ack: {loss: 0.1, latency: {dist: exponential, mean: 2ms}}
  consume:
    data: {loss: 0.1, duplicate: 0.05, latency: {dist: exponential, mean: 2ms}}
    ack: {loss: 0.1, latency: {dist: exponential, mean: 2ms}}
broker: {visibility_timeout: 15ms}
consumer: {concurrency: 4}
observe: {trace_messages: 40}
"""

CASES = {
    "no stores": {},
    "set stores": {"broker.dedup": {"kind": "set"}, "consumer.dedup": {"kind": "set"}},
    "ttl stores, several consumers": {"broker.dedup": {"kind": "ttl", "window": 0.03},
                                      "consumer.dedup": {"kind": "ttl", "window": 0.03},
                                      "consumer.count": 3},
    "drawn processing, prefetch": {"consumer.processing": {"dist": "exponential", "mean": 0.004},
                                   "broker.prefetch": 2, "consumer.dedup": {"kind": "set"}},
    "crashes": {"consumer.processing": {"dist": "constant", "value": 0.002},
                "consumer.dedup": {"kind": "set", "durable": False},
                "faults": [{"target": "consumer-0", "at": 0.05, "for": 0.02},
                           {"target": "broker", "at": 0.12, "for": 0.01}]},
    "pull": {"consumer.pull": {"batch": 2}, "consumer.count": 2},
    "crashes, instant processing": {
        "consumer.dedup": {"kind": "set", "durable": False},
        "faults": [{"target": "consumer-0", "at": 0.05, "for": 0.02},
                   {"target": "broker", "at": 0.12, "for": 0.01}]},
    "a volatile broker, a short lease, dead letters": {
        "broker.durable": False, "broker.visibility_timeout": 0.004, "broker.max_deliveries": 3,
        "faults": [{"target": "broker", "at": 0.08, "for": 0.01}]},
    "a short lease, one consumer, untraced": {"broker.visibility_timeout": 0.004,
                                              "observe.trace_messages": 0},
    "a short lease, one consumer, untraced, stores": {
        "broker.visibility_timeout": 0.004, "observe.trace_messages": 0,
        "broker.dedup": {"kind": "set"}, "consumer.dedup": {"kind": "set"}},
    "a prefetch of one": {"broker.prefetch": 1, "broker.dedup": {"kind": "ttl", "window": 0.03}},
}


def general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every broker and consumer built from now on take the general path."""
    broker_init, consumer_init = Broker.__init__, Consumer.__init__

    def broker(self: Broker, *args: object, **kwargs: object) -> None:
        broker_init(self, *args, **kwargs)  # type: ignore[arg-type]
        self._plain = self._direct = False

    def consumer_packet(self: Broker, event: Any) -> None:
        self._consumer_packet(*event._value)

    def consumer(self: Consumer, *args: object, **kwargs: object) -> None:
        consumer_init(self, *args, **kwargs)  # type: ignore[arg-type]
        self._begin = self._start
        self._plain_instant = self._fused = False

    monkeypatch.setattr(Broker, "__init__", broker)
    monkeypatch.setattr(Broker, "on_consumer_packet", consumer_packet)
    monkeypatch.setattr(Consumer, "__init__", consumer)


@pytest.mark.parametrize("name", list(CASES))
def test_the_shortcuts_give_the_general_paths_result(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = make(BASE, **CASES[name])
    fast = alosim.simulate(scenario)
    assert fast.summary["processed"] > 0
    general_path(monkeypatch)
    general = alosim.simulate(scenario)
    assert general.fingerprint == fast.fingerprint
