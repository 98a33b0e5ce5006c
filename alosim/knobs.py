"""Turn a knob and see the effect: sliders over a scenario's fields, in Jupyter.

:func:`interact` shows one slider per dotted path (``network.ack.loss``,
``sender.retry.timeout``, ...) over the range you give, and below them the
summary of a small run and a picture of it. Releasing a slider reruns the
simulation with the new value and redraws both.

The panel is a thin layer over plain functions that need no browser:

* :func:`knobs` reads the ranges: ``(0, 0.5)`` is a number slider,
  ``("50ms", "1s")`` a duration slider in seconds, ``("10/s", "500/s")`` a
  rate slider per second, two whole numbers an integer slider, a list of
  values a drop-down;
* :func:`rerun` applies the slider values to the scenario, runs it (cut to
  ``limit`` messages so that it answers at once) and returns the table and
  the figure the panel shows.

Each rerun uses the scenario's seed, so moving a slider and moving it back
gives the same picture again, and two settings differ only by the knob
(common random numbers).
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from alosim.arguments import expect
from alosim.scenario import Scenario, ScenarioError, load_scenario
from alosim.figures import axis_label
from alosim.simulate import RunResult, simulate
from alosim.units import parse_duration, parse_rate

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

KnobKind = Literal["number", "integer", "duration", "rate", "choice"]
PLOTS: tuple[str, ...] = ("growth", "sequence")
LIMIT = 5000  # messages per rerun: a few tenths of a second
SEQUENCE_MESSAGES = 8  # messages drawn in the sequence diagram
STEPS = 100  # positions of a number slider between its ends


@dataclass(frozen=True)
class Knob:
    """One slider: a dotted path, its range (in seconds or per second for
    durations and rates) or its choices, and where it starts."""

    path: str
    kind: KnobKind
    low: float = 0.0
    high: float = 0.0
    step: float = 0.0
    start: Any = None
    choices: tuple[Any, ...] = ()

    @property
    def description(self) -> str:
        unit = {"duration": " (s)", "rate": " (/s)"}.get(self.kind, "")
        return f"{self.path}{unit}"


def knobs(scenario: Scenario, ranges: Mapping[str, Any]) -> list[Knob]:
    """The sliders for ``ranges``, each starting at the scenario's value when
    that lies in its range (else at its low end). Raises ValueError naming the
    path for a range it cannot read."""
    resolved = scenario.resolved()
    found = []
    for path, spec in ranges.items():
        current = _value_at(resolved, path)
        if isinstance(spec, tuple) and len(spec) == 2:
            found.append(_range_knob(path, spec, current))
        elif isinstance(spec, list) and spec:
            found.append(Knob(path, "choice", choices=tuple(spec),
                              start=current if current in spec else spec[0]))
        else:
            raise ValueError(f"{path}: expected a range (low, high) or a list of choices, got {spec!r}")
    return found


def _range_knob(path: str, spec: Sequence[Any], current: Any) -> Knob:
    low, high = spec
    if any(isinstance(v, bool) for v in (low, high)):
        raise ValueError(f"{path}: expected a range of numbers, durations or rates, got {spec!r}")
    kind: KnobKind
    if isinstance(low, str) or isinstance(high, str):
        text = f"{low}{high}"
        kind = "rate" if "/" in text else "duration"
        parse = parse_rate if kind == "rate" else parse_duration
        try:
            lo, hi = parse(low), parse(high)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    elif isinstance(low, int) and isinstance(high, int):
        kind, lo, hi = "integer", float(low), float(high)
    elif isinstance(low, (int, float)) and isinstance(high, (int, float)):
        kind, lo, hi = "number", float(low), float(high)
    else:
        raise ValueError(f"{path}: expected a range of numbers, durations or rates, got {spec!r}")
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{path}: expected low < high, got {spec!r}")
    step = 1.0 if kind == "integer" else _nice_step((hi - lo) / STEPS)
    inside = isinstance(current, (int, float)) and not isinstance(current, bool) and lo <= current <= hi
    start = float(current) if inside else lo
    return Knob(path, kind, lo, hi, step, int(start) if kind == "integer" else start)


def _nice_step(raw: float) -> float:
    """The 1, 2 or 5 times a power of ten just below ``raw``."""
    power = 10 ** math.floor(math.log10(raw))
    return max(m * power for m in (1, 2, 5) if m * power <= raw)


def _value_at(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for key in path.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


@dataclass(frozen=True)
class Rerun:
    """What the panel shows for one setting of the sliders."""

    scenario: Scenario
    result: RunResult
    table: pd.DataFrame  # measure, value, per message
    figure: Figure


def small(scenario: Scenario, limit: int = LIMIT) -> Scenario:
    """``scenario`` cut to about ``limit`` messages, without its sweep."""
    changes: dict[str, Any] = {}
    if scenario.messages is not None and scenario.messages > limit:
        changes["messages"] = limit
    elif scenario.duration is not None and scenario.sender.rate is not None:
        senders = scenario.sender.rate * scenario.sender.count
        if scenario.duration * senders > limit:
            changes["duration"] = limit / senders
    return scenario.with_overrides(changes, drop_sweep=True)


def rerun(scenario: Scenario, values: Mapping[str, Any], *, plot: str = "growth",
          limit: int = LIMIT) -> Rerun:
    """Run ``scenario`` with ``values`` set (dotted path -> value), cut to about
    ``limit`` messages, and return its summary table and the ``plot`` of it:
    ``growth`` (store entries and duplicates over time) or ``sequence`` (the
    sequence diagram of its first few messages)."""
    from alosim import plots, seqdiagram

    if plot not in PLOTS:
        raise ValueError(f"unknown plot {plot!r}; expected one of: {', '.join(PLOTS)}")
    variant = small(scenario.with_overrides(dict(values), drop_sweep=True), limit)
    if plot == "sequence":
        variant = variant.with_overrides({"observe.trace_messages": SEQUENCE_MESSAGES})
    result = simulate(variant)
    setting = ", ".join(f"{path}={_show(v)}" for path, v in values.items())
    if plot == "sequence":
        figure = seqdiagram.draw(result.trace or [], title=setting)
    else:
        figure = plots.store_growth(result.series_frame(), title=setting or variant.name)
    return Rerun(variant, result, summary_table(result), figure)


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# The measures the panel shows, in this order, and whether a per-message figure
# makes sense beside the count; their words and units are the registry's
# (:mod:`alosim.figures`).
_SHOWN: tuple[tuple[str, bool], ...] = (
    ("messages", False), ("transmissions", True), ("retransmissions", True), ("duplicate_deliveries", True),
    ("duplicate_processing", True), ("lost", True), ("gave_up", True), ("dedup_entries_peak", False),
    ("delivery_latency_p50_s", False), ("delivery_latency_p99_s", False),
)
SUMMARY: tuple[tuple[str, str, bool], ...] = tuple(
    (column, axis_label(column), per_message) for column, per_message in _SHOWN)


def summary_table(result: RunResult) -> pd.DataFrame:
    """The run's main figures: measure, value (counts as integers, times in
    seconds), and value per message where that means something."""
    import pandas as pd

    summary = result.summary
    messages = max(int(summary.get("messages", 0)), 1)
    rows = []
    for column, name, per_message in SUMMARY:
        if column not in summary:
            continue
        value = summary[column]
        if not column.endswith("_s"):
            value = int(value)  # a count: printed as one
        rows.append({"measure": name, "value": value,
                     "per message": value / messages if per_message else math.nan})
    return pd.DataFrame({
        "measure": [row["measure"] for row in rows],
        "value": pd.Series([row["value"] for row in rows], dtype=object),  # ints stay ints
        "per message": [row["per message"] for row in rows],
    })


def table_html(shown: Rerun) -> str:
    """The summary as the panel shows it, and the run's theory table when it has one."""
    html = shown.table.to_html(index=False, na_rep="", formatters={
        "value": lambda v: f"{v:,.6g}", "per message": lambda v: "" if math.isnan(v) else f"{v:.4g}"})
    theory = getattr(shown.result, "theory", None)  # expected values beside the measurement
    if callable(theory):
        html += theory().to_html(index=False)
    return html


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes, with fixed metadata (the same bytes for the same figure)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def interact(scenario: Scenario | str | Path, ranges: Mapping[str, Any], *, plot: str = "growth",
             limit: int = LIMIT) -> Any:
    """A Jupyter panel: a slider per dotted path of ``ranges``, and the summary
    and ``plot`` of a small run that follow them.

    ``alosim.interact("scenarios/ack-lost.yaml", {"network.ack.loss": (0, 0.5),
    "sender.retry.timeout": ("50ms", "1s")})``. ``scenario`` is a Scenario or
    a file name. Returns the ipywidgets box (Jupyter shows it when it is the
    last value of a cell). See :func:`knobs` for the kinds of range and
    :func:`rerun` for what each change runs.
    """
    import ipywidgets as widgets

    expect(scenario, (Scenario, str, PathLike), "interact", "scenario", "a Scenario or a scenario file name")
    expect(ranges, Mapping, "interact", "ranges", "a mapping of dotted paths to ranges")
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    found = knobs(scenario, ranges)
    # A path the scenario does not have fails here, once, naming it.
    scenario.with_overrides({knob.path: knob.start for knob in found}, drop_sweep=True)
    sliders = {knob.path: _widget(widgets, knob) for knob in found}
    status = widgets.HTML()
    table = widgets.HTML()
    picture = widgets.Image(format="png")

    def show(_change: object = None) -> None:
        values = {path: widget.value for path, widget in sliders.items()}
        try:
            shown = rerun(scenario, values, plot=plot, limit=limit)
        except (ScenarioError, ValueError) as exc:  # a setting the scenario rejects
            status.value = f"<b>not run:</b> {html.escape(str(exc))}"
            return
        status.value = (f"{shown.scenario.name}: {shown.result.summary.get('messages', 0):,} messages, "
                        f"seed {shown.result.seed}")
        table.value = table_html(shown)
        picture.value = png(shown.figure)

    for widget in sliders.values():
        widget.observe(show, names="value")
    show()
    return widgets.VBox([*sliders.values(), status, table, picture])


def _widget(widgets: Any, knob: Knob) -> Any:
    style = {"description_width": "initial"}
    layout = widgets.Layout(width="32em")
    common = {"description": knob.description, "continuous_update": False, "style": style,
              "layout": layout}
    if knob.kind == "choice":
        return widgets.Dropdown(options=list(knob.choices), value=knob.start, description=knob.description,
                                style=style, layout=layout)
    if knob.kind == "integer":
        return widgets.IntSlider(min=int(knob.low), max=int(knob.high), value=knob.start, **common)
    return widgets.FloatSlider(min=knob.low, max=knob.high, step=knob.step, value=knob.start,
                               readout_format=".3g", **common)


__all__ = ["Knob", "Rerun", "interact", "knobs", "png", "rerun", "small", "summary_table", "table_html"]
