"""A topology's log node: the log of each of its subscriptions.

A ``log`` node takes a log pipeline's ``broker:`` settings (partitions, the
partitioner and its keys, retention, a sequence store for an idempotent
producer); each link out of it is a subscription -- one consumer group on the
log -- built as a log pipeline of its own (see :mod:`alosim.model.subscription`):
its consumers node's members fetch from the partitions and commit offsets as
its ``consumer:`` says, and replay what they processed but had not committed
when a member crashes or the group rebalances. The consume link from a log
node carries no settings (a log's consumers fetch; nothing is lost on the way).

Several consumer groups on one Kafka topic read the same records; here each
group has its own copy of the log, appended by its own copy of the publish
link (the approximation every fan-out makes: see
:mod:`alosim.model.subscription`). The publisher's sender places each message
on a partition as a log's producer does (:func:`placed`), by the message's own
id on its link (not the key its caller gave it: that key is what a dedup store
remembers, and a log's consumers keep none).

The node makes no side effect; its figures are its subscriptions' (records
appended), and a crash of the node crashes every subscription's log at once
(a log is durable: it keeps its records and offsets).
"""

from __future__ import annotations

import functools

from alosim.model.log import create_placed
from alosim.model.message import Message
from alosim.model.sender import Sender


class _Placed(Sender):
    """A sender that places each message it creates on a partition of its world's log."""

    __slots__ = ()

    def _create(self) -> Message:
        return create_placed(self, self.world.pipeline.log.place_new)  # type: ignore[union-attr]


@functools.cache
def placed(kind: type[Sender]) -> type[Sender]:
    """``kind`` of sender (a topology's producer or fed sender), placing what it creates
    on a partition of the log it publishes to, as a log's producer does."""
    return type(f"Placed{kind.__name__}", (kind, _Placed), {"__slots__": ()})
