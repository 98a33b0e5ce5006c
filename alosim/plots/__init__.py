"""Plots of run results. Each function takes ``ax=None`` and returns the figure.

Figures are saved with fixed metadata (no software version, no date, a fixed
SVG hash salt) so that identical results give identical bytes.

The comparison plots of a sweep (below :data:`PLOT_KINDS`) draw the mean over
replications with its 95 % confidence interval, from the tables of
:mod:`alosim.store`; :func:`unfit_reason` says which of them a sweep's
parameters can feed, and :func:`write_sweep_plots` saves them as PNG and SVG.
A closed form is drawn beside the measurement only over the lines whose
scenarios satisfy its assumptions: each point's scenario is rebuilt from the
sweep folder (:func:`point_scenarios`), never guessed from a line's name
alone when it can be read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from alosim.scenario import Scenario
    from alosim.store import SweepData


def _axes(ax: Axes | None, **fig_kw: Any) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    from matplotlib.figure import Figure

    fig = Figure(**fig_kw)
    return fig, fig.add_subplot()


def two_panels(axes: Sequence[Axes] | None) -> tuple[Figure, Axes, Axes]:
    """The given (top, bottom) axes, or a new figure of two sharing the time axis."""
    if axes is not None:
        top, bottom = axes
        return top.figure, top, bottom  # type: ignore[return-value]
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 5.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    return fig, top, bottom


def store_growth(series: pd.DataFrame | Mapping[str, Sequence[float]], *, title: str = "",
                 axes: Sequence[Axes] | None = None) -> Figure:
    """Two panels against simulated time: the dedup store's entries above, the
    cumulative duplicate deliveries and duplicate processing below. ``series``
    is a run's series as a DataFrame or as columns (``RunResult.series_columns``).

    Separate panels, each with its own scale, so that two curves of different
    units never read as one line. ``axes``: the two axes to draw into (top,
    bottom); by default a new figure with a shared time axis.
    """
    fig, top, bottom = two_panels(axes)
    t = series["time_s"]
    top.plot(t, series["dedup_entries"], color="tab:blue", label="dedup store entries")
    top.set_ylabel("store entries")
    top.legend(loc="upper left", fontsize="small")
    top.grid(True, alpha=0.3)
    bottom.plot(t, series["duplicate_deliveries"], color="tab:red", label="duplicate deliveries")
    bottom.plot(t, series["duplicate_processing"], color="tab:orange", linestyle="--",
                label="duplicate processing")
    bottom.set_ylabel("cumulative duplicates")
    bottom.set_xlabel("simulated time (s)")
    bottom.legend(loc="upper left", fontsize="small")
    bottom.grid(True, alpha=0.3)
    top.set_title(title or "Dedup store growth and duplicates over time")
    return fig


def save(fig: Figure, path: str | Path) -> None:
    """Save ``fig`` with metadata fixed, so that equal figures give equal files.

    The file is written under a temporary name and renamed into place
    (:func:`alosim.files.write_atomic`): an interrupted save leaves no 0-byte
    or truncated picture; a failure raises :class:`alosim.files.OutputError`.
    """
    from alosim.files import write_atomic

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        import matplotlib

        def write(tmp: Path) -> None:
            with matplotlib.rc_context({"svg.hashsalt": "alosim"}):
                fig.savefig(tmp, format="svg", metadata={"Date": None, "Creator": None})
    elif suffix == ".pdf":
        def write(tmp: Path) -> None:
            fig.savefig(tmp, format="pdf", metadata={"CreationDate": None, "Creator": None, "Producer": None})
    else:
        def write(tmp: Path) -> None:
            save_raster(fig, tmp, suffix[1:] or "png")
    write_atomic(path, write)


def save_raster(fig: Figure, target: Any, kind: str = "png") -> None:
    """Write ``fig`` as a raster image (``png``) into ``target``, a path or a binary
    file object, with the settings of :func:`save`: the same bytes either way."""
    fig.savefig(target, format=kind, dpi=100, metadata={"Software": None})


def draw_growth(series: Mapping[str, Sequence[float]], title: str, path: str | Path) -> None:
    """Draw a run's picture (:func:`store_growth` of its ``series`` under ``title``) into
    ``path`` (:func:`save`). ``alosim run`` may have it drawn in another process, ahead
    (:mod:`alosim.plots.ahead`), by the same function and with the same bytes."""
    save(store_growth(series, title=title), path)


# -- comparison plots of a sweep ----------------------------------------------------
#
# These take the tables of alosim.store (the run table, and the series or
# latency table keyed by point and replication) and draw means over
# replications with their 95 % confidence intervals. Lines are drawn in the
# order of their first sweep point, so equal tables give equal figures.

PLOT_KINDS: tuple[str, ...] = ("duplicates", "store", "escapes", "latency", "tradeoff",
                               "commit-interval", "collapse")

# Lines that coincide (common random numbers make two semantics share their
# latencies, and several share zero duplicates) stay visible through their styles.
_LINESTYLES: tuple[str, ...] = ("-", "--", "-.", ":")
_MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P")


def _style(index: int) -> dict[str, str]:
    return {"linestyle": _LINESTYLES[index % len(_LINESTYLES)], "marker": _MARKERS[index % len(_MARKERS)]}


_DURATION_PATHS = frozenset({"receiver.dedup.window", "receiver.dedup.write_delay", "duration",
                             "max_time", "observe.sample_every"})
_STRATEGY_PARAMETERS: tuple[str, ...] = ("receiver.dedup.kind", "semantics", "receiver.dedup.window")
_WINDOW_PARAMETERS: tuple[str, ...] = ("receiver.dedup.window", "sender.retry.timeout")


def _in_seconds(path: str) -> bool:
    return path in _DURATION_PATHS or path.rsplit(".", 1)[-1].endswith("timeout")


def _axis_label(path: str) -> str:
    return f"{path} (s)" if _in_seconds(path) else path


def _value_text(path: str, value: Any) -> str:
    """A swept value as a legend shows it: durations with their unit (``0.4 s``)."""
    from alosim.store import value_text

    number = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if _in_seconds(path) and number:
        return f"{value:g} s"
    return f"{value:g}" if number and isinstance(value, float) else value_text(value)


def _label(columns: Sequence[str], values: Sequence[Any]) -> str:
    if not columns:
        return "all runs"
    if len(columns) == 1:
        return _value_text(columns[0], values[0])
    prefix = _common_prefix(columns)
    return ", ".join(f"{c[len(prefix):]}={_value_text(c, v)}" for c, v in zip(columns, values))


def _common_prefix(columns: Sequence[str]) -> str:
    """The dotted prefix all ``columns`` share (``sender.retry.``), shown once as the legend title."""
    parts = [c.split(".")[:-1] for c in columns]
    shared: list[str] = []
    for keys in zip(*parts):
        if len(set(keys)) != 1:
            break
        shared.append(keys[0])
    return "".join(f"{key}." for key in shared) if len(columns) > 1 else ""


def _legend_title(lines: Sequence[str]) -> str | None:
    if len(lines) == 1:
        return lines[0]
    return _common_prefix(lines).rstrip(".") or None


def _scale_for(ax: Axes, values: Any) -> None:
    """A log axis for positive values spread over a decade or more (windows, timeouts)."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    if len(values) and values.min() > 0 and values.max() >= 10 * values.min():
        ax.set_xscale("log")


def _groups(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """``frame`` split by the values of ``columns``, in the order of their first point."""
    frame = frame.sort_values(["point"] + (["replication"] if "replication" in frame else []),
                              kind="stable")
    if not columns:
        return [(_label(columns, ()), frame)]
    out = []
    for values, group in frame.groupby(list(columns), sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        out.append((_label(columns, values), group))
    return out


def _ok(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["error"] == ""] if "error" in runs else runs


def _require(runs: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    from alosim.store import ResultsError

    missing = [c for c in columns if c not in runs.columns]
    if missing:
        raise ResultsError(f"cannot draw {what}: the run table has no column {', '.join(map(repr, missing))}")


def _select(runs: pd.DataFrame, where: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of ``runs`` whose columns equal ``where``'s values."""
    import numpy as np

    import pandas as pd

    keep = np.ones(len(runs), dtype=bool)
    for column, value in where.items():
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            keep &= runs[column].isna().to_numpy(dtype=bool)  # a swept null (e.g. unlimited attempts)
        else:
            keep &= (runs[column] == value).to_numpy(dtype=bool, na_value=False)
    return runs[keep]


def default_selection(runs: pd.DataFrame, vary: Sequence[str]) -> dict[str, Any]:
    """Every swept parameter not in ``vary`` held at its value in the last point."""
    from alosim.store import parameters

    last = runs.sort_values("point", kind="stable").iloc[-1] if len(runs) else None
    return {p: last[p] for p in parameters(runs) if p not in vary and last is not None}


def _where_text(where: Mapping[str, Any]) -> str:
    from alosim.store import value_text

    return ", ".join(f"{k}={value_text(v)}" for k, v in where.items())


def _error_lengths(agg: pd.DataFrame, metric: str) -> tuple[Any, Any, Any]:
    """Mean, and the distances down and up to the interval's ends (0 where it is unknown)."""
    import numpy as np

    mean = agg[f"{metric}_mean"].to_numpy(dtype=float)
    low = np.clip(np.nan_to_num(mean - agg[f"{metric}_ci_low"].to_numpy(dtype=float)), 0, None)
    high = np.clip(np.nan_to_num(agg[f"{metric}_ci_high"].to_numpy(dtype=float) - mean), 0, None)
    return mean, low, high


def metric_against_parameter(runs: pd.DataFrame, x: str, metric: str, *,
                             lines: Sequence[str] | None = None, ax: Axes | None = None) -> Figure:
    """Mean of ``metric`` (95 % CI bars) against swept parameter ``x``, one line per
    combination of ``lines`` (default: every other swept parameter)."""
    from alosim.store import aggregate

    fig, ax = _axes(ax, figsize=(7, 4.5), layout="constrained")
    _require(runs, [x, metric, *(lines or [])], f"{metric} against {x}")
    lines = _lines_besides(runs, x, lines)
    agg = aggregate(runs, [metric])
    for index, (label, group) in enumerate(_groups(agg, lines)):
        group = group.sort_values(x, kind="stable")
        mean, down, up = _error_lengths(group, metric)
        ax.errorbar(group[x].to_numpy(dtype=float), mean, yerr=[down, up], label=label, capsize=3,
                    **_style(index))
    _scale_for(ax, agg[x])
    ax.set_xlabel(_axis_label(x))
    ax.set_ylabel(metric.replace("_", " "))
    ax.grid(True, alpha=0.3)
    ax.legend(title=_legend_title(lines), fontsize="small")
    return fig


def _lines_besides(runs: pd.DataFrame, x: str, lines: Sequence[str] | None) -> list[str]:
    """The columns that tell lines apart: as given, or every swept parameter but ``x``."""
    from alosim.store import parameters

    return list(lines) if lines is not None else [p for p in parameters(runs) if p != x]



def duplicates_vs_ack_loss(runs: pd.DataFrame, *, x: str = "network.ack.loss",
                           metric: str = "duplicate_processing_per_message",
                           lines: Sequence[str] | None = None,
                           scenarios: Mapping[int, Scenario] | None = None,
                           ax: Axes | None = None) -> Figure:
    """Duplicates per message against ack loss, one line per semantics, with the
    closed form drawn over each line it holds for.

    The closed form (:func:`alosim.analytic.duplicates_per_message`: p_a /
    (1 - p_a) with unlimited retries) holds for a sender that retries until
    acked or for ``max_attempts``, a receiver without deduplication,
    independent (Bernoulli) losses, no duplicating network, no partition and
    no crash -- and a retry timeout well above the round trip, which is left
    to the scenario (a timeout shorter than the round trip shows as points
    above the curve). ``scenarios`` (each point's scenario, by point index: see
    :func:`point_scenarios`) lets each line be checked against those
    assumptions; without them only the ``semantics`` at-least-once lines get
    it (the preset: retry until acked, no dedup). Exactly-once processes no
    duplicate (the store catches them) and at-most-once never resends: no
    curve for them.
    """
    import numpy as np

    from alosim.analytic import duplicates_per_message

    fig = metric_against_parameter(runs, x, metric, lines=lines, ax=ax)
    ax = fig.axes[0] if ax is None else ax
    line_columns = _lines_besides(runs, x, lines)
    colors = {c.get_label(): c.lines[0].get_color() for c in ax.containers}
    forms = []
    if x == "network.ack.loss" and metric == "duplicate_processing_per_message":
        for label, group in _groups(_ok(runs), line_columns):
            model = _no_dedup_retries(group, scenarios)
            if model is not None:
                forms.append((label, group, model))
    for label, group, (p_data, attempts) in forms:
        losses = group[x].to_numpy(dtype=float)
        p = np.linspace(float(losses.min()), float(losses.max()), 101)
        p = p[p < 1]
        closed = np.array([duplicates_per_message(p_data, float(v), attempts) for v in p])
        text = ("closed form $p_a/(1-p_a)$ (retry until acked, no dedup)" if attempts is None
                else f"closed form, at most {attempts} attempts, no dedup")
        ax.plot(p, closed, color=colors.get(label, "black") if len(forms) > 1 else "black",
                linestyle="--", linewidth=1, gid=f"closed form {label}",
                label=f"{text}: {label}" if len(forms) > 1 else text)
    ax.set_xlabel("ack loss probability $p_a$" if x == "network.ack.loss" else _axis_label(x))
    ax.set_ylabel("duplicate processing per message" if metric == "duplicate_processing_per_message"
                  else metric.replace("_", " "))
    ax.set_title("Duplicates per message against ack loss")
    ax.legend(title=_legend_title(line_columns), fontsize="small")
    return fig


def _no_dedup_retries(group: pd.DataFrame,
                      scenarios: Mapping[int, Scenario] | None) -> tuple[float, int | None] | None:
    """(p_data, max_attempts) of a line the retry closed form holds for, else None."""
    if scenarios is None:
        if "semantics" not in group or set(group["semantics"]) != {"at-least-once"}:
            return None
        return 0.0, None  # the preset; p_data does not matter with unlimited retries
    models = set()
    for point in sorted(set(group["point"].tolist())):
        scenario = scenarios.get(int(point))
        if scenario is None:
            return None
        models.add(_retry_model(scenario))
    if len(models) != 1:
        return None
    (model,) = models
    return model


def _retry_model(scenario: Scenario) -> tuple[float, int | None] | None:
    network = scenario.network
    data, ack = network.data, network.ack
    if (scenario.receiver.dedup.kind not in (None, "none") or not isinstance(data.loss, float)
            or not isinstance(ack.loss, float) or data.duplicate or ack.duplicate
            or network.partitions or scenario.faults):
        return None
    attempts = scenario.sender.retry.max_attempts
    if attempts == 1:
        return None  # one attempt never duplicates: nothing to compare with
    return float(data.loss), attempts


def point_scenarios(data: SweepData) -> dict[int, Scenario] | None:
    """Each point's scenario by point index, rebuilt from the sweep folder's
    ``scenario.yaml`` (None when the folder or the file is missing or unreadable)."""
    from alosim.scenario import ScenarioError, load_scenario
    from alosim.sweep import expand

    if data.folder is None or not (data.folder / "scenario.yaml").is_file():
        return None
    try:
        plan = expand(load_scenario(data.folder / "scenario.yaml"))
    except (OSError, ScenarioError):
        return None
    return {point.index: point.scenario for point in plan.points}


def escapes_vs_window(runs: pd.DataFrame, *, window: str = "receiver.dedup.window",
                      metric: str = "duplicate_processing_per_message",
                      lines: Sequence[str] | None = None, ax: Axes | None = None) -> Figure:
    """Duplicates that escape deduplication (processed twice) per message against
    the dedup window, one line per retry policy (every other swept parameter)."""
    fig = metric_against_parameter(runs, window, metric, lines=lines, ax=ax)
    ax = fig.axes[0] if ax is None else ax
    ax.set_ylabel("duplicates escaping dedup per message")
    ax.set_title(f"Duplicates escaping dedup against {window}")
    return fig


def store_size_over_time(runs: pd.DataFrame, series: pd.DataFrame, *, by: str | None = None,
                         where: Mapping[str, Any] | None = None, column: str = "dedup_entries",
                         scenarios: Mapping[int, Scenario] | None = None,
                         ax: Axes | None = None) -> Figure:
    """Dedup store size against simulated time, one line per strategy (value of ``by``).

    Each line is the mean over the runs of its strategy (its replications),
    each run's series interpolated onto the sampling times of all of them up
    to the earliest end. ``where`` holds other swept parameters fixed
    (default: at their values in the last point). Durations in the legend
    are in seconds.

    With ``scenarios`` (each point's scenario: :func:`point_scenarios`), a
    line whose store is a TTL store fed at a known rate gets its plateau
    drawn, dotted in its colour: rate x window entries
    (:func:`alosim.analytic.ttl_store_entries`, Little's law), with the rate
    ``sender.rate`` x ``sender.count`` -- every message recorded once.
    """
    import numpy as np
    from matplotlib.lines import Line2D

    from alosim.analytic import ttl_store_entries
    from alosim.store import parameters

    by = by if by is not None else _first_swept(runs, _STRATEGY_PARAMETERS)
    vary = [by] if by else []
    where = dict(where) if where is not None else default_selection(runs, vary)
    _require(runs, [*vary, *where], "the store size over time")
    fig, ax = _axes(ax, figsize=(7, 4.5), layout="constrained")
    chosen = _select(_ok(runs), where)
    plateaus = 0
    for index, (label, group) in enumerate(_groups(chosen, vary)):
        keys = set(zip(group["point"].tolist(), group["replication"].tolist()))
        runs_series = [s for key, s in series.groupby(["point", "replication"], sort=True) if key in keys]
        if not runs_series:
            continue
        end = min(float(s["time_s"].max()) for s in runs_series)
        grid = np.unique(np.concatenate([s["time_s"].to_numpy(dtype=float) for s in runs_series]))
        grid = grid[grid <= end]
        values = [np.interp(grid, s["time_s"].to_numpy(dtype=float), s[column].to_numpy(dtype=float))
                  for s in runs_series]
        (line,) = ax.plot(grid, np.mean(values, axis=0), label=label, linestyle=_style(index)["linestyle"])
        ttl = _ttl_store(group, scenarios) if column == "dedup_entries" else None
        if ttl is not None:
            rate, window = ttl
            # From one window in: before that the store is still filling up.
            ax.plot([min(window, end), end], [ttl_store_entries(rate, window)] * 2, color=line.get_color(),
                    linestyle=":", linewidth=1.2, gid=f"plateau {label}", label="_plateau")
            plateaus += 1
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(column.replace("_", " "))
    swept = {p: where[p] for p in parameters(runs) if p in where}
    ax.set_title("Dedup store size over time" + (f"\n{_where_text(swept)}" if swept else ""),
                 fontsize="medium")
    handles = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    if plateaus:
        handles.append(Line2D([], [], color="black", linestyle=":", linewidth=1.2,
                              label="TTL plateau: rate × window"))
    ax.legend(handles=handles, title=_axis_label(by) if by else None, fontsize="small",
              loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(True, alpha=0.3)
    return fig


def _ttl_store(group: pd.DataFrame, scenarios: Mapping[int, Scenario] | None) -> tuple[float, float] | None:
    """(insertion rate per s, window in s) of a line's TTL store, when every point of it agrees."""
    if scenarios is None:
        return None
    found = set()
    for point in sorted(set(group["point"].tolist())):
        scenario = scenarios.get(int(point))
        if scenario is None:
            return None
        dedup, sender = scenario.receiver.dedup, scenario.sender
        if dedup.kind != "ttl" or dedup.window is None or sender.rate is None:
            return None  # a closed-loop sender has no rate given in advance
        found.add((float(sender.rate) * sender.count, float(dedup.window)))
    return found.pop() if len(found) == 1 else None


def latency_cdf(runs: pd.DataFrame, latency: pd.DataFrame, *, by: str | None = None,
                where: Mapping[str, Any] | None = None, ax: Axes | None = None) -> Figure:
    """Empirical CDF of create-to-processed latency, one line per semantics (``by``).

    The samples are the traced messages of every run of a line, pooled; at-most-once
    lines cover the messages that were delivered. ``where`` holds other swept
    parameters fixed (default: at their values in the last point).
    """
    import numpy as np

    by = by if by is not None else _first_swept(runs, ("semantics", "receiver.dedup.kind"))
    vary = [by] if by else []
    where = dict(where) if where is not None else default_selection(runs, vary)
    _require(runs, [*vary, *where], "the latency CDF")
    fig, ax = _axes(ax, figsize=(7, 4.5), layout="constrained")
    chosen = _select(_ok(runs), where)
    keyed = latency.set_index(["point", "replication"])["latency_s"]
    for index, (label, group) in enumerate(_groups(chosen, vary)):
        keys = list(zip(group["point"].tolist(), group["replication"].tolist()))
        present = [k for k in keys if k in keyed.index]
        if not present:
            continue
        samples = np.sort(keyed.loc[present].to_numpy(dtype=float), kind="stable")
        fraction = np.arange(1, len(samples) + 1) / len(samples)
        ax.step(samples, fraction, where="post", label=label, linestyle=_style(index)["linestyle"])
    if len(latency) and float(latency["latency_s"].min()) > 0:
        ax.set_xscale("log")
    ax.set_xlabel("latency from create to processed (s)")
    ax.set_ylabel("fraction of messages")
    ax.set_ylim(0, 1.02)
    ax.set_title("Latency CDF of processed messages" + (f"\n{_where_text(where)}" if where else ""),
                 fontsize="medium")
    ax.legend(title=by or None, fontsize="small", loc="lower right")
    ax.grid(True, alpha=0.3)
    return fig


def loss_duplicates_tradeoff(runs: pd.DataFrame, *, lines: Sequence[str] | None = None,
                             loss: str = "lost_per_message",
                             duplicates: str = "duplicate_processing_per_message",
                             ax: Axes | None = None) -> Figure:
    """Messages lost against duplicates processed, per message: one marker per sweep
    point (95 % CI bars both ways), one line per semantics.

    Each marker is labelled with the values of the other swept parameters
    (``ack loss 0.2``). Points of a line that coincide -- at-most-once loses
    the same messages whatever the ack loss, since it never waits for an ack
    -- share one marker and one label that lists them all.
    """
    from alosim.store import aggregate, parameters

    params = parameters(runs)
    if lines is None:
        lines = ["semantics"] if "semantics" in params else params[:1]
    _require(runs, [loss, duplicates, *lines], "the loss/duplicate trade-off")
    fig, ax = _axes(ax, figsize=(7, 4.5), layout="constrained")
    agg = aggregate(runs, [loss, duplicates])
    others = [p for p in params if p not in lines]
    mid = float(agg[f"{loss}_mean"].min() + agg[f"{loss}_mean"].max()) / 2 if len(agg) else 0.0
    for index, (label, group) in enumerate(_groups(agg, lines)):
        x, left, right = _error_lengths(group, loss)
        y, down, up = _error_lengths(group, duplicates)
        bars = ax.errorbar(x, y, xerr=[left, right], yerr=[down, up], label=label, capsize=3,
                           marker=_style(index)["marker"], linestyle=":")
        color = bars.lines[0].get_color()
        for (px, py), rows in _coinciding(x, y, group[others].to_dict("records") if others else []):
            # Beside the marker, towards the middle of the plot; lines that share a place
            # (zero losses, zero duplicates) get their labels a line apart.
            side = 1 if px <= mid else -1
            text = ax.annotate(_point_text(others, rows), (px, py), xytext=(7 * side, 9 * (index - 1)),
                               textcoords="offset points", ha="left" if side > 0 else "right",
                               va="center", fontsize="x-small", color=color, gid=f"point label {label}")
            text.set_in_layout(False)
    ax.set_xlabel("messages lost per message" if loss == "lost_per_message" else loss.replace("_", " "))
    ax.set_ylabel("duplicate processing per message" if duplicates == "duplicate_processing_per_message"
                  else duplicates.replace("_", " "))
    ax.set_title("Losses against duplicates" + (f", per {', '.join(lines)}" if lines else ""))
    ax.legend(title=_legend_title(lines), fontsize="small")
    ax.grid(True, alpha=0.3)
    return fig


# What a point label calls a swept parameter (else the last part of its path).
_SHORT_NAMES = {"network.ack.loss": "ack loss", "network.data.loss": "data loss"}


def _coinciding(x: Any, y: Any, rows: list[dict[str, Any]]) -> list[tuple[tuple[float, float], list[dict[str, Any]]]]:
    """The distinct (x, y) of a line in order of first appearance, each with the rows there."""
    import math

    places: list[tuple[tuple[float, float], list[dict[str, Any]]]] = []
    for i, (px, py) in enumerate(zip(x.tolist(), y.tolist())):
        for (qx, qy), members in places:
            if math.isclose(px, qx, rel_tol=1e-9, abs_tol=1e-12) and math.isclose(
                    py, qy, rel_tol=1e-9, abs_tol=1e-12):
                members.append(rows[i] if rows else {})
                break
        else:
            places.append(((px, py), [rows[i] if rows else {}]))
    return [place for place in places if rows]


def _point_text(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """``ack loss 0.2``; for points that coincide, ``ack loss 0, 0.2, 0.4 (one point)``."""
    def name(column: str) -> str:
        return _SHORT_NAMES.get(column, column.rsplit(".", 1)[-1])

    if len(columns) == 1:
        values = ", ".join(_value_text(columns[0], row[columns[0]]) for row in rows)
        text = f"{name(columns[0])} {values}"
    else:
        text = "; ".join(", ".join(f"{name(c)} {_value_text(c, row[c])}" for c in columns) for row in rows)
    return text + (" (one point)" if len(rows) > 1 else "")


def _parameters(runs: pd.DataFrame) -> list[str]:
    from alosim.store import parameters

    return parameters(runs)


def _first_swept(runs: pd.DataFrame, candidates: Sequence[str]) -> str | None:
    params = _parameters(runs)
    return next((c for c in candidates if c in params), None)


# -- overload: goodput against offered load ------------------------------------------


def _fixed_point_loads(scenarios: Mapping[int, Scenario] | None) -> list[tuple[float, float, float]]:
    """(collapse rate per sender, mu, T) for each distinct fixed-timeout, one-worker,
    exponential, no-dedup configuration among the sweep's points."""
    from alosim.dists import Constant, Exponential

    found: dict[tuple[float, float, int], None] = {}
    for sc in (scenarios or {}).values():
        retry = sc.sender.retry
        data, ack = sc.network.data.latency, sc.network.ack.latency
        if (sc.broker is not None or sc.receiver.count != 1 or sc.receiver.workers != 1
                or not isinstance(sc.receiver.processing, Exponential) or retry.policy != "fixed"
                or retry.jitter != "none" or retry.max_attempts is not None
                or sc.receiver.dedup.kind != "none" or sc.receiver.dedup_on_arrival
                or sc.receiver.discard_expired or sc.receiver.queue.lifo_above is not None
                or sc.receiver.queue.capacity is not None
                or sc.sender.retry_budget is not None or sc.sender.circuit_breaker is not None
                or not isinstance(data, Constant) or not isinstance(ack, Constant)):
            continue
        timeout = retry.timeout - data.value - ack.value
        if timeout > 0:
            found[(1.0 / sc.receiver.processing.mean, timeout, sc.sender.count)] = None
    from alosim.analytic import collapse_load

    return [(collapse_load(mu, t) * mu / count, mu, t) for mu, t, count in found]


def collapse(runs: pd.DataFrame, *, scenarios: Mapping[int, Scenario] | None = None,
             ax: Axes | None = None) -> Figure:
    """Goodput against ``sender.rate``, one line per other swept parameter combination (the
    retry policy), with goodput = offered load and, for the points with a fixed timeout on one
    exponential worker, the load where the retry-amplification fixed point stops existing
    (:func:`alosim.analytic.collapse_load`) as a vertical line."""
    x = "sender.rate"
    fig = metric_against_parameter(runs, x, "goodput_per_s", ax=ax)
    axis = fig.axes[0] if ax is None else ax
    rates = sorted(float(r) for r in runs[x].dropna().unique())
    if rates:
        axis.plot(rates, rates, color="black", linewidth=0.8, alpha=0.5, label="goodput = offered load")
    for rate, mu, timeout in _fixed_point_loads(scenarios):
        axis.axvline(rate, color="tab:red", linestyle=":",
                     label=f"fixed-point collapse {rate:.3g}/s (mu = {mu:g}/s, T = {timeout:g} s)")
    axis.set_xlabel(_axis_label(x) + " (offered messages/s)")
    axis.set_ylabel("goodput (unique messages processed/s)")
    axis.set_title("Goodput against offered load")
    handles, labels = axis.get_legend_handles_labels()
    axis.legend(handles, [_short(label) for label in labels], fontsize="small",
                loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=1)
    return fig


def _short(label: str) -> str:
    """A line's label without the dotted prefixes, the unlimited attempts (nan), sections
    left out (nan) and flags that are off; a retry budget and dedup on arrival in words."""
    import json
    import re

    parts = re.split(r", (?=[A-Za-z_][\w.]*=)", label)
    kept = [p for p in parts if not (p.endswith("=nan") or p.endswith("=False"))] or parts
    out = []
    for part in kept:
        path, _, value = part.partition("=")
        if path == "sender.retry_budget" and value.startswith("{"):
            try:
                budget = json.loads(value)
                part = f"retry budget {budget['ratio']:g} (burst {budget['burst']:g})"
            except (ValueError, KeyError, TypeError):
                part = f"retry budget {value}"
        elif part == "receiver.dedup_on_arrival=True":
            part = "dedup on arrival"
        else:
            part = part.replace("sender.retry.", "").replace("semantics=", "")
        out.append(part.replace("max_attempts=1", "one attempt"))
    return ", ".join(out)


def _collapse_unfit_reason(data: SweepData) -> str | None:
    """Why the collapse plot does not fit ``data`` (None when it does)."""
    if "sender.rate" not in data.parameters:
        return "needs sender.rate in the sweep"
    if "goodput_per_s" not in data.runs.columns:
        return "the runs have no goodput_per_s column (stored by an older alosim?)"
    return None


# -- which plots fit a sweep ---------------------------------------------------------


def unfit_reason(kind: str, data: SweepData) -> str | None:
    """Why plot ``kind`` does not fit the sweep ``data`` (None when it does)."""
    params = list(data.parameters)
    if kind not in PLOT_KINDS:
        raise ValueError(f"unknown plot kind {kind!r}; expected one of: {', '.join(PLOT_KINDS)}")
    if not len(_ok(data.runs)):
        return "no run of the sweep succeeded"
    if kind == "duplicates":
        return None if "network.ack.loss" in params else "needs network.ack.loss in the sweep"
    if kind == "store":
        if not len(data.series):
            return "no time series stored"
        if not any(p in params for p in _STRATEGY_PARAMETERS):
            return f"needs {' or '.join(_STRATEGY_PARAMETERS)} in the sweep"
        return None
    if kind == "escapes":
        if not any(p in params for p in _WINDOW_PARAMETERS):
            return f"needs {' or '.join(_WINDOW_PARAMETERS)} in the sweep"
        return None
    if kind == "latency":
        return None if len(data.latency) else ("no latency samples: set observe.trace_messages "
                                               "to record the latency of the first N messages of each run")
    if kind == "commit-interval":
        if "consumer.commit.interval" not in params or "duplicates_per_consumer_crash" not in data.runs:
            return "needs consumer.commit.interval in the sweep of a log pipeline"
        scenarios = point_scenarios(data)
        if not scenarios:
            return "needs the sweep folder's scenario.yaml (for the rate of lambda T / 2)"
        from alosim.plots.log import consumer_rate_per_s

        if consumer_rate_per_s(next(iter(scenarios.values()))) is None:
            return "needs a fixed sender rate (for lambda T / 2)"
        return None
    if kind == "collapse":
        return _collapse_unfit_reason(data)
    return None if "semantics" in params else "needs semantics in the sweep"


def keep_zero_visible(fig: Figure) -> Figure:
    """Start every linear y axis a little below zero, so that a line at zero is not hidden
    by the axis itself (several semantics share zero duplicates, zero store entries)."""
    for ax in fig.axes:
        if ax.get_yscale() != "linear":
            continue
        low, high = ax.get_ylim()
        if low >= 0 and high > 0:
            ax.set_ylim(bottom=-0.03 * high)
    return fig


def sweep_figure(kind: str, data: SweepData) -> Figure:
    """The plot ``kind`` of a sweep, with the choices that fit its parameters (every linear
    y axis starting a little below zero: :func:`keep_zero_visible`), titled with the sweep's
    scenario and variant (``overload-collapse [workers=2]``) when the sweep knows them."""
    from alosim.fieldunits import variant_title

    fig = keep_zero_visible(_sweep_figure(kind, data))
    if data.name:
        fig.suptitle(variant_title(data.name, data.variant), fontsize=11)
    return fig


def _sweep_figure(kind: str, data: SweepData) -> Figure:
    from alosim.store import ResultsError

    reason = unfit_reason(kind, data)
    if reason:
        raise ResultsError(f"plot {kind!r} does not fit this sweep: {reason}")
    runs = data.runs
    if kind == "duplicates":
        return duplicates_vs_ack_loss(runs, scenarios=point_scenarios(data))
    if kind == "store":
        return store_size_over_time(runs, data.series, scenarios=point_scenarios(data))
    if kind == "escapes":
        window = next(p for p in _WINDOW_PARAMETERS if p in data.parameters)
        return escapes_vs_window(runs, window=window)
    if kind == "latency":
        return latency_cdf(runs, data.latency)
    if kind == "commit-interval":
        from alosim.plots.log import commit_interval_sweep, consumer_rate_per_s

        scenarios = point_scenarios(data)
        assert scenarios  # unfit_reason said so
        rate = consumer_rate_per_s(next(iter(scenarios.values())))
        assert rate is not None
        if "consumer.commit.policy" not in runs:
            runs = runs.assign(**{"consumer.commit.policy": "interval"})
        return commit_interval_sweep(runs, rate)
    if kind == "collapse":
        return collapse(_ok(runs), scenarios=point_scenarios(data))
    return loss_duplicates_tradeoff(runs)


def write_sweep_plots(data: SweepData, folder: str | Path,
                      kinds: Sequence[str] | None = None) -> list[Path]:
    """Draw ``kinds`` (default: every kind that fits) as PNG and SVG in ``folder``."""
    kinds = list(kinds) if kinds else [k for k in PLOT_KINDS if unfit_reason(k, data) is None]
    from alosim.files import check_writable, ensure_folder

    folder = ensure_folder(Path(folder))
    check_writable(folder)
    figures = {kind: sweep_figure(kind, data) for kind in kinds}
    written = []
    for kind, fig in figures.items():
        for suffix in (".png", ".svg"):
            path = folder / f"{kind}{suffix}"
            save(fig, path)
            written.append(path)
    return written
