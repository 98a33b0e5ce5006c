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


def known_columns(kinds: Mapping[str, str]) -> frozenset[str]:
    """Every column a topology whose nodes have ``kinds`` (name -> kind) may report."""
    names = set(END_TO_END)
    causes = [f"duplicates_{c}" for c in (*DUPLICATE_CAUSES, *PATH_DUPLICATE_CAUSES)]
    causes += [f"lost_{c}" for c in (*LOSS_CAUSES, *SENDER_LOSS_CAUSES)]
    for name, kind in kinds.items():
        if kind == "producer":
            continue
        figures = [*NODE_FIGURES, *CRASH_FIGURES, *causes]
        if kind == "service":
            figures += SERVICE_FIGURES
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
    sinks = [name for name, node in topology.nodes.items() if node.kind == "sink"]
    out: dict[str, Any] = {"messages": messages}
    duplicates = sum(topology.stats[name].duplicate_effects for name in sinks)
    missing = sum(messages - topology.stats[name].first_effects for name in sinks)
    out["duplicate_processing"] = duplicates
    for cause in (*DUPLICATE_CAUSES, *PATH_DUPLICATE_CAUSES):
        out[f"duplicates_{cause}"] = sum(_duplicates(into[name].rec, topology.stats[name], cause)
                                         for name in sinks)
    out["missing"] = missing
    out["lost"] = missing if settled else 0
    out["lost_call_lost"] = out["lost"]
    out["unsettled"] = sum(hop.unsettled for hop in topology.hops)
    out["calls"] = sum(hop.rec.transmissions for hop in topology.hops)
    out["calls_per_message"] = out["calls"] / m
    for name, stats in topology.stats.items():
        if stats.kind == "producer":
            continue
        rec = into[name].rec
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
        for cause in sorted({*rec.duplicate_causes, *stats.causes}):
            n = _duplicates(rec, stats, cause)
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




def _duplicates(rec: Any, stats: Any, cause: str) -> int:
    """A node's duplicate effects charged to ``cause``: by its link (a resent copy) and by
    a repeated call."""
    return rec.duplicate_causes.get(cause, 0) + stats.causes.get(cause, 0)


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
