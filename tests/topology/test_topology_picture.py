"""The picture of a topology's trace, drawn to scale: a lane per node, each call named."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from matplotlib.text import Text

from alosim import seqdiagram, simulate
from alosim.seqdiagram.topology import CallArrow, CallNote, layout
from tests.topology.scenarios import link, sender, service, sink, topology


def _traced(messages: int = 40, traced: int = 40):
    nodes = {"api": {"kind": "producer", "sender": sender(1.0, 3)},
             "svc": service(0.02, 2, ack="after-call", identity="mint", dedup="set"), "pay": sink(dedup="set")}
    scenario = topology(nodes, [link("api", "svc"), link("svc", "pay", p_ack=0.5)], messages=messages, seed=11,
                        observe={"trace_messages": traced})
    return simulate(scenario)


def test_every_call_is_an_arrow_between_its_two_nodes_named_after_its_producer_message() -> None:
    result = _traced()
    events = result.trace or []
    diagram = layout(events)
    assert diagram.actors == ("api", "svc", "pay")
    sends = [e for e in events if e.event == "send"]
    data = [a for a in diagram.arrows if a.kind == "data"]
    # One arrow per transmission (a duplicated packet adds one): none missing, none invented.
    assert len(data) >= len(sends) and {(a.message, a.attempt) for a in data} == {(e.message, e.attempt) for e in sends}
    for arrow in data:
        assert isinstance(arrow, CallArrow)
        assert (arrow.source, arrow.target) in {("api", "svc"), ("svc", "pay")}
        if arrow.source == "svc":  # a call: its producer message and its own id
            assert arrow.origin is not None and arrow.label.startswith(f"m{arrow.origin} (call {arrow.message})")
        else:
            assert arrow.label.startswith(f"m{arrow.message} #")
    lost = [a for a in diagram.arrows if a.fate == "lost"]
    assert len(lost) == sum(e.event in ("data_lost", "ack_lost") for e in events) > 0
    assert all(a.kind == "ack" and {a.source, a.target} == {"svc", "pay"} for a in lost)  # only svc>pay acks are lossy


def test_a_repeated_calls_second_effect_says_why_it_got_through() -> None:
    result = _traced()
    diagram = layout(result.trace or [])
    again = [n for n in diagram.notes if n.kind == "processed_again" and n.actor == "pay"]
    assert len(again) == result.summary["duplicates_new_key"] > 0
    assert all(isinstance(n, CallNote) and n.label.endswith("AGAIN (new key)") for n in again)
    # The reason belongs to the effect alone: no other note of that call carries it.
    assert not [n for n in diagram.notes if n.kind != "processed_again" and "(new key)" in n.label]


def test_the_picture_has_a_lane_per_node_and_an_arrow_per_call() -> None:
    result = _traced(messages=6, traced=3)
    events = result.trace or []
    figure = seqdiagram.draw(events, topology=True, title="chain")
    gids = {artist.get_gid() for artist in figure.findobj() if artist.get_gid()}
    assert {"lane name api", "lane name svc", "lane name pay"} <= gids
    calls = {e.message: e.detail.partition(",")[0] for e in events if e.actor == "svc" and e.event == "send"}
    assert calls and {f"arrow data m{call} #1" for call in calls} <= gids
    texts = {text.get_text() for text in figure.findobj(Text)}
    assert {f"{origin} (call {call}) #1" for call, origin in calls.items()} & texts
    import matplotlib.pyplot as plt

    plt.close(figure)


def test_trace_draws_a_shipped_topology_to_scale(tmp_path) -> None:
    from pathlib import Path

    from click.testing import CliRunner

    from alosim.cli import cli

    png = tmp_path / "chain.png"
    scenario = Path(__file__).parents[2] / "scenarios" / "end-to-end-vs-hop-dedup.yaml"
    result = CliRunner().invoke(cli, ["trace", str(scenario), "--messages", "2", "--png", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:4] == b"\x89PNG" and f"sequence diagram: {png}" in result.output


def test_a_topology_with_more_nodes_than_a_picture_holds_is_refused_naming_its_nodes() -> None:
    import pytest

    names = [f"n{i}" for i in range(34)]
    nodes = {names[0]: {"kind": "producer", "sender": sender(1.0)},
             **{name: service(1.0) for name in names[1:-1]}, names[-1]: sink()}
    links = [link(a, b) for a, b in zip(names, names[1:])]
    result = simulate(topology(nodes, links, messages=1, observe={"trace_messages": 1}))
    with pytest.raises(seqdiagram.PictureTooLarge, match=r"34 lanes \(one per node\).*with fewer nodes$"):
        seqdiagram.draw(result.trace or [], topology=True)
