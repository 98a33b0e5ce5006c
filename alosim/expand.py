"""The shorthand sections as the topology they stand for.

A scenario without a ``topology:`` section is a shorthand for a small one:

=========================================  ============================================
shorthand                                  topology
=========================================  ============================================
``sender``, ``network``, ``receiver``      ``sender`` (producer) -> ``receiver`` (sink)
=========================================  ============================================

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
``receiver.count`` above 1 has no expansion. A ``sweep``, an ``expect`` block
and an ``explore`` section name the shorthand's paths and columns, and are
left out of the expansion.
"""

from __future__ import annotations

from typing import Any

from alosim.scenario import Scenario, ScenarioError, validate_scenario

#: The shorthand's actors as the nodes they become.
SINGLE_HOP_NODES = {"sender-0": "sender", "senders": "sender", "receiver-0": "receiver", "receivers": "receiver"}

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
    if scenario.broker is not None:
        raise NoExpansion(source, [("broker", "a pipeline's expansion into a topology is not written yet")])
    for section, count in (("sender", scenario.sender.count), ("receiver", scenario.receiver.count)):
        if count != 1:
            raise NoExpansion(source, [(f"{section}.count", f"a topology's node is one {section}, got {count}")])
    data = scenario.as_written()
    for section in SHORTHAND_ONLY:
        data.pop(section, None)
    network = data.pop("network", None) or {}
    data["topology"] = {
        "nodes": {"sender": {"kind": "producer", "sender": data.pop("sender", None) or {}},
                  "receiver": {"kind": "sink", "receiver": data.pop("receiver", None) or {}}},
        "links": [{"from": "sender", "to": "receiver",
                   **{k: v for k, v in network.items() if k in ("data", "ack", "partitions")}}],
    }
    if data.get("faults"):
        data["faults"] = [_node_fault(fault, SINGLE_HOP_NODES) for fault in data["faults"]]
    return validate_scenario(data, source)


def _node_fault(fault: Any, nodes: dict[str, str]) -> Any:
    if isinstance(fault, dict) and fault.get("target") in nodes:
        return {**fault, "target": nodes[fault["target"]]}
    return fault
