"""Sequence diagrams as pictures: what is drawn where, checked on the plotted data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure

import alosim
from alosim import plots, seqdiagram
from alosim.cli import cli
from alosim.observe import TraceEvent
from tests.conftest import SCENARIOS

MS = 1e-3


def ev(time_ms: float, actor: str, event: str, message: int, attempt: int, detail: str = "") -> TraceEvent:
    return TraceEvent(time_ms * MS, actor, event, message, attempt, detail)


# send -> ack lost -> timeout -> resend -> duplicate detected -> ack, beside a message that goes well.
ACK_LOST = [
    ev(15.0, "sender-0", "create", 0, 0),
    ev(15.0, "sender-0", "send", 0, 1),
    ev(21.0, "receiver-0", "arrive", 0, 1),
    ev(22.0, "receiver-0", "processed", 0, 1),
    ev(22.0, "receiver-0", "ack_sent", 0, 1),
    ev(22.0, "network", "ack_lost", 0, 1),
    ev(28.0, "sender-0", "create", 1, 0),
    ev(28.0, "sender-0", "send", 1, 1),
    ev(31.0, "receiver-0", "arrive", 1, 1),
    ev(31.0, "receiver-0", "processed", 1, 1),
    ev(31.0, "receiver-0", "ack_sent", 1, 1),
    ev(51.0, "sender-0", "acked", 1, 1),
    ev(265.0, "sender-0", "timeout", 0, 1),
    ev(265.0, "sender-0", "send", 0, 2, "resend"),
    ev(279.0, "receiver-0", "arrive", 0, 2, "duplicate"),
    ev(279.0, "receiver-0", "duplicate_detected", 0, 2),
    ev(279.0, "receiver-0", "ack_sent", 0, 2),
    ev(299.0, "sender-0", "acked", 0, 2),
]


def by_gid(fig: Figure, prefix: str) -> dict[str, object]:
    ax = fig.axes[0]
    artists = [*ax.lines, *ax.patches, *ax.texts]
    return {a.get_gid(): a for a in artists if (a.get_gid() or "").startswith(prefix)}


# -- the data ------------------------------------------------------------------------


def test_layout_matches_packets_with_their_fates() -> None:
    diagram = seqdiagram.layout(ACK_LOST, ack_latency_s=0.02)
    assert diagram.actors == ("sender-0", "receiver-0")
    summary = [(a.kind, a.message, a.attempt, a.fate) for a in diagram.arrows]
    assert summary == [
        ("data", 0, 1, "arrived"), ("ack", 0, 1, "lost"), ("data", 1, 1, "arrived"),
        ("ack", 1, 1, "arrived"), ("data", 0, 2, "arrived"), ("ack", 0, 2, "arrived"),
    ]
    lost_ack = diagram.arrows[1]
    assert (lost_ack.source, lost_ack.target) == ("receiver-0", "sender-0")
    assert lost_ack.end_s == pytest.approx(0.022 + 0.01)  # half the ack latency
    assert diagram.arrows[4].end_s == pytest.approx(0.279)
    assert [(n.kind, n.message, n.time_s) for n in diagram.notes] == [
        ("processed", 0, pytest.approx(0.022)), ("processed", 1, pytest.approx(0.031)),
        ("timeout", 0, pytest.approx(0.265)), ("duplicate_detected", 0, pytest.approx(0.279)),
    ]
    timeout = diagram.notes[2]
    assert timeout.since_s == pytest.approx(0.015)  # the timer started with the first send


def test_lost_packets_without_a_given_latency_use_the_median_seen() -> None:
    diagram = seqdiagram.layout(ACK_LOST)
    # Acks that arrived took 20 ms each: the lost one is drawn for 10 ms.
    assert diagram.arrows[1].end_s == pytest.approx(0.032)


def test_a_lost_data_packet_heads_for_a_receiver_never_seen() -> None:
    events = [ev(0, "sender-0", "create", 0, 0), ev(0, "sender-0", "send", 0, 1),
              ev(0, "network", "data_lost", 0, 1), ev(100, "sender-0", "timeout", 0, 1),
              ev(100, "sender-0", "gave_up", 0, 1, "max_attempts")]
    diagram = seqdiagram.layout(events, data_latency_s=0.01)
    assert diagram.actors == ("sender-0", "receiver-0")
    (arrow,) = diagram.arrows
    assert (arrow.fate, arrow.target, arrow.label) == ("lost", "receiver-0", "m0 #1 lost")
    assert [n.kind for n in diagram.notes] == ["timeout", "gave_up"]


def test_a_duplicated_packet_is_two_arrows_from_one_send() -> None:
    events = [ev(0, "sender-0", "send", 0, 1), ev(9, "receiver-0", "arrive", 0, 1),
              ev(14, "receiver-0", "arrive", 0, 1, "duplicate")]
    arrows = seqdiagram.layout(events).arrows
    assert [(a.start_s, a.end_s) for a in arrows] == [(0.0, pytest.approx(0.009)),
                                                      (0.0, pytest.approx(0.014))]


def test_late_ack_and_crash_are_shown() -> None:
    events = [ev(0, "sender-0", "send", 0, 1), ev(5, "receiver-0", "arrive", 0, 1),
              ev(5, "receiver-0", "processed", 0, 1), ev(5, "receiver-0", "ack_sent", 0, 1),
              ev(40, "sender-0", "ack_ignored", 0, 1, "already settled"),
              ev(50, "receiver-0", "crash", -1, 0), ev(80, "receiver-0", "restart", -1, 0)]
    diagram = seqdiagram.layout(events)
    assert diagram.arrows[1].label == "ack m0 (late, ignored)"
    assert [n.label for n in diagram.notes] == ["processed m0", "receiver-0 crashed", "receiver-0 restarted"]
    fig = seqdiagram.draw(events)
    (down,) = by_gid(fig, "down ").values()
    assert list(down.get_ydata()) == pytest.approx([50.0, 80.0])


def test_quiet_gaps_skip_the_wait_for_the_timeout() -> None:
    diagram = seqdiagram.layout(ACK_LOST, ack_latency_s=0.02)
    typical = diagram.typical_latency_s
    (gap,) = seqdiagram.quiet_gaps(diagram)
    assert gap == (pytest.approx(0.051 + typical / 2), pytest.approx(0.265 - typical / 2))
    busy = seqdiagram.layout(ACK_LOST[:12])  # ends before the silence
    assert seqdiagram.quiet_gaps(busy) == []


# -- the drawing ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def figure() -> Figure:
    return seqdiagram.draw(ACK_LOST, ack_latency_s=0.02, data_latency_s=0.02)


def test_one_arrow_per_packet_and_a_cross_for_each_loss(figure: Figure) -> None:
    arrows = by_gid(figure, "arrow ")
    assert sorted(arrows) == sorted([
        "arrow data m0 #1", "arrow ack m0 #1", "arrow data m1 #1", "arrow ack m1 #1",
        "arrow data m0 #2", "arrow ack m0 #2",
    ])
    crosses = by_gid(figure, "lost ")
    assert list(crosses) == ["lost ack m0 #1"]
    (cross,) = crosses.values()
    # Half-way between the lanes (receiver at x = 1, sender at 0), half a latency after the send.
    assert list(cross.get_xdata()) == [0.5]
    assert list(cross.get_ydata()) == pytest.approx([22.0 + 10.0])
    # Only the lost packet has no arrowhead.
    headless = [gid for gid, a in arrows.items() if a.get_arrowstyle().arrow == "-"]
    assert headless == ["arrow ack m0 #1"]


def test_arrows_are_slanted_by_their_latency(figure: Figure) -> None:
    arrow = by_gid(figure, "arrow data m0 #2")["arrow data m0 #2"]
    (x0, t0), (x1, t1) = arrow._posA_posB
    assert (x0, x1) == (0.0, 1.0)
    assert (t0, t1) == (pytest.approx(265.0), pytest.approx(279.0))


def test_timeouts_are_marked_on_the_sender_lane_at_their_time(figure: Figure) -> None:
    (marker,) = by_gid(figure, "timeout ").values()
    assert list(marker.get_xdata()) == [0.0]
    assert list(marker.get_ydata()) == pytest.approx([265.0])
    (timer,) = by_gid(figure, "timer ").values()
    assert list(timer.get_ydata()) == pytest.approx([15.0, 265.0])
    label = by_gid(figure, "label timeout")["label timeout m0 #1"]
    assert label.get_text() == "timeout m0 #1"


def test_labels_say_what_each_arrow_and_note_is(figure: Figure) -> None:
    texts = {gid: t.get_text() for gid, t in by_gid(figure, "label ").items()}
    assert texts["label data m0 #1"] == "m0 #1"
    assert texts["label data m0 #2"] == "m0 #2 resend"
    assert texts["label ack m0 #1"] == "ack m0 lost"
    assert texts["label ack m1 #1"] == "ack m1"
    assert texts["label duplicate_detected m0 #2"] == "duplicate m0 dropped"
    assert texts["label processed m1 #1"] == "processed m1"


def test_labels_do_not_overlap(figure: Figure) -> None:
    figure.draw_without_rendering()
    boxes = [t.get_window_extent() for t in by_gid(figure, "label ").values()]
    assert len(boxes) == 10
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)


def test_the_wait_is_drawn_short_and_says_how_long(figure: Figure) -> None:
    ax = figure.axes[0]
    assert ax.get_yscale() == "function"
    (band,) = by_gid(figure, "skipped label").values()
    assert band.get_text().endswith("ms skipped")
    plain = seqdiagram.draw(ACK_LOST, skip_quiet=False)
    assert plain.axes[0].get_yscale() == "linear"
    assert not by_gid(plain, "skipped")


def test_an_empty_trace_is_two_empty_lanes() -> None:
    fig = seqdiagram.draw([])
    assert sorted(by_gid(fig, "lane name")) == ["lane name receiver-0", "lane name sender-0"]
    assert not by_gid(fig, "arrow ")


def test_draws_into_given_axes() -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert seqdiagram.draw(ACK_LOST, ax=ax) is fig
    assert by_gid(fig, "arrow ")


def test_same_trace_same_bytes(tmp_path: Path) -> None:
    for suffix in (".png", ".svg"):
        first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
        plots.save(seqdiagram.draw(ACK_LOST, title="t"), first)
        plots.save(seqdiagram.draw(ACK_LOST, title="t"), second)
        assert first.read_bytes() == second.read_bytes()


def test_a_simulated_trace_is_drawn_packet_for_packet() -> None:
    scenario = alosim.load_scenario(SCENARIOS / "ack-lost.yaml", ["observe.trace_messages=6"])
    events = alosim.simulate(scenario).trace or []
    fig = seqdiagram.draw(events)
    count = {name: sum(e.event == name for e in events)
             for name in ("send", "ack_sent", "data_lost", "ack_lost", "timeout")}
    assert len(by_gid(fig, "arrow ")) == count["send"] + count["ack_sent"]
    assert len(by_gid(fig, "lost ")) == count["data_lost"] + count["ack_lost"] > 0
    markers = by_gid(fig, "timeout ")
    assert len(markers) == count["timeout"] > 0
    for e in events:
        if e.event == "timeout":
            marker = markers[f"timeout m{e.message} #{e.attempt}"]
            assert list(marker.get_ydata()) == pytest.approx([e.time_s * 1000])


# -- the command line ---------------------------------------------------------------------


def test_trace_command_draws_png_and_svg(tmp_path: Path) -> None:
    png, svg = tmp_path / "out" / "seq.png", tmp_path / "seq.svg"
    result = CliRunner().invoke(cli, ["trace", str(SCENARIOS / "ack-lost.yaml"), "--messages", "2",
                                      "--png", str(png), "--svg", str(svg)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in svg.read_bytes()[:500]
    assert f"sequence diagram: {png}" in result.output


def test_trace_command_refuses_what_it_cannot_draw(tmp_path: Path) -> None:
    runner = CliRunner()
    wrong = runner.invoke(cli, ["trace", str(SCENARIOS / "ack-lost.yaml"), "--png", str(tmp_path / "x.svg")])
    assert wrong.exit_code == 2 and "ending in .png" in wrong.output
    many = runner.invoke(cli, ["trace", str(SCENARIOS / "ack-lost.yaml"), "--messages", "500",
                               "--svg", str(tmp_path / "x.svg")])
    assert many.exit_code == 2 and "at most 100" in many.output
    assert not list(tmp_path.iterdir())


# -- several senders and receivers ------------------------------------------------------


def test_a_lost_packet_stops_between_two_lanes() -> None:
    # Neighbours: half-way. Two lanes apart, half-way is the lane in between: stop
    # in the middle of the first gap instead. Three apart: half-way is a gap.
    assert [seqdiagram.lost_reach(n) for n in (1, 2, 3, 4)] == [0.5, 0.25, 0.5, 0.375]
    for lanes in range(1, 12):
        stop = seqdiagram.lost_reach(lanes) * lanes
        assert stop % 1 == 0.5 and 0 < stop < lanes


@pytest.fixture(scope="module")
def crowded() -> tuple[list, Figure]:
    """Two senders and two receivers, losses both ways: crosses between far lanes."""
    scenario = alosim.load_scenario(SCENARIOS / "ack-lost.yaml", [
        "sender.count=2", "receiver.count=2", "network.data.loss=0.2", "observe.trace_messages=10"])
    events = alosim.simulate(scenario).trace or []
    return events, seqdiagram.draw(events)


def test_a_loss_marker_sits_on_its_own_arrow_never_on_another_lifeline(crowded) -> None:
    events, fig = crowded
    diagram = seqdiagram.layout(events)
    assert diagram.actors == ("sender-0", "sender-1", "receiver-0", "receiver-1")
    lanes = {gid.removeprefix("lane "): a.get_xdata()[0] for gid, a in by_gid(fig, "lane ").items()
             if not gid.startswith("lane name")}
    assert lanes == {"sender-0": 0, "sender-1": 1, "receiver-0": 2, "receiver-1": 3}
    arrows = by_gid(fig, "arrow ")
    crosses = by_gid(fig, "lost ")
    lost = [a for a in diagram.arrows if a.fate == "lost"]
    far = [a for a in lost if abs(lanes[a.target] - lanes[a.source]) == 2]
    assert len(crosses) == len(lost) and far  # some losses between lanes two apart
    for arrow in lost:
        name = f"{arrow.kind} m{arrow.message} #{arrow.attempt}"
        (x,), (t,) = crosses[f"lost {name}"].get_xdata(), crosses[f"lost {name}"].get_ydata()
        assert all(abs(x - lane) >= 0.5 for lane in lanes.values()), name
        # The cross is the end of its own arrow, which points from its source to its target.
        (x0, t0), (x1, t1) = arrows[f"arrow {name}"]._posA_posB
        assert (x1, t1) == (pytest.approx(x), pytest.approx(t))
        assert x0 == lanes[arrow.source]
        assert (x1 - x0) / (lanes[arrow.target] - x0) == pytest.approx(arrow.reach)


def check_labels_drawn_or_named(events: list, fig: Figure) -> int:
    """Every label of the diagram is drawn, or counted and (the first four) named in a note."""
    diagram = seqdiagram.layout(events)
    expected = Counter([a.label for a in diagram.arrows] + [n.label for n in diagram.notes])
    drawn = Counter(t.get_text() for t in by_gid(fig, "label ").values())
    assert drawn <= expected
    missing = sum(expected.values()) - sum(drawn.values())
    note = [t.get_text() for t in by_gid(fig, "labels left out").values()]
    if not missing:
        assert note == []
        return 0
    (text,) = note
    assert text.startswith(f"{missing} label{'s' if missing > 1 else ''} left out, no room")
    named = Counter(text.split(": ", 1)[1].split("\n")[0].split(" and ")[0].split(", "))
    assert sum(named.values()) == min(missing, 4) and named <= expected - drawn
    return missing


def test_every_label_is_drawn_or_named_in_the_figure(crowded) -> None:
    events, fig = crowded
    if check_labels_drawn_or_named(events, fig):
        # ...after the picture was drawn taller to make room for them.
        assert fig.get_size_inches()[1] == pytest.approx(seqdiagram.MAX_HEIGHT_IN)


def test_labels_without_room_in_given_axes_are_counted_and_named(crowded) -> None:
    events, _ = crowded
    fig = Figure(figsize=(6, 4))
    seqdiagram.draw(events, ax=fig.add_subplot())
    assert check_labels_drawn_or_named(events, fig) > 4  # far too small a picture for 10 messages


def test_the_left_out_note_counts_and_names() -> None:
    assert seqdiagram.left_out_note(["m3 #1"]).startswith("1 label left out")
    text = seqdiagram.left_out_note([f"m{i} #1" for i in range(6)])
    assert text.startswith("6 labels left out") and "m0 #1, m1 #1, m2 #1, m3 #1 and 2 more" in text
