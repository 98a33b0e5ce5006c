"""The pipeline's books: each identity holds on a busy run, and each can fail.

:meth:`alosim.model.pipeline.Pipeline.conservation` runs after every pipeline
run (``World.run`` raises if it fails). These tests break one counter at a
time and see the identity that reads it fail, cut runs short so that every
"still in flight" term is exercised, and check the rules for what a broker's
or a consumer's store may drop: a duplicate caught, a Bloom false positive
(a loss) or a stale publish.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import alosim
from alosim.model.world import World
from alosim.scenario import ScenarioError
from tests.conftest import assert_books_catch, make

BUSY = """
name: busy
seed: 5
semantics: at-least-once
messages: 600
sender: {window: 16, retry: {timeout: 80ms, max_attempts: 4}}
network:
  data: {loss: 0.1, duplicate: 0.05, latency: {dist: exponential, mean: 10ms}}
  ack: {loss: 0.1, duplicate: 0.05, latency: {dist: exponential, mean: 10ms}}
  consume:
    data: {loss: 0.1, duplicate: 0.05, latency: {dist: exponential, mean: 10ms}}
    ack: {loss: 0.1, duplicate: 0.05, latency: {dist: exponential, mean: 10ms}}
broker:
  visibility_timeout: 50ms
  max_deliveries: 3
  service: {dist: exponential, mean: 2ms}
  dedup: {kind: ttl, window: 150ms}
consumer:
  count: 2
  concurrency: 2
  nack_probability: 0.1
  processing: {dist: exponential, mean: 10ms}
  dedup: {kind: set, durable: false, write_delay: 5ms}
faults:
  - {target: broker, mtbf: 1s, mttr: 50ms}
  - {target: consumer-1, mtbf: 0.7s, mttr: 100ms}
"""


def busy_world(**overrides: Any) -> World:
    world = World(make(BUSY, **overrides), 5)
    world.run()  # balances, or the books_balance fixture fails the test
    return world


def test_a_busy_pipeline_balances_and_uses_every_term() -> None:
    world = busy_world()
    stats = world.pipeline.stats
    # The terms the identities read are not all zero: the books are tested.
    for name in ("publishes_accepted", "publish_duplicates_caught", "publishes_dropped_while_down",
                 "consume_data_lost", "consume_network_duplicates", "consumer_dropped_in_crash",
                 "consumer_duplicates_caught", "processing_failures", "nacks", "consumer_acks_lost",
                 "consumer_acks_late", "consumer_acks_dropped_while_down", "dead_lettered",
                 "lease_expiries"):
        assert getattr(stats, name) > 0, name
    assert world.rec.acks_sent == (stats.publishes_accepted + stats.publish_duplicates_caught
                                   + stats.publish_false_positives + stats.publish_stale_drops)
    assert world.conservation(world.packets_in_flight()) == []


def test_a_run_cut_short_counts_what_is_still_travelling_on_every_hop() -> None:
    # A steady flow stopped by max_time: packets on all four links, publishes
    # being written, deliveries waiting and at work.
    world = busy_world(**{"messages": None, "duration": 5.0, "sender.rate": 500.0, "max_time": 1.0,
                          "broker.service": {"dist": "exponential", "mean": 0.02}, "faults": []})
    in_flight = world.packets_in_flight()
    for name in ("data", "ack", "consume.data", "consume.ack", "broker.service"):
        assert in_flight[name] > 0, name
    assert world.pipeline.broker.live
    assert world.conservation(in_flight) == []


def _bump(path: str, by: int = 1) -> Callable[[World], None]:
    def bump(world: World) -> None:
        owner: Any = world
        *parts, last = path.split(".")
        for part in parts:
            owner = getattr(owner, part)
        setattr(owner, last, getattr(owner, last) + by)
    return bump


def _held(world: World) -> None:
    world.pipeline.broker.held[0] += 1


def _cause(hop: str, cause: str) -> Callable[[World], None]:
    def move(world: World) -> None:
        stats = world.pipeline.stats
        causes = stats.publish_duplicates if hop == "publish" else stats.consume_duplicates
        causes[cause] += 1
    return move


def _unexplained(world: World) -> None:
    stats = world.pipeline.stats
    cause = max(stats.consume_duplicates, key=stats.consume_duplicates.__getitem__)
    stats.consume_duplicates[cause] -= 1
    stats.publish_duplicates["unexplained"] += 1


MISCOUNTS = [
    # (what breaks, the identities it must break, by the start of their message)
    (_bump("rec.data_lost"), ["publishes: transmissions"]),
    (_bump("pipeline.stats.publishes_lost_in_crash"), ["publishes: arrived"]),
    (_bump("pipeline.stats.publishes_accepted"),
     ["publishes: arrived", "publish acks", "broker entries: accepted"]),
    (_bump("rec.acks_sent"), ["publish acks", "acks_sent"]),
    (_bump("rec.late_acks"), ["acks_sent"]),
    (_bump("rec.duplicates_detected"), ["duplicates_detected"]),
    (_bump("rec.false_positive_drops"), ["false_positive_drops"]),
    (_bump("rec.stale_drops"), ["stale_drops"]),
    (_bump("pipeline.stats.broker_lost_in_crash"), ["broker entries: accepted"]),
    (_bump("pipeline.broker.ready_count"), ["broker entries: ready"]),
    (_held, ["broker: deliveries held"]),
    (_bump("pipeline.stats.dlq_size"), ["dlq_size"]),
    (_bump("pipeline.stats.consume_network_duplicates"), ["consume_network_duplicates"]),
    (_bump("pipeline.stats.consume_data_lost"), ["deliveries: consume_deliveries"]),
    (_bump("pipeline.stats.consumer_dropped_while_down"), ["deliveries: consume_deliveries"]),
    (_bump("pipeline.stats.processing_failures"), ["deliveries: consumer arrivals"]),
    (_bump("pipeline.stats.nacks_stale"), ["consumer acks"]),
    (_bump("pipeline.stats.consumer_acks_lost"), ["consumer acks"]),
    (_cause("consume", "lease_expired"), ["duplicate processings by cause"]),
    (_cause("publish", "no_dedup"), ["duplicate processings by cause"]),
    (_unexplained, ["1 duplicate processings without a cause"]),
    (_bump("rec.lost"), ["processed_unique", "losses by cause"]),
]


@pytest.mark.parametrize(("breaks", "expected"), MISCOUNTS)
def test_the_pipeline_books_catch_a_miscount(breaks: Callable[[World], None],
                                             expected: list[str]) -> None:
    assert_books_catch(busy_world(), breaks, expected)


def _pulled(world: World) -> None:
    world.pipeline.broker.pulled[0] += 1  # as a broker that missed a pull consumer's "done"


REAL_CLIENTS = {"broker.reclaim": {"interval": "20ms", "jitter": True},
                "consumer.start_delay": {"dist": "uniform", "low": "1ms", "high": "3ms"},
                "consumer.lease_extension": {"every": "15ms", "max": "120ms"},
                "consumer.pull": {"batch": 3}}


def test_a_busy_pipeline_of_real_clients_balances_and_uses_their_terms() -> None:
    """Polled reclaim, start delays, lease extensions on a lossy ack link and
    pull consumers that crash: the books still balance."""
    world = busy_world(**REAL_CLIENTS)
    stats = world.pipeline.stats
    assert stats.lease_extensions_applied and stats.lease_extensions_lost
    assert stats.lease_extensions_ignored and stats.lease_expiries
    assert stats.consumer_crashes and stats.consumer_dropped_in_crash


@pytest.mark.parametrize(("breaks", "expected"), [
    (_bump("pipeline.stats.lease_extensions_sent"), ["consumer acks"]),
    (_bump("pipeline.stats.lease_extensions_lost"), ["consumer acks"]),
    (_bump("pipeline.stats.lease_extensions_applied"), ["consumer acks"]),
    (_pulled, ["pull: consumer-0"]),
])
def test_the_books_of_real_clients_catch_a_miscount(breaks: Callable[[World], None],
                                                    expected: list[str]) -> None:
    assert_books_catch(busy_world(**REAL_CLIENTS), breaks, expected)


@pytest.mark.books_may_fail
def test_a_miscount_at_the_end_of_a_run_is_a_failed_book_not_an_exception() -> None:
    world = World(make(BUSY), 5)
    world.pipeline.stats.consumer_arrivals += 1  # as a consumer that counted an arrival twice
    world.run()
    broken = {b.name: b.detail for b in world.broken_books}
    assert list(broken) == ["consume_deliveries", "consumer_arrivals"]
    assert broken["consumer_arrivals"].startswith("deliveries: consumer arrivals")


# -- sequence stores ----------------------------------------------------------------

SEQUENCE = """
name: seq
seed: 2
semantics: at-least-once
messages: 3000
sender: {window: 16, retry: {timeout: 60ms, max_attempts: 2}}
network:
  data: {loss: 0.3, latency: {dist: exponential, mean: 50ms}}
  ack: {loss: 0.1, latency: {dist: exponential, mean: 10ms}}
broker: {dedup: {kind: sequence, durable: true}}
consumer: {dedup: {kind: none}}
observe: {trace_messages: 3000}
"""


def test_a_broker_sequence_store_is_told_the_producers_floor() -> None:
    scenario = make(SEQUENCE)
    world = World(scenario, 2)
    assert world.sequence_floors
    world.run()
    stats, rec = world.pipeline.stats, world.rec
    assert stats.publish_duplicates_caught > 0
    # Late publishes of given-up messages are dropped as stale, never caught
    # as duplicates, and the message stays lost under the producer's cause.
    assert stats.publish_stale_drops == rec.stale_drops > 0
    assert rec.loss_causes["max_attempts"] == rec.lost > 0
    # The floor closed every gap a given-up message left: one mark, nothing above it.
    assert world.pipeline.broker.store.entries == 1
    r = alosim.simulate(scenario)
    gave_up = {e.message for e in r.trace if e.event == "gave_up"}
    stale = [e.message for e in r.trace if e.event == "duplicate_detected" and e.detail == "stale"]
    assert stale and set(stale) <= gave_up


def test_without_floors_the_broker_sequence_store_would_keep_every_gap() -> None:
    # The counterfactual that shows the floors matter: the same run with the
    # producer not telling its floor leaves a gap per given-up message.
    world = World(make(SEQUENCE), 2)
    world.sequence_floors = False
    for sender in world.senders:
        sender._floors = False
    world.run()
    assert world.pipeline.broker.store.entries > 1
    assert world.pipeline.stats.publish_stale_drops == 0


def test_a_consumer_sequence_store_is_refused_in_one_line() -> None:
    with pytest.raises(ScenarioError) as info:
        make(SEQUENCE, **{"consumer.dedup.kind": "sequence"})
    message = str(info.value)
    assert "consumer.dedup.kind" in message and "broker.dedup.kind" in message
    assert "\n" not in message


# -- Bloom filters ------------------------------------------------------------------

TINY_BLOOM = {"kind": "bloom", "capacity": 100, "fp_rate": 0.05}

BLOOM = """
name: bloom
semantics: at-least-once
messages: 400
sender: {window: 8, retry: {timeout: 1s}}
network:
  data: {latency: {dist: constant, value: 10ms}}
  ack: {latency: {dist: constant, value: 10ms}}
  consume:
    data: {latency: {dist: constant, value: 10ms}}
    ack: {latency: {dist: constant, value: 10ms}}
broker: {visibility_timeout: 10s}
consumer: {dedup: {kind: none}}
observe: {trace_messages: 400}
"""


def _false_positives(where: str, seed: int) -> tuple[dict[str, Any], list[int]]:
    scenario = make(BLOOM, **{f"{where}.dedup": TINY_BLOOM, "seed": seed})
    r = alosim.simulate(scenario)
    ids = [e.message for e in r.trace if e.event == "duplicate_detected"]
    assert all(e.detail == "false positive" for e in r.trace if e.event == "duplicate_detected")
    return r.summary, ids


@pytest.mark.parametrize("where", ["broker", "consumer"])
def test_a_tiny_bloom_filter_loses_new_messages_and_catches_nothing(where: str) -> None:
    # No loss, no redelivery: every message is published and delivered once,
    # so whatever the filter claims is a false positive -- a loss, counted
    # once per message under bloom_false_positive, never a duplicate caught.
    s, ids = _false_positives(where, 1)
    fp = s["publish_false_positives"] if where == "broker" else s["consumer_false_positives"]
    assert fp == s["false_positive_drops"] == len(ids) > 0
    assert s["duplicates_detected"] == 0 and s["duplicate_processing"] == 0
    assert s["lost"] == s["lost_bloom_false_positive"] == len(set(ids))
    assert s["processed"] + s["lost"] == s["messages"]


@pytest.mark.parametrize("where", ["broker", "consumer"])
def test_which_messages_a_bloom_filter_loses_depends_on_the_seed(where: str) -> None:
    # The filter's hashes are salted from the run's streams: another seed,
    # other collisions. Nothing else in this run is random (constant
    # latencies, no loss): with salt 0 every seed lost the same messages.
    _, a = _false_positives(where, 1)
    _, b = _false_positives(where, 2)
    _, a_again = _false_positives(where, 1)
    assert a == a_again
    assert set(a) != set(b)


def test_the_broker_and_the_consumer_salt_their_filters_apart() -> None:
    world = World(make(BLOOM, **{"broker.dedup": TINY_BLOOM, "consumer.dedup": TINY_BLOOM}), 3)
    assert world.pipeline.broker.store.salt != world.pipeline.consumer_store.store.salt


def test_a_bloom_filters_bytes_count_from_the_start() -> None:
    # Its bit array is allocated whole: held before the first id is stored.
    world = World(make(BLOOM, **{"broker.dedup": TINY_BLOOM, "consumer.dedup": TINY_BLOOM}), 3)
    nbytes = world.pipeline.broker.store.nbytes
    assert nbytes > 0
    assert world.pipeline.stats.broker_store == [0, nbytes]
    assert world.pipeline.stats.consumer_store == [0, nbytes]
    assert world.rec.dedup_bytes == 2 * nbytes
