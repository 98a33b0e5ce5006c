"""A consumer group on a log: partitions assigned to members, offsets committed.

Each partition of the log (:mod:`alosim.model.log`) is owned by at most one
member of the group. A member fetches up to ``fetch_batch`` records from its
position in one of its partitions (in turn), processes them one at a time
(``processing`` each), and commits offsets by its **commit policy**:

* ``after-each``: the offset after each record's side effect, synchronously
  (effect first, commit second, the next record after the commit landed: a
  crash between them replays exactly one record);
* ``after-batch``: after the batch's last effect;
* ``interval``: every ``interval`` (Kafka's auto-commit), whatever it has
  processed by then -- a crash replays what it processed since; the ticks
  lie on the grid k * interval, so a crash at a random time falls at a
  uniform phase of the commit clock;
* ``before-processing``: the whole batch when it is fetched (at-most-once: a
  crash loses the records of the batch not yet processed);
* ``transactional``: effect and offset atomically (Kafka's transactional
  sink): a crash undoes both, and a member fenced by a rebalance cannot
  commit an effect.

A commit takes ``commit.latency`` to land; one in flight at a crash is lost,
and one from a member the group has since rebalanced away fails
(CommitFailedException).

**Rebalances.** The group assigns the partitions among its members (``range``:
contiguous runs; ``round-robin``: partition p to member p mod n) whenever one
joins or leaves; the new owner starts from the committed offset, so what was
processed and not committed is processed again. A crashed member stays in the
group, its partitions idle, until ``session_timeout``; a restarted one joins
again. A member busy on one batch longer than ``max_poll_interval`` is kicked
out while it is still processing (its partitions move; its effects go on; its
commits fail) and joins again when its batch is done. Rebalances are eager:
the group stops fetching, waits for its live members to finish their
batches, revokes every partition (with ``interval`` a member commits first,
as auto-commit does on revocation; a commit still in flight lands after the
next owner read the offset: a replay after the rebalance), and assigns them
again after ``rebalance_delay``.

Every duplicate effect is charged to why its record was replayed, and every
effect out of creation order (per producer and key, per producer and
partition) to why (see :mod:`alosim.observe.log`). Members are driven by
scheduled callbacks (``Later``) with an epoch number that voids work begun
before a crash; no process per message. A member that keeps up with
instant processing takes each record as it is appended, in one call that
does what a fetch, its effect and the end of its batch do, in their order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from alosim.model.events import Later
from alosim.observe.log import LogStats
from alosim.scenario import Consumer as ConsumerSpec

if TYPE_CHECKING:
    # The log imports this module: names for the type checker only.
    from alosim.model.log import LogBroker, Partition, Record
    from alosim.model.world import World


class Member:
    """One consumer of the group (actor ``consumer-N``)."""

    __slots__ = ("group", "index", "actor", "up", "epoch", "in_group", "kicked",
                 "assigned", "position", "processed", "batch", "batch_partition",
                 "busy", "waiting", "pending_commits", "_rr", "_ready", "_deadline_at",
                 "_deadline_place", "_deadline_armed", "_processing", "_instant", "_takes_one",
                 "_done_callbacks", "_deadline_callbacks", "_commit_callbacks", "_tick_callbacks",
                 "_session_callbacks")

    def __init__(self, group: ConsumerGroup, index: int, spec: ConsumerSpec) -> None:
        self.group = group
        self.index = index
        self.actor = f"consumer-{index}"
        self.up = True
        self.epoch = 0
        self.in_group = True
        self.kicked = False
        self.assigned: list[int] = []
        self.position: dict[int, int] = {}  # next offset to fetch, per owned partition
        self.processed: dict[int, int] = {}  # offset after the last effect, per owned partition
        self.batch: deque[Record] = deque()  # fetched, not yet processed (the first is in hand)
        self.batch_partition = -1
        self.busy = False
        self.waiting = False  # a processing timer is pending
        self.pending_commits = 0
        self._rr = 0
        # How many assigned partitions have records to fetch, or more (never fewer):
        # counted up by appends, assignments and rewinds, down by the fetch that
        # takes a partition's last record and to 0 by a scan that finds nothing
        # (retention may have deleted what it counted). At 0 the member does not
        # scan: a batch costs one fetch, not one more that comes back empty.
        self._ready = 0
        # max.poll.interval: the deadline of the batch in hand (its time and its
        # place among simultaneous events, taken at the fetch) and whether the
        # member's one deadline timer is in the event queue. The timer is re-armed
        # lazily, as the sender's retry timer is: most batches are done long before
        # their deadline, and one timer per fetch would fill the queue with entries
        # that never fire.
        self._deadline_at = 0.0
        self._deadline_place = -1
        self._deadline_armed = False
        processing = spec.processing
        self._instant = processing.is_zero
        # Whether a record that arrives while the member is idle can be taken
        # at once by _take_one: instant processing, and no commit per record.
        self._takes_one = self._instant and spec.commit.policy in ("interval", "after-batch",
                                                                   "before-processing")
        self._processing = processing.draws(group.world.streams, f"consumer.{index}.processing")
        self._done_callbacks = (self._done,)
        self._deadline_callbacks = (self._deadline,)
        self._commit_callbacks = (self._commit_landed,)
        self._tick_callbacks = (self._tick,)
        self._session_callbacks = (self._session_expired,)

    # -- fetching and processing -----------------------------------------------------

    def run(self) -> None:
        """Fetch and process while there is something to do (instant records inline)."""
        group = self.group
        log = group.log
        while True:
            if self.waiting:
                return  # a nested call (a rebalance from within) found it at work
            if self.busy:
                if not self.batch:
                    self._batch_done()
                    continue
                if self._instant:
                    self._effect(self.batch[0])
                    continue
                self.waiting = True
                Later(group.env, self._processing(), self._done_callbacks, self.epoch)
                return
            if not (self.up and self.in_group and log.up) or group.rebalancing or not self.assigned:
                return
            if not self._ready or not self._fetch():
                return

    def _fetch(self) -> bool:
        """Fetch a batch from the next assigned partition (in turn from the one
        after the last fetched) with records past this member's position."""
        group = self.group
        partitions = group.log.partitions
        assigned = self.assigned
        positions = self.position
        n = len(assigned)
        rr = self._rr
        for k in range(n):
            p = assigned[(rr + k) % n]
            partition = partitions[p]
            base = partition.base
            position = positions[p]
            if position < base:
                position = base
            end = partition.end
            if position < end:
                self._rr = (rr + k + 1) % n
                break
        else:
            self._ready = 0
            return False
        stats = group.stats
        stop = position + group.fetch_batch
        if stop >= end:
            stop = end
            self._ready -= 1
        count = stop - position
        records = partition.records
        batch = self.batch
        for offset in range(position - base, stop - base):
            record = records[offset]
            record.msg.copies += 1  # in this member's hands
            batch.append(record)
        stats.records_fetched += count
        positions[p] = stop
        processed = self.processed
        if processed[p] < position:
            processed[p] = position  # retention moved the log start past it
        self.batch_partition = p
        self.busy = True
        rec = group.rec
        if rec.trace_limit and position <= partition.traced_last:
            limit = rec.trace_limit
            traced = [record.msg.id for record in batch if record.msg.id < limit]
            if traced:
                last = position + count - 1
                rec.event(group.env._now, self.actor, "fetch", traced[0], 0,
                          f"p{p}@{position}" + (f"..{last}" if last > position else ""))
        if group.policy == "before-processing":
            self.commit({p: position + count})
        env = group.env
        self._deadline_at = env._now + group.max_poll_interval
        self._deadline_place = Later.reserve(env)
        if not self._deadline_armed:
            self._deadline_armed = True
            Later.at_place(env, self._deadline_at, self._deadline_place, self._deadline_callbacks,
                           self._deadline_place)
        return True

    def _done(self, event: Later) -> None:
        if event._value != self.epoch:
            return  # crashed meanwhile: this work never finished
        self.waiting = False
        self._effect(self.batch[0])
        self.run()

    def _batch_done(self) -> None:
        self.busy = False
        p = self.batch_partition
        group = self.group
        if group.policy == "after-batch":
            if self.kicked:
                self.commit({})  # fails: the group has moved on (CommitFailedException)
            elif p in self.processed:
                self.commit({p: self.processed[p]})
        if self.kicked:
            self.kicked = False
            group.join(self, "rejoin")
        elif group.rebalancing:
            group.try_complete()

    def _drop_records(self) -> None:
        """Crashed: what is left of the batch is put down unprocessed."""
        group = self.group
        batch = self.batch
        group.stats.records_dropped += len(batch)
        committed_first = group.policy == "before-processing"
        while batch:
            msg = batch.popleft().msg
            if committed_first and not msg.processed:
                msg.cause = msg.cause or "commit_before_processing_crash"
            group.log.release(msg)

    def _effect(self, record: Record) -> None:
        """The side effect of the record in hand (or, fenced, its abort)."""
        group = self.group
        stats = group.stats
        rec = group.rec
        log = group.log
        self.batch.popleft()
        msg = record.msg
        p = self.batch_partition
        owner = p in self.position and not self.kicked
        now = group.env._now
        if group.policy == "transactional" and not (owner and log.up):
            # A fenced (or cut-off) transaction aborts: no effect, no commit.
            stats.records_dropped += 1
            log.release(msg)
            if owner:
                # Cut off from the log, the owner rewinds to the aborted record
                # and puts the rest of the batch down: were it to go on once the
                # log is back, its next commit would pass the aborted record,
                # which would then never be processed.
                if record.offset < self.position[p]:
                    self.position[p] = record.offset
                    self._ready += 1
                stats.records_dropped += len(self.batch)
                while self.batch:
                    log.release(self.batch.popleft().msg)
            return
        stats.records_processed += 1
        processed = msg.processed = msg.processed + 1
        cause = ""
        if processed == 1:
            rec.delivery_latency_add(now - msg.created)
        else:
            cause = self._duplicate(record)
        record.effects += 1
        if not owner:
            # Processed by a member that no longer owns the partition: the
            # owner's copy of this effect (before or after) is a duplicate.
            record.replay_cause = "stalled_consumer_kicked_out"
        group.order(record, cause, owner)
        if msg.id < rec.trace_limit:
            rec.event(now, self.actor, "processed", msg.id, record.offset,
                      f"p{p}" + (" again" if processed > 1 else ""))
        log.release(msg)
        if owner:
            self.processed[p] = record.offset + 1
            if group.policy == "transactional":
                stats.commits += 1
                stats.commits_landed += 1
                group.commit_offset(self, p, record.offset + 1)
            elif group.policy == "after-each":
                # Synchronous (commitSync): the next record waits for it to land.
                self.commit({p: record.offset + 1}, wait=True)

    def _duplicate(self, record: Record) -> str:
        """Count the effect of ``record`` as a duplicate; returns its cause."""
        group = self.group
        stats = group.stats
        group.rec.duplicate_processing += 1
        if record.effects:
            cause = record.replay_cause
            stats.consume_duplicates[cause] += 1
        else:
            # This record's first effect, after another record's: the
            # message was appended twice. Either record's effect may come
            # first (a member kicked out for a stall may still process the
            # first record after the new owner processed the retry's).
            cause = "producer_retry_duplicated" if record.msg.log_records > 1 else "unexplained"
            stats.publish_duplicates[cause] += 1
        return cause

    def _take_one(self, p: int, partition: Partition, position: int) -> None:
        """:meth:`run` when the record just appended at ``position`` of partition
        ``p`` is the only one this idle member has to fetch, processing takes no
        time and the commit policy commits nothing per record (``_takes_one``):
        fetch it, make its effect, finish the batch -- what :meth:`_fetch`,
        :meth:`_effect` and :meth:`_batch_done` do for a batch of one, in the same
        order, at once (this runs once per record when the member keeps up).

        What it leaves out, it leaves out because nothing would read it: the
        batch (the record goes in and out of it within this call) with its
        partition, and the deadline of the batch in ``_deadline_at`` and
        ``_deadline_place`` (the member is not busy when this returns, and only a
        busy member's deadline is read: the next :meth:`_fetch` sets both first).
        The record's copy in the member's hands is counted only where a commit
        comes between fetch and effect (``before-processing``): elsewhere the
        log's copy of the record outlives the call, so the message's count of
        copies cannot reach 0 in it."""
        group = self.group
        if self.waiting or not (self.up and self.in_group and group.log.up) or group.rebalancing:
            return  # run would do nothing
        # _fetch: the only partition with a record to fetch is p, one record.
        assigned = self.assigned
        self._rr = (assigned.index(p) + 1) % len(assigned)
        record = partition.records[position - partition.base]
        msg = record.msg
        stats = group.stats
        stats.records_fetched += 1
        offset = position + 1
        self.position[p] = offset
        self._ready = 0
        processed = self.processed
        if processed[p] < position:
            processed[p] = position  # retention moved the log start past it
        rec = group.rec
        env = group.env
        now = env._now
        limit = rec.trace_limit
        msg_id = msg.id
        if limit and position <= partition.traced_last and msg_id < limit:
            rec.event(now, self.actor, "fetch", msg_id, 0, f"p{p}@{position}")
        policy = group.policy
        if policy == "before-processing":
            msg.copies += 1  # in this member's hands
            self.commit({p: offset})
        place = next(env._eid)  # Later.reserve, inlined: the deadline's place, taken at the fetch
        if not self._deadline_armed:
            self._deadline_armed = True
            Later.at_place(env, now + group.max_poll_interval, place, self._deadline_callbacks, place)
        # _effect, as the partition's owner.
        stats.records_processed += 1
        times = msg.processed = msg.processed + 1
        cause = ""
        if times == 1:
            rec.delivery_latency_add(now - msg.created)
        else:
            cause = self._duplicate(record)
        record.effects += 1
        group.order(record, cause, True)
        if msg_id < limit:
            rec.event(now, self.actor, "processed", msg_id, position,
                      f"p{p}" + (" again" if times > 1 else ""))
        if policy == "before-processing":
            msg.copies -= 1  # log.release(msg), inlined
            if msg.settled and not msg.copies:
                group.world.copies_gone(msg)
        processed[p] = offset
        # _batch_done (the member was neither kicked out nor in a rebalance).
        if policy == "after-batch":
            self.commit({p: offset})

    def _deadline(self, event: Later) -> None:
        """max.poll.interval passed since the fetch: still on that batch -> kicked out.

        The timer is the deadline of the batch fetched when it was armed. The
        member may have finished that batch (the next fetch arms it again), be
        on a later one (it waits on for that one's deadline, in the place that
        deadline took at its fetch), or have crashed (its batch put down).
        """
        place = event._value
        if not self.busy:
            self._deadline_armed = False
            return
        if place != self._deadline_place:
            Later.at_place(self.group.env, self._deadline_at, self._deadline_place,
                           self._deadline_callbacks, self._deadline_place)
            return
        self._deadline_armed = False
        if not self.in_group:
            return
        group = self.group
        group.stats.members_kicked_out += 1
        self.kicked = True
        for record in self.batch:
            record.replay_cause = "stalled_consumer_kicked_out"
        group.leave(self, "stalled_consumer_kicked_out", "kicked out")

    # -- commits ----------------------------------------------------------------------

    def commit(self, offsets: dict[int, int], wait: bool = False) -> None:
        """Send a commit; with ``wait`` the member does nothing else until it lands."""
        group = self.group
        group.stats.commits += 1
        if group.commit_latency > 0:
            self.pending_commits += 1
            self.waiting = self.waiting or wait
            Later(group.env, group.commit_latency, self._commit_callbacks,
                  (self.epoch, group.generation, offsets, wait))
        else:
            self._land(group.generation, offsets)

    def _commit_landed(self, event: Later) -> None:
        epoch, generation, offsets, wait = event._value
        self.pending_commits -= 1
        if epoch != self.epoch:
            self.group.stats.commits_lost += 1
            return
        self._land(generation, offsets)
        if wait:
            self.waiting = False
            self.run()

    def _land(self, generation: int, offsets: dict[int, int]) -> None:
        group = self.group
        if generation != group.generation or self.kicked or not group.log.up:
            group.stats.commits_failed += 1
            if group.tracing():
                group.rec.event(group.env._now, self.actor, "commit_failed", -1, 0,
                                " ".join(f"p{p}@{offsets[p]}" for p in sorted(offsets)))
            return
        group.stats.commits_landed += 1
        for p in sorted(offsets):
            group.commit_offset(self, p, offsets[p])

    def _tick(self, event: Later) -> None:
        """Auto-commit: every interval, whatever has been processed."""
        if event._value != self.epoch or not self.up:
            return
        self.group.stats.commit_ticks += 1
        self.commit_processed()
        self._next_tick()

    def _next_tick(self) -> None:
        # On the grid k * interval from time 0, whenever the member (re)started:
        # a crash at a random time falls at a uniform phase of the commit clock.
        interval = self.group.interval
        now = self.group.env._now
        k = int(now / interval) + 1
        while k * interval <= now:  # k * interval may round down onto now
            k += 1
        Later.at(self.group.env, k * interval, self._tick_callbacks, self.epoch)

    def commit_processed(self) -> None:
        log = self.group.log
        offsets = {p: off for p, off in self.processed.items() if off > log.partitions[p].committed}
        if offsets and not self.kicked:
            self.commit(offsets)

    def start_ticks(self) -> None:
        if self.group.policy == "interval":
            self._next_tick()

    # -- crashes ----------------------------------------------------------------------

    def crash(self) -> None:
        """Stop: what is in hand is dropped, commits in flight are lost; the
        partitions stay with this member until the session times out."""
        if not self.up:
            return
        group = self.group
        self.up = False
        self.epoch += 1
        group.stats.consumer_crashes += 1
        self.busy = False
        self.waiting = False
        self.kicked = False
        self._drop_records()
        for p in self.assigned:
            group.mark_replays(p, self.processed[p], "replay_after_crash")
            # What it had processed is forgotten: it restarts from the commit.
            self.position[p] = self.processed[p] = group.log.partitions[p].committed
        self._ready = len(self.assigned)
        if self.in_group:
            Later(group.env, group.session_timeout, self._session_callbacks, self.epoch)
        if group.rebalancing:
            group.try_complete()  # it may have been the member the rebalance waited for

    def _session_expired(self, event: Later) -> None:
        if event._value == self.epoch and not self.up and self.in_group:
            self.group.leave(self, "", "crash")

    def restart(self) -> None:
        if self.up:
            return
        self.up = True
        self.start_ticks()
        self.group.join(self, "restart" if self.in_group else "join")


class ConsumerGroup:
    """The members, who owns which partition, and the group's generation."""

    __slots__ = ("world", "env", "rec", "stats", "log", "members", "owner", "generation",
                 "rebalancing", "rebalance_started", "revoked", "policy", "interval", "commit_latency",
                 "fetch_batch", "session_timeout", "max_poll_interval", "rebalance_delay",
                 "round_robin", "triggers", "_last_ids", "_rebalanced_callbacks")

    def __init__(self, world: World, log: LogBroker, spec: ConsumerSpec, stats: LogStats, *,
                 member_kind: Callable[..., Member] | None = None) -> None:
        self.world = world
        self.env = world.env
        self.rec = world.rec
        self.stats = stats
        self.log = log
        commit = spec.commit
        self.policy = commit.policy
        self.interval = commit.interval
        self.commit_latency = 0.0 if commit.policy == "transactional" else commit.latency
        self.fetch_batch = spec.fetch_batch
        self.session_timeout = spec.session_timeout
        self.max_poll_interval = spec.max_poll_interval
        self.rebalance_delay = spec.rebalance_delay
        self.round_robin = spec.assignment == "round-robin"
        self.members = [(member_kind or Member)(self, i, spec) for i in range(spec.count)]
        self.owner: list[Member | None] = [None] * len(log.partitions)  # per partition
        self.generation = 0
        self.rebalancing = False
        self.rebalance_started = 0.0
        self.revoked = -1  # the generation whose partitions were last revoked
        self.triggers: list[str] = []  # what set off the rebalance under way
        # Per producer: the last id with an effect per key, and per partition.
        self._last_ids: dict[int, tuple[dict[int, int], list[int]]] = {}
        self._rebalanced_callbacks = (self._rebalanced,)

    def start(self) -> None:
        self._assign()
        for member in self.members:
            member.start_ticks()

    # -- membership ---------------------------------------------------------------------

    def join(self, member: Member, why: str) -> None:
        """``member`` (re)joins: ``why`` is "restart" (back before its session
        expired), "rejoin" (after it was kicked out) or "join"."""
        member.in_group = True
        self.rebalance(f"{why} {member.actor}")

    def leave(self, member: Member, cause: str, why: str) -> None:
        """``member`` leaves; ``cause`` is the replay cause of what it processed
        and did not commit, ``why`` the trigger's name in the trace."""
        member.in_group = False
        for p in member.assigned:
            if cause:
                self.mark_replays(p, member.processed[p], cause)
        member.assigned = []
        member.position.clear()
        member.processed.clear()
        self.rebalance(f"{why} {member.actor}")

    def rebalance(self, trigger: str) -> None:
        """A member joined or left: stop fetching, let live members finish their
        batches, revoke every assignment, and assign again after the delay."""
        self.stats.rebalances += 1
        self.generation += 1
        if not self.rebalancing:
            self.rebalancing = True
            self.rebalance_started = self.env._now
            self.triggers = []
        self.triggers.append(trigger)
        self.try_complete()

    def try_complete(self) -> None:
        """Revoke once no live member is in the middle of a batch (Kafka's eager
        protocol waits for every member to rejoin, up to max.poll.interval)."""
        if (not self.rebalancing or self.revoked == self.generation
                or any(m.busy and m.up and m.in_group for m in self.members)):
            return  # (revoked already for this generation: its assignment is on its way)
        self.revoked = self.generation
        for member in self.members:
            if not member.assigned:
                continue
            if member.up and member.in_group:
                if self.policy == "interval":
                    member.commit_processed()  # auto-commit on revocation
                for p in member.assigned:
                    # Processed and not committed (a commit still in flight):
                    # the next owner starts before it lands.
                    self.mark_replays(p, member.processed[p], "replay_after_rebalance")
            member.assigned = []
            member.position.clear()
            member.processed.clear()
        self.owner = [None] * len(self.owner)
        if self.rebalance_delay > 0:
            Later(self.env, self.rebalance_delay, self._rebalanced_callbacks, self.generation)
        else:
            self._finish()

    def _rebalanced(self, event: Later) -> None:
        if event._value == self.generation:  # else another rebalance began meanwhile
            self._finish()

    def _finish(self) -> None:
        self.rebalancing = False
        took_s = self.env._now - self.rebalance_started
        self.stats.rebalance_time_s += took_s
        self._assign(f"{', '.join(self.triggers)} | {took_s * 1000:.6g} ms | ")

    def _assign(self, rebalanced: str | None = None) -> None:
        """Deal the partitions to the members in the group; ``rebalanced`` (the
        trace's "triggers | duration | " of a rebalance) is None at the start."""
        joined = [m for m in self.members if m.in_group]
        n_parts = len(self.owner)
        for member in joined:
            member._ready = 0  # counted again below, partition by partition
        if joined:
            n = len(joined)
            # range: contiguous runs, the first n_parts % n members one longer.
            size, extra = divmod(n_parts, n)
            ranges = [k for k in range(n) for _ in range(size + (1 if k < extra else 0))]
            for p in range(n_parts):
                member = joined[p % n if self.round_robin else ranges[p]]
                self.owner[p] = member
                member.assigned.append(p)
                committed = self.log.partitions[p].committed
                member.position[p] = committed
                member.processed[p] = committed
                if committed < self.log.partitions[p].end:
                    member._ready += 1
        if self.tracing():
            # One row per rebalance, when the partitions are assigned again (before
            # anyone fetches): what triggered it (triggers while it ran make one
            # rebalance), how long the group was stopped, and who owns what now.
            if rebalanced is None:
                self.rec.event(self.env._now, "group", "assigned", -1, self.generation, self.assignment())
            else:
                self.rec.event(self.env._now, "group", "rebalance", -1, self.generation,
                               rebalanced + self.assignment())
        for member in joined:
            if not member.busy:
                member.run()

    def mark_replays(self, p: int, processed: int, cause: str) -> None:
        """Records of partition ``p`` processed but not committed: a replay's cause."""
        partition = self.log.partitions[p]
        records = partition.records
        for offset in range(max(partition.committed, partition.base), min(processed, partition.end)):
            records[offset - partition.base].replay_cause = cause

    # -- events from the log ------------------------------------------------------------------

    def appended(self, p: int, partition: Partition, offset: int) -> None:
        """The log appended a record at ``offset`` of ``partition`` (number ``p``)."""
        member = self.owner[p]
        if member is not None:
            position = member.position.get(p)
            if position is not None:
                if position < partition.base:
                    position = partition.base
                if position == offset:
                    ready = member._ready = member._ready + 1  # the partition's first record to fetch
                    if ready == 1 and member._takes_one and not member.busy:
                        # The only record to fetch: see Member._take_one.
                        member._take_one(p, partition, position)
                        return
            if not member.busy:
                member.run()

    def broker_back(self) -> None:
        for member in self.members:
            if not member.busy:
                member.run()

    # -- order ---------------------------------------------------------------------------

    def order(self, record: Record, duplicate_cause: str, owner: bool) -> None:
        """Count an effect that comes after one of a later-created message."""
        msg = record.msg
        msg_id = msg.id
        key, p = msg.log_place
        tables = self._last_ids.get(msg.sender)
        if tables is None:
            tables = self._last_ids[msg.sender] = ({}, [-1] * len(self.owner))
        by_key, by_partition = tables
        # Per (producer, key), then per (producer, partition): the key's first.
        last = by_key.get(key, -1)
        if msg_id > last:
            by_key[key] = msg_id
        elif msg_id < last:
            self._out_of_order(record, duplicate_cause, owner, True)
        last = by_partition[p]
        if msg_id > last:
            by_partition[p] = msg_id
        elif msg_id < last:
            self._out_of_order(record, duplicate_cause, owner, False)

    def _out_of_order(self, record: Record, duplicate_cause: str, owner: bool, by_key: bool) -> None:
        """Count an effect out of creation order per key (``by_key``) or per partition, by cause."""
        if duplicate_cause and duplicate_cause != "producer_retry_duplicated":
            cause = duplicate_cause
        elif record.reordered or record.publish_cause:
            # Appended after later messages: reordered, or a retry's second record.
            cause = record.reordered or "producer_retry_reordered"
        elif not owner:
            cause = record.replay_cause
        elif by_key and self.log.spec.partitioner == "round-robin":
            cause = "key_spread_over_partitions"
        else:
            cause = "unexplained"
        stats = self.stats
        counts = stats.out_of_order_key if by_key else stats.out_of_order_partition
        counts[cause] += 1

    # -- the trace ------------------------------------------------------------------------

    def tracing(self) -> bool:
        """Whether group-level rows (commits, rebalances) belong in the trace.

        The trace follows the first ``trace_messages`` messages: the group's
        rows are kept while a producer has still to create one of them, or a
        record of one is appended and not yet committed past. After that they
        are left out, so that a long run's trace stays as short as its messages.
        """
        rec = self.rec
        limit = rec.trace_limit
        if not limit:
            return False
        if any(p.committed <= p.traced_last for p in self.log.partitions):
            return True
        duration = self.world.scenario.duration
        if duration is not None and self.env._now >= duration:
            return False
        return any(s.created < limit and s.remaining > 0 for s in self.world.senders)

    def commit_offset(self, member: Member, p: int, offset: int) -> None:
        """A commit of ``member`` lands: ``offset`` is partition ``p``'s next to read."""
        partition = self.log.partitions[p]
        before = partition.committed
        self.log.commit(p, offset)
        # Traced if it reaches a traced record, or passes one not committed yet.
        if self.rec.trace_limit and min(before, offset - 1) <= partition.traced_last:
            self.rec.event(self.env._now, member.actor, "commit", -1, offset, f"p{p}@{offset}")

    def assignment(self) -> str:
        """Who owns which partition: ``c0 {0,1,2} c1 {3,4,5}`` (``{}``: none)."""
        return " ".join(f"c{m.index} {{{','.join(map(str, m.assigned))}}}" for m in self.members)

    # -- views ----------------------------------------------------------------------------

    def processed_to(self, p: int) -> int:
        member = self.owner[p]
        if member is not None:
            if member.up and p in member.processed:
                return member.processed[p]
        return self.log.partitions[p].committed

    def in_hands(self) -> int:
        return sum(len(member.batch) for member in self.members)

    def commits_in_flight(self) -> int:
        return sum(member.pending_commits for member in self.members)
