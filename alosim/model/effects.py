"""A topology node's side effects, counted per producer message, and its calls onward.

What every node that makes side effects in a topology does the same way --
a service's or sink's receiver (:class:`alosim.model.topology.NodeReceiver`)
and a consumers node's consumer (:class:`alosim.model.consumers_node.NodeConsumer`):

* each effect is counted against the producer message the call descends from
  (its :class:`~alosim.model.topology.Origin`, carried as ``msg.origin``): the
  node's first effect for that message, or a duplicate effect; a duplicate
  that is the call's own first effect was made by a call repeated upstream,
  and is charged to why the node's store let it through;
* each effect hands one call to the sender of every link out of the node,
  keyed with the caller's key (``identity: keep``) or a new one (``mint``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alosim.model.message import Message

if TYPE_CHECKING:
    from alosim.model.topology import NodeStats, Origin


def count_effect(node: NodeStats, msg: Message, first_of_call: bool,
                 why_repeat: Callable[[Message, Origin], str]) -> str | None:
    """Count one side effect of ``msg`` at ``node``; ``first_of_call`` says it is the
    call's first. Returns the cause a repeated call's effect is charged to, or None
    (the message's first effect here, or another effect of the same call, which its
    link's books charge)."""
    origin = msg.origin  # type: ignore[attr-defined]
    effects = origin.effects
    effects[node.index] += 1
    node.effects += 1
    if effects[node.index] == 1:
        node.first_effects += 1
        return None
    if not first_of_call:
        return None
    # This call's first effect, but not its producer message's: the call
    # itself was repeated upstream, under the same key or a new one.
    cause = why_repeat(msg, origin)
    node.causes[cause] += 1
    return cause


def call_onward(node: NodeStats, msg: Message, keep: bool, caller: tuple[Any, int] | None) -> None:
    """Hand one call per link out of ``node`` to its sender, keyed with ``msg``'s key
    (``keep``) or a new one; ``caller`` (a receiver and its request's token) waits for
    their answers, if given."""
    origin, key = msg.origin, msg.key if keep else -1  # type: ignore[attr-defined]
    for sender in node.outgoing:
        node.calls_out += 1
        sender.submit(origin, key, caller)
