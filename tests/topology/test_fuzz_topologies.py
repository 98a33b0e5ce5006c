"""Random topologies: trees of services and sinks under loss, retries, stores and faults.

Each draw builds a tree of 2 to 6 nodes -- a producer at the root, a
service at every inner node, a sink at every leaf, with random fan-out;
some nodes are put behind a broker (the node becomes a consumers node, fed by
a queue or log node that every such child of the same caller shares: a
fan-out of subscriptions) -- and gives every link its own loss, duplication and latency, every sender
its own retry policy (timeouts, attempts, windows), every service its
``onward`` settings, every receiver its workers, processing, store and
``on_duplicate``, and sometimes crashes or slow-downs at nodes. Runs are
small (at most 60 messages) and cut short by ``max_time``, so that none
runs long. Each run must come back:

* with every hop's and node's books balanced (``result.bugs == []``);
* stopped for a reason a run may stop for;
* with every duplicate effect charged to a cause, at each node and end to
  end, and the end-to-end columns the sum of the sinks' (see
  ``docs/guide/topologies.md``: "Every duplicate effect and loss is charged
  to (link, cause)");
* with every link out of the producer carrying each message it created, and
  no node making an effect for a producer message its caller never made
  one for (calls come only from effects upstream);
* with a message missing at a sink counted lost only once every hop has
  settled (a run cut short by ``max_time`` has calls in flight);
* the same, run twice.

The suite runs :data:`EXAMPLES` draws (about 6 s); ``ALOSIM_FUZZ_EXAMPLES``
raises that for a longer search.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st

import alosim
from alosim.model.topology import REPEAT_CAUSES
from alosim.observe import DUPLICATE_CAUSES
from alosim.observe.topology import PATH_DUPLICATE_CAUSES, QUEUE_DUPLICATE_CAUSES
from alosim.scenario import ScenarioError, validate_scenario

EXAMPLES = int(os.environ.get("ALOSIM_FUZZ_EXAMPLES", "400"))

#: Every cause a duplicate effect may be charged to: a link's own, or a repeated call's.
CAUSES = tuple(dict.fromkeys((*DUPLICATE_CAUSES, *PATH_DUPLICATE_CAUSES, *REPEAT_CAUSES,
                              *QUEUE_DUPLICATE_CAUSES)))
#: Why a run may stop: it settled, ran to max_time, or its stall budget ended a livelock
#: (a receiver that drops duplicates without an ack, under unlimited retries).
STOPS = {"settled", "max_time", "stall"}


def link_side(draw: st.DrawFn) -> dict[str, Any]:
    return {"latency": draw(st.sampled_from([{"dist": "constant", "value": 0.001},
                                             {"dist": "exponential", "mean": 0.005}])),
            "loss": draw(st.sampled_from([0.0, 0.0, 0.1, 0.4])),
            "duplicate": draw(st.sampled_from([0.0, 0.0, 0.1]))}


def sender(draw: st.DrawFn, producer: bool) -> dict[str, Any]:
    retry: dict[str, Any] = {"timeout": draw(st.sampled_from([0.005, 0.02, 0.1])),
                             "max_attempts": draw(st.sampled_from([None, 1, 2, 4]))}
    if draw(st.booleans()):
        retry["policy"] = "exponential"
    out: dict[str, Any] = {"window": draw(st.sampled_from([1, 4, 64])), "retry": retry,
                           "durable_outbox": draw(st.booleans())}
    if producer and draw(st.booleans()):
        out["rate"] = draw(st.sampled_from([200.0, 2000.0]))
    return out


def receiver(draw: st.DrawFn) -> dict[str, Any]:
    dedup = draw(st.sampled_from([
        {"kind": "none"}, {"kind": "set"}, {"kind": "ttl", "window": 0.02}, {"kind": "ttl", "window": 1.0},
        {"kind": "lru", "capacity": 3}, {"kind": "bloom", "capacity": 100, "fp_rate": 0.05}]))
    if dedup["kind"] != "none":
        dedup["durable"] = draw(st.booleans())
        dedup["write_delay"] = draw(st.sampled_from([0.0, 0.0, 0.003]))
    return {"workers": draw(st.sampled_from([1, 2, 16])),
            "processing": draw(st.sampled_from([{"dist": "constant", "value": 0.0},
                                                {"dist": "constant", "value": 0.004},
                                                {"dist": "exponential", "mean": 0.01}])),
            "ack": draw(st.sampled_from(["after-processing", "after-processing", "before-processing"])),
            "dedup": dedup,
            "on_duplicate": draw(st.sampled_from(["ack", "ack", "drop"]))}


def broker(draw: st.DrawFn) -> dict[str, Any]:
    return {"visibility_timeout": draw(st.sampled_from([0.01, 0.05, 1.0])),
            "max_deliveries": draw(st.sampled_from([None, None, 2])),
            "redelivery_backoff": draw(st.sampled_from([0.0, 0.005])),
            "prefetch": draw(st.sampled_from([None, 4])),
            "durable": draw(st.booleans()),
            "dedup": draw(st.sampled_from([{"kind": "none"}, {"kind": "none"}, {"kind": "set"},
                                           {"kind": "ttl", "window": 0.02}]))}


def log(draw: st.DrawFn) -> dict[str, Any]:
    return {"partitions": draw(st.sampled_from([1, 3])),
            "partitioner": draw(st.sampled_from(["key", "round-robin"])),
            "dedup": draw(st.sampled_from([{"kind": "none"}, {"kind": "sequence"}])),
            "retention": draw(st.sampled_from([None, None, 0.05]))}


def member(draw: st.DrawFn) -> dict[str, Any]:
    policy = draw(st.sampled_from(["after-each", "after-batch", "interval", "before-processing", "transactional"]))
    commit: dict[str, Any] = {"policy": policy, "latency": draw(st.sampled_from([0.0, 0.002]))}
    if policy == "interval":
        commit["interval"] = draw(st.sampled_from([0.01, 0.1]))
    return {"count": draw(st.sampled_from([1, 2])), "commit": commit,
            "processing": draw(st.sampled_from([{"dist": "constant", "value": 0.0},
                                                {"dist": "exponential", "mean": 0.005}])),
            "fetch_batch": draw(st.sampled_from([1, 10])),
            "session_timeout": draw(st.sampled_from([0.01, 0.1])),
            "rebalance_delay": draw(st.sampled_from([0.0, 0.005]))}


def consumer(draw: st.DrawFn) -> dict[str, Any]:
    dedup = draw(st.sampled_from([{"kind": "none"}, {"kind": "set"}, {"kind": "ttl", "window": 0.02},
                                  {"kind": "bloom", "capacity": 100, "fp_rate": 0.05}]))
    if dedup["kind"] != "none":
        dedup["durable"] = draw(st.booleans())
        dedup["write_delay"] = draw(st.sampled_from([0.0, 0.0, 0.003]))
    return {"count": draw(st.sampled_from([1, 2])),
            "concurrency": draw(st.sampled_from([1, 4, 16])),
            "processing": draw(st.sampled_from([{"dist": "constant", "value": 0.0},
                                                {"dist": "exponential", "mean": 0.01}])),
            "ack": draw(st.sampled_from(["after-processing", "after-processing", "before-processing"])),
            "nack_probability": draw(st.sampled_from([0.0, 0.0, 0.2])),
            "dedup": dedup}


def faults(draw: st.DrawFn, names: list[str], slowable: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        kind = draw(st.sampled_from(["crash", "crash", "slow"] if slowable else ["crash"]))
        # A crash may take the producer, a broker or a consumer group too; a slow-down is a receiver's.
        target = draw(st.sampled_from(names if kind == "crash" else slowable))
        fault: dict[str, Any] = {"target": target, "kind": kind}
        if kind == "slow":
            fault["factor"] = draw(st.sampled_from([5, 50]))
        if draw(st.booleans()):
            fault.update({"at": draw(st.sampled_from([0.005, 0.02, 0.08])),
                          "for": draw(st.sampled_from([0.002, 0.02, 0.2]))})
        else:
            fault.update({"mtbf": draw(st.sampled_from([0.05, 0.2])),
                          "mttr": draw(st.sampled_from([0.005, 0.03]))})
        out.append(fault)
    return out


@st.composite
def topologies(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario's fields: a random tree with random links, senders, receivers and faults."""
    size = draw(st.integers(2, 6))
    parents = [draw(st.integers(0, i - 1)) for i in range(1, size)]  # node i's caller: parents[i - 1]
    names = ["p", *(f"n{i}" for i in range(1, size))]
    calls = set(parents)  # the nodes that call onward
    nodes: dict[str, Any] = {"p": {"kind": "producer", "sender": sender(draw, producer=True)}}
    for i in range(1, size):
        if i in calls:
            nodes[names[i]] = {"kind": "service", "sender": sender(draw, producer=False),
                               "receiver": receiver(draw),
                               "onward": {"ack": draw(st.sampled_from(["after-call", "before-call"])),
                                          "identity": draw(st.sampled_from(["keep", "keep", "mint"]))}}
        else:
            nodes[names[i]] = {"kind": "sink", "receiver": receiver(draw)}
    links = []
    for i, parent in enumerate(parents, start=1):
        caller = names[parent]
        if draw(st.sampled_from([False, False, True])):
            # Behind a queue: the node becomes a consumer group on a subscription of its
            # caller's queue (one queue per caller, shared by its children: a fan-out).
            queue = f"q{parent}"
            if queue not in nodes:
                kind = draw(st.sampled_from(["queue", "queue", "log"]))
                nodes[queue] = {"kind": kind, "broker": broker(draw) if kind == "queue" else log(draw)}
                links.append({"from": caller, "to": queue, "data": link_side(draw), "ack": link_side(draw)})
            node = nodes[names[i]]
            fed_by_log = nodes[queue]["kind"] == "log"
            nodes[names[i]] = {"kind": "consumers", "consumer": member(draw) if fed_by_log else consumer(draw)}
            if node["kind"] == "service":
                nodes[names[i]].update(sender=node["sender"], onward={"ack": "before-call",
                                                                      "identity": node["onward"]["identity"]})
            if fed_by_log:  # a log's consumers fetch: the link carries no settings
                links.append({"from": queue, "to": names[i]})
                continue
            caller = queue
        links.append({"from": caller, "to": names[i], "data": link_side(draw), "ack": link_side(draw)})
    slowable = [name for name, node in nodes.items() if node["kind"] in ("service", "sink")]
    return {"name": "fuzz-topology", "seed": draw(st.integers(0, 2**16)),
            "messages": draw(st.integers(1, 60)),
            "max_time": draw(st.sampled_from([0.05, 0.3, 2.0])),
            "topology": {"nodes": nodes, "links": links}, "faults": faults(draw, list(nodes), slowable)}


def valid(fields: dict[str, Any]) -> alosim.Scenario:
    """The drawn scenario, or no example when validation refuses it (a refused
    scenario is not a run whose books could fail)."""
    try:
        return validate_scenario(fields, "<fuzz>")
    except ScenarioError:
        reject()


def check_identities(fields: dict[str, Any], s: dict[str, Any]) -> None:
    """What every topology run's summary must satisfy (see the module docstring)."""
    nodes = fields["topology"]["nodes"]
    caller = {link["to"]: link["from"] for link in fields["topology"]["links"]}
    for name, node in nodes.items():  # a consumers node's caller is its queue's publisher
        if node["kind"] == "consumers":
            caller[name] = caller[caller[name]]
    calling = {link["from"] for link in fields["topology"]["links"]}
    sinks = [name for name, node in nodes.items()
             if node["kind"] == "sink" or (node["kind"] == "consumers" and name not in calling)]
    n = s["messages"]
    assert s["duplicate_processing"] == sum(s[f"{sink}_duplicate_effects"] for sink in sinks)
    assert s["missing"] == sum(s[f"{sink}_missing"] for sink in sinks)
    assert 0 <= s["missing"] <= n * len(sinks)
    # A message missing at a sink is lost once every hop has settled; a run cut
    # short still has calls in flight, so none of its missing messages is lost yet.
    assert s["lost"] == (s["missing"] if s["stopped_by"] == "settled" else 0)
    assert s["duplicate_processing"] == sum(s.get(f"duplicates_{cause}", 0) for cause in CAUSES)
    for name, node in nodes.items():
        if node["kind"] in ("producer", "queue", "log"):
            continue
        charged = sum(s.get(f"{name}_duplicates_{cause}", 0) for cause in CAUSES)
        assert s[f"{name}_duplicate_effects"] == charged, name
        assert 0 <= s[f"{name}_missing"] <= n, name
        # A producer message with an effect here has its first one, and nothing more is missing.
        assert s[f"{name}_effects"] - s[f"{name}_duplicate_effects"] == n - s[f"{name}_missing"], name
        if nodes[caller[name]]["kind"] == "producer":
            # Every link out of the producer carries each message it created.
            assert s[f"{name}_calls"] == n, name
        else:
            # Calls come only from effects upstream: no effect here for a message without one there.
            assert s[f"{name}_missing"] >= s[f"{caller[name]}_missing"], name


@settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck), deadline=None, derandomize=True)
@given(topologies())
def test_random_topologies_keep_their_books_and_their_identities(fields: dict[str, Any]) -> None:
    scenario = valid(fields)
    result = alosim.simulate(scenario)
    assert result.bugs == []
    assert result.summary["stopped_by"] in STOPS, result.summary["stopped_by"]
    event(f"stopped by {result.summary['stopped_by']}")  # --hypothesis-show-statistics
    for kind in ("queue", "log"):
        event(f"{sum(node.kind == kind for node in scenario.topology.nodes.values())} {kind} nodes")
    check_identities(fields, result.summary)
    again = alosim.simulate(scenario)
    assert again.fingerprint == result.fingerprint
    assert {k: v for k, v in again.summary.items() if k != "wall_time_s"} == \
        {k: v for k, v in result.summary.items() if k != "wall_time_s"}
