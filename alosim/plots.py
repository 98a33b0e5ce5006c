"""Plots of run results. Each function takes ``ax=None`` and returns the figure.

Figures are saved with fixed metadata (no software version, no date, a fixed
SVG hash salt) so that identical results give identical bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


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
    """Save ``fig`` with metadata fixed, so that equal figures give equal files."""
    path = Path(path)
    if path.suffix == ".svg":
        import matplotlib

        with matplotlib.rc_context({"svg.hashsalt": "alosim"}):
            fig.savefig(path, metadata={"Date": None, "Creator": None})
    elif path.suffix == ".pdf":
        fig.savefig(path, metadata={"CreationDate": None, "Creator": None, "Producer": None})
    else:
        fig.savefig(path, dpi=100, metadata={"Software": None})
