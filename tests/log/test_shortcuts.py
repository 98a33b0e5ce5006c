"""The log's shortcuts change no result.

Where the log takes a cheaper way to the same answer -- its producers' ids
placed a block at a time (``LogBroker.place_next`` for ``place_new``), and a
record's reordering decided by its partition's last id alone under the key
partitioner -- each run here is made twice, with the shortcut and with the
general way forced, and must give the same fingerprint (summary, series and
trace, byte for byte). (A record taken as it arrives, ``Member._take_one``, has
its own such test in ``test_model.py``.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import alosim
from alosim.model.log import PLACE_BLOCK, LogBroker
from alosim.model.world import World
from tests.conftest import make
from tests.log.test_model import BASE, CRASHES

#: Reorderings (exponential latency), retries appended twice (lost acks), crashes,
#: two producers and a traced head: every cause of an effect out of order.
BUSY: dict[str, Any] = {
    "sender.count": 2, "network.data.loss": 0.1, "network.ack.loss": 0.1,
    "network.data.latency": {"dist": "exponential", "mean": 0.002},
    "consumer.processing": {"dist": "constant", "value": 0.0}, "consumer.fetch_batch": 1,
    "faults": CRASHES, "observe.trace_messages": 100}

CASES: dict[str, dict[str, Any]] = {
    "uniform keys": {},
    "zipf keys": {"broker.keys": {"count": 30, "dist": "zipf", "s": 1.2}},
    "one key": {"broker.keys.count": 1},
    "one partition": {"broker.partitions": 1},
    "batches and after-batch commits": {"consumer.fetch_batch": 10, "consumer.commit.policy": "after-batch"},
    "an idempotent producer": {"broker.dedup.kind": "sequence"},
}


def both(overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch, shortcut: str) -> tuple[Any, Any]:
    """The run with the log's shortcuts, and with ``shortcut`` switched off."""
    scenario = make(BASE, **{**BUSY, **overrides})
    fast = alosim.simulate(scenario)
    with monkeypatch.context() as patch:
        if shortcut == "placed in blocks":
            patch.setattr(LogBroker, "place_next", LogBroker.place_new)
        else:
            init = LogBroker.__init__

            def keyed(log: LogBroker, *args: Any) -> None:
                init(log, *args)
                log._key_order = True  # the key's last id checked too

            patch.setattr(LogBroker, "__init__", keyed)
        slow = alosim.simulate(scenario)
    return fast, slow


@pytest.mark.parametrize("shortcut", ["placed in blocks", "reordering by partition"])
@pytest.mark.parametrize("case", CASES)
def test_a_shortcut_changes_no_result(case: str, shortcut: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = both(CASES[case], monkeypatch, shortcut)
    s = fast.summary
    assert s["processed"] > 3000 and s["log_consumer_crashes"] > 0  # the general path has work to do
    if case == "uniform keys":
        assert s["out_of_order_key_network_reordered"] > 0 and s["out_of_order_key_producer_retry_reordered"] > 0
    assert fast.fingerprint == slow.fingerprint
    assert fast.summary == slow.summary
    assert fast.trace == slow.trace


@pytest.mark.parametrize("keys", [{"count": 1000}, {"count": 1}, {"count": 10**7},
                                  {"count": 500, "dist": "zipf", "s": 0.7}])
@pytest.mark.parametrize("partitions", [1, 3, 16])
def test_ids_placed_in_blocks_land_where_one_by_one_they_would(keys: dict[str, Any], partitions: int) -> None:
    # Across block boundaries, from any first id, and for ids far from 0.
    world = World(make(BASE, **{"broker.keys": keys, "broker.partitions": partitions}), 5)
    log = world.pipeline.log
    for first in (0, 17, 2**40 + 3):
        ids = range(first, first + 2 * PLACE_BLOCK + 5)
        assert [log.place_next(0, i) for i in ids] == [log.place_new(0, i) for i in ids]


def test_hashes_round_to_the_nearest_double_as_python_does() -> None:
    # The block's hash goes to a double by numpy's cast, one by one by Python's
    # int / float: both must round to nearest, ties to even (53 of 64 bits kept).
    rng = np.random.default_rng(2)
    high = rng.integers(1 << 52, 1 << 53, size=20_000, dtype=np.uint64) << np.uint64(11)
    values = np.concatenate([high | np.uint64(low) for low in (0x3FF, 0x400, 0x401, 0x800, 0xC00, 0x7FF)]
                            + [np.array([2**64 - 1, 2**63, 2**53 + 1, 1, 0], dtype=np.uint64)])
    assert values.astype(np.float64).tolist() == [int(v) / 1.0 for v in values.tolist()]
