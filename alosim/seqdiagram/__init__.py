"""Sequence diagrams as pictures: lanes for the actors, slanted arrows through time.

The same trace events that :func:`alosim.trace.mermaid` turns into text are
drawn here to scale. Time flows downward. Each sender and receiver is a
vertical lane; a data packet is an arrow from the sender's lane at its send
time to the receiver's lane at its arrival time, so an arrow's slant is its
latency. An ack is a dashed arrow back. A packet the network lost has a send
time but no arrival: its arrow stops half-way, half a typical latency after
it was sent, and ends in a cross. On the sender's lane a diamond marks each
retry timeout, with a bar along the lane for the timer that ran out, and a
square marks giving up; at the receiver, notes say what happened to each
copy -- processed, caught as a duplicate, or processed again. Crashes are
marked on their lane, with a bar for the time the actor was down. On a log's
consumer lanes, fetches and commits are marked with their partitions and
offsets, and a rebalance is a line across the consumer lanes when the
partitions were assigned again, over a band back to what triggered it,
labelled with who owns what afterwards.

Retry timers leave long silences between bursts of activity. Those are
drawn short, as a shaded band saying how much time was skipped; everywhere
else a millisecond has the same height, so slants can be compared.

:func:`alosim.seqdiagram.layout.layout` turns the events into plain data
(arrows and notes, matched by kind, message and attempt); :func:`draw`
draws that data. Labels are
placed so that none overlaps another label, a marker or an arrow it does not
belong to: along its arrow where there is room, else level just below with a
leader line, else -- in a picture too crowded to read -- left out and
counted in a note. Everything is computed from the events alone, so the same
trace gives the same picture, byte for byte when saved with
:func:`alosim.plots.save`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from alosim.observe import TraceEvent
from alosim.seqdiagram.layout import Arrow, Diagram, Mark, Note, layout, lost_reach, quiet_gaps

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

T = TypeVar("T")


# -- drawing ---------------------------------------------------------------------------

FONT_PT = 9.5
LANE_GAP_IN = 3.6  # between neighbouring lanes (two lanes; less when there are more)
AXIS_IN = 0.75  # the time axis's ticks and name
PER_LABEL_IN = 0.55  # height per arrow or note, so that labels rarely need moving
MAX_HEIGHT_IN = 60.0
#: Most lanes a picture draws: with the gap between lanes this is about 80 inches wide,
#: as the height is capped at MAX_HEIGHT_IN (a picture of 1,000 actors would be 24,000
#: pixels wide).
MAX_LANES = 32
# A picture with labels that found no room is drawn again this much taller, up to
# this many times (and MAX_HEIGHT_IN), before the rest are left out and listed.
GROW_FACTOR = 1.5
GROW_STEPS = 2
CLEARANCE_PT = 2.5  # between a label and any line it does not belong to
# Where an arrow's label may sit, as fractions of the way along the arrow drawn
# (from its source lane to its target lane, or to its cross): the first that is
# free of other labels and arrows wins.
LABEL_SPOTS = (0.3, 0.42, 0.18, 0.55, 0.68)
LOST_LABEL_SPOTS = (0.5, 0.72, 0.28)  # of the part drawn
# How far below its anchor a label may go, in label heights, before it is left out.
ARROW_LABEL_DROP = 2.5
NOTE_LABEL_DROP = 6.0

COLORS = {
    "data": "#1f5fa8",
    "ack": "#2e8540",
    "lost": "#c62828",
    "timeout": "#d9730d",
    "gave_up": "#5d4037",
    "abandoned": "#5d4037",
    "processed": "#455a64",
    "processed_again": "#c62828",
    "duplicate_detected": "#7b3fa0",
    "dropped": "#c62828",
    "dropped_on_arrival": "#7b3fa0",  # a duplicate dropped, as by the store
    "expired_discarded": "#d9730d",  # the colour of the timeout that made it useless
    "crash": "#b71c1c",
    "restart": "#2e7d32",
    "fetch": "#0277bd",
    "commit": "#00695c",
    "commit_failed": "#c62828",
    "rebalance": "#6a1b9a",
    "assigned": "#9575cd",
    "lane": "#9e9e9e",
}
# The marker of each kind of note on its lane (a dot when not listed).
MARKERS = {"timeout": "D", "gave_up": "s", "abandoned": "s", "crash": "X", "restart": "P",
           "expired_discarded": "v", "fetch": ">", "commit": "d", "commit_failed": "d"}
BOLD_NOTES = ("timeout", "gave_up", "abandoned", "processed_again", "crash", "restart")


class PictureTooLarge(ValueError):
    """A trace with more lanes than a picture can hold."""


def time_unit(end_s: float) -> tuple[float, str]:
    """The scale and name of the time axis: milliseconds up to 10 s, else seconds."""
    return (1000.0, "ms") if end_s < 10 else (1.0, "s")


def draw(events: Sequence[TraceEvent], ax: Axes | None = None, *, title: str = "",
         data_latency_s: float | None = None, ack_latency_s: float | None = None,
         skip_quiet: bool = True, topology: bool = False) -> Figure:
    """Draw the sequence diagram of ``events`` and return the figure.

    ``data_latency_s`` and ``ack_latency_s`` set how far a lost packet's
    arrow goes (half of it); see :func:`layout`. With ``skip_quiet`` long
    silences (:func:`quiet_gaps`) are drawn short, as a shaded band that
    says how long they were; elsewhere one millisecond has the same height
    everywhere, so slants compare. Every artist carries an id
    (``get_gid()``) saying what it shows -- ``arrow data m0 #1``,
    ``lost ack m0 #1``, ``timeout m0 #1``, ``label ...`` -- so that the
    drawing can be checked without looking at pixels. Times on the vertical
    axis are in the unit of :func:`time_unit`. A ``topology`` run's trace has
    a lane per node (:mod:`alosim.seqdiagram.topology`).
    """
    if topology:
        from alosim.seqdiagram.topology import layout as topology_layout

        diagram = topology_layout(events, data_latency_s=data_latency_s, ack_latency_s=ack_latency_s)
    elif any(e.actor == "broker" for e in events):  # a pipeline: producer, broker, consumer lanes
        from alosim.seqdiagram.pipeline import layout as pipeline_layout

        diagram = pipeline_layout(events, data_latency_s=data_latency_s, ack_latency_s=ack_latency_s)
    else:
        diagram = layout(events, data_latency_s=data_latency_s, ack_latency_s=ack_latency_s)
    if len(diagram.actors) > MAX_LANES:
        raise PictureTooLarge(
            f"the trace has {len(diagram.actors)} lanes (one per {'node' if topology else 'actor'}); a "
            f"sequence diagram holds at most {MAX_LANES}: trace fewer messages (--messages) or draw a "
            f"scenario with fewer {'nodes' if topology else 'senders, receivers or consumers'}")
    margins = _margins_in(diagram)
    gaps = quiet_gaps(diagram) if skip_quiet else []
    if ax is not None:
        labeller = _draw_into(ax, diagram, title, margins, gaps)
        labeller.note_left_out()
        return ax.figure  # type: ignore[return-value]
    height_in = _height_in(diagram, title)
    for _ in range(GROW_STEPS + 1):
        fig, ax = _figure(diagram, margins, height_in)
        labeller = _draw_into(ax, diagram, title, margins, gaps)
        if not labeller.left_out or height_in >= MAX_HEIGHT_IN:
            break
        # Too crowded for some labels: make room by drawing it taller.
        height_in = min(MAX_HEIGHT_IN, height_in * GROW_FACTOR)
    labeller.note_left_out()
    return fig


def _draw_into(ax: Axes, diagram: Diagram, title: str, margins: tuple[float, float],
               gaps: list[tuple[float, float]]) -> _Labeller:
    scale, unit = time_unit(diagram.end_s)
    lane = {actor: float(i) for i, actor in enumerate(diagram.actors)}
    _frame(ax, diagram, lane, scale, unit, title, margins)
    bands = _time_axis(ax, diagram, gaps, scale, unit)
    paths = _draw_arrows(ax, diagram, lane, scale)
    markers = _draw_notes(ax, diagram, lane, scale)
    spans = _draw_marks(ax, diagram, lane, scale)
    # Settle the layout first: labels are placed in display units, which must be final.
    ax.figure.draw_without_rendering()
    labeller = _Labeller(ax)
    labeller.place(diagram, lane, scale, paths, markers, bands, spans)
    return labeller


def left_out_note(labels: Sequence[str], shown: int = 4) -> str:
    """The figure's note on labels that found no room: how many, why, and which."""
    names = ", ".join(labels[:shown]) + (f" and {len(labels) - shown} more" if len(labels) > shown else "")
    count = f"{len(labels)} label{'s' if len(labels) != 1 else ''}"
    return (f"{count} left out, no room near their arrows even at the tallest size: {names}\n"
            "(trace fewer messages to see every label)")


def _time_axis(ax: Axes, diagram: Diagram, gaps: list[tuple[float, float]], scale: float,
               unit: str) -> list[tuple[float, float]]:
    """Skip ``gaps`` on the time axis; put nice ticks on the rest. Returns the bands drawn."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    t_end, top = ax.get_ylim()
    typical = diagram.typical_latency_s * scale
    if gaps:
        # Piecewise linear: slope 1 outside the gaps, each gap squeezed to one typical latency.
        far = 10 * (t_end + 1)
        ts, ys = [-far, 0.0], [-far, 0.0]
        for start, end in gaps:
            ys.append(ys[-1] + start * scale - ts[-1])
            ts.append(start * scale)
            ys.append(ys[-1] + typical)
            ts.append(end * scale)
        ys.append(ys[-1] + far - ts[-1])
        ts.append(far)
        t_arr, y_arr = np.array(ts), np.array(ys)
        ax.set_yscale("function", functions=(lambda t: np.interp(t, t_arr, y_arr),
                                              lambda y: np.interp(y, y_arr, t_arr)))
        ax.set_ylim(t_end, top)
    # Ticks on the parts drawn to scale only.
    edges = [0.0] + [v * scale for gap in gaps for v in gap] + [t_end]
    ticks: list[float] = []
    shown = t_end - sum(end - start for start, end in gaps) * scale
    for lo, hi in zip(edges[::2], edges[1::2]):
        bins = max(2, round(12 * (hi - lo) / max(shown, 1e-12)))
        ticks += [v for v in MaxNLocator(nbins=bins, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
                  if lo <= v <= hi and v not in ticks]
    ax.set_yticks(ticks)
    bands = []
    for start, end in gaps:
        lo, hi = start * scale, end * scale
        ax.axhspan(lo, hi, facecolor="#f2f2f2", edgecolor="#c8c8c8", linewidth=0.8, zorder=0.5,
                   gid=f"skipped {lo:g}-{hi:g}")
        # Break marks across the time axis, as on a broken axis.
        ax.plot([0.0, 0.0], [lo, hi], transform=ax.get_yaxis_transform(), marker=[(-1, -0.5), (1, 0.5)],
                markersize=11, linestyle="none", color="#444444", markeredgewidth=1.2, clip_on=False,
                zorder=6, gid=f"break marks {lo:g}-{hi:g}")
        ax.text(0.5, (lo + hi) / 2, f"{_duration(end - start, unit)} skipped",
                transform=ax.get_yaxis_transform(), ha="center", va="center", fontsize=FONT_PT - 0.5,
                color="#777777", fontstyle="italic", zorder=1, gid=f"skipped label {lo:g}-{hi:g}")
        bands.append((lo, hi))
    return bands


def _duration(seconds: float, unit: str) -> str:
    return f"{seconds * 1000:.0f} ms" if unit == "ms" else f"{seconds:.3g} s"


def _text_width_pt(text: str, bold: bool = False) -> float:
    """The width of ``text`` in points, from the font's glyph outlines (no renderer needed)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(size=FONT_PT, weight="bold" if bold else "normal")
    width, _, _ = text_to_path.get_text_width_height_descent(text, prop, ismath=False)
    return width * 1.04 + 4


def _lane_gap_in(lanes: int) -> float:
    return LANE_GAP_IN if lanes <= 2 else max(2.4, LANE_GAP_IN - 0.4 * (lanes - 2))


def _margins_in(diagram: Diagram) -> tuple[float, float]:
    """Room left of the first lane and right of the last, for the widest note on each side."""
    first, last = diagram.actors[0], diagram.actors[-1]
    left = [_text_width_pt(n.label, True) for n in diagram.notes if n.actor == first]
    right = [_text_width_pt(n.label, True) for n in diagram.notes if n.actor == last]
    return (max(left, default=40) / 72 + 0.45, max(right, default=40) / 72 + 0.45)


def _height_in(diagram: Diagram, title: str) -> float:
    labels = len(diagram.arrows) + len(diagram.notes) + sum(m.kind != "assigned" for m in diagram.marks)
    height_in = PER_LABEL_IN * labels + 1.8 + (0.35 if title else 0)
    return min(MAX_HEIGHT_IN, max(5.0, height_in))


def _figure(diagram: Diagram, margins: tuple[float, float], height_in: float) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    lanes = len(diagram.actors)
    width_in = AXIS_IN + sum(margins) + _lane_gap_in(lanes) * max(lanes - 1, 1)
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    return fig, fig.add_subplot()


def _frame(ax: Axes, diagram: Diagram, lane: dict[str, float], scale: float, unit: str,
           title: str, margins: tuple[float, float]) -> None:
    """Axes limits, lanes with their names, the legend, the title."""
    from matplotlib.lines import Line2D

    n = len(diagram.actors)
    t_end = max([a.end_s for a in diagram.arrows] + [diagram.end_s]) * scale
    gap = _lane_gap_in(n)
    ax.set_xlim(-margins[0] / gap, max(n - 1, 1) + margins[1] / gap)
    span = t_end if t_end > 0 else 1.0
    ax.set_ylim(span * 1.04, -0.02 * span)  # time flows downward
    # A log's consumers: the partitions the group assigned them at the start.
    start = {actor: parts for mark in diagram.marks[:1] if mark.kind == "assigned"
             for actor, parts in mark.owners}
    for actor, x in lane.items():
        ax.axvline(x, color=COLORS["lane"], linewidth=1.0, linestyle=(0, (4, 3)), zorder=1,
                   gid=f"lane {actor}")
        name = f"{actor} {{{','.join(map(str, start[actor]))}}}" if actor in start else actor
        ax.text(x, 1.0, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=FONT_PT + 1.5, fontweight="bold", gid=f"lane name {actor}",
                bbox={"boxstyle": "round,pad=0.4", "facecolor": "#eef2f7", "edgecolor": "#8a9bb0"})
    ax.set_xticks([])
    ax.set_ylabel(f"simulated time ({unit})")
    ax.grid(axis="y", color="#ebebeb", linewidth=0.7)
    ax.set_axisbelow(True)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    handles = [
        Line2D([], [], color=COLORS["data"], linewidth=1.5, label="data packet"),
        Line2D([], [], color=COLORS["ack"], linewidth=1.5, linestyle=(0, (5, 2.5)), label="ack"),
        Line2D([], [], color=COLORS["lost"], marker="x", markersize=8, markeredgewidth=2.2,
               linestyle="none", label="lost by the network"),
        Line2D([], [], color=COLORS["timeout"], marker="D", markersize=6, linestyle="none",
               label="retry timeout (bar: its timer)"),
        Line2D([], [], color=COLORS["processed"], marker="o", markersize=5, linestyle="none",
               label="processed"),
        Line2D([], [], color=COLORS["duplicate_detected"], marker="o", markersize=5, linestyle="none",
               label="duplicate dropped"),
    ]
    kinds = {note.kind for note in diagram.notes}
    if "expired_discarded" in kinds:
        handles.append(Line2D([], [], color=COLORS["expired_discarded"], marker="v", markersize=6,
                              linestyle="none", label="expired, discarded"))
    if "fetch" in kinds:
        handles.append(Line2D([], [], color=COLORS["fetch"], marker=">", markersize=6, linestyle="none",
                              label="fetch partition@offsets"))
    if "commit" in kinds:
        handles.append(Line2D([], [], color=COLORS["commit"], marker="d", markersize=6, linestyle="none",
                              label="commit partition@next offset"))
    if "commit_failed" in kinds:
        handles.append(Line2D([], [], color=COLORS["commit_failed"], marker="d", markersize=6,
                              linestyle="none", label="commit failed (rebalanced away)"))
    if any(mark.kind == "rebalance" for mark in diagram.marks):
        handles.append(Line2D([], [], color=COLORS["rebalance"], linewidth=2,
                              label="rebalance (band: group stopped)"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncols=3,
              frameon=False, fontsize=FONT_PT)
    if title:
        ax.set_title(title, pad=30, fontsize=FONT_PT + 2)


_Point = tuple[float, float]


def _draw_arrows(ax: Axes, diagram: Diagram, lane: dict[str, float],
                 scale: float) -> list[tuple[Arrow, _Point, _Point]]:
    """The packets: data solid, acks dashed, a lost one stopping half-way in a cross."""
    from matplotlib.patches import FancyArrowPatch

    paths = []
    for arrow in diagram.arrows:
        x0, x1 = lane[arrow.source], lane[arrow.target]
        t0, t1 = arrow.start_s * scale, arrow.end_s * scale
        x1 = x0 + arrow.reach * (x1 - x0)
        name = f"{arrow.kind} m{arrow.message} #{arrow.attempt}"
        patch = FancyArrowPatch(
            (x0, t0), (x1, t1), arrowstyle="-|>" if arrow.fate == "arrived" else "-",
            mutation_scale=12, color=COLORS[arrow.kind], linewidth=1.5,
            linestyle="-" if arrow.kind == "data" else (0, (5, 2.5)),
            shrinkA=0, shrinkB=0, zorder=3, gid=f"arrow {name}",
            alpha=0.5 if arrow.fate == "in_flight" or arrow.ignored else 1.0,
        )
        ax.add_patch(patch)
        if arrow.fate == "lost":
            ax.plot([x1], [t1], marker="x", markersize=10, markeredgewidth=2.6, color=COLORS["lost"],
                    linestyle="none", zorder=4, gid=f"lost {name}")
        paths.append((arrow, (x0, t0), (x1, t1)))
    return paths


def _draw_notes(ax: Axes, diagram: Diagram, lane: dict[str, float], scale: float) -> list[_Point]:
    """Markers on the lanes: timeouts (with the timer that ran out), giving up, processing,
    crashes (with the time the actor was down)."""
    markers = []
    down_since: dict[str, float] = {}
    for note in diagram.notes:
        x, t = lane[note.actor], note.time_s * scale
        color = COLORS[note.kind]
        tag = note.tag
        if note.kind == "timeout" and note.since_s is not None:
            ax.plot([x, x], [note.since_s * scale, t], color=color, linewidth=5, alpha=0.3,
                    solid_capstyle="butt", zorder=2, gid=f"timer {tag}")
        elif note.kind == "crash":
            down_since[note.actor] = t
        elif note.kind == "restart" and note.actor in down_since:
            ax.plot([x, x], [down_since.pop(note.actor), t], color=COLORS["crash"], linewidth=7,
                    alpha=0.25, solid_capstyle="butt", zorder=2, gid=f"down {note.actor}")
        marker = MARKERS.get(note.kind, "o")
        ax.plot([x], [t], marker=marker, markersize=5.5 if marker == "o" else 8, color=color,
                markeredgecolor="white", markeredgewidth=0.9, linestyle="none", zorder=5,
                gid=f"{note.kind} {tag}")
        markers.append((x, t))
    for actor, since in down_since.items():  # still down when the trace ends
        ax.plot([lane[actor]] * 2, [since, diagram.end_s * scale], color=COLORS["crash"], linewidth=7,
                alpha=0.25, solid_capstyle="butt", zorder=2, gid=f"down {actor}")
    return markers


def _draw_marks(ax: Axes, diagram: Diagram, lane: dict[str, float],
                scale: float) -> list[tuple[Mark, _Point, _Point]]:
    """Rebalances: a line across the lanes they concern when the partitions were
    assigned again, over a band from what triggered them. Returns each line."""
    spans = []
    for n, mark in enumerate(diagram.marks):
        if mark.kind == "assigned":
            continue  # the assignment at the start is in the lanes' names
        xs = [lane[actor] for actor in mark.actors]
        x0, x1 = min(xs) - 0.3, max(xs) + 0.3
        t, since = mark.time_s * scale, mark.since_s * scale
        color = COLORS[mark.kind]
        if since < t:
            ax.fill_between([x0, x1], since, t, color=color, alpha=0.12, linewidth=0, zorder=1.5,
                            gid=f"{mark.kind} band {n}")
        ax.plot([x0, x1], [t, t], color=color, linewidth=2.0 if mark.kind == "rebalance" else 1.2,
                linestyle="-" if mark.kind == "rebalance" else (0, (2, 2)), zorder=4,
                gid=f"{mark.kind} {n}")
        spans.append((mark, (x0, t), (x1, t)))
    return spans


class _Rect:
    """A label's box in display units: centre, unit axes along and across, half-sizes."""

    def __init__(self, cx: float, cy: float, angle_deg: float, half_w: float, half_h: float) -> None:
        self.c = (cx, cy)
        a = math.radians(angle_deg)
        self.u = (math.cos(a), math.sin(a))
        self.n = (-math.sin(a), math.cos(a))
        self.half = (half_w, half_h)
        self.angle = angle_deg
        self.x0, self.x1 = self.extent((1.0, 0.0))
        self.y0, self.y1 = self.extent((0.0, 1.0))

    def grown(self, room: float) -> _Rect:
        return _Rect(*self.c, self.angle, self.half[0] + room, self.half[1] + room)

    def extent(self, axis: _Point) -> tuple[float, float]:
        """The rectangle's shadow on a line through the origin along unit vector ``axis``."""
        centre = self.c[0] * axis[0] + self.c[1] * axis[1]
        reach = (self.half[0] * abs(self.u[0] * axis[0] + self.u[1] * axis[1])
                 + self.half[1] * abs(self.n[0] * axis[0] + self.n[1] * axis[1]))
        return centre - reach, centre + reach

    def overlaps(self, other: _Rect) -> bool:
        """Separating-axis test of two rotated rectangles."""
        if self.x1 <= other.x0 or other.x1 <= self.x0 or self.y1 <= other.y0 or other.y1 <= self.y0:
            return False
        if self.angle == other.angle == 0.0:
            return True
        for axis in (self.u, self.n, other.u, other.n):
            a0, a1 = self.extent(axis)
            b0, b1 = other.extent(axis)
            if a1 <= b0 or b1 <= a0:
                return False
        return True

    def crosses(self, p0: _Point, p1: _Point) -> bool:
        """Whether the segment p0-p1 passes through the rectangle (Liang-Barsky clipping)."""
        (x0, y0), (x1, y1) = self._local(p0), self._local(p1)
        lo, hi = 0.0, 1.0
        for delta, start, bound in ((x1 - x0, x0, self.half[0]), (y1 - y0, y0, self.half[1])):
            # Inside this slab where s + t*d >= 0 for both of its sides.
            for d, s in ((delta, start + bound), (-delta, bound - start)):
                if d == 0:
                    if s < 0:
                        return False
                elif d > 0:
                    lo = max(lo, -s / d)
                else:
                    hi = min(hi, -s / d)
            if lo > hi:
                return False
        return True

    def _local(self, p: _Point) -> _Point:
        dx, dy = p[0] - self.c[0], p[1] - self.c[1]
        return dx * self.u[0] + dy * self.u[1], dx * self.n[0] + dy * self.n[1]


class _Rows(Generic[T]):
    """Things placed so far, filed by the display rows they span, so that a
    candidate is checked only against its neighbours."""

    ROW_PX = 40.0

    def __init__(self) -> None:
        self._rows: dict[int, list[int]] = defaultdict(list)
        self.items: list[T] = []

    def add(self, item: T, y0: float, y1: float) -> None:
        index = len(self.items)
        self.items.append(item)
        for row in range(math.floor(y0 / self.ROW_PX), math.floor(y1 / self.ROW_PX) + 1):
            self._rows[row].append(index)

    def near(self, y0: float, y1: float) -> list[T]:
        found: set[int] = set()
        for row in range(math.floor(y0 / self.ROW_PX), math.floor(y1 / self.ROW_PX) + 1):
            found.update(self._rows.get(row, ()))
        return [self.items[i] for i in sorted(found)]


class _Labeller:
    """Places every label where it overlaps no other label, arrow or marker.

    An arrow's label lies along its arrow, just above or below it, at the
    first of a few spots that is free; a lost packet's label may also sit
    level just past its cross. A note's label sits beside its lane at its
    time. A label with no free spot goes level to the first free place
    further down, tied to its anchor by a leader line. Boxes are measured from
    the font's glyph outlines (no renderer involved), so the placement is the
    same everywhere.
    """

    def __init__(self, ax: Axes) -> None:
        self.ax = ax
        self.px_per_pt = ax.figure.dpi / 72
        self.boxes: _Rows[_Rect] = _Rows()
        self.lines: _Rows[tuple[object, _Point, _Point]] = _Rows()  # (owner, start, end)
        self.to_px = ax.transData.transform
        self.to_data = ax.transData.inverted().transform
        self.inside = ax.get_window_extent()
        self.left_out: list[str] = []  # labels with no room near their anchor

    def _size(self, text: str, bold: bool) -> tuple[float, float]:
        return _text_width_pt(text, bold) * self.px_per_pt, FONT_PT * 1.3 * self.px_per_pt

    def _take(self, rect: _Rect) -> None:
        self.boxes.add(rect, rect.y0, rect.y1)

    def _free(self, rect: _Rect, owner: object) -> bool:
        return self._blocked_to(rect, owner) is None

    def _blocked_to(self, rect: _Rect, owner: object) -> float | None:
        """None if ``rect`` is free; else the display height its top must go below to clear
        the labels in its way (its own bottom when only a line is in the way)."""
        box = self.inside
        if rect.x0 < box.x0 or rect.x1 > box.x1 or rect.y0 < box.y0 or rect.y1 > box.y1:
            return rect.y0
        clash = [other.y0 for other in self.boxes.near(rect.y0, rect.y1)
                 if rect.overlaps(other)]
        if clash:
            return min(clash)
        room = CLEARANCE_PT * self.px_per_pt
        wide = rect.grown(room)
        for who, p0, p1 in self.lines.near(wide.y0, wide.y1):
            if who is not owner and wide.crosses(p0, p1):
                return rect.y1 - (rect.y1 - rect.y0) / 3
        return None

    def place(self, diagram: Diagram, lane: dict[str, float], scale: float,
              paths: list[tuple[Arrow, _Point, _Point]], markers: list[_Point],
              bands: list[tuple[float, float]], spans: Sequence[tuple[Mark, _Point, _Point]] = ()) -> None:
        x_lo, x_hi = self.ax.get_xlim()
        for lo, hi in bands:  # skipped stretches of time take no labels
            (x0, y0), (x1, y1) = self.to_px((x_lo, lo)), self.to_px((x_hi, hi))
            self._take(_Rect((x0 + x1) / 2, (y0 + y1) / 2, 0.0, abs(x1 - x0) / 2, abs(y1 - y0) / 2))
        for owner, start, end in [*paths, *spans]:
            p0, p1 = tuple(self.to_px(start)), tuple(self.to_px(end))
            self.lines.add((owner, p0, p1), min(p0[1], p1[1]), max(p0[1], p1[1]))
        r = 6 * self.px_per_pt
        crosses = [end for arrow, _, end in paths if arrow.fate == "lost"]
        for x, t in markers + crosses:  # a marker is a small box that no label may cover
            px, py = self.to_px((x, t))
            self._take(_Rect(px, py, 0.0, r, r))
        for arrow, start, end in sorted(paths, key=lambda p: p[1][1]):
            self._arrow_label(arrow, start, end)
        for mark, start, end in spans:
            n = next(i for i, other in enumerate(diagram.marks) if other is mark)  # as its line's id
            self._mark_label(n, mark, start, end)
        for note in sorted(diagram.notes, key=lambda n: n.time_s):
            self._note_label(note, lane, scale)

    def note_left_out(self) -> None:
        """Say in the figure how many labels are missing, which, and why."""
        if self.left_out:
            self.ax.text(1.0, 0.0, left_out_note(self.left_out), transform=self.ax.transAxes,
                         ha="right", va="top", fontsize=FONT_PT - 1, color="#777777",
                         fontstyle="italic", gid="labels left out")

    def _arrow_label(self, arrow: Arrow, start: _Point, end: _Point) -> None:
        color = COLORS["lost"] if arrow.fate == "lost" else COLORS[arrow.kind]
        gid = f"label {arrow.kind} m{arrow.message} #{arrow.attempt}"
        width, height = self._size(arrow.label, bold=False)
        p0, p1 = self.to_px(start), self.to_px(end)
        angle = math.degrees(math.atan2(p1[1] - p0[1], p1[0] - p0[0]))
        if angle > 90:  # keep text upright
            angle -= 180
        elif angle <= -90:
            angle += 180
        normal = (-math.sin(math.radians(angle)), math.cos(math.radians(angle)))
        gap = 2.5 * self.px_per_pt + height / 2
        candidates = []
        if arrow.fate != "arrived":
            # Level, just past the cross, on the side the packet was heading.
            ahead = 1.0 if p1[0] >= p0[0] else -1.0
            shift = 8 * self.px_per_pt + width / 2
            for rise in (0.0, -0.8, 0.8, -1.6, 1.6):
                candidates.append(_Rect(p1[0] + ahead * shift, p1[1] + rise * height, 0.0,
                                        width / 2, height / 2))
        spots = LOST_LABEL_SPOTS if arrow.fate != "arrived" else LABEL_SPOTS
        for side in (1.0, -1.0):
            for f in spots:
                px, py = p0[0] + f * (p1[0] - p0[0]), p0[1] + f * (p1[1] - p0[1])
                candidates.append(_Rect(px + side * gap * normal[0], py + side * gap * normal[1],
                                        angle, width / 2, height / 2))
        for rect in candidates:
            if self._free(rect, arrow):
                self._text(rect, arrow.label, color, gid)
                return
        f = spots[0]
        anchor = (p0[0] + f * (p1[0] - p0[0]), p0[1] + f * (p1[1] - p0[1]))
        self._below(anchor, anchor[0], arrow.label, color, width, height, gid, owner=arrow, bold=False,
                    max_drop=ARROW_LABEL_DROP * height)

    def _note_label(self, note: Note, lane: dict[str, float], scale: float) -> None:
        on_sender = note.actor.startswith("sender")
        bold = note.kind in BOLD_NOTES
        width, height = self._size(note.label, bold)
        px, py = self.to_px((lane[note.actor], note.time_s * scale))
        offset = 9 * self.px_per_pt + width / 2
        self._below((px, py), px - offset if on_sender else px + offset, note.label, COLORS[note.kind],
                    width, height, f"label {note.kind} {note.tag}", owner=note, bold=bold,
                    max_drop=NOTE_LABEL_DROP * height)

    def _mark_label(self, n: int, mark: Mark, start: _Point, end: _Point) -> None:
        """Just below its line, centred on the lanes it spans (kept inside the picture)."""
        width, height = self._size(mark.label, bold=False)
        (x0, y), (x1, _) = self.to_px(start), self.to_px(end)
        box = self.inside
        cx = min(max((x0 + x1) / 2, box.x0 + width / 2 + 1), box.x1 - width / 2 - 1)
        anchor = (cx, y - height * 0.75)
        self._below(anchor, cx, mark.label, COLORS[mark.kind], width, height, f"label {mark.kind} {n}",
                    owner=mark, bold=False, max_drop=NOTE_LABEL_DROP * height)

    def _below(self, anchor: _Point, cx: float, text: str, color: str, width: float, height: float,
               gid: str, *, owner: object, bold: bool, max_drop: float) -> None:
        """Level text centred at ``cx``, at the anchor's height or the first free place below.

        A label that would have to go further than ``max_drop`` below its
        anchor is left out (and counted): far from its arrow it would mislead.
        """
        cy = anchor[1]
        rect = _Rect(cx, cy, 0.0, width / 2, height / 2)
        while (top := self._blocked_to(rect, owner)) is not None:
            # Display y grows upwards: later in time is further down.
            cy = min(cy - 1.0, top - height / 2 - 0.5)
            if anchor[1] - cy > max_drop:
                self.left_out.append(text)
                return
            rect = _Rect(cx, cy, 0.0, width / 2, height / 2)
        if anchor[1] - cy > height * 0.6:
            edge = cx if abs(cx - anchor[0]) < width / 2 else cx - math.copysign(width / 2, cx - anchor[0])
            (x0, y0), (x1, y1) = self.to_data(anchor), self.to_data((edge, cy + height / 2))
            self.ax.plot([x0, x1], [y0, y1], color=color, linewidth=0.7, alpha=0.7, zorder=2,
                         gid=f"leader {gid}")
        self._text(rect, text, color, gid, bold=bold)

    def _text(self, rect: _Rect, text: str, color: str, gid: str, *, bold: bool = False) -> None:
        self._take(rect)
        x, y = self.to_data(rect.c)
        label = self.ax.text(x, y, text, ha="center", va="center", rotation=rect.angle,
                             rotation_mode="anchor", fontsize=FONT_PT, color=color,
                             fontweight="bold" if bold else "normal", zorder=6, gid=gid,
                             bbox={"boxstyle": "round,pad=0.1", "facecolor": "white",
                                   "edgecolor": "none", "alpha": 0.85})
        label.set_in_layout(False)


__all__ = ["Arrow", "Diagram", "Mark", "Note", "draw", "layout", "left_out_note", "lost_reach", "quiet_gaps",
           "time_unit"]
