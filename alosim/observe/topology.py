"""A topology run's summary columns: end to end at the sinks, then each node's.

The end-to-end figures take the names a single hop uses for the same
questions (``duplicate_processing``, ``lost`` and their ``duplicates_<cause>``
and ``lost_<cause>`` columns), so that the guarantees, ``explore`` and the
comparisons read a topology as they read any run. Each node that receives
calls then has its own columns, named after it (``<node>_<figure>``,
:data:`NODE_FIGURES`), and the causes its link reported (``<node>_duplicates_<cause>``,
``<node>_lost_<cause>``) when they happened. See :mod:`alosim.model.topology`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alosim.observe import DUPLICATE_CAUSES, LOSS_CAUSES, SENDER_LOSS_CAUSES
from alosim.observe.log import LOG_CONSUME_CAUSES, LOG_LOSS_CAUSES, LOG_PUBLISH_CAUSES
from alosim.observe.pipeline import CONSUME_CAUSES, PIPELINE_LOSS_CAUSES, PUBLISH_CAUSES

#: Duplicate effects at a sink that no single link made (see alosim.guarantees).
PATH_DUPLICATE_CAUSES = ("repeated_call", "new_key")
#: Losses at a sink: a call on the path was lost.
PATH_LOSS_CAUSES = ("call_lost",)

#: The end-to-end columns, in summary order.
END_TO_END = ("messages", "duplicate_processing",
              *(f"duplicates_{c}" for c in (*DUPLICATE_CAUSES, *PATH_DUPLICATE_CAUSES)),
              "missing", "lost", *(f"lost_{c}" for c in PATH_LOSS_CAUSES), "unsettled", "calls",
              "calls_per_message")

#: Each receiving node's figures (``<node>_<figure>``): every node's, then a
#: service's, then those of a node a fault may crash.
NODE_FIGURES = ("calls", "transmissions", "transmissions_per_message", "retransmissions", "effects",
                "duplicate_effects", "missing", "repeats_caught", "duplicates_caught", "calls_gave_up",
                "calls_lost", "dedup_entries_peak")
SERVICE_FIGURES = ("calls_out", "requests_unanswered")
CRASH_FIGURES = ("crashes",)
#: A consumers node's figures beside :data:`NODE_FIGURES`: its subscription's
#: redeliveries and dead letters (see :mod:`alosim.model.queue_node`).
CONSUMERS_FIGURES = ("redeliveries", "dead_lettered")
#: A queue node's figures: its subscriptions' together (it makes no side effect);
#: a log node's are the first (records appended).
BROKER_FIGURES = ("publishes", "redeliveries", "lease_expiries", "dead_lettered", "repeats_caught")
LOG_FIGURES = ("publishes",)
#: The causes a subscription's books charge its duplicate effects to, per hop
#: (``publish_<cause>``, ``consume_<cause>``; written at a consumers node): a queue's or a log's.
_QUEUE_CAUSES = (*(f"publish_{c}" for c in PUBLISH_CAUSES), *(f"consume_{c}" for c in CONSUME_CAUSES))
_LOG_CAUSES = (*(f"publish_{c}" for c in LOG_PUBLISH_CAUSES), *(f"consume_{c}" for c in LOG_CONSUME_CAUSES))
QUEUE_DUPLICATE_CAUSES = tuple(dict.fromkeys((*_QUEUE_CAUSES, *_LOG_CAUSES)))


def final_nodes(kinds: Mapping[str, str], calling: set[str]) -> list[str]:
    """The nodes whose effects are the path's end: sinks, and consumers nodes that call
    nothing onward (``calling``: the nodes with a link out)."""
    return [name for name, kind in kinds.items()
            if kind == "sink" or (kind == "consumers" and name not in calling)]


def known_columns(kinds: Mapping[str, str]) -> frozenset[str]:
    """Every column a topology whose nodes have ``kinds`` (name -> kind) may report."""
    names = set(END_TO_END)
    causes = [f"duplicates_{c}" for c in (*DUPLICATE_CAUSES, *PATH_DUPLICATE_CAUSES)]
    causes += [f"lost_{c}" for c in (*LOSS_CAUSES, *SENDER_LOSS_CAUSES)]
    queue_causes = [f"duplicates_{c}" for c in QUEUE_DUPLICATE_CAUSES]
    queue_causes += [f"lost_{c}" for c in dict.fromkeys((*PIPELINE_LOSS_CAUSES, *LOG_LOSS_CAUSES))]
    if "consumers" in kinds.values():
        names |= {f"duplicates_{c}" for c in QUEUE_DUPLICATE_CAUSES}
    for name, kind in kinds.items():
        if kind == "producer":
            continue
        if kind in ("queue", "log"):
            names |= {f"{name}_{figure}" for figure in (*(BROKER_FIGURES if kind == "queue" else LOG_FIGURES),
                                                        *CRASH_FIGURES)}
            continue
        figures = [*NODE_FIGURES, *CRASH_FIGURES, *causes]
        if kind in ("service", "consumers"):
            figures += SERVICE_FIGURES
        if kind == "consumers":
            figures += [*CONSUMERS_FIGURES, *queue_causes]
        names |= {f"{name}_{figure}" for figure in figures}
    return frozenset(names)


def topology_columns(topology: Any) -> dict[str, Any]:
    """A topology run's summary: the end-to-end figures at the sinks under the
    names a single hop uses (``duplicate_processing``, ``lost`` and their
    causes), then each node's, named after it (see :mod:`alosim.model.topology`)."""
    messages = topology.messages
    m = max(messages, 1)
    # A producer message missing at a sink is lost only when every hop has settled:
    # a run cut short (by max_time or a budget) still has calls in flight.
    settled = topology.stopped_by == "" and not topology.cut_at_max_time
    into = {hop.link.to: hop for hop in topology.hops}
    kinds = {name: node.kind for name, node in topology.nodes.items()}
    sinks = final_nodes(kinds, {hop.link.from_ for hop in topology.hops})
    hop_causes = {name: _hop_causes(into[name]) for name in kinds if name in into}
    out: dict[str, Any] = {"messages": messages}
    duplicates = sum(topology.stats[name].duplicate_effects for name in sinks)
    missing = sum(messages - topology.stats[name].first_effects for name in sinks)
    out["duplicate_processing"] = duplicates
    end_causes = (*DUPLICATE_CAUSES, *PATH_DUPLICATE_CAUSES)
    fed = {into[name].log for name in sinks if kinds[name] == "consumers"}  # by a log: True
    end_causes += tuple(dict.fromkeys((*(_QUEUE_CAUSES if False in fed else ()), *(_LOG_CAUSES if True in fed else ()))))
    for cause in end_causes:
        out[f"duplicates_{cause}"] = sum(_duplicates(hop_causes[name], topology.stats[name], cause)
                                         for name in sinks)
    out["missing"] = missing
    out["lost"] = missing if settled else 0
    out["lost_call_lost"] = out["lost"]
    out["unsettled"] = sum(hop.unsettled for hop in topology.hops)
    out["calls"] = sum(hop.rec.transmissions for hop in topology.hops)
    out["calls_per_message"] = out["calls"] / m
    for name, stats in topology.stats.items():
        if stats.kind == "producer":
            if topology.crashes_of(name):
                out[f"{name}_crashes"] = stats.crashes
            continue
        if stats.kind in ("queue", "log"):
            out.update(_broker_columns(topology, name))
            continue
        hop = into[name]
        rec = hop.rec
        out[f"{name}_calls"] = rec.messages
        out[f"{name}_transmissions"] = rec.transmissions
        out[f"{name}_transmissions_per_message"] = rec.transmissions / m
        out[f"{name}_retransmissions"] = rec.retransmissions
        out[f"{name}_effects"] = stats.effects
        out[f"{name}_duplicate_effects"] = stats.duplicate_effects
        out[f"{name}_missing"] = messages - stats.first_effects
        out[f"{name}_repeats_caught"] = stats.absorbed
        out[f"{name}_duplicates_caught"] = rec.duplicates_detected - stats.absorbed
        out[f"{name}_calls_gave_up"] = rec.gave_up
        out[f"{name}_calls_lost"] = rec.lost
        out[f"{name}_dedup_entries_peak"] = rec.dedup_entries_peak
        if stats.kind == "consumers" and not hop.log:
            queue = hop.pipeline.stats
            out[f"{name}_redeliveries"] = queue.consume_redeliveries
            out[f"{name}_dead_lettered"] = queue.dead_lettered
        for cause in sorted({*hop_causes[name], *stats.causes}):
            n = _duplicates(hop_causes[name], stats, cause)
            if n:
                out[f"{name}_duplicates_{cause}"] = n
        for cause, n in sorted(rec.loss_causes.items()):
            if n:
                out[f"{name}_lost_{cause}"] = n
        if topology.crashes_of(name):
            out[f"{name}_crashes"] = stats.crashes
        if stats.outgoing:
            out[f"{name}_calls_out"] = stats.calls_out
            out[f"{name}_requests_unanswered"] = stats.calls_failed
    return out




def _duplicates(hop_causes: Mapping[str, int], stats: Any, cause: str) -> int:
    """A node's duplicate effects charged to ``cause``: by the hop into it (a resent copy,
    a redelivery) and by a repeated call."""
    return hop_causes.get(cause, 0) + stats.causes.get(cause, 0)


def _hop_causes(hop: Any) -> Mapping[str, int]:
    """The duplicate effects the hop into a node charges to each cause: a link's causes,
    or a subscription's per hop (``publish_<cause>``, ``consume_<cause>``)."""
    if hop.pipeline is None:
        return hop.rec.duplicate_causes  # type: ignore[no-any-return]
    stats = hop.pipeline.stats
    causes = {f"publish_{c}": n for c, n in stats.publish_duplicates.items()}
    causes.update({f"consume_{c}": n for c, n in stats.consume_duplicates.items()})
    return causes


def _broker_columns(topology: Any, name: str) -> dict[str, Any]:
    """A broker node's figures: its subscriptions' (see :data:`BROKER_FIGURES`, :data:`LOG_FIGURES`)."""
    hops = [hop for hop in topology.hops if getattr(hop, "broker_node", None) == name]
    if topology.nodes[name].kind == "log":
        out = {f"{name}_publishes": sum(hop.pipeline.stats.records_appended for hop in hops)}
        if topology.crashes_of(name):
            out[f"{name}_crashes"] = topology.stats[name].crashes
        return out
    total = {figure: 0 for figure in BROKER_FIGURES}
    for hop in hops:
        stats = hop.pipeline.stats
        total["publishes"] += stats.publishes_accepted
        total["redeliveries"] += stats.consume_redeliveries
        total["lease_expiries"] += stats.lease_expiries
        total["dead_lettered"] += stats.dead_lettered
        total["repeats_caught"] += hop.broker_absorbed
    out = {f"{name}_{figure}": n for figure, n in total.items()}
    if topology.crashes_of(name):
        out[f"{name}_crashes"] = topology.stats[name].crashes
    return out


#: Each receiving node's series (``<node>_<series>``), from the link into it.
NODE_SERIES = ("dedup_entries", "in_flight", "deliveries", "processed_unique", "duplicate_processing",
               "queue_length", "busy_workers")


def topology_series(topology: Any) -> dict[str, list[float]]:
    """A topology run's sampled series: the first link's under the common names, then
    each receiving node's (:data:`NODE_SERIES`, from the link into it) named after it.
    Every hop samples at the same instants (one clock, one interval), so the rows line up."""
    series = {name: list(values) for name, values in topology.head.rec.series.items()}
    rows = len(series["time_s"])
    for hop in topology.hops:
        own = hop.rec.series
        if own["time_s"] != series["time_s"]:
            raise AssertionError(f"{hop.link.to}: sampled at other instants than the first link "
                                 f"({len(own['time_s'])} rows, {rows} expected)")
        for name in NODE_SERIES:
            series[f"{hop.link.to}_{name}"] = list(own[name])
    return series
