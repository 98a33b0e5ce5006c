"""A pipeline's trace drawn with three lanes: a lease expiring, and the redelivery."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import alosim
from alosim import seqdiagram, trace
from alosim.seqdiagram.pipeline import BrokerNote, HopArrow, layout, mermaid

LEASE = """
name: lease-trace
messages: 1
observe: {trace_messages: 1}
network:
  data: {latency: {dist: constant, value: 10ms}}
  ack: {latency: {dist: constant, value: 10ms}}
  consume: {data: {latency: {dist: constant, value: 50ms}}, ack: {latency: {dist: constant, value: 50ms}}}
broker: {visibility_timeout: 1s}
consumer: {concurrency: 4, processing: {dist: constant, value: 1.5s}}
"""


def events(text: str):
    return alosim.simulate(alosim.parse_scenario(text)).trace


def test_three_lanes_a_lease_that_runs_out_and_the_redelivery() -> None:
    diagram = layout(events(LEASE))
    assert diagram.actors == ("sender-0", "broker", "consumer-0")
    deliveries = [a for a in diagram.arrows if isinstance(a, HopArrow) and a.hop == "consume"
                  and a.kind == "data"]
    assert [(a.attempt, a.source, a.target, a.fate) for a in deliveries] == [
        (1, "broker", "consumer-0", "arrived"), (2, "broker", "consumer-0", "arrived")]
    assert [round(a.start_s, 6) for a in deliveries] == [0.01, 1.01]
    (lease,) = [n for n in diagram.notes if isinstance(n, BrokerNote)]
    assert lease.label == "lease m0 #1 expired" and lease.kind == "timeout"
    assert (round(lease.since_s, 6), round(lease.time_s, 6)) == (0.01, 1.01)  # the timer bar
    again = [n for n in diagram.notes if n.kind == "processed_again"]
    assert [(n.actor, round(n.time_s, 6)) for n in again] == [("consumer-0", 2.56)]
    publish = [a.label for a in diagram.arrows if a.hop == "publish"]
    assert publish == ["m0 #1", "ack m0"]


def test_the_mermaid_diagram_names_the_lanes_and_orders_expiry_before_redelivery() -> None:
    text = mermaid(events(LEASE))
    assert text == trace.mermaid(events(LEASE))  # trace.mermaid hands a pipeline over
    lines = text.splitlines()
    assert lines[1:4] == ["    participant P0 as producer-0", "    participant B as broker",
                          "    participant C0 as consumer-0"]
    assert lines.index("    Note over B: lease m0 #1 expired") + 1 == lines.index(
        "    B->>C0: deliver m0 #2 again")
    assert "    Note over C0: processed m0 AGAIN" in lines


def test_lost_consumer_acks_and_a_dead_letter() -> None:
    diagram = layout(events("""
name: t
messages: 1
observe: {trace_messages: 1}
network: {consume: {ack: {loss: 1.0}}}
broker: {max_deliveries: 2, visibility_timeout: 1s}
"""))
    acks = [a for a in diagram.arrows if a.hop == "consume" and a.kind == "ack"]
    assert [(a.attempt, a.target, a.fate, a.label) for a in acks] == [
        (1, "broker", "lost", "ack m0 lost"), (2, "broker", "lost", "ack m0 #2 lost")]
    assert all(0 < a.reach < 1 for a in acks)
    assert [n.label for n in diagram.notes if isinstance(n, BrokerNote)] == [
        "lease m0 #1 expired", "lease m0 #2 expired", "m0 dead-lettered"]


def test_the_picture_draws_the_lease_timer_on_the_broker_lane() -> None:
    fig = seqdiagram.draw(events(LEASE))
    gids = {artist.get_gid() for artist in fig.axes[0].get_children() if artist.get_gid()}
    assert "timer m0 #1" in gids and "timeout m0 #1" in gids
    lanes = [t.get_text() for t in fig.axes[0].texts]
    assert {"sender-0", "broker", "consumer-0"} <= set(lanes)
