"""The event log of a run, as text and as a Mermaid sequence diagram.

A trace is the list of :class:`alosim.observe.TraceEvent` rows recorded for
the first few messages of a run (``observe.trace_messages``). Rows about no
one message -- a crash, a log's commits and its group's rebalances -- carry
message -1; a log's are kept only while the traced messages are at work. The sequence
diagram draws one lane per actor: a data packet is an arrow from a sender to
a receiver, an ack an arrow back; a packet the network lost is drawn with a
cross (``-x``), and timeouts, duplicate detection and processing are notes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from alosim.observe import TraceEvent


def format_log(events: Iterable[TraceEvent]) -> str:
    """A fixed-width table of the trace, one event a line."""
    lines = [f"{'time':>12}  {'actor':<12} {'event':<19} {'msg':>5} {'attempt':>7}  detail"]
    for e in events:
        lines.append(
            f"{e.time_s * 1000:>10.3f}ms  {e.actor:<12} {e.event:<19} {e.message:>5} {e.attempt:>7}  {e.detail}"
        )
    return "\n".join(lines)


def _alias(actor: str) -> str:
    kind, _, index = actor.partition("-")
    return ("S" if kind == "sender" else "R") + index


def topology_mermaid(events: Sequence[TraceEvent]) -> str:
    """A Mermaid ``sequenceDiagram`` of a topology's trace: a lane per node, in the order
    the nodes first act; an arrow per call between them (see
    :meth:`alosim.model.topology.Topology.trace` for the ids)."""
    lanes: list[str] = []
    for e in events:
        if ">" not in e.actor and e.actor not in lanes:
            lanes.append(e.actor)
    alias = {lane: f"N{i}" for i, lane in enumerate(lanes)}
    # A call's callee is the first node it arrives at; a broker node's subscription
    # (see alosim.model.subscription) delivers it on to a consumers node, the second.
    callee: dict[int, str] = {}
    consumer: dict[int, str] = {}
    for e in events:
        if e.event == "arrive":
            if e.message not in callee:
                callee[e.message] = e.actor
            elif e.actor != callee[e.message]:
                consumer.setdefault(e.message, e.actor)
        elif e.actor.count(">") == 2 and e.message >= 0:  # a subscription's path
            consumer.setdefault(e.message, e.actor.split(">")[2])
    caller = {e.message: e.actor for e in events if e.event == "send"}
    links = {e.actor.split(">")[0]: e.actor.split(">")[1] for e in events if ">" in e.actor}
    lost = {(e.message, e.attempt, e.event) for e in events
            if e.event in ("data_lost", "ack_lost", "delivery_lost", "consumer_ack_lost")}
    lines = ["sequenceDiagram"] + [f"    participant {alias[lane]} as {lane}" for lane in lanes]

    def name(e: TraceEvent) -> str:
        origin = e.detail.partition(",")[0] if e.detail.startswith("m") else f"m{e.message}"
        return origin if origin == f"m{e.message}" else f"{origin} (call {e.message})"

    for e in events:
        if e.actor not in alias:
            continue
        here = alias[e.actor]
        if e.event == "send":
            dst = callee.get(e.message) or links.get(e.actor)
            label = f"{name(e)} #{e.attempt}" + (" (resend)" if e.attempt > 1 else "")
            if dst is None or (e.message, e.attempt, "data_lost") in lost:
                target = alias.get(dst or "", here)
                lines.append(f"    {here}-x{target}: {label} LOST")
            else:
                lines.append(f"    {here}->>{alias[dst]}: {label}")
        elif e.event == "deliver":  # a broker node to the consumers node
            dst = alias.get(consumer.get(e.message, ""), here)
            arrow = "-x" if (e.message, e.attempt, "delivery_lost") in lost else "->>"
            again = " again" if e.attempt > 1 else ""
            lines.append(f"    {here}{arrow}{dst}: deliver {name(e)} #{e.attempt}{again}"
                         + (" LOST" if arrow == "-x" else ""))
        elif e.event in ("ack_sent", "nack_sent") and consumer.get(e.message) == e.actor:
            dst = alias.get(callee.get(e.message, ""), here)  # a consumer answers its broker
            arrow = "--x" if (e.message, e.attempt, "consumer_ack_lost") in lost else "-->>"
            verb = "ack" if e.event == "ack_sent" else "nack"
            lines.append(f"    {here}{arrow}{dst}: {verb} {name(e)}" + (" LOST" if arrow == "--x" else ""))
        elif e.event == "ack_sent":
            dst = alias.get(caller.get(e.message, ""), here)
            arrow = "--x" if (e.message, e.attempt, "ack_lost") in lost else "-->>"
            lines.append(f"    {here}{arrow}{dst}: ack {name(e)}" + (" LOST" if arrow == "--x" else ""))
        elif e.event == "processed":
            _, _, why = e.detail.partition("again")
            again = f" AGAIN (duplicate{why.replace(':', ',')})" if "again" in e.detail else ""
            lines.append(f"    Note over {here}: process {name(e)}{again}")
        elif e.event in ("timeout", "gave_up"):
            verb = "timeout" if e.event == "timeout" else "give up on"
            lines.append(f"    Note over {here}: {verb} {name(e)} #{e.attempt}")
        elif e.event == "duplicate_detected":
            lines.append(f"    Note over {here}: duplicate {name(e)} detected, dropped")
        elif e.event in ("crash", "restart"):
            lines.append(f"    Note over {here}: {e.event}")
    return "\n".join(lines) + "\n"


def mermaid(events: Sequence[TraceEvent], *, topology: bool = False) -> str:
    """A Mermaid ``sequenceDiagram`` of the trace (of a ``topology`` run: a lane per node)."""
    if topology:
        return topology_mermaid(events)
    if any(e.actor == "broker" for e in events):  # a pipeline: producer, broker, consumer lanes
        from alosim.seqdiagram.pipeline import mermaid as pipeline_mermaid

        return pipeline_mermaid(events)
    actors: list[str] = []
    for e in events:
        if e.actor != "network" and e.actor not in actors:
            actors.append(e.actor)
    senders = sorted((a for a in actors if a.startswith("sender")), key=_index)
    receivers = sorted((a for a in actors if a.startswith("receiver")), key=_index)

    # Which transmission or ack the network dropped: known from the network's events.
    lost_data = {(e.message, e.attempt) for e in events if e.event == "data_lost"}
    lost_ack = {(e.message, e.attempt) for e in events if e.event == "ack_lost"}
    # Where each message goes, and where each ack goes.
    receiver_of: dict[int, str] = {}
    sender_of: dict[int, str] = {}
    for e in events:
        if e.actor.startswith("receiver"):
            receiver_of.setdefault(e.message, e.actor)
        elif e.actor.startswith("sender"):
            sender_of.setdefault(e.message, e.actor)

    lines = ["sequenceDiagram"]
    for actor in senders + receivers:
        lines.append(f"    participant {_alias(actor)} as {actor}")
    for e in events:
        key = (e.message, e.attempt)
        m = f"m{e.message}"
        if e.event == "send":
            dst = receiver_of.get(e.message)
            label = f"{m} #{e.attempt}" + (" (resend)" if e.attempt > 1 else "")
            if key in lost_data or dst is None:
                target = _alias(dst) if dst else (_alias(receivers[0]) if receivers else "R0")
                lines.append(f"    {_alias(e.actor)}-x{target}: {label} LOST")
            else:
                lines.append(f"    {_alias(e.actor)}->>{_alias(dst)}: {label}")
        elif e.event == "ack_sent":
            src = _alias(e.actor)
            dst = _alias(sender_of.get(e.message, "sender-0"))
            if key in lost_ack:
                lines.append(f"    {src}--x{dst}: ack {m} LOST")
            else:
                lines.append(f"    {src}-->>{dst}: ack {m}")
        elif e.event == "timeout":
            lines.append(f"    Note over {_alias(e.actor)}: timeout {m} #{e.attempt}")
        elif e.event == "duplicate_detected":
            lines.append(f"    Note over {_alias(e.actor)}: duplicate {m} detected, dropped")
        elif e.event == "dropped_on_arrival":
            lines.append(f"    Note over {_alias(e.actor)}: {m} #{e.attempt} dropped on arrival "
                         "(a copy is queued or in progress)")
        elif e.event == "expired_discarded":
            lines.append(f"    Note over {_alias(e.actor)}: {m} #{e.attempt} expired, discarded "
                         f"({e.detail})")
        elif e.event == "processed":
            again = " AGAIN (duplicate)" if e.detail == "again" else ""
            lines.append(f"    Note over {_alias(e.actor)}: process {m}{again}")
        elif e.event == "gave_up":
            lines.append(f"    Note over {_alias(e.actor)}: give up on {m}")
    return "\n".join(lines) + "\n"


def _index(actor: str) -> int:
    return int(actor.rpartition("-")[2])
