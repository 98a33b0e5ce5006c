"""The log and its consumer group: what each commit policy and fault does,
and the books (``LogPipeline.conservation``), each identity able to fail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import alosim
from alosim.model.world import World
from tests.conftest import assert_books_catch, make

BASE = """
name: log
seed: 3
messages: 3000
sender: {rate: 500/s, window: 5, retry: {timeout: 50ms}}
network:
  data: {latency: {dist: constant, value: 1ms}}
  ack: {latency: {dist: constant, value: 1ms}}
broker: {kind: log, partitions: 4, keys: {count: 40}}
consumer:
  count: 2
  processing: {dist: exponential, mean: 1ms}
  fetch_batch: 10
  session_timeout: 200ms
faults: []
"""

CRASHES = [{"target": "consumers", "mtbf": 1.0, "mttr": 0.1}]


def run(**overrides: Any) -> dict[str, Any]:
    return alosim.simulate(make(BASE, **overrides)).summary


def test_interval_commits_replay_after_a_crash_and_charge_it() -> None:
    s = run(**{"consumer.commit": {"policy": "interval", "interval": 0.5}, "faults": CRASHES})
    assert s["log_consumer_crashes"] > 0 and s["lost"] == 0
    assert s["duplicates_consume_replay_after_crash"] > 0
    assert s["duplicate_processing"] == s["duplicates_consume"] + s["duplicates_publish"]
    assert s["log_rebalances"] > 0


def test_without_faults_or_loss_every_policy_processes_each_message_once() -> None:
    for policy in ("after-each", "after-batch", "interval", "before-processing", "transactional"):
        s = run(**{"consumer.commit.policy": policy})
        assert s["processed"] == 3000 and s["duplicate_processing"] == 0, policy
        assert s["out_of_order_key"] == 0 and s["lost"] == 0, policy


def test_commit_before_processing_loses_what_was_in_hand() -> None:
    s = run(**{"consumer.commit.policy": "before-processing", "faults": CRASHES})
    assert s["lost_commit_before_processing_crash"] > 0
    assert s["lost"] == s["lost_commit_before_processing_crash"]
    assert s["duplicates_consume"] == 0


def test_a_transactional_sink_has_no_duplicate_effect_despite_crashes() -> None:
    s = run(**{"consumer.commit.policy": "transactional", "faults": CRASHES,
               "broker.dedup.kind": "sequence",
               "network.data.loss": 0.1, "network.ack.loss": 0.1})
    assert s["log_consumer_crashes"] > 0 and s["log_records_dropped"] > 0
    assert s["duplicate_processing"] == 0 and s["lost"] == 0


def test_idempotence_keeps_order_and_drops_retries() -> None:
    lossy = {"network.data.loss": 0.1, "network.ack.loss": 0.1, "consumer.commit.policy": "after-each"}
    off = run(**lossy)
    on = run(**lossy, **{"broker.dedup.kind": "sequence"})
    assert off["out_of_order_key_producer_retry_reordered"] > 0
    assert off["duplicates_publish_producer_retry_duplicated"] > 0
    assert on["out_of_order_key"] == 0 and on["out_of_order_partition"] == 0
    assert on["duplicate_processing"] == 0
    assert on["log_publishes_out_of_sequence"] > 0 and on["log_publish_duplicates_caught"] > 0


def test_a_stalled_consumer_is_kicked_out_and_its_work_done_twice() -> None:
    s = run(**{"consumer.processing": {"dist": "exponential", "mean": 0.004},
               "consumer.max_poll_interval": 0.06, "consumer.commit.policy": "after-batch",
               "max_time": 20.0})
    assert s["log_members_kicked_out"] > 0 and s["log_commits_failed"] > 0
    assert s["duplicates_consume_stalled_consumer_kicked_out"] > 0


def test_retention_loses_what_a_lagging_group_never_read() -> None:
    s = run(**{"broker.retention": 0.5, "consumer.processing": {"dist": "constant", "value": 0.01},
               "consumer.count": 1})
    assert s["log_records_expired"] > 0
    assert s["lost_retention_expired"] > 0 and s["lost"] == s["lost_retention_expired"]


def test_a_commit_in_flight_at_a_rebalance_is_replayed_after_it() -> None:
    s = run(**{"consumer.commit": {"policy": "after-batch", "latency": 0.02},
               "faults": [{"target": "consumer-1", "mtbf": 0.3, "mttr": 0.05}]})
    assert s["duplicates_consume_replay_after_rebalance"] > 0


def test_a_broker_crash_stops_publishes_and_fetches() -> None:
    s = run(**{"faults": [{"target": "broker", "at": 1.0, "for": 0.5}]})
    assert s["log_broker_crashes"] == 1 and s["log_publishes_dropped_while_down"] > 0
    assert s["lost"] == 0 and s["processed"] - s["duplicate_processing"] == 3000


def test_same_seed_same_bytes() -> None:
    a = alosim.simulate(make(BASE, faults=CRASHES))
    b = alosim.simulate(make(BASE, faults=CRASHES))
    assert a.fingerprint == b.fingerprint


# -- the books ------------------------------------------------------------------------

BUSY = dict(faults=[{"target": "consumers", "mtbf": 0.1, "mttr": 0.05},
                    {"target": "broker", "at": 0.5, "for": 0.1}],
            **{"network.data.loss": 0.1, "network.ack.loss": 0.1, "network.data.duplicate": 0.05,
               "consumer.commit": {"policy": "after-batch", "latency": 0.005},
               "consumer.max_poll_interval": 0.012, "broker.retention": 0.03, "max_time": 3.0})


def busy_world() -> World:
    world = World(make(BASE, **BUSY), 3)
    world.run()  # balances, or the books_balance fixture fails the test
    return world


def test_a_busy_log_uses_every_term() -> None:
    world = busy_world()
    stats = world.pipeline.stats
    for name in ("records_dropped", "commits_lost", "commits_failed", "records_expired",
                 "publishes_dropped_while_down", "rebalances"):
        assert getattr(stats, name) > 0, name


def _stat(name: str) -> Callable[[World], None]:
    def breaks(world: World) -> None:
        setattr(world.pipeline.stats, name, getattr(world.pipeline.stats, name) + 1)
    return breaks


def _rec(name: str) -> Callable[[World], None]:
    def breaks(world: World) -> None:
        setattr(world.rec, name, getattr(world.rec, name) + 1)
    return breaks


def _order(world: World) -> None:
    world.pipeline.stats.out_of_order_key["unexplained"] += 1


def _end(world: World) -> None:
    world.pipeline.log.partitions[0].end += 1


@pytest.mark.parametrize(("breaks", "expected"), [
    (_stat("publishes_dropped_while_down"), ["publishes: transmissions"]),
    (_stat("publishes_out_of_sequence"), ["publishes: arrived"]),
    (_stat("records_appended"), ["publishes: arrived", "publish acks", "records: appended",
                                 "records: the partitions"]),
    (_stat("publish_duplicates_caught"), ["publishes: arrived", "publish acks",
                                          "duplicates_detected"]),
    (_end, ["records: the partitions"]),
    (_stat("records_fetched"), ["fetched"]),
    (_stat("records_dropped"), ["fetched"]),
    (_stat("records_processed"), ["fetched", "records processed"]),
    (_stat("commits"), ["commits"]),
    (_stat("commits_lost"), ["commits"]),
    (_rec("acks_sent"), ["publish acks", "acks_sent"]),
    (_order, ["1 effects out of key order"]),
])
def test_the_log_books_catch_a_miscount(breaks: Callable[[World], None], expected: list[str]) -> None:
    assert_books_catch(busy_world(), breaks, expected)


def test_a_crash_during_a_rebalance_delay_does_not_assign_twice() -> None:
    # A second call to complete the same rebalance once reset the members'
    # positions without charging the replays: unexplained duplicates, which
    # the books refuse (simulate raises). This scenario ran into it at 46 s.
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scenarios" / "kafka-rebalance-storm.yaml"
    s = alosim.simulate(alosim.load_scenario(path)).summary
    assert s["log_rebalances"] > 20 and s["duplicates_consume_unexplained"] == 0


# -- idempotence per (producer, partition) ----------------------------------------------

def test_an_idempotent_log_appends_each_producer_partition_in_sequence(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from alosim.model.group import ConsumerGroup
    from alosim.model.log import LogBroker, Partition

    rows: list[tuple[int, int, int, int]] = []  # producer, numbered partition, number, placed partition
    appended = ConsumerGroup.appended

    def spy(group: ConsumerGroup, p: int, partition: Partition, offset: int) -> None:
        # The log tells the group of each record it appends, at once.
        assert partition is group.log.partitions[p] and offset == partition.end - 1
        msg = partition.records[-1].msg
        rows.append((msg.sender, msg.receiver, msg.seq, LogBroker.place(msg)[1]))
        appended(group, p, partition, offset)

    monkeypatch.setattr(ConsumerGroup, "appended", spy)
    world = World(make(BASE, **{"sender.count": 2, "network.data.loss": 0.1,
                                "network.ack.loss": 0.1, "broker.dedup.kind": "sequence"}), 3)
    world.run()
    assert len(rows) == 3000  # each message once
    seen: dict[tuple[int, int], list[int]] = {}
    for sender, receiver, seq, partition in rows:
        assert receiver == partition  # numbered on the partition it lands on
        seen.setdefault((sender, partition), []).append(seq)
    assert len(seen) == 8  # 2 producers x 4 partitions
    for numbers in seen.values():
        assert numbers == list(range(len(numbers)))
    assert world.pipeline.stats.publishes_out_of_sequence > 0


def test_a_gap_holds_back_only_its_own_partition() -> None:
    # Window 5: a lost publish holds back the later ones in flight. Numbered per
    # producer, every one of them would be refused whatever its partition; per
    # (producer, partition), only those on the lost one's partition (1 in 8).
    lossy = {"network.data.loss": 0.05, "broker.dedup.kind": "sequence", "broker.keys.count": 800}
    one = run(**lossy, **{"broker.partitions": 1})
    eight = run(**lossy, **{"broker.partitions": 8})
    assert one["log_publishes_out_of_sequence"] > 100
    assert eight["log_publishes_out_of_sequence"] < one["log_publishes_out_of_sequence"] / 3
    for s in (one, eight):
        assert s["out_of_order_partition"] == 0 and s["duplicate_processing"] == 0


def test_duplicates_past_the_five_cached_batches_are_counted() -> None:
    # A 50 ms retry timeout against a 2 ms round trip: while a publish whose ack
    # was lost waits, the other four slots of the window append many more.
    s = run(**{"network.ack.loss": 0.1, "broker.dedup.kind": "sequence", "broker.partitions": 1})
    assert 0 < s["log_publish_duplicates_past_cache"] <= s["log_publish_duplicates_caught"]
    assert s["duplicate_processing"] == 0


def test_a_link_that_reorders_is_charged_as_such_not_to_producer_retries() -> None:
    # No loss: nothing is retried, so whatever lands out of order was overtaken on the link.
    jumbled = {"network.data.latency": {"dist": "exponential", "mean": 0.005},
               "sender.retry.timeout": 0.5, "consumer.commit.policy": "after-each"}
    s = run(**jumbled)
    assert s["retransmissions"] == 0
    assert s["out_of_order_partition_network_reordered"] > 0
    assert s["out_of_order_partition"] == s["out_of_order_partition_network_reordered"]
    assert s["out_of_order_key_producer_retry_reordered"] == 0
    fifo = run(**jumbled, **{"network.data.fifo": True})
    assert fifo["out_of_order_partition"] == 0 and fifo["out_of_order_key"] == 0
    # Lossy, FIFO: only retries reorder.
    lossy = run(**{"network.data.loss": 0.1, "network.data.fifo": True,
                   "consumer.commit.policy": "after-each"})
    assert lossy["out_of_order_partition_producer_retry_reordered"] > 0
    assert lossy["out_of_order_partition_network_reordered"] == 0


# A member kicked out for a stall still processes its batch. With retention
# moving the log start past a record it holds, the next owner may process the
# retry's record of a message (the producer appended it twice) before the
# kicked member processes the first: the first record's effect is then the
# duplicate, charged to nothing until it was charged to the producer retry.
# (The case: 50 messages, retry timeout 20 ms, retention 200 ms, two
# consumers, constant 10 ms processing, max_poll_interval 50 ms.)
KICKED = """
name: kicked-first-record
seed: 31
messages: 50
sender: {retry: {timeout: 20ms}}
broker: {kind: log, retention: 200ms}
consumer: {count: 2, processing: {dist: exponential, mean: 15ms}, fetch_batch: 3,
           max_poll_interval: 50ms}
observe: {trace_messages: 50}
"""


def test_each_duplicate_effect_is_charged_to_the_record_that_caused_it() -> None:
    r = alosim.simulate(make(KICKED))
    s = r.summary
    effects: dict[int, list[tuple[str, int]]] = {}
    for e in r.trace:
        if e.event == "processed":
            effects.setdefault(e.message, []).append((e.actor, e.attempt))  # attempt: the offset
    # Effects of a message on another record than its first-processed one are
    # the producer's duplicates; more effects of one record are replays.
    publish = sum(len({offset for _, offset in done}) - 1 for done in effects.values())
    consume = sum(len(done) - len({offset for _, offset in done}) for done in effects.values())
    # The case itself: a record whose first effect came after a later record's.
    late_first = sum(1 for done in effects.values() for i, (_, offset) in enumerate(done)
                     if offset not in {o for _, o in done[:i]} and any(o > offset for _, o in done[:i]))
    assert late_first > 0
    assert s["duplicates_publish_producer_retry_duplicated"] == s["duplicates_publish"] == publish
    assert s["duplicates_consume"] == consume
    assert s["duplicates_publish_unexplained"] == s["duplicates_consume_unexplained"] == 0
    assert s["out_of_order_partition_unexplained"] == s["out_of_order_key_unexplained"] == 0


def test_an_aborted_transaction_rewinds_and_loses_nothing() -> None:
    # The member fetched three records at 5 ms; the log is down from 10 to 20 ms,
    # so the first record's transaction (15 ms) aborts. The member used to go
    # on with the second record once the log was back and commit past the first,
    # which was never processed: a loss without a cause.
    r = alosim.simulate(make("""
name: aborted-transaction
semantics: exactly-once
messages: 3
sender: {window: 3, retry: {timeout: 1s}}
network:
  data: {latency: {dist: constant, value: 1ms}}
  ack: {latency: {dist: constant, value: 1ms}}
broker: {kind: log}
consumer:
  processing: {dist: constant, value: 10ms}
  fetch_batch: 3
  commit: {policy: transactional}
faults: [{target: consumer-0, at: 0s, for: 5ms}, {target: broker, at: 10ms, for: 10ms}]
observe: {trace_messages: 3}
"""))
    s = r.summary
    assert s["lost"] == 0 and s["processed"] == 3 and s["duplicate_processing"] == 0
    fetches = [(e.time_s, e.detail) for e in r.trace if e.event == "fetch"]
    assert fetches == [(0.005, "p0@0..2"), (0.02, "p0@0..2")]  # read again when the log is back
    assert s["log_records_dropped"] == 3


# -- timers and scans that cost without doing anything ---------------------------------------

INSTANT = {"consumer.processing": {"dist": "constant", "value": 0.0}, "consumer.fetch_batch": 1}


def test_a_poll_interval_that_never_passes_keeps_no_timer_per_fetch() -> None:
    # Instant processing: no batch is ever held for max_poll_interval (300 s),
    # so its deadline never fires. One re-armed timer per member, not one per
    # fetch (3,000 here), is all the event queue holds for it.
    world = World(make(BASE, **INSTANT), 3)
    env = world.env
    longest = [0]

    def watch():
        while True:
            longest[0] = max(longest[0], len(env._queue))
            yield env.timeout(0.05)

    env.process(watch())
    world.run()
    assert world.pipeline.stats.records_fetched == 3000
    assert longest[0] < 60  # senders, links in flight, faults, samplers: a handful each


def test_a_batch_costs_one_fetch_not_one_more_empty_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    from alosim.model.group import Member

    scans, fetched = [0], [0]
    fetch = Member._fetch

    def counting(member: Member) -> bool:
        scans[0] += 1
        found = fetch(member)
        fetched[0] += found
        return found

    take_one = Member._take_one

    def taking(member: Member, p: int, partition: Any, position: int) -> None:
        # A record taken as it arrives: a fetch without a scan of the other partitions.
        scans[0] += 1
        before = member.group.stats.records_fetched
        take_one(member, p, partition, position)
        fetched[0] += member.group.stats.records_fetched > before

    monkeypatch.setattr(Member, "_fetch", counting)
    monkeypatch.setattr(Member, "_take_one", taking)
    s = run(**INSTANT)
    assert s["processed"] == 3000 and fetched[0] == 3000
    assert scans[0] < 1.05 * fetched[0]


@pytest.mark.parametrize("policy", ["interval", "after-batch", "before-processing"])
def test_a_record_taken_as_it_arrives_changes_no_result(policy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Member._take_one does for a batch of one what run, _fetch, _effect and
    # _batch_done do: switched off, the same run gives the same fingerprint,
    # events (reserved places included) and trace, with crashes, losses,
    # retries appended twice and commits in flight.
    from alosim.model.group import Member

    scenario = make(BASE, **{**INSTANT, "consumer.fetch_batch": 10, "consumer.commit.policy": policy,
                             "consumer.commit.latency": 0.005, "faults": CRASHES,
                             "network.data.loss": 0.05, "network.ack.loss": 0.05,
                             "observe.trace_messages": 200})
    taken = [0]
    take_one = Member._take_one

    def counting(member: Member, *args: Any) -> None:
        taken[0] += 1
        take_one(member, *args)

    with monkeypatch.context() as patch:
        patch.setattr(Member, "_take_one", counting)
        fast = alosim.simulate(scenario)
    init = Member.__init__

    def plain(member: Member, *args: Any) -> None:
        init(member, *args)
        member._takes_one = False

    with monkeypatch.context() as patch:
        patch.setattr(Member, "__init__", plain)
        slow = alosim.simulate(scenario)
    assert taken[0] > 1000  # most records, not a path never taken
    assert fast.summary["log_consumer_crashes"] > 0 and fast.summary["duplicate_processing"] > 0
    assert fast.fingerprint == slow.fingerprint
    assert fast.summary == slow.summary
    assert fast.trace == slow.trace


def test_a_member_still_on_its_batch_at_the_poll_interval_is_kicked_out_at_that_time() -> None:
    # The lazily re-armed timer fires at the deadline of the batch in hand,
    # not at that of an earlier batch (fetch_batch 4, 4 ms per record, 10 ms interval).
    # A batch takes 16 ms, longer than the interval, so every member is kicked out before it
    # commits and the group never gets past its first records: the run ends on its stall
    # budget, blamed on the rebalances (a small budget: the default spends 10 million units).
    s = run(**{"consumer.processing": {"dist": "constant", "value": 0.004}, "consumer.fetch_batch": 4,
               "consumer.max_poll_interval": 0.01, "messages": 200, "budget.stall_events": 20_000})
    assert s["log_members_kicked_out"] > 0 and s["lost"] == 0
    assert s["stopped_by"] == "stall" and s["stall_cause"] == "rebalances"
