"""A topology's consumers node: a consumer group whose side effects are counted per
producer message, and which calls onward as a service does.

A consumers node is fed by one subscription of a queue node or a log node (see
:mod:`alosim.model.subscription`). Fed by a queue, its consumers are a pipeline's
(:class:`~alosim.model.consumer.Consumer`: leases, nacks, the group's idempotency
store), each a :class:`NodeConsumer`; fed by a log, its members are a log's consumer
group's (:class:`~alosim.model.group.Member`: partitions, fetches, commits), each a
:class:`NodeMember`. Either adds what every effect-making node of a topology does (:mod:`alosim.model.effects`): each effect is counted against the
producer message it descends from, and hands one call to the sender of every link
out of the node (``onward.ack: before-call`` -- the calls go out through the node's
outbox; the delivery is acked as ``consumer.ack`` says, whatever becomes of them).

A delivery whose key the group's store has seen, but which never caused an effect
itself, is a repeated call from upstream caught by the store: acked and *absorbed*,
as at a service (neither processed nor lost in its hop's books).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alosim.model.broker import Entry
from alosim.model.consumer import Consumer
from alosim.model.group import Member
from alosim.model.effects import call_onward, count_effect, why_repeat_not_caught
from alosim.model.message import Message
from alosim.observe import TraceEvent

if TYPE_CHECKING:
    from alosim.model.log import Partition, Record
    from alosim.model.topology import NodeStats, Origin
    from alosim.observe import Recorder


class EffectCounting:
    """What a consumers node's consumer and member share: each effect counted per
    producer message, then the calls onward (see :mod:`alosim.model.effects`)."""

    __slots__ = ()
    node: NodeStats
    keep: bool
    rec: Recorder

    def setup(self, node: NodeStats, keep: bool) -> None:
        self.node = node
        self.keep = keep  # this node passes its caller's key on

    def _counted(self, msg: Message, first_of_call: bool) -> None:
        """Count the effect just made for its producer message, and call onward."""
        node = self.node
        cause = count_effect(node, msg, first_of_call, self._why_repeat_not_caught)
        if cause is not None and msg.id < self.rec.trace_limit:
            self._mark_processed(msg, f"again: {cause.replace('_', ' ')}")
        if node.outgoing:
            call_onward(node, msg, self.keep, None)

    def _mark_processed(self, msg: Message, detail: str) -> None:
        """Give the trace row of ``msg``'s effect just recorded (the last few rows) ``detail``."""
        trace = self.rec.trace
        for i in range(len(trace) - 1, max(len(trace) - 4, -1), -1):
            row = trace[i]
            if row.event == "processed" and row.message == msg.id:
                detail = f"{row.detail}, {detail}" if row.detail else detail  # (a member's names its partition)
                trace[i] = TraceEvent(row.time_s, row.actor, row.event, row.message, row.attempt, detail)
                return

    def _why_repeat_not_caught(self, msg: Message, origin: Origin) -> str:
        """Why a repeated call (its key's effect was made here) was not caught: a minted
        key; without a store, the repeat itself (see :class:`NodeConsumer`)."""
        return "new_key" if msg.key != origin.id else "repeated_call"


class NodeConsumer(EffectCounting, Consumer):
    """A consumer of a consumers node fed by a queue (see the module docstring)."""

    __slots__ = ("node", "keep")

    # -- the side effect --------------------------------------------------------------

    def _effect(self, entry: Entry, lease: int, started: float) -> None:
        first_of_call = not entry.msg.processed
        super()._effect(entry, lease, started)
        self._counted(entry.msg, first_of_call)

    def _complete(self, entry: Entry, lease: int, started: float) -> None:
        first_of_call = not entry.msg.processed
        super()._complete(entry, lease, started)
        self._counted(entry.msg, first_of_call)

    def _why_repeat_not_caught(self, msg: Message, origin: Origin) -> str:
        """Why the group's store let a repeated call through (its key's effect was made)."""
        concurrent = len(self.world.pipeline.consumers) * self.concurrency > 1  # type: ignore[union-attr]
        return why_repeat_not_caught(msg, origin, self.store if self.dedup else None,
                                     crashed=bool(self.shared.epoch), concurrent=concurrent)

    # -- repeats caught -----------------------------------------------------------------

    def _caught(self, entry: Entry, lease: int) -> None:
        msg = entry.msg
        if not msg.processed and self.world.keys_kept and msg.origin.effects[self.node.index]:  # type: ignore[attr-defined]
            # A repeat of an earlier call with the same key: its effect is made.
            msg.absorbed = True
            self.node.absorbed += 1
            self.stats.consumer_duplicates_caught += 1
            self.rec.duplicates_detected += 1
            if msg.id < self.rec.trace_limit:
                self.rec.event(self.env._now, self.actor, "duplicate_detected", msg.id, lease, "repeated call")
            if not self.ack_first:
                self._ack(entry, lease, False)
            self._release(msg)
            return
        super()._caught(entry, lease)


class NodeMember(EffectCounting, Member):
    """A member of a consumers node's group fed by a log (see the module docstring):
    a log's consumers keep no store, so a repeated call is always made again."""

    __slots__ = ("node", "keep", "rec")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rec = self.group.rec

    def _effect(self, record: Record) -> None:
        msg = record.msg
        before = msg.processed
        super()._effect(record)
        if msg.processed > before:  # (a fenced transaction makes none)
            self._counted(msg, before == 0)

    def _take_one(self, p: int, partition: Partition, position: int) -> None:
        msg = partition.records[position - partition.base].msg
        before = msg.processed
        super()._take_one(p, partition, position)
        if msg.processed > before:  # (an idle member that could not fetch makes none)
            self._counted(msg, before == 0)
