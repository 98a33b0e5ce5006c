"""A topology's fused paths change no result.

Where nothing takes time and nothing is traced, a node takes a call whole in
``NodeReceiver.on_packet`` (store, effect, calls onward, record, ack), a fed
sender builds and sends a call in ``NodeSender.submit`` and settles an ack
nobody waits for in ``NodeSender.on_ack``, the producer builds its messages
in ``NodeSender._create`` (and in ``on_produced``, where it takes an ack whole),
and a sender with the same wait after every transmission keeps its timers in
order of their tickets and expires them in ``Sender._on_wake`` itself. Each run here is made twice, with
those paths and with the general one forced (every stage in its own method),
and must give the same fingerprint -- the summary, the series and the trace,
byte for byte -- and the same outbox waits at every hop (which a fed sender
that sends its calls at once counts rather than records one by one).
"""

from __future__ import annotations

from typing import Any

import pytest

import alosim
from alosim.model.message import Message
from alosim.model.topology import NodeReceiver, NodeSender, Topology
from tests.topology.scenarios import link, sender, service, sink, topology


def lossy(src: str, dst: str, *, duplicate: float = 0.0) -> dict[str, Any]:
    side = {"loss": 0.15, "latency": {"dist": "exponential", "mean": 0.002}}
    return {"from": src, "to": dst, "data": {**side, "duplicate": duplicate}, "ack": side}


#: Each store kind's settings: short enough a window, small enough a capacity to forget.
STORES = {"none": {"kind": "none"}, "set": {"kind": "set"}, "ttl": {"kind": "ttl", "window": "15ms"},
          "lru": {"kind": "lru", "capacity": 4}, "bloom": {"kind": "bloom", "capacity": 200, "fp_rate": 0.05}}


def stored(node: dict[str, Any], kind: str) -> dict[str, Any]:
    return {**node, "receiver": {**node["receiver"], "dedup": STORES[kind]}}


def chain(dedup: str = "set", identity: str = "keep", **retry: Any) -> dict[str, Any]:
    svc = stored(service(0.01, identity=identity), dedup)
    svc["sender"]["retry"].update(retry)
    return {"nodes": {"p": {"kind": "producer", "sender": sender(0.01, window=8)}, "a": svc,
                      "b": stored(service(0.01), dedup), "z": sink(dedup="set")},
            "links": [lossy("p", "a"), lossy("a", "b", duplicate=0.1), lossy("b", "z")]}


def fan_out() -> dict[str, Any]:
    return {"nodes": {"p": {"kind": "producer", "sender": sender(0.01, window=8)},
                      "a": service(0.01, dedup="set"), "x": sink(dedup="set"), "y": stored(sink(), "ttl"),
                      "w": sink(dedup="set")},
            "links": [lossy("p", "a"), lossy("p", "w"), lossy("a", "x"), lossy("a", "y")]}


def brokered(kind: str, partitions: int = 2) -> dict[str, Any]:
    """A service that publishes to a queue or a log node, whose consumers call a sink."""
    broker = {"visibility_timeout": "20ms"} if kind == "queue" else {"partitions": partitions}
    c = {"kind": "consumers", "consumer": {"concurrency": 4} if kind == "queue" else {}, "sender": sender(0.01),
         "onward": {"ack": "before-call", "identity": "keep"}}
    consume = lossy("b", "c") if kind == "queue" else {"from": "b", "to": "c"}
    return {"nodes": {"p": {"kind": "producer", "sender": sender(0.01, window=8)},
                      "a": stored(service(0.01), "set"), "b": {"kind": kind, "broker": broker}, "c": c,
                      "z": sink(dedup="set")},
            "links": [lossy("p", "a"), lossy("a", "b"), consume, lossy("c", "z")]}


CASES: dict[str, dict[str, Any]] = {
    "set stores": {"top": chain()},
    "ttl stores, new keys": {"top": chain("ttl", "mint")},
    "lru and bloom stores": {"top": chain("lru"), "b": "bloom"},
    "no stores": {"top": chain("none")},
    "backoff": {"top": chain(policy="exponential")},
    "adaptive timeouts": {"top": chain(policy="adaptive")},
    "a small window": {"top": chain(), "window": 2},
    "fan-out": {"top": fan_out()},
    "traced": {"top": chain(), "trace": 25},
    "crashes and a pause": {"top": chain(), "faults": [
        {"target": "a", "at": "40ms", "for": "15ms"}, {"target": "b", "kind": "pause", "at": "90ms", "for": "20ms"},
        {"target": "z", "mtbf": "80ms", "mttr": "5ms"}]},
    # A store cleared late holds less after the crash than before it: its peak is the
    # size it had when it crashed (the run lasts about 0.3 s).
    "a store cleared at its largest": {"top": chain(), "faults": [{"target": "z", "at": "250ms", "for": "5ms"}]},
    # Its outbox durable, acks that reach it while it is down find their messages unsettled.
    "a producer that crashes": {"top": chain(), "durable": True,
                                "faults": [{"target": "p", "at": "60ms", "for": "10ms"}]},
    "an after-call service": {"top": chain(), "after": True},
    "a queue node": {"top": brokered("queue")},
    "a log node": {"top": brokered("log")},
    "a log node of one partition": {"top": brokered("log", 1)},
}


def build(name: str) -> alosim.Scenario:
    case = CASES[name]
    top = case["top"]
    nodes = {n: {**spec, **({"receiver": {**spec["receiver"]}} if "receiver" in spec else {})}
             for n, spec in top["nodes"].items()}
    if "b" in case:
        nodes["b"] = stored(nodes["b"], case["b"])
    if case.get("durable"):
        nodes["p"]["sender"] = {**nodes["p"]["sender"], "durable_outbox": True}
    if "window" in case:
        nodes["a"]["sender"] = {**nodes["a"]["sender"], "window": case["window"]}
    if case.get("after"):
        nodes["b"]["onward"] = {"ack": "after-call", "identity": "keep"}
    extra: dict[str, Any] = {"faults": case.get("faults", [])}
    if "trace" in case:
        extra["observe"] = {"trace_messages": case["trace"]}
    return topology(nodes, top["links"], messages=300, seed=5, **extra)


def general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every node receiver, fed sender and producer built from now on take the general path."""
    receiver_setup, sender_setup, producer_setup = NodeReceiver.setup, NodeSender.setup_fed, NodeSender.setup_producer

    def receiver(self: NodeReceiver, *args: Any, **kwargs: Any) -> None:
        receiver_setup(self, *args, **kwargs)
        self._whole = self._stored = False
        self._reopen()

    def fed(self: NodeSender, *args: Any, **kwargs: Any) -> None:
        sender_setup(self, *args, **kwargs)
        self._plain = self._quick_acks = self._fifo = False  # (no timer set yet: the heap takes them)

    def producer(self: NodeSender, *args: Any, **kwargs: Any) -> None:
        producer_setup(self, *args, **kwargs)
        self._plain = self._quick_acks = self._fifo = False

    monkeypatch.setattr(NodeReceiver, "setup", receiver)
    monkeypatch.setattr(NodeSender, "setup_fed", fed)
    monkeypatch.setattr(NodeSender, "setup_producer", producer)


def outbox_waits(scenario: alosim.Scenario) -> list[tuple[Any, ...]]:
    """Every hop's outbox waits: how many, their sum, extremes and median."""
    run = Topology(scenario, scenario.seed)
    run.run()
    out = []
    for hop in run.hops:
        waits = hop.rec.outbox_wait
        out.append((waits.count, waits.mean, waits.min, waits.max, waits.percentile(50)))
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_the_fused_paths_give_the_general_paths_result(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = build(name)
    fast = alosim.simulate(scenario)
    waits = outbox_waits(scenario)
    assert fast.bugs == [] and fast.summary["z_effects" if "z" in scenario.topology.nodes else "x_effects"] > 0
    assert all(count > 0 for count, *_ in waits)
    general_path(monkeypatch)
    general = alosim.simulate(scenario)
    assert general.fingerprint == fast.fingerprint
    assert outbox_waits(scenario) == waits


def test_a_store_grown_after_the_last_sample_is_counted_when_the_run_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    # Constant 1 ms links, a sample every 2 ms and max_time 2 ms: at 2 ms the hop into z
    # samples, then the first call reaches z, then the run stops -- with no sample after
    # the call, so z's store is passed on to the recorder when the run ends.
    scenario = topology({"p": {"kind": "producer", "sender": sender(0.01, window=1)},
                         "a": service(0.01, dedup="set"), "z": sink(dedup="set")},
                        [link("p", "a"), link("a", "z")], messages=10, seed=5,
                        max_time=0.002, observe={"sample_every": 0.002})
    fast = alosim.simulate(scenario)
    assert fast.summary["z_dedup_entries_peak"] == 1 and fast.summary["sim_time_s"] == 0.002
    general_path(monkeypatch)
    assert alosim.simulate(scenario).fingerprint == fast.fingerprint


def test_the_fused_paths_are_taken_where_nothing_takes_time_and_nothing_is_traced() -> None:
    # Otherwise the comparison above would compare the general path with itself.
    run = Topology(build("set stores"), 5)
    receivers = [hop.receivers[0] for hop in run.hops]
    senders = [hop.senders[0] for hop in run.hops[1:]]
    assert all(r._whole for r in receivers) and all(s._plain and s._quick_acks and s._fifo for s in senders)
    assert run.hops[0].senders[0]._plain and run.hops[0].senders[0]._quick_acks and run.hops[0].senders[0]._fifo
    run.run()
    assert all(s.sent_at_once > 0 for s in senders)
    traced = Topology(build("traced"), 5)
    assert not any(hop.receivers[0]._whole for hop in traced.hops)
    assert not any(hop.senders[0]._plain for hop in traced.hops)


@pytest.mark.parametrize("hop", [0, 1])
def test_a_call_built_in_place_has_every_field_a_message_is_made_with(hop: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # NodeSender._create (the producer's, hop 0) and NodeSender.submit (hop 1) build their messages
    # without Message.__init__: each must set what __init__ sets.
    def fields(msg: Message) -> set[str]:
        slots = {name for kind in type(msg).__mro__ for name in getattr(kind, "__slots__", ())}
        return {name for name in slots if name != "__dict__" and hasattr(msg, name)} | set(vars(msg))

    made = fields(Message(7, 0, 3, 0, 0.25))
    sent: list[set[str]] = []
    run = Topology(build("set stores"), 5)
    fed = run.hops[hop].senders[0]
    assert isinstance(fed, NodeSender) and fed.producing == (hop == 0) and fed._plain
    send = fed._send_data
    dicts: list[dict[str, Any]] = []

    def sending(packet: tuple[Any, ...]) -> int:
        sent.append(fields(packet[0]))
        dicts.append(dict(vars(packet[0])))
        return send(packet)

    monkeypatch.setattr(fed, "_send_data", sending)
    run.run()
    # At its first transmission it has what __init__ gives, plus the call's and the transmission's own.
    assert sent and all(has == made | {"origin", "first_sent", "last_sent"} for has in sent[:5])
    # Its origin has a slot of its own: nothing in its __dict__.
    assert dicts[:5] == [{}] * 5
