"""Queue nodes and consumer groups in a topology (alosim.model.queue_node, consumers_node).

A queue node's subscription is a queue pipeline of its own: a producer -> queue ->
consumers topology must measure what the equivalent ``broker:`` pipeline measures
(exactly, where nothing is random; within the closed form's 99 % interval where it
is), one slow subscription must not touch another's figures, and a repeated call
from upstream must be caught by the consumers' or the broker's store by its key.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from alosim import analytic, simulate
from alosim.model.topology import Topology
from alosim.scenario import ScenarioError, validate_scenario
from tests.topology.scenarios import link, sender, service, topology

Z99 = 2.5758


def within(measured: float, mean: float, variance: float, n: int) -> bool:
    return abs(measured - mean) <= Z99 * math.sqrt(variance / n)


def constant(value_s: float) -> dict[str, Any]:
    return {"dist": "constant", "value": value_s}


def queue(**broker: Any) -> dict[str, Any]:
    return {"kind": "queue", "broker": broker}


def consumers(**consumer: Any) -> dict[str, Any]:
    return {"kind": "consumers", "consumer": consumer}


def side(loss: float = 0.0, latency_s: float = 0.001) -> dict[str, Any]:
    return {"loss": loss, "latency": constant(latency_s)}


def path(src: str, dst: str, data: dict[str, Any] | None = None, ack: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"from": src, "to": dst, "data": data or side(), "ack": ack or side()}


def pipeline(messages: int, seed: int, *, publish: tuple[dict, dict], consume: tuple[dict, dict],
             broker: dict[str, Any], consumer: dict[str, Any], producer: dict[str, Any]) -> Any:
    return validate_scenario({
        "name": "pipeline-test", "messages": messages, "seed": seed, "sender": producer,
        "network": {"data": publish[0], "ack": publish[1], "consume": {"data": consume[0], "ack": consume[1]}},
        "broker": broker, "consumer": consumer}, "<test>")


def one_subscription(messages: int, seed: int, *, publish: tuple[dict, dict], consume: tuple[dict, dict],
                     broker: dict[str, Any], consumer: dict[str, Any], producer: dict[str, Any]) -> Any:
    nodes = {"p": {"kind": "producer", "sender": producer}, "q": queue(**broker), "c": consumers(**consumer)}
    return topology(nodes, [path("p", "q", *publish), path("q", "c", *consume)], messages=messages, seed=seed)


# -- the schema ------------------------------------------------------------------------

P = {"kind": "producer", "sender": {"window": 4}}
QC = [{"from": "p", "to": "q"}, {"from": "q", "to": "c"}]


@pytest.mark.parametrize(("nodes", "links", "extra", "expected"), [
    ({"p": P, "q": queue(), "s": {"kind": "sink"}}, [{"from": "p", "to": "q"}, {"from": "q", "to": "s"}], {},
     "links[1].to: 'q' is a queue broker, which delivers to consumers nodes only; 's' is a sink"),
    ({"p": P, "c": consumers()}, [{"from": "p", "to": "c"}], {},
     "links[0].from: 'c' is a consumers node, fed by a queue or log node only"),
    ({"p": P, "q": queue()}, [{"from": "p", "to": "q"}], {}, "node 'q' (queue) delivers to nobody"),
    ({"p": P, "q": queue(kind="log"), "c": consumers()}, QC, {}, "broker.kind: a queue node's broker is a queue"),
    ({"p": P, "q": {"kind": "log", "broker": {"visibility_timeout": 1}}, "c": consumers()}, QC, {},
     "broker.visibility_timeout belongs to a queue: make the node kind: queue"),
    ({"p": P, "q": queue(partitions=3), "c": consumers()}, QC, {},
     "broker.partitions belongs to a log: make the node kind: log"),
    ({"p": P, "q": {"kind": "queue", "sender": {}}, "c": consumers()}, QC, {}, "sender: a queue broker node takes 'broker' only"),
    ({"p": P, "q": queue(), "c": {"kind": "consumers", "receiver": {}}}, QC, {}, "receiver: a consumers node takes 'consumer'"),
    ({"p": P, "q": queue(), "c": {"kind": "sink", "consumer": {}}}, QC, {}, "consumer: belongs to a node of kind consumers"),
    ({"p": {**P, "broker": {}}, "q": queue(), "c": consumers()}, QC, {}, "broker: belongs to a node of kind queue or log"),
    ({"p": P, "q": queue(), "c": consumers(commit={"policy": "after-each"})}, QC, {},
     "topology.nodes.c.consumer.commit belongs to a log's consumer group"),
    ({"p": P, "q": queue(), "c": consumers(dedup={"kind": "sequence"})}, QC, {},
     "topology.nodes.c.consumer.dedup.kind: sequence numbers belong to the publish link"),
    ({"p": P, "q": queue(visibility_timeout=1), "c": consumers(lease_extension={"every": 2})}, QC, {},
     "topology.nodes.c.consumer.lease_extension.every: 2s is not shorter than the visibility_timeout of 'q'"),
    ({"p": P, "q": queue(visibility_timeout=1), "c": consumers(lease_extension={"every": 0.5, "max": 1})}, QC, {},
     "topology.nodes.c.consumer.lease_extension.max: 1s is not longer than the visibility_timeout of 'q'"),
    ({"p": P, "q": queue(), "c": {**consumers(), "onward": {"ack": "after-call"}}, "s": {"kind": "sink"}},
     [*QC, {"from": "c", "to": "s"}], {}, "topology.nodes.c.onward.ack: a consumers node acks its deliveries"),
    ({"p": P, "q": queue(), "c": {**consumers(), "sender": {}}}, QC, {},
     "topology.nodes.c: a consumers node with no link out calls nothing onward"),
    ({"p": P, "q": queue(), "c": consumers()}, [{"from": "p", "to": "q"},
                                                {"from": "q", "to": "c", "partitions": [{"at": 1, "for": 1}]}], {},
     "links[1].partitions: a consume link (from the queue 'q') takes no partitions"),
    ({"p": P, "q": queue(), "c": consumers()}, QC, {"faults": [{"target": "c", "kind": "pause", "at": 1, "for": 1}]},
     "faults[0].kind: a pause slows a receiver; 'c' is a consumers node, which only crashes"),
    ({"p": P, "q": queue(), "c": consumers()}, QC, {"semantics": "exactly-once", "topology": None},
     None),  # (filled below: exactly-once needs the final consumers' store)
])
def test_bad_broker_nodes_get_a_one_line_error_naming_the_field(nodes, links, extra, expected) -> None:
    data = {"name": "t", "messages": 10, "topology": {"nodes": nodes, "links": links}}
    if expected is None:
        data["semantics"] = "exactly-once"
        nodes = {**nodes, "c": consumers(dedup={"kind": "none"})}
        data["topology"] = {"nodes": nodes, "links": links}
        expected = "topology.nodes.c.consumer.dedup.kind: semantics exactly-once needs a dedup store"
    else:
        data.update(extra)
    with pytest.raises(ScenarioError) as caught:
        validate_scenario(data, "bad.yaml")
    message = str(caught.value)
    assert expected in message and message.startswith("bad.yaml: ") and "\n" not in message


def test_a_queue_node_takes_the_pipeline_presets_and_shows_as_a_pipeline_does() -> None:
    scenario = validate_scenario({"name": "t", "messages": 10, "semantics": "exactly-once",
                                  "topology": {"nodes": {"p": P, "q": {"kind": "queue"}, "c": {"kind": "consumers"}},
                                               "links": QC}}, "<test>")
    nodes = scenario.resolved()["topology"]["nodes"]
    assert nodes["c"]["consumer"]["dedup"]["kind"] == "set"  # exactly-once: the effect's store
    # a queue's broker shows as a queue pipeline's does (its kind is the node's)
    assert "partitions" not in nodes["q"]["broker"] and "kind" not in nodes["q"]["broker"]
    assert "commit" not in nodes["c"]["consumer"] and "broker" not in nodes["p"]
    # ... and the resolved scenario reads back as the same scenario.
    again = validate_scenario(scenario.resolved(), "<test>")
    assert again.resolved() == scenario.resolved()


# -- the same as a pipeline --------------------------------------------------------------

def test_a_queue_subscription_measures_exactly_what_the_pipeline_does_when_nothing_is_random() -> None:
    # Processing outlasts the lease (150 ms > 100 ms): each message is delivered again while
    # its first delivery is at work, deterministically; both shapes must count the same.
    settings = {"publish": (side(latency_s=0.002), side(latency_s=0.002)),
                "consume": (side(latency_s=0.01), side(latency_s=0.01)),
                "broker": {"visibility_timeout": 0.1}, "consumer": {"concurrency": 1000, "processing": constant(0.15)},
                "producer": {"window": 8}}
    flat = simulate(pipeline(200, 1, **settings)).summary
    node = simulate(one_subscription(200, 1, **settings))
    s = node.summary
    assert node.bugs == [] and flat["duplicate_processing"] > 0
    assert s["c_duplicate_effects"] == s["duplicate_processing"] == flat["duplicate_processing"]
    assert s["c_redeliveries"] == s["q_redeliveries"] == flat["consume_redeliveries"]
    assert s["q_lease_expiries"] == flat["lease_expiries"]
    assert s["duplicates_consume_lease_expired"] == flat["duplicates_consume_lease_expired"]
    assert s["c_effects"] == flat["processed"] and s["c_missing"] == 0 == flat["lost"]


def test_lease_expiry_duplicates_through_a_queue_node_match_the_closed_form() -> None:
    # analytic.lease_redeliveries: Exp processing, constant consume latency, no loss,
    # unbounded concurrency, no consumer store -- the pipeline's validation setting.
    visibility, latency, mean, n = 0.5, 0.05, 0.5, 4000
    settings = {"publish": (side(), side()), "consume": (side(latency_s=latency), side(latency_s=latency)),
                "broker": {"visibility_timeout": visibility},
                "consumer": {"concurrency": 1000000, "processing": {"dist": "exponential", "mean": mean}},
                "producer": {"window": 64, "retry": {"timeout": 1.0}}}
    expected = analytic.lease_redeliveries(visibility, latency, mean)
    variance = analytic.lease_redeliveries_variance(visibility, latency, mean)
    node = simulate(one_subscription(n, 5, **settings))
    flat = simulate(pipeline(n, 5, **settings)).summary
    s = node.summary
    assert node.bugs == [] and s["c_transmissions"] == n == flat["transmissions"]  # no publish retried
    for measured in (s["c_duplicate_effects"], s["duplicates_consume_lease_expired"], flat["duplicate_processing"]):
        assert within(measured / n, expected, variance, n), (measured / n, expected)


def test_loss_driven_duplicates_through_a_queue_node_match_the_two_hop_closed_form() -> None:
    # analytic.two_hop_duplicates: Bernoulli losses on both hops, timeouts well above the
    # round trips. The effects per message are a random sum: 1 + A entries (A the publish
    # hop's duplicates), each making 1 + C effects, independently; its variance is
    # E[N] Var(X) + Var(N) E[X]^2 (N = 1 + A, X = 1 + C).
    n = 4000
    uniform = {"dist": "uniform", "low": 0.005, "high": 0.015}
    settings = {"publish": ({"loss": 0.05, "latency": uniform}, {"loss": 0.2, "latency": uniform}),
                "consume": ({"loss": 0.05, "latency": uniform}, {"loss": 0.1, "latency": uniform}),
                "broker": {"visibility_timeout": 0.1}, "consumer": {"concurrency": 1000000},
                "producer": {"window": 64, "retry": {"timeout": 0.1}}}
    hops = analytic.two_hop_duplicates(0.05, 0.2, 0.05, 0.1)
    d_a, v_a = analytic.duplicates_per_message(0.05, 0.2), analytic.duplicates_variance(0.05, 0.2)
    d_c, v_c = analytic.duplicates_per_message(0.05, 0.1), analytic.duplicates_variance(0.05, 0.1)
    variance = (1 + d_a) * v_c + v_a * (1 + d_c) ** 2
    for scenario in (one_subscription(n, 2, **settings), pipeline(n, 2, **settings)):
        result = simulate(scenario)
        s = result.summary
        assert result.bugs == [] and s["lost"] == 0
        assert within(s["duplicates_publish_no_dedup"] / n, hops.publish, v_a, n)
        assert within(s["duplicate_processing"] / n, hops.total, variance, n), (s["duplicate_processing"] / n, hops.total)


# -- fan-out -----------------------------------------------------------------------------

FAN_OUT = {
    "p": {"kind": "producer", "sender": {"rate": 500.0, "window": 64, "retry": {"timeout": 1.0}}},
    "orders": queue(visibility_timeout=0.1),
    "billing": consumers(count=2, concurrency=8, processing={"dist": "exponential", "mean": 0.005}),
    "email": consumers(concurrency=16, processing={"dist": "exponential", "mean": 0.02}),
    # slow: 80 ms on average against a 100 ms lease, few slots -- a redelivery storm of its own
    "analytics": consumers(concurrency=64, processing={"dist": "exponential", "mean": 0.08}),
}
SUBSCRIPTION = {"billing": (0.1, 0.01), "email": (0.0, 0.02), "analytics": (0.1, 0.02)}  # consume ack loss, latency


def fan_out(subscribers: list[str], messages: int = 1500):
    nodes = {name: FAN_OUT[name] for name in ("p", "orders", *subscribers)}
    links = [path("p", "orders")] + [path("orders", name, side(latency_s=SUBSCRIPTION[name][1]),
                                          side(SUBSCRIPTION[name][0], SUBSCRIPTION[name][1]))
                                     for name in subscribers]
    return simulate(topology(nodes, links, messages=messages, seed=7))


FIGURES = ("effects", "duplicate_effects", "redeliveries", "missing", "duplicates_consume_lease_expired",
           "duplicates_consume_consumer_ack_lost")


def test_a_slow_subscription_does_not_touch_the_others() -> None:
    three = fan_out(["billing", "email", "analytics"])
    two = fan_out(["billing", "email"])
    alone = fan_out(["billing"])
    assert three.bugs == two.bugs == alone.bugs == []
    s3, s2, s1 = three.summary, two.summary, alone.summary
    # the slow one redelivers a lot (the test would prove nothing otherwise) ...
    assert s3["analytics_redeliveries"] > 10 * max(s3["billing_redeliveries"], 1)
    # ... and every other subscription's figures are exactly those without it.
    for name in ("billing", "email"):
        for figure in FIGURES:
            key = f"{name}_{figure}"
            assert s3.get(key, 0) == s2.get(key, 0), key
    for figure in FIGURES:
        assert s3.get(f"billing_{figure}", 0) == s1.get(f"billing_{figure}", 0), figure
    # Each subscription gets every message; the queue node's figures are theirs together.
    assert s3["billing_calls"] == s3["email_calls"] == s3["analytics_calls"] == s3["messages"]
    assert s3["orders_redeliveries"] == sum(s3[f"{n}_redeliveries"] for n in ("billing", "email", "analytics"))
    assert s3["duplicate_processing"] == sum(s3[f"{n}_duplicate_effects"] for n in ("billing", "email", "analytics"))


# -- repeated calls from upstream --------------------------------------------------------

def repeated_calls(store_at: str, identity: str = "keep"):
    # The service makes about 0.43 effects more per message (30 % of its acks lost, no store)
    # and publishes each one: the second publish of one call is a repeated call.
    nodes = {"api": {"kind": "producer", "sender": sender(0.05)},
             "svc": service(0.05, identity=identity),
             "q": queue(dedup={"kind": "set" if store_at == "broker" else "none"}),
             "c": consumers(dedup={"kind": "set" if store_at == "consumers" else "none"})}
    links = [link("api", "svc", p_ack=0.3), link("svc", "q"), link("q", "c")]
    result = simulate(topology(nodes, links, messages=500, seed=4))
    assert result.bugs == []
    return result.summary


@pytest.mark.parametrize("store_at", ["consumers", "broker"])
def test_a_repeated_call_is_caught_by_its_key_at_the_consumers_or_the_broker(store_at: str) -> None:
    s = repeated_calls(store_at)
    assert s["svc_duplicate_effects"] > 100
    assert s["c_effects"] == 500 and s["c_duplicate_effects"] == 0 and s["lost"] == 0
    caught = s["c_repeats_caught"] if store_at == "consumers" else s["q_repeats_caught"]
    assert caught == s["svc_duplicate_effects"]


def test_a_minted_key_defeats_the_consumers_store() -> None:
    s = repeated_calls("consumers", identity="mint")
    assert s["c_repeats_caught"] == 0
    assert s["c_duplicate_effects"] == s["c_duplicates_new_key"] == s["svc_duplicate_effects"] > 100


def test_without_a_store_a_repeated_call_is_a_duplicate_effect_charged_to_the_repeat() -> None:
    s = repeated_calls("nowhere")
    assert s["c_duplicate_effects"] == s["c_duplicates_repeated_call"] == s["svc_duplicate_effects"]
    assert s["duplicates_repeated_call"] == s["duplicate_processing"]


# -- consumers that call onward ----------------------------------------------------------

def test_a_consumer_group_calls_onward_once_per_effect() -> None:
    nodes = {"p": {"kind": "producer", "sender": sender(0.05)}, "q": queue(visibility_timeout=0.05),
             "c": {**consumers(processing={"dist": "exponential", "mean": 0.02}, concurrency=100),
                   "sender": sender(0.05)},
             "sink": {"kind": "sink", "receiver": {"workers": 100}}}
    links = [link("p", "q"), link("q", "c"), link("c", "sink", p_ack=0.2)]
    result = simulate(topology(nodes, links, messages=500, seed=3))
    s = result.summary
    assert result.bugs == []
    assert s["c_duplicate_effects"] > 0  # leases ran out under 20 ms processing + 2 ms round trip
    assert s["c_calls_out"] == s["c_effects"] == s["sink_calls"]
    assert s["sink_missing"] == 0 and s["lost"] == 0
    # end to end at the sink: the consumers' duplicates and the sink link's resends
    assert s["duplicate_processing"] == s["sink_duplicate_effects"] > s["c_duplicate_effects"]


# -- faults ------------------------------------------------------------------------------

def test_a_crash_takes_every_subscription_s_broker_or_a_group_s_consumers() -> None:
    nodes = {"p": {"kind": "producer", "sender": {"rate": 1000.0, "window": 64, "retry": {"timeout": 0.05}}},
             "q": queue(visibility_timeout=0.05, durable=False),
             "a": consumers(count=2), "b": consumers()}
    links = [link("p", "q"), link("q", "a"), link("q", "b")]
    scenario = topology(nodes, links, messages=400, seed=2,
                        faults=[{"target": "q", "at": 0.1, "for": 0.02}, {"target": "a", "at": 0.2, "for": 0.02}])
    top = Topology(scenario, scenario.seed)
    top.run()
    assert top.conservation() == []
    hops = {hop.link.to: hop for hop in top.hops}
    assert [hops[n].pipeline.stats.broker_crashes for n in ("a", "b")] == [1, 1]
    assert [hops[n].pipeline.stats.consumer_crashes for n in ("a", "b")] == [2, 0]  # a's two consumers
    assert top.stats["q"].crashes == top.stats["a"].crashes == 1 and top.stats["b"].crashes == 0
    s = simulate(scenario).summary
    assert s["q_crashes"] == s["a_crashes"] == 1
    # Both subscriptions' brokers were down (their publishes resent alike: nothing else is
    # random here); only a's consumers crashed, so only a's leases ran out.
    assert s["a_retransmissions"] == s["b_retransmissions"] > 0
    assert s["a_redeliveries"] > 0 == s["b_redeliveries"]
    assert s["lost"] == 0


# -- the trace and the printout ----------------------------------------------------------

def test_the_trace_puts_the_broker_and_the_consumers_on_their_nodes_lanes() -> None:
    from alosim.printout import format_summary

    nodes = {"p": {"kind": "producer", "sender": sender(0.05)}, "q": queue(), "c": consumers()}
    scenario = topology(nodes, [link("p", "q"), link("q", "c")], messages=5, observe={"trace_messages": 2})
    result = simulate(scenario)
    lanes = {row.actor for row in result.trace}
    assert {"p", "q", "c"} <= lanes and not any(lane.startswith(("broker", "consumer-")) for lane in lanes)
    printed = format_summary(scenario, result.summary, 0.0)
    assert "q (queue): 5 publishes accepted, 0 redeliveries, 0 dead-lettered" in printed
    # the path ends at a consumer group, not a sink: its end to end is read there
    assert "end to end: duplicate effects and losses at the final nodes" in printed
    assert "    c " in printed  # the group's row in the node table


# -- log nodes ---------------------------------------------------------------------------

def log_subscription(text_overrides: dict[str, Any], messages: int | None = None, duration_s: float | None = None,
                     seed: int = 1, faults: tuple[dict, ...] = (), groups: tuple[str, ...] = ("c",)) -> Any:
    nodes: dict[str, Any] = {"p": {"kind": "producer", "sender": text_overrides["producer"]},
                             "log": {"kind": "log", "broker": text_overrides["broker"]}}
    for name in groups:
        nodes[name] = {"kind": "consumers", "consumer": text_overrides.get(name, text_overrides["consumer"])}
    links = [path("p", "log", *text_overrides["publish"])] + [{"from": "log", "to": name} for name in groups]
    top: dict[str, Any] = {"faults": list(faults)}
    count = {"messages": messages} if messages is not None else {"messages": None, "duration": duration_s}
    return validate_scenario({"name": "log-test", "seed": seed, **count, "topology": {"nodes": nodes, "links": links},
                              **top}, "<test>")


def log_pipeline(settings: dict[str, Any], messages: int | None = None, duration_s: float | None = None,
                 seed: int = 1, faults: tuple[dict, ...] = ()) -> Any:
    count = {"messages": messages} if messages is not None else {"duration": duration_s}
    return validate_scenario({"name": "log-pipeline-test", "seed": seed, **count, "sender": settings["producer"],
                              "network": {"data": settings["publish"][0], "ack": settings["publish"][1]},
                              "broker": {"kind": "log", **settings["broker"]}, "consumer": settings["consumer"],
                              "faults": list(faults)}, "<test>")


@pytest.mark.parametrize(("consumer", "link", "expected"), [
    ({}, {"data": {"loss": 0.1}}, "topology.links[1].data: a log's consumers fetch from it"),
    ({"concurrency": 4}, {}, "topology.nodes.c.consumer.concurrency belongs to a queue's consumers"),
    ({"dedup": {"kind": "set"}}, {}, "topology.nodes.c.consumer.dedup: a log's consumers keep no idempotency store"),
    ({"pull": {"batch": 4}}, {}, "topology.nodes.c.consumer.pull belongs to a queue's consumers"),
])
def test_a_log_s_consumer_group_takes_a_log_s_consumer_settings(consumer, link, expected) -> None:
    data = {"name": "t", "messages": 10, "topology": {
        "nodes": {"p": P, "q": {"kind": "log", "broker": {"partitions": 2}}, "c": consumers(**consumer)},
        "links": [{"from": "p", "to": "q"}, {"from": "q", "to": "c", **link}]}}
    with pytest.raises(ScenarioError) as caught:
        validate_scenario(data, "bad.yaml")
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_exactly_once_on_a_log_needs_a_transactional_commit_at_the_final_group() -> None:
    data = {"name": "t", "messages": 10, "semantics": "exactly-once", "topology": {
        "nodes": {"p": P, "q": {"kind": "log"}, "c": consumers(commit={"policy": "after-each"})}, "links": QC}}
    with pytest.raises(ScenarioError, match=r"topology.nodes.c.consumer.commit.policy: semantics exactly-once"):
        validate_scenario(data, "<test>")
    data["topology"]["nodes"]["c"] = consumers(commit={"policy": "transactional"})
    scenario = validate_scenario(data, "<test>")
    assert scenario.resolved()["topology"]["nodes"]["c"]["consumer"]["dedup"]["kind"] == "none"
    assert validate_scenario(scenario.resolved(), "<test>").resolved() == scenario.resolved()


LOG = {"producer": {"rate": 400.0, "window": None, "retry": {"timeout": 1.0}},
       "publish": (side(), side()), "broker": {"partitions": 1},
       "consumer": {"count": 1, "fetch_batch": 1000, "session_timeout": 1.0,
                    "commit": {"policy": "interval", "interval": 0.2}}}


def test_a_log_subscription_measures_exactly_what_the_log_pipeline_does_when_nothing_is_random() -> None:
    # One partition (placement is the same whatever the keys), constant latencies, a periodic
    # producer and scheduled crashes: the replays after each crash are the same in both shapes.
    settings = {**LOG, "producer": {"rate": 400.0, "arrivals": "periodic", "window": None, "retry": {"timeout": 1.0}}}
    crashes = ({"at": 0.55, "for": 0.005}, {"at": 1.33, "for": 0.01})
    node = simulate(log_subscription(settings, messages=800, faults=tuple({"target": "c", **c} for c in crashes)))
    flat = simulate(log_pipeline(settings, messages=800, faults=tuple({"target": "consumers", **c} for c in crashes))).summary
    s = node.summary
    assert node.bugs == [] and flat["duplicate_processing"] > 0
    assert s["c_duplicate_effects"] == s["duplicate_processing"] == flat["duplicate_processing"]
    assert s["duplicates_consume_replay_after_crash"] == flat["duplicates_consume_replay_after_crash"]
    assert s["c_effects"] == flat["processed"] and s["log_publishes"] == flat["log_records_appended"]


def test_auto_commit_replays_through_a_log_node_match_the_closed_form() -> None:
    # analytic.auto_commit_duplicates_per_crash: Poisson arrivals at 400/s, instant
    # processing, crashes at a uniform phase of the 0.2 s commit clock: lambda T / 2 per crash.
    faults = ({"target": "c", "mtbf": 1.0, "mttr": 0.005},)
    result = simulate(log_subscription(LOG, duration_s=60.0, seed=3, faults=faults))
    s = result.summary
    assert result.bugs == []
    crashes = s["c_crashes"]
    expected = analytic.auto_commit_duplicates_per_crash(400.0, 0.2)
    variance = analytic.auto_commit_duplicates_variance(400.0, 0.2)
    assert crashes > 30
    measured = s["duplicates_consume_replay_after_crash"] / crashes
    assert within(measured, expected, variance, crashes), (measured, expected)
    assert s["c_duplicate_effects"] == s["duplicates_consume_replay_after_crash"]


def test_a_group_that_keeps_crashing_does_not_touch_the_other_groups_on_the_log() -> None:
    settings = {**LOG, "b": {**LOG["consumer"], "commit": {"policy": "after-each"}},
                "slow": {**LOG["consumer"], "processing": {"dist": "exponential", "mean": 0.002}}}
    faults = ({"target": "slow", "mtbf": 0.3, "mttr": 0.05},)
    three = simulate(log_subscription(settings, messages=2000, seed=5, faults=faults, groups=("c", "b", "slow")))
    two = simulate(log_subscription(settings, messages=2000, seed=5, groups=("c", "b")))
    assert three.bugs == two.bugs == []
    s3, s2 = three.summary, two.summary
    assert s3["slow_duplicate_effects"] > 0
    for name in ("c", "b"):
        for figure in ("effects", "duplicate_effects", "missing", "calls"):
            assert s3[f"{name}_{figure}"] == s2[f"{name}_{figure}"], (name, figure)
    assert s3["log_publishes"] == 3 * 2000 and s3["lost"] == 0


@pytest.mark.parametrize("kind", ["queue", "log"])
def test_a_subscription_is_drawn_publisher_to_broker_to_consumers(kind: str) -> None:
    from alosim.seqdiagram.topology import layout
    from alosim.trace import mermaid

    nodes = {"p": {"kind": "producer", "sender": sender(0.05)}, "q": {"kind": kind}, "a": consumers(), "b": consumers()}
    links = [link("p", "q"), {"from": "q", "to": "a"}, {"from": "q", "to": "b"}]
    events = simulate(topology(nodes, links, messages=2, observe={"trace_messages": 2})).trace
    diagram = layout(events)
    assert set(diagram.actors) == {"p", "q", "a", "b"}
    pairs = {(arrow.kind, arrow.source, arrow.target) for arrow in diagram.arrows}
    # publishes and their acks between the publisher and the broker node only
    assert {("data", "p", "q"), ("ack", "q", "p")} <= pairs and not {("data", "p", "a"), ("data", "p", "b")} & pairs
    if kind == "queue":  # deliveries and the consumers' acks between the broker and each group
        assert {("data", "q", "a"), ("data", "q", "b"), ("ack", "a", "q"), ("ack", "b", "q")} <= pairs
    assert {note.actor for note in diagram.notes if note.kind.startswith("processed")} == {"a", "b"}
    text = mermaid(events, topology=True)
    alias = {line.split(" as ")[1]: line.split()[1] for line in text.splitlines() if "participant" in line}
    assert f"{alias['p']}->>{alias['q']}: m0 #1" in text and f"{alias['p']}->>{alias['a']}" not in text
    if kind == "queue":
        assert f"{alias['q']}->>{alias['a']}: deliver" in text and f"{alias['a']}-->>{alias['q']}: ack" in text
