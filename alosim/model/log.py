"""A Kafka-style log broker, and the wiring of a pipeline on a log.

A scenario with ``broker: {kind: log}`` is built here (:class:`LogPipeline`)
instead of as a queue pipeline (:mod:`alosim.model.pipeline`). The producers
are the single hop's senders, unchanged (their ``window`` is Kafka's
``max.in.flight.requests.per.connection``); what they send to is the log.

**Partitions and keys.** Each message has a key, a fixed function of its id
and the run's seed (uniform over ``keys.count`` keys, or Zipf), so that every
retry of it carries the same key. The ``key`` partitioner puts key k on
partition k mod ``partitions``; ``round-robin`` deals a producer's messages
in turn by sequence number. A partition is a sequence of records numbered by
offset; appending one never moves another.

**Producers.** A producer is the single hop's sender (its ``window`` is
Kafka's ``max.in.flight.requests.per.connection``) with one difference
(:class:`Producer`): the partitioner runs when a message is created, as in
Kafka's ``producer.send``, and the message is numbered per (producer,
partition) -- ``msg.receiver`` is its partition and ``msg.seq`` its sequence
number there, so that each partition is a connection of its own (a FIFO data
link keeps order per partition).

**Producer idempotence.** Without a store the log appends every publish that
arrives: a retry whose first copy got through (its ack was lost) is a second
record, and a retry of a lost publish lands after the later messages of its
window -- out of order. With ``dedup.kind: sequence`` (``enable.idempotence``)
the log keeps, per (producer, partition), the next sequence number it expects
and the numbers of the last :data:`CACHED_BATCHES` (5) records it appended,
as Kafka's broker does. A publish numbered below the next expected is a
duplicate (acked, dropped; Kafka answers it with the offset of the cached
batch); one above it is refused without an ack (Kafka's
OutOfOrderSequence; the producer retries it), so neither duplicates nor
reorderings are appended. A gap the producer gave up on is skipped when its
floor (carried by every publish) passes it.

What is simplified: Kafka loses a response only with its connection, which
fails every request in flight on it, so with at most 5 in flight a retry is
always one of the last 5 batches of its partition. Here acks are lost one at
a time, and later publishes of the partition can be appended while a retry
waits its timeout; a duplicate older than the cached 5 (where Kafka would
answer OutOfOrderSequence for a batch it holds) is still recognised, acked,
and counted in ``publish_duplicates_past_cache``. A refused publish is not
answered (Kafka answers with the error and the producer resends it after
``retry.backoff.ms``): it is resent when its retry timer fires. A message is
one batch.

**Retention.** A record older than ``retention`` is deleted whether or not
the group has consumed it: one never processed is lost (cause
``retention_expired``), and the group's offsets move up to the log start.

**Copies.** A record is a copy of its message (``msg.copies``) until the
group's committed offset passes it (or retention deletes it); a fetched
record in a consumer's hands is one more. So the world decides a message's
fate once it is committed and out of every consumer's hands.

**Crashes.** The log is durable: a crash keeps its records and committed
offsets; while down it drops publishes, serves no fetches and refuses commits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from alosim.model.answer import Answers
from alosim.model.books import Books, Broken
from alosim.model.dedup import _mix64
from alosim.model.events import Later
from alosim.model.group import ConsumerGroup, Member
from alosim.model.link import Link
from alosim.model.message import Message
from alosim.model.sender import Sender
from alosim.observe.log import LOG_LOSS_CAUSES, LogStats
from alosim.scenario import Broker as BrokerSpec
from alosim.scenario import Sender as SenderSpec

if TYPE_CHECKING:
    from alosim.model.faults import Crashable
    from alosim.model.world import World


#: Sequence numbers of the last appended batches the log keeps per (producer,
#: partition): Kafka's broker caches the metadata of the last 5 (which is why
#: an idempotent producer may have at most 5 requests in flight).
CACHED_BATCHES = 5

#: How many consecutive message ids :meth:`LogBroker.place_next` places at once.
PLACE_BLOCK = 4096


class Producer(Sender):
    """A sender that places each message on its partition when it creates it
    and numbers it per (producer, partition)."""

    __slots__ = ("_place",)

    def __init__(self, log: LogBroker, world: World, index: int, spec: SenderSpec,
                 quota: int | None, duration: float | None) -> None:
        super().__init__(world, index, spec, quota, duration)  # world.receiver_count = partitions
        # The producers' ids come from the world's one counter, in order: the log
        # places them a block at a time (round-robin deals per producer: one by one).
        self._place = log.place_new if log._round_robin else log.place_next

    def _create(self) -> Message:
        return create_placed(self, self._place)


def create_placed(sender: Sender, place: Callable[[int, int], Any]) -> Message:
    """Sender._create, with the partition ``place`` gives a new message for the receiver."""
    sender.remaining -= 1
    msg_id = sender._next_id()
    placed = place(sender.index, msg_id)
    partition = placed[1]
    seqs = sender._seqs
    seq = seqs[partition]
    seqs[partition] = seq + 1
    now = sender.env._now
    msg = Message(msg_id, sender.index, seq, partition, now)
    msg.log_place = placed
    msg.log_records = 0
    if sender._floors:
        sender._open[partition].append(msg)
    rec = sender.rec
    if not msg_id & 0xFFF:
        rec.flush()  # keeps the latency buffers small
    if msg_id < rec.trace_limit:
        rec.event(now, sender.actor, "create", msg_id, 0)
    return msg


class Record:
    """One appended publish of a message, at ``offset`` of its partition.

    ``effects`` counts the side effects it caused; ``replay_cause`` says why
    it may be processed again (set when processed work is given up before
    its commit); ``reordered`` why it was appended after a later-created
    message of its key or partition (None if it was not)."""

    __slots__ = ("offset", "msg", "appended_at", "publish_cause", "effects", "replay_cause",
                 "reordered")

    def __init__(self, offset: int, msg: Message, now: float, publish_cause: str | None,
                 reordered: str | None) -> None:
        self.offset = offset
        self.msg = msg
        self.appended_at = now
        self.publish_cause = publish_cause
        self.effects = 0
        self.replay_cause = "unexplained"
        self.reordered = reordered


_new_record = object.__new__


class Partition:
    """Records from the group's committed offset (or the log start) to the end."""

    __slots__ = ("index", "records", "base", "end", "committed", "traced_last")

    def __init__(self, index: int) -> None:
        self.index = index
        self.records: deque[Record] = deque()
        self.base = 0  # offset of records[0]
        self.end = 0  # the next offset to append
        self.committed = 0  # the group's committed offset
        # The offset of the last record of a traced message (-1: none yet): the
        # group traces its commits and rebalances while one is not committed past.
        self.traced_last = -1

    def at(self, offset: int) -> Record:
        return self.records[offset - self.base]


class LogBroker(Answers):
    """The log: partitions of records, producer idempotence, retention, commits."""

    __slots__ = ("world", "env", "rec", "stats", "actor", "spec", "partitions", "idempotent",
                 "next_seq", "cached", "_dealt", "up", "retention", "group", "_send_ack", "_key_of", "_salt",
                 "_round_robin", "_key_order", "_key_max_id", "_partition_max_id", "_key_count", "_cdf",
                 "_block_first", "_block")

    def __init__(self, world: World, spec: BrokerSpec, stats: LogStats, ack_link: Link) -> None:
        self.world = world
        self.env = world.env
        self.rec = world.rec
        self.stats = stats
        self.actor = "broker"
        self.spec = spec
        self.partitions = [Partition(i) for i in range(spec.partitions)]
        self.idempotent = spec.dedup.kind == "sequence"
        # Per (producer, partition): the next sequence number to append, and
        # the numbers of the last CACHED_BATCHES records appended.
        self.next_seq: dict[tuple[int, int], int] = {}
        self.cached: dict[tuple[int, int], deque[int]] = {}
        self._dealt: dict[int, int] = {}  # per producer: messages dealt by round-robin
        self.up = True
        self.retention = spec.retention
        self.group: ConsumerGroup | None = None
        self._send_ack = ack_link.send
        self._salt = int(world.streams.generator("log.keys").integers(0, 1 << 63))
        self._round_robin = spec.partitioner == "round-robin"
        keys = spec.keys
        self._key_count = 0  # keys.count for uniform keys, which place_new draws inline
        self._cdf: np.ndarray[Any, np.dtype[np.float64]] | None = None  # Zipf keys' cumulative weights
        if keys.dist == "uniform":
            count = self._key_count = keys.count
            self._key_of: Callable[[float], int] = lambda u: min(int(u * count), count - 1)
        else:
            weights = 1.0 / np.arange(1, keys.count + 1, dtype=float) ** keys.s
            cdf = self._cdf = np.cumsum(weights) / weights.sum()
            last = keys.count - 1
            self._key_of = lambda u: min(int(np.searchsorted(cdf, u, side="right")), last)
        # The last id appended per key and per partition. With the key partitioner
        # a key's messages all go to one partition, whose last id is never below the
        # key's: the partition's alone tells a record appended after a later message
        # (_key_order: whether the key's is kept too).
        self._key_order = self._round_robin
        self._key_max_id: dict[int, int] = {}
        self._partition_max_id = [-1] * spec.partitions
        # place_next's block: the places of ids _block_first, _block_first + 1, ...
        self._block_first = 0
        self._block: list[tuple[int, int]] = []

    # -- keys and partitions ---------------------------------------------------------

    def place_new(self, sender: int, msg_id: int) -> tuple[int, int]:
        """The key and partition of a new message of producer ``sender``: the key a
        fixed function of its id and the seed; round-robin deals the producer's
        messages to the partitions in turn."""
        u = _mix64(msg_id ^ self._salt) / 2.0**64
        count = self._key_count
        if count:
            key = int(u * count)  # the uniform _key_of, inlined: once per message
            if key >= count:
                key = count - 1
        else:
            key = self._key_of(u)
        n = len(self.partitions)
        if self._round_robin:
            dealt = self._dealt.get(sender, 0)
            self._dealt[sender] = dealt + 1
            return key, (sender + dealt) % n
        return key, key % n

    def place_next(self, sender: int, msg_id: int) -> tuple[int, int]:
        """:meth:`place_new` with the key partitioner, for ids that come in order
        (a log's producers draw theirs from the world's one counter): the places
        of :data:`PLACE_BLOCK` ids are worked out at once, by the same arithmetic
        on numpy arrays, and handed out one by one."""
        i = msg_id - self._block_first
        if not 0 <= i < len(self._block):
            self._block_first = msg_id
            self._block = self._places(msg_id, PLACE_BLOCK)
            i = 0
        return self._block[i]

    def _places(self, first_id: int, count: int) -> list[tuple[int, int]]:
        """The (key, partition) of ids ``first_id`` ... ``first_id + count - 1`` by the
        key partitioner, each what :meth:`place_new` gives it: SplitMix64's finaliser
        in unsigned 64-bit arithmetic (wrapping, as ``& _MASK`` does), the hash to a
        double (rounded to nearest, as Python's ``int / float`` does), then the key."""
        x = np.arange(first_id, first_id + count, dtype=np.uint64) ^ np.uint64(self._salt)
        x += np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        u = (x ^ (x >> np.uint64(31))).astype(np.float64) / 2.0**64
        count_keys = self._key_count
        if count_keys:
            keys = np.minimum((u * count_keys).astype(np.int64), count_keys - 1)
        else:
            assert self._cdf is not None
            keys = np.minimum(np.searchsorted(self._cdf, u, side="right"), len(self._cdf) - 1)
        return list(zip(keys.tolist(), (keys % len(self.partitions)).tolist()))

    @staticmethod
    def place(msg: Message) -> tuple[int, int]:
        """The key and partition of ``msg`` (placed by its producer)."""
        placed: tuple[int, int] = msg.log_place
        return placed

    # -- publishes -------------------------------------------------------------------

    def on_packet(self, event: Later) -> None:
        """A publish arrived from a producer: checked (with idempotence), appended to
        its partition (the group told at once), acked."""
        packet = event._value
        msg, attempt = packet
        rec = self.rec
        if not self.up:
            self.stats.publishes_dropped_while_down += 1
            if msg.id < rec.trace_limit:
                rec.event(self.env._now, self.actor, "dropped", msg.id, attempt, "broker down")
            self.release(msg)
            return
        rec.deliveries += 1
        if msg.delivered:
            rec.duplicate_deliveries += 1
        else:
            msg.delivered = True
        records = msg.log_records
        if self.idempotent and not self._in_sequence(msg, attempt, records):
            return
        # Append msg to its partition; the link's copy becomes the record's.
        msg_id = msg.id
        key, index = msg.log_place
        partition = self.partitions[index]
        # Appended after a message created later, on the same key or partition?
        # On a retry the producer's retry put it there; on its first publish the
        # link did (a later publish overtook it).
        reordered = None
        if self._key_order:
            key_max_id = self._key_max_id
            key_max = key_max_id.get(key, -1)
            if msg_id > key_max:
                key_max_id[key] = msg_id
            elif msg_id < key_max:
                reordered = "producer_retry_reordered" if attempt > 1 else "network_reordered"
        partition_max_id = self._partition_max_id
        partition_max = partition_max_id[index]
        if msg_id > partition_max:
            partition_max_id[index] = msg_id
        elif msg_id < partition_max:
            reordered = "producer_retry_reordered" if attempt > 1 else "network_reordered"
        offset = partition.end
        now = self.env._now
        # Record(offset, msg, now, publish_cause, reordered), built in place: once per message.
        record = _new_record(Record)
        record.offset = offset
        record.msg = msg
        record.appended_at = now
        record.publish_cause = "producer_retry_duplicated" if records else None
        record.effects = 0
        record.replay_cause = "unexplained"
        record.reordered = reordered
        partition.records.append(record)
        partition.end = offset + 1
        msg.log_records = records + 1
        self.stats.records_appended += 1
        if msg_id < rec.trace_limit:
            partition.traced_last = offset
            rec.event(now, self.actor, "appended", msg_id, attempt,
                      f"p{index}@{offset}" + (" again" if records else ""))
            traced = True
        else:
            traced = False
        if self.retention is not None:
            self.expire(now)
        assert self.group is not None
        self.group.appended(index, partition, offset)
        if traced:
            self._ack(msg, attempt)
            return
        rec.acks_sent += 1  # _ack, inlined: once per message
        if not self._send_ack(packet):  # (the ack carries what the publish did)
            rec.acks_lost += 1

    def _in_sequence(self, msg: Message, attempt: int, records: int) -> bool:
        """Producer idempotence: whether the publish ``msg`` is the next of its
        (producer, partition), to be appended; a duplicate is acked and dropped,
        one out of sequence refused (not acked)."""
        rec = self.rec
        stats = self.stats
        traced = msg.id < rec.trace_limit
        connection = (msg.sender, msg.receiver)  # (producer, partition)
        expected = self.next_seq.get(connection, 0)
        if msg.floor > expected:
            expected = msg.floor  # the producer gave up on what lies below its floor
        if msg.seq < expected:
            if records:
                stats.publish_duplicates_caught += 1
                rec.duplicates_detected += 1
                cached = self.cached.get(connection)
                if cached is None or msg.seq not in cached:
                    stats.publish_duplicates_past_cache += 1
            else:
                stats.publish_stale_drops += 1
                rec.stale_drops += 1
            if traced:
                rec.event(self.env._now, self.actor, "duplicate_detected", msg.id, attempt)
            self._ack(msg, attempt)
            self.release(msg)
            return False
        if msg.seq > expected:
            stats.publishes_out_of_sequence += 1
            if traced:
                rec.event(self.env._now, self.actor, "refused", msg.id, attempt, "out of sequence")
            self.release(msg)
            return False
        self.next_seq[connection] = msg.seq + 1
        cached = self.cached.get(connection)
        if cached is None:
            cached = self.cached[connection] = deque(maxlen=CACHED_BATCHES)
        cached.append(msg.seq)
        return True

    # -- offsets ------------------------------------------------------------------------

    def commit(self, index: int, offset: int) -> None:
        """Move partition ``index``'s committed offset up to ``offset``; release what it passed."""
        partition = self.partitions[index]
        records = partition.records
        passed = min(offset - partition.base, len(records))
        if passed > 0:
            partition.base += passed
            popleft = records.popleft
            copies_gone = self.world.copies_gone
            for _ in range(passed):
                msg = popleft().msg
                msg.copies -= 1  # release(msg), inlined: once per record
                if msg.settled and not msg.copies:
                    copies_gone(msg)
        if offset > partition.committed:
            partition.committed = offset

    def expire(self, now: float) -> None:
        """Delete records older than the retention; a record never processed is a loss."""
        assert self.retention is not None
        oldest = now - self.retention
        for partition in self.partitions:
            records = partition.records
            while records and records[0].appended_at < oldest:
                # Every record still held is past the committed offset: expiring
                # it moves the group's offset to the new log start.
                record = records.popleft()
                partition.base += 1
                partition.committed = partition.base
                self.stats.records_expired += 1
                if not record.msg.processed:
                    record.msg.cause = record.msg.cause or "retention_expired"
                self.release(record.msg)

    def release(self, msg: Message) -> None:
        msg.copies -= 1
        if msg.settled and not msg.copies:
            self.world.copies_gone(msg)

    # -- crashes -----------------------------------------------------------------------

    def crash(self) -> None:
        if self.up:
            self.up = False
            self.stats.broker_crashes += 1

    def restart(self) -> None:
        if not self.up:
            self.up = True
            assert self.group is not None
            self.group.broker_back()


class LogPipeline:
    """The log and consumer group of one run, and what they measure.

    Consumers fetch from the log directly (no consume links): what a log adds
    is offsets and commits, not a lossy second hop."""

    def __init__(self, world: World, *, sender_kind: Callable[..., Sender] | None = None,
                 member_kind: Callable[..., Member] = Member) -> None:
        """``sender_kind`` and ``member_kind`` make the producers and the group's members
        (a topology's subscription makes its own: see :mod:`alosim.model.log_node`);
        by default a producer is a :class:`Producer` on this log."""
        scenario = world.scenario
        assert scenario.broker is not None and scenario.consumer is not None
        self.world = world
        rec = world.rec
        self.stats = stats = LogStats()
        for cause in LOG_LOSS_CAUSES:
            rec.loss_causes.setdefault(cause, 0)
        world.ack_link = world.first_hop_link("ack")
        self.log = LogBroker(world, scenario.broker, stats, world.ack_link)
        self.group = self.log.group = ConsumerGroup(world, self.log, scenario.consumer, stats,
                                                    member_kind=member_kind)
        world.data_link = world.first_hop_link("data", self.log.on_packet)
        world.receivers = []
        world.receiver_count = scenario.broker.partitions  # numbered per (producer, partition)
        log = self.log
        world.make_senders(sender_kind or (lambda *args: Producer(log, *args)))
        self.group.start()

    def targets(self, kind: str, index: str) -> list[Crashable]:
        if kind == "broker":
            return [self.log]
        members = self.group.members
        return [members[int(index)]] if index else list(members)

    def sample(self, now: float) -> None:
        if self.log.retention is not None:
            self.log.expire(now)
        commit_lag = 0
        lags = []
        for partition in self.log.partitions:
            commit_lag += partition.end - partition.committed
            lags.append(partition.end - self.group.processed_to(partition.index))
        self.stats.sample(self.world.rec.series, sum(lags), commit_lag, lags)

    # -- accounting ------------------------------------------------------------------

    def held(self) -> int:
        """Records fetched and not yet processed."""
        return self.group.in_hands()

    def work(self, counts: dict[str, int]) -> None:
        """Add the group's rebalances and commits (with the auto-commit ticks) to ``counts``."""
        stats = self.stats
        counts["rebalances"] = stats.rebalances
        counts["commits"] = stats.commits + stats.commit_ticks

    def watched_events(self) -> dict[str, tuple[Callable[[Any], Any]]]:
        return {}

    def conservation(self, in_flight: dict[str, int]) -> list[Broken]:
        """The log's books; returns the identities that fail.

        Each side is counted by a different actor (the producer sends, the
        link loses or duplicates, the log appends, the members fetch and
        process), so a record that goes missing or is counted twice breaks one.
        """
        world = self.world
        rec, stats, log, group = world.rec, self.stats, self.log, self.group
        books = Books()
        need = books.need
        books.add(world.data_books(in_flight, stats.publishes_dropped_while_down, "at the log",
                                   prefix="publishes: "))
        acked = stats.records_appended + stats.publish_duplicates_caught + stats.publish_stale_drops
        need("publishes_arrived", rec.deliveries == acked + stats.publishes_out_of_sequence,
             f"publishes: arrived {rec.deliveries} != appended {stats.records_appended} + caught "
             f"+ stale + out of sequence {stats.publishes_out_of_sequence}")
        need("publish_acks", rec.acks_sent == acked,
             f"publish acks: acks_sent {rec.acks_sent} != appended + caught + stale {acked}")
        books.add(world.ack_books(in_flight))
        need("duplicates_detected", rec.duplicates_detected == stats.publish_duplicates_caught,
             f"duplicates_detected {rec.duplicates_detected} != duplicates caught by the log "
             f"{stats.publish_duplicates_caught}")
        # Records: each is committed past (and released), expired, or still held.
        held = sum(len(p.records) for p in log.partitions)
        released = sum(p.base for p in log.partitions)
        need("records", stats.records_appended == released + held,
             f"records: appended {stats.records_appended} != released {released} + held {held}")
        ends = sum(p.end for p in log.partitions)
        need("partition_ends", ends == stats.records_appended,
             f"records: the partitions' end offsets {ends} do not add up to the records appended "
             f"{stats.records_appended}")
        # Fetched records: each is processed, dropped, or still in a member's hands.
        in_hands = group.in_hands()
        need("records_fetched", stats.records_fetched == stats.records_processed + stats.records_dropped + in_hands,
             f"fetched {stats.records_fetched} != processed {stats.records_processed} + dropped "
             f"{stats.records_dropped} + in a member's hands {in_hands}")
        need("records_processed", stats.records_processed == rec.processed,
             f"records processed {stats.records_processed} != side effects {rec.processed}")
        in_flight_commits = group.commits_in_flight()
        need("commits", stats.commits == stats.commits_landed + stats.commits_failed + stats.commits_lost
             + in_flight_commits,
             f"commits {stats.commits} != landed {stats.commits_landed} + failed "
             f"{stats.commits_failed} + lost {stats.commits_lost} + in flight {in_flight_commits}")
        for name, table in (("key", stats.out_of_order_key), ("partition", stats.out_of_order_partition)):
            need(f"{name}_order_explained", table["unexplained"] == 0,
                 f"{table['unexplained']} effects out of {name} order without a cause")
        return books.broken

    def columns(self) -> dict[str, Any]:
        rec = self.world.rec
        return self.stats.columns(rec.loss_causes, rec.messages)


def build_log_pipeline(world: World, *, sender_kind: Callable[..., Sender] | None = None,
                       member_kind: Callable[..., Member] = Member) -> LogPipeline:
    """Make ``world``'s links, producers, log and consumer group for a log scenario."""
    return LogPipeline(world, sender_kind=sender_kind, member_kind=member_kind)
