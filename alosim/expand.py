"""The shorthand sections as the topology they stand for.

A scenario without a ``topology:`` section is a shorthand for a small one:

==============================================  ====================================================
shorthand                                       topology
==============================================  ====================================================
``sender``, ``network``, ``receiver``           ``sender`` (producer) -> ``receiver`` (sink)
``sender``, ``network``, ``broker`` (a queue),  ``producer`` -> ``broker`` (queue) -> ``consumers``
``consumer``
``sender``, ``network``, ``broker`` (a log),    ``producer`` -> ``broker`` (log) -> ``consumers``
``consumer``
==============================================  ====================================================

The network's ``data``, ``ack`` and ``partitions`` are the first link's; a
queue pipeline's ``network.consume`` is the consume link's. Faults follow
their actors to the nodes: ``sender-0`` to the sender or producer,
``receiver-0`` to the receiver, ``broker`` to the broker, ``consumers`` to the
consumers node (and ``consumer-0`` when it is the only consumer).

:func:`as_topology` writes that topology out, from the scenario as it was
written (the semantics preset fills in each node as it filled in each
section). Its first link is built with the same random streams as the
shorthand's hop (a topology's first link takes the run's streams under their
own names; every later link's are prefixed with the link), so the shorthand
and its expansion are one run: the same draws, the same duplicates, losses,
retransmissions and store sizes (``tests/topology/test_shorthands.py`` runs
every shipped scenario both ways). ``alosim validate --as-topology FILE``
prints it.

What a topology cannot say yet is refused with the field that says it: a
topology's node is one sender or one receiver, so ``sender.count`` or
``receiver.count`` above 1 has no expansion, and a crash of one consumer among
several (``consumer-1``) has no node to fall on (a consumers node's crash takes
all of its consumers). A ``sweep``, an ``expect`` block
and an ``explore`` section name the shorthand's paths and columns, and are
left out of the expansion.
"""

from __future__ import annotations

from typing import Any

from alosim.scenario import Scenario, ScenarioError, validate_scenario

#: The shorthand's actors as the nodes they become.
SINGLE_HOP_NODES = {"sender-0": "sender", "senders": "sender", "receiver-0": "receiver", "receivers": "receiver"}
PIPELINE_NODES = {"sender-0": "producer", "senders": "producer", "broker": "broker", "consumers": "consumers"}

#: Sections that name the shorthand's own paths or columns.
SHORTHAND_ONLY = ("sweep", "expect", "explore")


class NoExpansion(ScenarioError):
    """A shorthand that says something a topology cannot say (yet)."""


def as_topology(scenario: Scenario) -> Scenario:
    """``scenario`` as a topology scenario (itself, if it has a ``topology:`` already).

    Raises :class:`NoExpansion` naming the field a topology cannot express."""
    if scenario.topology is not None:
        return scenario
    source = f"{scenario.origin} (as a topology)"
    counts = [("sender", scenario.sender.count)]
    if scenario.broker is None:
        counts.append(("receiver", scenario.receiver.count))
    for section, count in counts:
        if count != 1:
            raise NoExpansion(source, [(f"{section}.count", f"a topology's node is one {section}, got {count}")])
    data = scenario.as_written()
    for section in SHORTHAND_ONLY:
        data.pop(section, None)
    network = data.pop("network", None) or {}
    first = {k: v for k, v in network.items() if k in ("data", "ack", "partitions")}
    if scenario.broker is None:
        nodes = {"sender": {"kind": "producer", "sender": data.pop("sender", None) or {}},
                 "receiver": {"kind": "sink", "receiver": data.pop("receiver", None) or {}}}
        links = [{"from": "sender", "to": "receiver", **first}]
        actors = SINGLE_HOP_NODES
    else:
        assert scenario.consumer is not None
        broker = data.pop("broker")
        nodes = {"producer": {"kind": "producer", "sender": data.pop("sender", None) or {}},
                 "broker": {"kind": scenario.broker.kind, "broker": broker},
                 "consumers": {"kind": "consumers", "consumer": data.pop("consumer", None) or {}}}
        links = [{"from": "producer", "to": "broker", **first},
                 {"from": "broker", "to": "consumers", **(network.get("consume") or {})}]
        actors = dict(PIPELINE_NODES)
        if scenario.consumer.count == 1:
            actors["consumer-0"] = "consumers"
    data["topology"] = {"nodes": nodes, "links": links}
    for i, fault in enumerate(data.get("faults") or []):
        target = fault.get("target") if isinstance(fault, dict) else None
        if target not in actors:
            raise NoExpansion(source, [(f"faults.{i}.target", f"{target!r} is one actor of a node that "
                                                             f"holds several: no node of a topology is it alone")])
        fault["target"] = actors[target]
    return validate_scenario(data, source)
