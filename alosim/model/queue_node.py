"""A topology's queue node: the broker of each of its subscriptions.

A ``queue`` node takes a queue pipeline's ``broker:`` settings (leases,
``max_deliveries`` and the dead-letter queue, nacks, prefetch, its dedup
store); each link out of it is a subscription built as a queue pipeline of its
own (see :mod:`alosim.model.subscription`), whose broker is a
:class:`NodeBroker`. The node makes no side effect; its figures are its
subscriptions' (publishes, redeliveries, lease expiries, dead letters), and a
crash of the node crashes every subscription's broker at once.

A publish that the broker's store catches as a repeat of an earlier call with
the same key -- another message, the publisher's caller having called twice --
is acked and *absorbed* (see :mod:`alosim.model.topology`), not taken for a
false positive. (A Bloom store's claim on a new key stays a false positive: it
cannot tell the two apart.)
"""

from __future__ import annotations

from typing import Any

from alosim.model.broker import Broker
from alosim.model.message import Message


class NodeBroker(Broker):
    """A queue node's broker on one subscription: a publish its store catches as the
    repeat of another message with the same key is absorbed, not a false positive."""

    __slots__ = ("absorbed",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.absorbed = 0  # publishes caught as repeated calls

    def _caught(self, msg: Message, attempt: int, entries: int) -> None:
        if not entries and self.store.kind not in ("sequence", "bloom") and self.world.keys_kept:  # type: ignore[attr-defined]
            # Only another message with the same key put it in the store: a repeated call.
            msg.absorbed = True
            self.absorbed += 1
            self.stats.publish_duplicates_caught += 1
            self.rec.duplicates_detected += 1
            if msg.id < self.rec.trace_limit:
                self.rec.event(self.env._now, self.actor, "duplicate_detected", msg.id, attempt, "repeated call")
            self._ack(msg, attempt)
            self._release(msg)
            return
        super()._caught(msg, attempt, entries)
