"""The topology: its schema, its wiring, its books and what its nodes do."""

from __future__ import annotations

import pytest

from alosim import analytic, simulate
from alosim.scenario import ScenarioError
from tests.conftest import make
from tests.topology.scenarios import link, sender, service, sink, topology

CHAIN = """
name: chain
messages: 50
topology:
  nodes:
    api: {kind: producer}
    svc: {kind: service}
    pay: {kind: sink}
  links:
    - {from: api, to: svc}
    - {from: svc, to: pay}
"""


def test_a_minimal_chain_runs_and_every_message_reaches_the_sink() -> None:
    result = simulate(make(CHAIN))
    s = result.summary
    assert result.ok and s["messages"] == 50 and s["lost"] == 0 and s["pay_missing"] == 0
    # Every effect at the service is one call to the provider (retries included).
    assert s["svc_calls_out"] == s["svc_effects"] == s["pay_calls"] >= 50


@pytest.mark.parametrize(("change", "message"), [
    ("    x: {kind: sink}\n", "'x': no link reaches it"),
    ("    api2: {kind: producer}\n", "exactly one node of kind producer"),
    ("    Svc: {kind: sink}\n", "node names are lower-case"),
])
def test_a_malformed_graph_is_refused_with_the_reason(change: str, message: str) -> None:
    text = CHAIN.replace("    pay: {kind: sink}\n", "    pay: {kind: sink}\n" + change)
    with pytest.raises(ScenarioError, match=message):
        make(text)


@pytest.mark.parametrize(("text", "message"), [
    (CHAIN.replace("{from: svc, to: pay}", "{from: svc, to: nowhere}"), "no node named 'nowhere'"),
    (CHAIN.replace("{from: svc, to: pay}", "{from: svc, to: api}"), "is the producer"),
    (CHAIN.replace("    - {from: svc, to: pay}\n", "    - {from: svc, to: pay}\n    - {from: api, to: pay}\n"),
     "already has a link into it"),
    (CHAIN.replace("    - {from: svc, to: pay}\n", ""), "'svc' \\(service\\) calls nothing"),
    (CHAIN + "sender: {window: 3}\n", "'sender' does not apply beside 'topology'"),
    (CHAIN.replace("pay: {kind: sink}", "pay: {kind: sink, onward: {}}"), "a sink calls nothing onward"),
    (CHAIN + "faults: [{target: nobody, at: 1s, for: 1s}]\n", "targets a node by name"),
    (CHAIN + "faults: [{target: api, kind: pause, at: 1s, for: 1s}]\n", "the producer, which processes"),
    (CHAIN.replace("svc: {kind: service}", "svc: {kind: service, sender: {rate: 5/s}}"),
     "calls onward once per side effect"),
    (CHAIN.replace("messages: 50", "messages: 50\nsemantics: exactly-once").replace(
        "pay: {kind: sink}", "pay: {kind: sink, receiver: {dedup: {kind: none}}}"),
     "pay.receiver.dedup.kind: semantics exactly-once needs a dedup store at every sink"),
])
def test_a_topology_that_cannot_run_is_refused_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        make(text)


def test_semantics_presets_apply_node_by_node() -> None:
    exactly = make(CHAIN.replace("messages: 50", "messages: 50\nsemantics: exactly-once"))
    assert exactly.topology is not None
    assert exactly.topology.nodes["pay"].receiver.dedup.kind == "set"
    assert exactly.topology.nodes["svc"].receiver.dedup.kind == "set"
    at_most = make(CHAIN.replace("messages: 50", "messages: 50\nsemantics: at-most-once"))
    assert at_most.topology.nodes["api"].sender.retry.max_attempts == 1
    assert at_most.topology.nodes["svc"].sender.retry.max_attempts == 1


def test_same_scenario_and_seed_same_numbers() -> None:
    nodes = {"api": {"kind": "producer", "sender": sender(0.03)}, "svc": service(0.03, ack="after-call"),
             "pay": sink()}
    links = [link("api", "svc", p_data=0.1, p_ack=0.2), link("svc", "pay", p_ack=0.3)]
    a = simulate(topology(nodes, links, messages=300, seed=9))
    b = simulate(topology(nodes, links, messages=300, seed=9))
    c = simulate(topology(nodes, links, messages=300, seed=10))
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert a.summary == b.summary and a.series == b.series


def test_a_hops_draws_do_not_move_when_a_link_is_added_elsewhere() -> None:
    # Streams are named after their link: a new subscription shifts nothing on the others.
    base = {"pub": {"kind": "producer", "sender": sender(0.05)}, "topic": service(0.05), "a": sink()}
    links = [link("pub", "topic", p_ack=0.2), link("topic", "a", p_ack=0.3)]
    one = simulate(topology(base, links, messages=500, seed=4)).summary
    two = simulate(topology({**base, "b": sink()}, [*links, link("topic", "b", p_ack=0.5)],
                            messages=500, seed=4)).summary
    for column in ("topic_effects", "a_effects", "a_transmissions", "a_duplicate_effects"):
        assert one[column] == two[column], column


def test_a_receiver_that_drops_a_duplicate_without_an_ack_leaves_its_sender_retrying() -> None:
    # The first copy is processed; when its ack is lost (p), every later copy is
    # caught and dropped in silence, so the sender gives up after all its attempts.
    n, p_ack, attempts = 4000, 0.3, 4
    nodes = {"api": {"kind": "producer", "sender": sender(0.02, attempts)},
             "pay": {"kind": "sink", "receiver": {"dedup": {"kind": "set"}, "on_duplicate": "drop",
                                                   "workers": 100}}}
    result = simulate(topology(nodes, [link("api", "pay", p_ack=p_ack)], messages=n, seed=2))
    s = result.summary
    assert s["pay_duplicate_effects"] == 0 and s["lost"] == 0
    gave_up = s["pay_calls_gave_up"] / n
    se = (p_ack * (1 - p_ack) / n) ** 0.5
    assert abs(gave_up - p_ack) <= 2.5758 * se, gave_up
    # ... each after every attempt it had: the retransmissions are all in vain.
    assert s["pay_retransmissions"] == s["pay_calls_gave_up"] * (attempts - 1)
    reacked = simulate(topology({**nodes, "pay": {**nodes["pay"], "receiver": {
        **nodes["pay"]["receiver"], "on_duplicate": "ack"}}}, [link("api", "pay", p_ack=p_ack)],
        messages=n, seed=2)).summary
    expected = analytic.gave_up_probability(0.0, p_ack, attempts)
    assert reacked["pay_calls_gave_up"] / n < gave_up / 10 and expected < 0.01


def test_a_crash_of_a_service_is_charged_to_its_links_and_the_books_hold() -> None:
    nodes = {"api": {"kind": "producer", "sender": sender(0.2)},
             "svc": service(0.05, ack="after-call", dedup="set"), "pay": sink(dedup="set")}
    links = [link("api", "svc", p_ack=0.1), link("svc", "pay", p_ack=0.1)]
    scenario = topology(nodes, links, messages=2000, seed=6,
                        faults=[{"target": "svc", "mtbf": "100ms", "mttr": "20ms"}])
    result = simulate(scenario)
    s = result.summary
    assert result.ok, result.bugs
    assert s["lost"] == 0 and s["pay_missing"] == 0 and s["svc_crashes"] >= 5
    # A crash loses the service's requests in progress: the api resends, and the
    # volatile store forgets, so the provider sees repeated calls (its store catches them).
    assert s["svc_duplicate_effects"] > 0 and s["pay_repeats_caught"] > 0
    assert s["duplicate_processing"] < s["svc_duplicate_effects"] + s["pay_repeats_caught"]


def test_the_trace_has_a_lane_per_node_and_names_each_calls_producer_message() -> None:
    from alosim import trace as tracing

    nodes = {"api": {"kind": "producer", "sender": sender(1.0, 3)},
             "svc": service(0.02, 2, ack="after-call", identity="mint", dedup="set"), "pay": sink(dedup="set")}
    scenario = topology(nodes, [link("api", "svc"), link("svc", "pay", p_ack=0.5)], messages=40, seed=11,
                        observe={"trace_messages": 3})
    result = simulate(scenario)
    events = result.trace or []
    assert {e.actor for e in events} >= {"api", "svc", "pay", "svc>pay"}
    # The first link's rows carry the producer's ids; a later link's calls have ids of their
    # own (from 3 on), each naming its producer message.
    assert {e.message for e in events if e.actor == "api" and e.message >= 0} == {0, 1, 2}
    calls = [e for e in events if e.actor == "pay"]
    assert calls and all(e.message >= 3 and e.detail.startswith(("m0", "m1", "m2")) for e in calls)
    # Tracing changes nothing but the trace.
    untraced = simulate(topology(nodes, [link("api", "svc"), link("svc", "pay", p_ack=0.5)], messages=40,
                                 seed=11))
    same = {k: v for k, v in result.summary.items() if k != "fingerprint"}
    assert same == {k: v for k, v in untraced.summary.items() if k != "fingerprint"}
    diagram = tracing.mermaid(events, topology=True)
    assert "participant N0 as api" in diagram and "participant N2 as pay" in diagram
    # Every message traced: each repeated call under a new key is in the trace, drawn as the
    # duplicate it is, as many as the counters say.
    everything = simulate(scenario.with_overrides({"observe.trace_messages": 40}))
    repeats = [e for e in everything.trace or [] if e.actor == "pay" and e.detail.endswith("again: new key")]
    assert len(repeats) == everything.summary["duplicates_new_key"] > 0
    assert tracing.mermaid(everything.trace or [], topology=True).count("AGAIN (duplicate, new key)") == len(repeats)


def test_explore_draws_crashes_at_the_nodes_and_its_minimal_scenario_reproduces(tmp_path) -> None:
    import alosim
    from alosim.explore import explore

    nodes = {"api": {"kind": "producer", "sender": sender(1.0, 3)},
             "svc": service(0.02, 2, ack="after-call", dedup="set"), "pay": sink(dedup="set")}
    scenario = topology(nodes, [link("api", "svc"), link("svc", "pay", p_ack=0.5)], messages=50, seed=11,
                        semantics="exactly-once")
    findings = explore(scenario, 6, out=tmp_path)
    assert findings.violating_runs > 0 and findings.groups
    group = findings.groups[0]
    assert group.guarantee == "no_duplicate_processing" and not group.capped
    minimal = alosim.load_scenario(findings.folder / group.folder / "scenario.yaml")
    assert minimal.faults and all(f.target in ("svc", "pay") for f in minimal.faults)
    again = simulate(minimal)
    assert again.summary["duplicate_processing"] > 0 and not again.checks["no_duplicate_processing"]
    assert (findings.folder / group.folder / "sequence.mmd").read_text().startswith("sequenceDiagram")


def test_explore_refuses_partitions_on_a_topology_in_one_line() -> None:
    from alosim.explore import check_vary, explore_of

    nodes = {"api": {"kind": "producer"}, "pay": sink()}
    scenario = topology(nodes, [link("api", "pay")], messages=5, explore={"partitions": {"max": 1}})
    with pytest.raises(ScenarioError, match="explore.partitions: a topology's partitions are its links'"):
        check_vary(scenario, explore_of(scenario))


def test_every_link_out_of_the_producer_carries_the_same_messages() -> None:
    # A producer with two links out sends each message it creates on both: with
    # Poisson arrivals for a duration, or cut short by max_time, both sinks
    # account for the same producer messages (each link used to create its own).
    nodes = {"p": {"kind": "producer", "sender": {**sender(0.01), "rate": 200}}, "a": sink(), "b": sink()}
    links = [link("p", "a", p_ack=0.3), link("p", "b")]
    for top in ({"messages": None, "duration": 1.0}, {"messages": 200, "max_time": 0.05}):
        result = simulate(topology(nodes, links, **top))
        s = result.summary
        assert result.bugs == [], (top, result.bugs)
        assert s["a_calls"] == s["b_calls"] == s["messages"], top
        assert 0 <= s["b_missing"] <= s["messages"], top
    settled = simulate(topology(nodes, links, messages=None, duration=1.0)).summary
    assert settled["a_missing"] == settled["b_missing"] == settled["lost"] == 0


def test_a_run_cut_short_by_max_time_counts_its_calls_in_flight_unsettled_not_lost() -> None:
    nodes = {"p": {"kind": "producer", "sender": {**sender(0.01), "rate": 200}}, "a": sink()}
    # Calls take 30 ms each way: those made in the last 30 ms before the cut are still on the link.
    result = simulate(topology(nodes, [link("p", "a", p_ack=0.3, latency_s=0.03)], messages=200, max_time=0.05))
    s = result.summary
    assert s["stopped_by"] == "max_time" and s["unsettled"] > 0 and s["missing"] > 0
    assert s["lost"] == 0 and result.checks["none_lost"]


def test_a_copy_taken_after_a_pause_is_charged_to_the_store_lost_in_the_crash() -> None:
    # m0 is processed at once (nothing takes time) at t=1 ms, its ack lost; a crash at
    # 3 ms wipes the node's store; a pause from 5 ms queues the resend that arrives at
    # 11 ms, and a worker takes it at 25 ms: processed again, because the crash lost its
    # id -- not because another copy was at work (none ever was).
    nodes = {"api": {"kind": "producer", "sender": sender(0.01, 2, window=1)},
             "svc": service(0.01, dedup="set", workers=8), "pay": sink(dedup="set")}
    links = [link("api", "svc", p_ack=1.0), link("svc", "pay")]
    result = simulate(topology(nodes, links, messages=1, seed=3,
                               faults=[{"target": "svc", "at": "3ms", "for": "1ms"},
                                       {"target": "svc", "kind": "pause", "at": "5ms", "for": "20ms"}]))
    s = result.summary
    assert result.bugs == []
    assert s["svc_duplicate_effects"] == 1 and s["svc_duplicates_store_lost_in_crash"] == 1
    assert s.get("svc_duplicates_concurrent_copy", 0) == 0


def test_the_node_figures_named_by_the_summary_are_the_registrys() -> None:
    from alosim import figures
    from alosim.observe import topology as columns

    suffixes = {*columns.NODE_FIGURES, *columns.SERVICE_FIGURES, *columns.CRASH_FIGURES,
                *columns.CONSUMERS_FIGURES, *columns.BROKER_FIGURES}
    assert suffixes == set(figures._NODE_FIGURES)
    # Every column a topology writes is one its validation knows (an expect: may name it).
    nodes = {"api": {"kind": "producer", "sender": sender(0.02, 3)},
             "svc": service(0.02, 2, ack="after-call", identity="mint", dedup="ttl"), "pay": sink(dedup="set")}
    nodes["svc"]["receiver"]["dedup"]["window"] = "10ms"
    scenario = topology(nodes, [link("api", "svc", p_ack=0.3), link("svc", "pay", p_ack=0.5)], messages=200,
                        faults=[{"target": "svc", "mtbf": "50ms", "mttr": "5ms"}])
    summary = simulate(scenario).summary
    known = columns.known_columns({name: node.kind for name, node in scenario.topology.nodes.items()})
    written = {c for c in summary if not c.startswith("check_")} - {"scenario", "semantics", "seed", "events",
                                                                   "sim_time_s", "stopped_by", "fingerprint",
                                                                   "stall_cause", "stall_cause_count"}
    assert written - known == set()


def test_the_printout_says_where_calls_were_lost_and_which_nodes_crashed() -> None:
    import alosim
    from alosim.expand import as_topology
    from alosim.printout import format_topology
    from tests.conftest import SCENARIOS

    scenario = as_topology(alosim.load_scenario(SCENARIOS / "sender-crash.yaml", ["messages=2000"]))
    result = simulate(scenario)
    s = result.summary
    text = format_topology(scenario, s, 0.0)
    assert s["sender_crashes"] == 1 and s["receiver_lost_sender_crash"] == s["lost"] > 0
    assert "  crashes, by node\n    sender " in text and text.split("crashes, by node\n")[1].split("\n")[0].endswith(" 1")
    line = next(l for l in text.splitlines() if l.startswith("    receiver: sender crash"))
    assert line.split()[-1] == f"{s['lost']:,}"
