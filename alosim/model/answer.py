"""Answering a sender over the ack link: an ack, or a negative ack.

A single hop's receiver, a queue broker's publish side and a log answer the
copies they take the same way: count what they sent, count what the ack
link lost on the way, and trace both for a traced message. A negative ack
carries the attempt negated; it is counted apart (``nacks_sent``,
``nacks_lost``) and never traced as an ack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import simpy

    from alosim.model.message import Message
    from alosim.observe import Recorder


class Answers:
    """What an actor that answers senders shares; it provides ``rec``, ``env``,
    ``actor`` and ``_send_ack`` (its ack link's ``send``)."""

    __slots__ = ()

    rec: Recorder
    env: simpy.Environment
    actor: str
    _send_ack: Callable[[Any], bool]

    def _ack(self, msg: Message, attempt: int) -> None:
        rec = self.rec
        traced = msg.id < rec.trace_limit
        if traced:
            rec.event(self.env._now, self.actor, "ack_sent", msg.id, attempt)
        rec.acks_sent += 1
        if not self._send_ack((msg, attempt)):
            rec.acks_lost += 1
            if traced:
                rec.event(self.env._now, "network", "ack_lost", msg.id, attempt)

    def _nack(self, msg: Message, attempt: int) -> None:
        rec = self.rec
        rec.nacks_sent += 1
        if not self._send_ack((msg, -attempt)):
            rec.nacks_lost += 1
