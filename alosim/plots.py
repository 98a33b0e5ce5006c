"""Plots of run results. Each function takes ``ax=None`` and returns the figure.

Figures are saved with fixed metadata (no software version, no date, a fixed
SVG hash salt) so that identical results give identical bytes.

The comparison plots of a sweep (below :data:`PLOT_KINDS`) draw the mean over
replications with its 95 % confidence interval, from the tables of
:mod:`alosim.store`; :func:`unfit_reason` says which of them a sweep's
parameters can feed, and :func:`write_sweep_plots` saves them as PNG and SVG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from alosim.store import SweepData


def _axes(ax: Axes | None, **fig_kw: Any) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    from matplotlib.figure import Figure

    fig = Figure(**fig_kw)
    return fig, fig.add_subplot()


def store_growth(series: pd.DataFrame, *, title: str = "", ax: Axes | None = None) -> Figure:
    """Dedup store entries (left axis) and cumulative duplicate deliveries and
    duplicate processing (right axis) against simulated time."""
    fig, ax = _axes(ax, figsize=(7, 4), layout="constrained")
    t = series["time_s"]
    ax.plot(t, series["dedup_entries"], color="tab:blue", label="dedup store entries")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("dedup store entries", color="tab:blue")
    right = ax.twinx()
    right.plot(t, series["duplicate_deliveries"], color="tab:red", label="duplicate deliveries")
    right.plot(t, series["duplicate_processing"], color="tab:orange", linestyle="--",
               label="duplicate processing")
    right.set_ylabel("cumulative duplicates", color="tab:red")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize="small")
    ax.set_title(title or "Dedup store growth and duplicates over time")
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
            fig.savefig(tmp, format=suffix[1:] or "png", dpi=100, metadata={"Software": None})
    write_atomic(path, write)


# -- comparison plots of a sweep ----------------------------------------------------
#
# These take the tables of alosim.store (the run table, and the series or
# latency table keyed by point and replication) and draw means over
# replications with their 95 % confidence intervals. Lines are drawn in the
# order of their first sweep point, so equal tables give equal figures.

PLOT_KINDS: tuple[str, ...] = ("duplicates", "store", "escapes", "latency", "tradeoff")

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


def _axis_label(path: str) -> str:
    seconds = path in _DURATION_PATHS or path.rsplit(".", 1)[-1].endswith("timeout")
    return f"{path} (s)" if seconds else path


def _label(columns: Sequence[str], values: Sequence[Any]) -> str:
    if not columns:
        return "all runs"
    if len(columns) == 1:
        return str(values[0])
    prefix = _common_prefix(columns)
    return ", ".join(f"{c[len(prefix):]}={v}" for c, v in zip(columns, values))


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

    keep = np.ones(len(runs), dtype=bool)
    for column, value in where.items():
        keep &= (runs[column] == value).to_numpy(dtype=bool)
    return runs[keep]


def default_selection(runs: pd.DataFrame, vary: Sequence[str]) -> dict[str, Any]:
    """Every swept parameter not in ``vary`` held at its value in the last point."""
    from alosim.store import parameters

    last = runs.sort_values("point", kind="stable").iloc[-1] if len(runs) else None
    return {p: last[p] for p in parameters(runs) if p not in vary and last is not None}


def _where_text(where: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in where.items())


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
                           lines: Sequence[str] | None = None, ax: Axes | None = None) -> Figure:
    """Duplicates per message against ack loss, one line per semantics, with the
    closed form p_a / (1 - p_a) drawn over it.

    The closed form holds for retries until acked, a timeout well above the
    round trip and no deduplication: at-least-once. Exactly-once processes no
    duplicate (the store catches them) and at-most-once never resends.
    """
    import numpy as np

    from alosim.analytic import duplicates_per_message

    fig = metric_against_parameter(runs, x, metric, lines=lines, ax=ax)
    ax = fig.axes[0] if ax is None else ax
    losses = runs[x].to_numpy(dtype=float)
    p = np.linspace(float(losses.min()), float(losses.max()), 101)
    p = p[p < 1]
    closed = np.array([duplicates_per_message(0.0, float(v)) for v in p])
    ax.plot(p, closed, color="black", linestyle="--", linewidth=1,
            label="closed form $p_a/(1-p_a)$ (retry until acked, no dedup)")
    ax.set_xlabel("ack loss probability $p_a$" if x == "network.ack.loss" else _axis_label(x))
    ax.set_ylabel("duplicate processing per message" if metric == "duplicate_processing_per_message"
                  else metric.replace("_", " "))
    ax.set_title("Duplicates per message against ack loss")
    ax.legend(title=_legend_title(_lines_besides(runs, x, lines)), fontsize="small")
    return fig


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
                         ax: Axes | None = None) -> Figure:
    """Dedup store size against simulated time, one line per strategy (value of ``by``).

    Each line is the mean over the runs of its strategy (its replications),
    each run's series interpolated onto the sampling times of all of them up
    to the earliest end. ``where`` holds other swept parameters fixed
    (default: at their values in the last point).
    """
    import numpy as np

    from alosim.store import parameters

    by = by if by is not None else _first_swept(runs, _STRATEGY_PARAMETERS)
    vary = [by] if by else []
    where = dict(where) if where is not None else default_selection(runs, vary)
    _require(runs, [*vary, *where], "the store size over time")
    fig, ax = _axes(ax, figsize=(7, 4.5), layout="constrained")
    chosen = _select(_ok(runs), where)
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
        ax.plot(grid, np.mean(values, axis=0), label=label, linestyle=_style(index)["linestyle"])
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(column.replace("_", " "))
    swept = {p: where[p] for p in parameters(runs) if p in where}
    ax.set_title("Dedup store size over time" + (f"\n{_where_text(swept)}" if swept else ""),
                 fontsize="medium")
    ax.legend(title=by or None, fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(True, alpha=0.3)
    return fig


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
    point (95 % CI bars both ways), one line per semantics."""
    from alosim.store import aggregate, parameters

    if lines is None:
        params = parameters(runs)
        lines = ["semantics"] if "semantics" in params else params[:1]
    _require(runs, [loss, duplicates, *lines], "the loss/duplicate trade-off")
    fig, ax = _axes(ax, figsize=(7, 4.5), layout="constrained")
    agg = aggregate(runs, [loss, duplicates])
    for index, (label, group) in enumerate(_groups(agg, lines)):
        x, left, right = _error_lengths(group, loss)
        y, down, up = _error_lengths(group, duplicates)
        ax.errorbar(x, y, xerr=[left, right], yerr=[down, up], label=label, capsize=3,
                    marker=_style(index)["marker"], linestyle=":")
    ax.set_xlabel("messages lost per message" if loss == "lost_per_message" else loss.replace("_", " "))
    ax.set_ylabel("duplicate processing per message" if duplicates == "duplicate_processing_per_message"
                  else duplicates.replace("_", " "))
    ax.set_title("Losses against duplicates" + (f", per {', '.join(lines)}" if lines else ""))
    ax.legend(title=_legend_title(lines), fontsize="small")
    ax.grid(True, alpha=0.3)
    return fig


def _parameters(runs: pd.DataFrame) -> list[str]:
    from alosim.store import parameters

    return parameters(runs)


def _first_swept(runs: pd.DataFrame, candidates: Sequence[str]) -> str | None:
    params = _parameters(runs)
    return next((c for c in candidates if c in params), None)


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
    return None if "semantics" in params else "needs semantics in the sweep"


def sweep_figure(kind: str, data: SweepData) -> Figure:
    """The plot ``kind`` of a sweep, with the choices that fit its parameters."""
    from alosim.store import ResultsError

    reason = unfit_reason(kind, data)
    if reason:
        raise ResultsError(f"plot {kind!r} does not fit this sweep: {reason}")
    runs = data.runs
    if kind == "duplicates":
        return duplicates_vs_ack_loss(runs)
    if kind == "store":
        return store_size_over_time(runs, data.series)
    if kind == "escapes":
        window = next(p for p in _WINDOW_PARAMETERS if p in data.parameters)
        return escapes_vs_window(runs, window=window)
    if kind == "latency":
        return latency_cdf(runs, data.latency)
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
