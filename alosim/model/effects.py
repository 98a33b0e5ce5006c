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
from alosim.model.sender import Sender

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


def why_repeat_not_caught(msg: Message, origin: Origin, store: Any, *, crashed: bool, concurrent: bool) -> str:
    """Why a node's store let a repeated call through (its key's effect was made here):
    a minted key; no store; a store that forgot the key (its own miss cause); a store
    lost in a crash (``crashed``); else the key was not recorded yet -- the earlier call
    still at work beside it (``concurrent``: several workers or consumers), or processed
    and lost in a crash before its record."""
    if msg.key != origin.id:
        return "new_key"  # minted on the way: no store could recognise it
    if store is None:
        return "repeated_call"
    if store.kind in ("ttl", "lru"):
        return store.miss_cause  # type: ignore[no-any-return]
    if crashed:
        return "store_lost_in_crash"
    return "concurrent_copy" if concurrent else "crash_before_record"


def set_up_caller(hop: Any, name: str, caller: Any, *, head: bool, nodes: int, keep: bool, untraced: int,
                  on_ack: Callable[[Any], Callable[[Any], None]]) -> None:
    """The sender at the calling end of a topology's hop, node ``name`` (``caller``).

    On the first link it is the producer's own (each message it creates is a producer
    message, counted over ``nodes`` nodes, and handed to the senders ``fed`` from the
    producer's other links); elsewhere it is fed by the caller's effects: it makes no
    message of its own (an open loop of rate 0), keys its calls as the node says
    (``keep``), and numbers untraced calls from ``untraced`` on. Where nobody waits for
    its calls (before-call), its acks go to ``on_ack(sender)``, with no answer to pass
    upstream; the producer's messages answer nobody either, and its acks go to
    :meth:`Sender.on_packet` itself, or to its fused path ``sender.on_produced`` where
    ``sender._quick_acks`` says it may take it."""
    sender = hop.senders[0]
    sender.actor = name
    if head:
        sender.setup_producer(nodes)
        hop.ack_link.on_arrival = sender.on_produced if sender._quick_acks else Sender.on_packet.__get__(sender)
        return
    trace_n = hop.scenario.observe.trace_messages
    sender.setup_fed(keep, trace_n)
    if trace_n:
        hop.rec.trace_limit = untraced
    sender.rate = 0.0
    if caller.onward is None or caller.onward.ack == "before-call":
        hop.ack_link.on_arrival = on_ack(sender)
