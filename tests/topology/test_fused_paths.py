"""A topology's fused paths change no result.

Where nothing takes time and nothing is traced, a node takes a call whole in
``NodeReceiver.on_packet`` (store, effect, calls onward, record, ack), a fed
sender builds and sends a call in ``FedSender.submit`` and settles an ack
nobody waits for in ``FedSender.on_ack``. Each run here is made twice, with
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
from alosim.model.topology import FedSender, NodeReceiver, Topology
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
    if "window" in case:
        nodes["a"]["sender"] = {**nodes["a"]["sender"], "window": case["window"]}
    if case.get("after"):
        nodes["b"]["onward"] = {"ack": "after-call", "identity": "keep"}
    extra: dict[str, Any] = {"faults": case.get("faults", [])}
    if "trace" in case:
        extra["observe"] = {"trace_messages": case["trace"]}
    return topology(nodes, top["links"], messages=300, seed=5, **extra)


def general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every node receiver and fed sender built from now on take the general path."""
    receiver_setup, sender_setup = NodeReceiver.setup, FedSender.setup

    def receiver(self: NodeReceiver, *args: Any, **kwargs: Any) -> None:
        receiver_setup(self, *args, **kwargs)
        self._whole = self._stored = False

    def fed(self: FedSender, *args: Any, **kwargs: Any) -> None:
        sender_setup(self, *args, **kwargs)
        self._plain = self._quick_acks = False

    monkeypatch.setattr(NodeReceiver, "setup", receiver)
    monkeypatch.setattr(FedSender, "setup", fed)


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


def test_the_fused_paths_are_taken_where_nothing_takes_time_and_nothing_is_traced() -> None:
    # Otherwise the comparison above would compare the general path with itself.
    run = Topology(build("set stores"), 5)
    receivers = [hop.receivers[0] for hop in run.hops]
    senders = [hop.senders[0] for hop in run.hops[1:]]
    assert all(r._whole for r in receivers) and all(s._plain and s._quick_acks for s in senders)
    run.run()
    assert all(s.sent_at_once > 0 for s in senders)
    traced = Topology(build("traced"), 5)
    assert not any(hop.receivers[0]._whole for hop in traced.hops)
    assert not any(hop.senders[0]._plain for hop in traced.hops[1:])


def test_a_call_built_in_place_has_every_field_a_message_is_made_with(monkeypatch: pytest.MonkeyPatch) -> None:
    # FedSender.submit builds its call without Message.__init__: it must set what __init__ sets.
    def fields(msg: Message) -> set[str]:
        return {name for name in Message.__slots__ if name != "__dict__" and hasattr(msg, name)} | set(vars(msg))

    made = fields(Message(7, 0, 3, 0, 0.25))
    sent: list[set[str]] = []
    run = Topology(build("set stores"), 5)
    fed = run.hops[1].senders[0]
    assert isinstance(fed, FedSender) and fed._plain
    send = fed._send_data
    monkeypatch.setattr(fed, "_send_data", lambda packet: sent.append(fields(packet[0])) or send(packet))
    run.run()
    # At its first transmission it has what __init__ gives, plus the call's and the transmission's own.
    assert sent and all(has == made | {"origin", "first_sent", "last_sent"} for has in sent[:5])
