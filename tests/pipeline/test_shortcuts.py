"""The broker's and the consumers' shortcuts for the common configuration change no result.

A publish written at once into an unbounded queue that pushes is accepted in
``Broker.on_packet`` itself, and a consumer that neither waits, fails, extends
nor acks first completes a delivery in one method (``Consumer._complete``).
Each run here is made twice, with the shortcuts and with the general path
forced (every stage in its own method), and must give the same fingerprint:
the summary, the series and the trace, byte for byte.
"""

from __future__ import annotations

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
}


def general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every broker and consumer built from now on take the general path."""
    broker_init, consumer_init = Broker.__init__, Consumer.__init__

    def broker(self: Broker, *args: object, **kwargs: object) -> None:
        broker_init(self, *args, **kwargs)  # type: ignore[arg-type]
        self._plain = False

    def consumer(self: Consumer, *args: object, **kwargs: object) -> None:
        consumer_init(self, *args, **kwargs)  # type: ignore[arg-type]
        self._begin = self._start
        self._plain_instant = False

    monkeypatch.setattr(Broker, "__init__", broker)
    monkeypatch.setattr(Consumer, "__init__", consumer)


@pytest.mark.parametrize("name", list(CASES))
def test_the_shortcuts_give_the_general_paths_result(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = make(BASE, **CASES[name])
    fast = alosim.simulate(scenario)
    assert fast.summary["processed"] > 0
    general_path(monkeypatch)
    general = alosim.simulate(scenario)
    assert general.fingerprint == fast.fingerprint
