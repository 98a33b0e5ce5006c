"""Any figure of a sweep against any swept path: ``alosim plot SWEEP --x PATH --y FIGURE [--by PATH]``.

The y axis is a registered figure (:mod:`alosim.figures`: its words and unit
name the axis), the x axis a swept path (with its unit, :mod:`alosim.fieldunits`),
and one line per value of ``--by``. Each point is the mean over its
replications with its 95 % Student-t interval. Swept paths that are neither
x nor by are held at the sweep's last point, and the title says at which
values (a picture never shows one slice silently). Where the closed form of
the figure's theory rule (:mod:`alosim.theory`) applies to a point, it is
drawn as a dashed line: a rule's prediction is drawn only where its
assumptions hold and where it measures the same quantity as the figure.

Lines at zero stay visible (the y axis starts a little below zero, and
each line has its own marker and dash), and the legend sits outside the
axes, never on the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from alosim.scenario import Scenario


class PlotChoiceError(ValueError):
    """An --x, --y or --by that the sweep cannot draw (the message lists what it can)."""


def numeric_parameters(runs: pd.DataFrame) -> list[str]:
    """The swept paths with numbers for values and more than one value (possible x axes)."""
    import pandas as pd

    from alosim.store import parameters

    out = []
    for p in parameters(runs):
        values = runs[p].dropna()
        if (len(values.unique()) > 1 and pd.api.types.is_numeric_dtype(values)
                and not pd.api.types.is_bool_dtype(values)):
            out.append(p)
    return out


def plottable_figures(runs: pd.DataFrame) -> list[str]:
    """The registered figures a run table holds as numbers."""
    import pandas as pd

    from alosim.figures import figure

    out = []
    for column in runs.columns:
        fig = figure(column)
        if fig is not None and fig.kind not in ("text",) and pd.api.types.is_numeric_dtype(runs[column]):
            out.append(column)
    return out


def check_choice(runs: pd.DataFrame, x: str, y: str, by: str | None) -> None:
    """Raise :class:`PlotChoiceError` for an x, y or by the run table cannot draw."""
    from alosim.store import parameters

    swept = parameters(runs)
    xs = numeric_parameters(runs)
    if x not in xs:
        raise PlotChoiceError(f"--x {x}: expected a swept path with numeric values; this sweep has "
                              + (", ".join(xs) if xs else "none"))
    figures = plottable_figures(runs)
    if y not in figures:
        from alosim.figures import figure

        why = "not a registered figure" if figure(y) is None else "not a numeric column of this sweep"
        raise PlotChoiceError(f"--y {y}: {why}; for instance: {', '.join(figures[:8])} "
                              f"({len(figures)} in all: alosim.figures.FIGURES)")
    if by is not None and (by not in swept or by == x):
        others = [p for p in swept if p != x]
        raise PlotChoiceError(f"--by {by}: expected another swept path; this sweep has "
                              + (", ".join(others) if others else "none"))


def default_choice(runs: pd.DataFrame, shape: str) -> tuple[str, str, str | None] | None:
    """A sensible picture of a sweep from its own axes: the first numeric swept path as x,
    the first headline figure of its ``shape`` that is not zero everywhere as y, and
    another swept path (if any) as lines; None when nothing can be drawn."""
    from alosim.figures import sweep_columns
    from alosim.store import parameters

    xs = numeric_parameters(runs)
    if not xs:
        return None
    x = xs[0]
    ok = runs[runs["error"] == ""] if "error" in runs else runs
    candidates = [c for c in sweep_columns(shape) if c in ok.columns or c.endswith("_per_message")]
    ys = [c for c in candidates if c in ok.columns and ok[c].fillna(0).astype(float).abs().sum() > 0]
    derived = {"duplicate_processing_per_message": "duplicate_processing", "lost_per_message": "lost"}
    for name, count in derived.items():
        if name in candidates and name not in ok.columns and count in ok.columns and ok[count].abs().sum() > 0:
            ys.append(name)
    if not ys:
        return None
    others = [p for p in parameters(runs) if p != x and len(runs[p].unique()) > 1]
    return x, ys[0], (others[0] if others else None)


def _with_derived(runs: pd.DataFrame, y: str) -> pd.DataFrame:
    derived = {"duplicate_processing_per_message": "duplicate_processing", "lost_per_message": "lost"}
    if y in derived and y not in runs.columns and derived[y] in runs.columns:
        return runs.assign(**{y: runs[derived[y]] / runs["messages"].clip(lower=1)})
    return runs


def _theory_points(runs: pd.DataFrame, y: str, scenarios: Mapping[int, Scenario] | None) -> dict[int, float]:
    """The closed form of ``y``'s theory rule at each point where it applies, by point."""
    from alosim import theory
    from alosim.figures import figure

    fig = figure(y)
    if fig is None or fig.theory is None or not scenarios:
        return {}
    out: dict[int, float] = {}
    first = runs.sort_values(["point", "replication"], kind="stable").drop_duplicates("point")
    for _, row in first.iterrows():
        scenario = scenarios.get(int(row["point"]))
        if scenario is None:
            continue
        summary = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        try:
            verdicts = theory.applicability(scenario, summary, None)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue
        for name, verdict in verdicts:
            measured = summary.get(y)
            if (name == fig.theory and isinstance(verdict, theory.Comparison)
                    and isinstance(measured, (int, float))
                    and abs(verdict.measured - measured) <= 1e-9 * max(1.0, abs(measured))):
                out[int(row["point"])] = verdict.expected
    return out


def figure_against(runs: pd.DataFrame, x: str, y: str, *, by: str | None = None,
                   scenarios: Mapping[int, Scenario] | None = None, name: str = "",
                   ax: Axes | None = None, confidence: float = 0.95) -> Figure:
    """Figure ``y`` (mean ± ``confidence`` interval) against swept path ``x``, a line per value
    of ``by``; other swept paths held at the last point (named in the title); the theory
    line where one applies (needs ``scenarios``, each point's scenario)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from alosim.fieldunits import format_setting, unit_of
    from alosim.figures import axis_label
    from alosim.plots import _error_lengths, _select, default_selection
    from alosim.store import aggregate

    runs = _with_derived(runs, y)
    check_choice(runs, x, y, by)
    ok = runs[runs["error"] == ""] if "error" in runs else runs
    where = default_selection(ok, [x, *([by] if by else [])])
    held = {k: v for k, v in where.items() if len(ok[k].unique()) > 1}
    part = _select(ok, held)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    else:
        fig = ax.figure
    agg = aggregate(part, [y], confidence=confidence)
    groups = [(None, agg)] if by is None else [(v, agg[agg[by] == v]) for v in agg[by].unique()]
    predicted = _theory_points(part, y, scenarios)
    markers, dashes = ("o", "s", "^", "D", "v", "P", "X", "*"), ("-", "--", "-.", ":")
    lowest = 0.0
    # Lines that coincide (common random numbers, or several at zero) are dodged sideways
    # by a hair, so that each stays visible.
    span = float(agg[x].max() - agg[x].min()) if len(agg) else 0.0
    drawn: list[list[tuple[float, float]]] = []
    for index, (value, group) in enumerate(groups):
        group = group.sort_values(x, kind="stable")
        mean, down, up = _error_lengths(group, y)
        label = None if by is None else f"{by} = {format_setting(by, value)}"
        dodge = (index - (len(groups) - 1) / 2) * 0.006 * span
        ax.errorbar(group[x].to_numpy(dtype=float) + dodge, mean, yerr=[down, up], label=label, capsize=3,
                    marker=markers[index % len(markers)], linestyle=dashes[index % len(dashes)],
                    markersize=6 - min(index, 3), zorder=3 + index)
        lowest = min(lowest, float(np.nanmin(mean - down)) if len(mean) else 0.0)
        points = [(float(r[x]), predicted[int(r["point"])]) for _, r in part.drop_duplicates("point").iterrows()
                  if int(r["point"]) in predicted and (by is None or r[by] == value)]
        points.sort()
        if points and points not in drawn:  # two lines with the same prediction share one curve
            ax.plot(*zip(*points), color="black", linestyle="--", linewidth=1, zorder=2,
                    label="closed form" if not drawn else f"closed form ({format_setting(by, value)})")
            drawn.append(points)
    top = ax.get_ylim()[1]
    ax.set_ylim(bottom=min(lowest, 0.0) - 0.04 * max(top - min(lowest, 0.0), 1e-12))  # a line at 0 stays visible
    unit = unit_of(x)
    ax.set_xlabel(f"{x} (s)" if unit == "duration" else f"{x} (per s)" if unit == "rate" else x)
    ax.set_ylabel(axis_label(y))
    slice_text = ", ".join(f"{k} = {format_setting(k, v)}" for k, v in held.items())
    title = (f"{name}\n" if name else "") + f"{axis_label(y)} against {x}"
    ax.set_title(title + (f"\nat {slice_text}" if slice_text else "")
                 + f"\n(mean over replications, {confidence:.0%} interval)", fontsize=10)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", borderaxespad=0)
    return fig


__all__ = ["PlotChoiceError", "check_choice", "default_choice", "figure_against", "numeric_parameters",
           "plottable_figures"]
