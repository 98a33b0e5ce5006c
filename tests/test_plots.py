"""Comparison plots of sweeps: the data they draw, and the same bytes for the same results."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alosim import plots
from alosim.store import ResultsError, SweepData, load_sweep
from alosim.sweep import run_sweep
from tests.conftest import make


def run_table(rows: list[dict], params: list[str]) -> pd.DataFrame:
    """A run table as the store lays it out: point, parameters, replication, seed, measures, error."""
    frame = pd.DataFrame(rows)
    measures = [c for c in frame.columns if c not in ("point", "replication", *params)]
    frame["seed"] = frame["replication"]
    frame["error"] = ""
    return frame[["point", *params, "replication", "seed", *[m for m in measures if m != "seed"], "error"]]


SEMANTICS = ["at-most-once", "at-least-once", "exactly-once"]
LOSSES = [0.0, 0.2, 0.4]


@pytest.fixture
def semantics_runs() -> pd.DataFrame:
    """3 semantics x 3 ack losses x 2 replications with known values."""
    rows = []
    point = 0
    for s_index, semantics in enumerate(SEMANTICS):
        for loss in LOSSES:
            for r in range(2):
                noise = 0.01 if r else -0.01
                duplicates = loss / (1 - loss) + noise if semantics == "at-least-once" else 0.0
                rows.append({"point": point, "semantics": semantics, "network.ack.loss": loss,
                             "replication": r, "duplicate_processing_per_message": duplicates,
                             "lost_per_message": 0.05 + 0.01 * r if semantics == "at-most-once" else 0.0})
            point += 1
    return run_table(rows, ["semantics", "network.ack.loss"])


def errorbars(ax) -> dict[str, object]:
    return {c.get_label(): c for c in ax.containers}


def test_duplicates_plot_draws_means_intervals_and_the_closed_form(semantics_runs):
    fig = plots.duplicates_vs_ack_loss(semantics_runs)
    ax = fig.axes[0]
    bars = errorbars(ax)
    assert list(bars) == SEMANTICS  # one line per semantics, in sweep order
    line = bars["at-least-once"].lines[0]
    assert list(line.get_xdata()) == LOSSES
    assert np.allclose(line.get_ydata(), [0.0, 0.25, 0.4 / 0.6])
    # The 95 % interval of two values x +- 0.01 is mean +- t(0.975, 1) * 0.01414 / sqrt(2).
    half = 12.706204736174698 * 0.01
    (segments,) = [c.get_segments() for c in bars["at-least-once"].lines[2]]
    assert np.allclose([s[1][1] - s[0][1] for s in segments], 2 * half)
    assert np.allclose(bars["exactly-once"].lines[0].get_ydata(), 0.0)
    (closed,) = [ln for ln in ax.lines if ln.get_label().startswith("closed form")]
    p = closed.get_xdata()
    assert p[0] == 0.0 and p[-1] == 0.4 and len(p) == 101
    assert np.allclose(closed.get_ydata(), p / (1 - p))
    assert ax.get_legend().get_title().get_text() == "semantics"


def test_plots_draw_on_a_given_axes_and_return_its_figure(semantics_runs):
    from matplotlib.figure import Figure

    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert plots.duplicates_vs_ack_loss(semantics_runs, ax=right) is fig
    assert not left.lines and right.containers


def test_escapes_plot_has_a_line_per_retry_policy_against_the_window():
    rows = []
    point = 0
    for policy, jitter, scale in (("fixed", "none", 1.0), ("exponential", "full", 2.0)):
        for window in (1.6, 0.1, 0.4):  # drawn sorted by window
            rows.append({"point": point, "sender.retry.policy": policy, "sender.retry.jitter": jitter,
                         "receiver.dedup.window": window, "replication": 0,
                         "duplicate_processing_per_message": scale * (1.6 - window)})
            point += 1
    runs = run_table(rows, ["sender.retry.policy", "sender.retry.jitter", "receiver.dedup.window"])
    ax = plots.escapes_vs_window(runs).axes[0]
    bars = errorbars(ax)
    assert list(bars) == ["policy=fixed, jitter=none", "policy=exponential, jitter=full"]
    assert ax.get_legend().get_title().get_text() == "sender.retry"
    line = bars["policy=exponential, jitter=full"].lines[0]
    assert list(line.get_xdata()) == [0.1, 0.4, 1.6]
    assert np.allclose(line.get_ydata(), [3.0, 2.4, 0.0])
    assert ax.get_xlabel() == "receiver.dedup.window (s)"
    assert ax.get_xscale() == "log"  # windows spread over more than a decade


def test_store_plot_averages_replications_per_strategy_at_the_last_point():
    rows, series = [], []
    point = 0
    for loss in (0.1, 0.3):
        for kind in ("none", "set"):
            for r in range(2):
                rows.append({"point": point, "network.ack.loss": loss, "receiver.dedup.kind": kind,
                             "replication": r})
                times = [0.0, 1.0, 2.0] if r == 0 else [0.0, 1.0, 2.0, 3.0]
                growth = 0 if kind == "none" else (10 if r == 0 else 20) * (1 + 100 * (loss == 0.1))
                for t in times:
                    series.append({"point": point, "replication": r, "time_s": t,
                                   "dedup_entries": int(growth * t)})
            point += 1
    runs = run_table(rows, ["network.ack.loss", "receiver.dedup.kind"])
    ax = plots.store_size_over_time(runs, pd.DataFrame(series)).axes[0]
    lines = {ln.get_label(): ln for ln in ax.lines}
    assert list(lines) == ["none", "set"]
    # Replications end at 2 s and 3 s: the mean runs to the earlier end.
    assert list(lines["set"].get_xdata()) == [0.0, 1.0, 2.0]
    assert list(lines["set"].get_ydata()) == [0.0, 15.0, 30.0]  # loss 0.3, the last point's value
    assert list(lines["none"].get_ydata()) == [0.0, 0.0, 0.0]
    assert "network.ack.loss=0.3" in ax.get_title()
    chosen = plots.store_size_over_time(runs, pd.DataFrame(series), where={"network.ack.loss": 0.1})
    set_line = [ln for ln in chosen.axes[0].lines if ln.get_label() == "set"][0]
    assert list(set_line.get_ydata()) == [0.0, 1515.0, 3030.0]


def test_latency_cdf_pools_the_samples_of_each_semantics():
    rows = [{"point": i, "semantics": s, "replication": r}
            for i, s in enumerate(["at-most-once", "exactly-once"]) for r in range(2)]
    runs = run_table([{**row, "point": row["point"]} for row in rows], ["semantics"])
    latency = pd.DataFrame({
        "point": [0, 0, 0, 1, 1, 1, 1],
        "replication": [0, 0, 1, 0, 0, 1, 1],
        "latency_s": [0.03, 0.01, 0.02, 0.2, 0.01, 0.02, 0.01],
    })
    ax = plots.latency_cdf(runs, latency).axes[0]
    lines = {ln.get_label(): ln for ln in ax.lines}
    assert list(lines["at-most-once"].get_xdata()) == [0.01, 0.02, 0.03]
    assert np.allclose(lines["at-most-once"].get_ydata(), [1 / 3, 2 / 3, 1.0])
    assert list(lines["exactly-once"].get_xdata()) == [0.01, 0.01, 0.02, 0.2]
    assert np.allclose(lines["exactly-once"].get_ydata(), [0.25, 0.5, 0.75, 1.0])
    assert ax.get_xscale() == "log"


def test_tradeoff_puts_each_point_at_its_mean_loss_and_duplicates(semantics_runs):
    ax = plots.loss_duplicates_tradeoff(semantics_runs).axes[0]
    bars = errorbars(ax)
    amo = bars["at-most-once"].lines[0]
    assert np.allclose(amo.get_xdata(), [0.055] * 3) and np.allclose(amo.get_ydata(), 0.0)
    alo = bars["at-least-once"].lines[0]
    assert np.allclose(alo.get_xdata(), 0.0)
    assert np.allclose(alo.get_ydata(), [0.0, 0.25, 0.4 / 0.6])


def point_labels(ax, line: str) -> list[tuple[str, tuple[float, float]]]:
    return [(t.get_text(), tuple(t.xy)) for t in ax.texts if t.get_gid() == f"point label {line}"]


def test_tradeoff_labels_each_point_with_its_ack_loss_and_merges_those_that_coincide(semantics_runs):
    ax = plots.loss_duplicates_tradeoff(semantics_runs).axes[0]
    labels = point_labels(ax, "at-least-once")
    assert [text for text, _ in labels] == ["ack loss 0", "ack loss 0.2", "ack loss 0.4"]
    assert np.allclose([xy for _, xy in labels], [(0.0, 0.0), (0.0, 0.25), (0.0, 0.4 / 0.6)])
    # At-most-once loses the same whatever the ack loss: one marker, one label naming all three.
    ((text, xy),) = point_labels(ax, "at-most-once")
    assert text == "ack loss 0, 0.2, 0.4 (one point)" and np.allclose(xy, (0.055, 0.0))
    assert [t for t, _ in point_labels(ax, "exactly-once")] == ["ack loss 0, 0.2, 0.4 (one point)"]


def test_tradeoff_labels_name_every_other_swept_parameter():
    rows = [{"point": i, "semantics": "at-least-once", "network.ack.loss": a, "sender.retry.timeout": t,
             "replication": 0, "duplicate_processing_per_message": a + t, "lost_per_message": 0.0}
            for i, (a, t) in enumerate([(0.1, 0.2), (0.1, 0.4)])]
    runs = run_table(rows, ["semantics", "network.ack.loss", "sender.retry.timeout"])
    ax = plots.loss_duplicates_tradeoff(runs).axes[0]
    assert [t for t, _ in point_labels(ax, "at-least-once")] == [
        "ack loss 0.1, timeout 0.2 s", "ack loss 0.1, timeout 0.4 s"]


def test_growth_draws_store_entries_and_duplicates_in_separate_panels(tmp_path):
    series = pd.DataFrame({"time_s": [0.0, 1.0, 2.0], "dedup_entries": [0, 500, 900],
                           "duplicate_deliveries": [0, 3, 7], "duplicate_processing": [0, 1, 1]})
    fig = plots.store_growth(series, title="t")
    top, bottom = fig.axes
    assert [ln.get_label() for ln in top.lines] == ["dedup store entries"]
    assert list(top.lines[0].get_ydata()) == [0, 500, 900]
    assert [ln.get_label() for ln in bottom.lines] == ["duplicate deliveries", "duplicate processing"]
    assert [list(ln.get_ydata()) for ln in bottom.lines] == [[0, 3, 7], [0, 1, 1]]
    assert top.get_shared_x_axes().joined(top, bottom)  # one time axis, two scales
    assert (top.get_ylabel(), bottom.get_ylabel()) == ("store entries", "cumulative duplicates")
    for suffix in (".png", ".svg"):
        assert render(plots.store_growth(series, title="t"), suffix, tmp_path) == render(
            plots.store_growth(series, title="t"), suffix, tmp_path)


def scenario_of(semantics: str, **overrides: object):
    base = make("name: s\nseed: 1\nmessages: 10\nsender: {rate: 50/s, window: 8}\n", semantics=semantics)
    return base.with_overrides(overrides) if overrides else base


def test_the_duplicates_closed_form_is_drawn_only_for_the_lines_it_holds_for(semantics_runs):
    def closed_forms(scenarios):
        ax = plots.duplicates_vs_ack_loss(semantics_runs, scenarios=scenarios).axes[0]
        return {ln.get_gid(): ln for ln in ax.lines if (ln.get_gid() or "").startswith("closed form")}

    points = {int(p): s for p, s in semantics_runs[["point", "semantics"]].drop_duplicates().values}
    # At-least-once retries until acked: p_a / (1 - p_a). At-most-once sends once (no
    # duplicate to compare with); exactly-once deduplicates.
    found = closed_forms({p: scenario_of(s) for p, s in points.items()})
    assert list(found) == ["closed form at-least-once"]
    p = found["closed form at-least-once"].get_xdata()
    assert np.allclose(found["closed form at-least-once"].get_ydata(), p / (1 - p))
    # At most 3 attempts and no dedup on the last two lines: the finite form, p_a + p_a^2 at p_d = 0.
    capped = {p: scenario_of("at-most-once") if s == "at-most-once" else
              scenario_of("at-least-once", **{"sender.retry.max_attempts": 3}) for p, s in points.items()}
    found = closed_forms(capped)
    assert sorted(found) == ["closed form at-least-once", "closed form exactly-once"]
    for line in found.values():
        x = line.get_xdata()
        assert np.allclose(line.get_ydata(), x + x**2)
        assert "at most 3 attempts" in line.get_label()
    # Bursty losses or a duplicating network: the formula does not hold, nothing is drawn.
    bursty = {p: scenario_of(s, **{"network.data.loss": {"model": "gilbert-elliott", "p": 0.01, "r": 0.3}})
              for p, s in points.items()}
    assert closed_forms(bursty) == {}
    doubling = {p: scenario_of(s, **{"network.data.duplicate": 0.01}) for p, s in points.items()}
    assert closed_forms(doubling) == {}
    # Without scenarios: the at-least-once preset only.
    assert list(closed_forms(None)) == ["closed form at-least-once"]


def ttl_runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, series = [], []
    for point, window in enumerate((0.5, 2.0)):
        rows.append({"point": point, "receiver.dedup.window": window, "replication": 0})
        for t in (0.0, 1.0, 2.0, 3.0, 4.0):
            series.append({"point": point, "replication": 0, "time_s": t,
                           "dedup_entries": int(100 * min(t, window))})
    return run_table(rows, ["receiver.dedup.window"]), pd.DataFrame(series)


def test_store_legend_gives_windows_in_seconds_and_ttl_lines_their_plateau():
    runs, series = ttl_runs()
    scenarios = {p: scenario_of("exactly-once", **{"receiver.dedup.kind": "ttl", "receiver.dedup.window": w,
                                                   "sender.count": 2})
                 for p, w in enumerate((0.5, 2.0))}
    ax = plots.store_size_over_time(runs, series, scenarios=scenarios).axes[0]
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "receiver.dedup.window (s)"
    assert [t.get_text() for t in legend.get_texts()] == ["0.5 s", "2 s", "TTL plateau: rate × window"]
    plateaus = {ln.get_gid(): ln for ln in ax.lines if (ln.get_gid() or "").startswith("plateau")}
    # Two senders at 50/s each: 100 ids per second, kept 0.5 s and 2 s.
    assert list(plateaus["plateau 0.5 s"].get_ydata()) == [50.0, 50.0]
    assert list(plateaus["plateau 2 s"].get_ydata()) == [200.0, 200.0]
    assert list(plateaus["plateau 2 s"].get_xdata()) == [2.0, 4.0]  # from one window in to the end
    lines = {ln.get_label(): ln for ln in ax.lines}
    assert plateaus["plateau 2 s"].get_color() == lines["2 s"].get_color()


def test_no_plateau_without_a_ttl_store_or_a_known_rate():
    runs, series = ttl_runs()
    def plateaus(scenarios):
        ax = plots.store_size_over_time(runs, series, scenarios=scenarios).axes[0]
        assert "TTL plateau" not in [t.get_text() for t in ax.get_legend().get_texts()]
        return [ln for ln in ax.lines if (ln.get_gid() or "").startswith("plateau")]

    assert plateaus(None) == []
    lru = {p: scenario_of("exactly-once", **{"receiver.dedup.kind": "lru", "receiver.dedup.capacity": 10})
           for p in (0, 1)}
    assert plateaus(lru) == []
    closed_loop = {p: scenario_of("exactly-once", **{"receiver.dedup.kind": "ttl", "receiver.dedup.window": 1.0,
                                                     "sender.rate": None}) for p in (0, 1)}
    assert plateaus(closed_loop) == []


def test_failed_runs_are_left_out_of_the_plotted_data(semantics_runs):
    runs = semantics_runs.copy()
    failed = (runs["point"] == 4) & (runs["replication"] == 0)  # at-least-once, ack loss 0.2
    runs.loc[failed, "duplicate_processing_per_message"] = 99.0
    runs.loc[failed, "error"] = "RuntimeError: boom"
    line = errorbars(plots.duplicates_vs_ack_loss(runs).axes[0])["at-least-once"].lines[0]
    assert line.get_ydata()[1] == pytest.approx(0.26)  # replication 1 alone


def test_a_missing_column_is_a_clear_error(semantics_runs):
    with pytest.raises(ResultsError, match="no column 'receiver.dedup.window'"):
        plots.escapes_vs_window(semantics_runs)


# -- choosing and saving plots of a stored sweep --------------------------------------------

SWEEP = """
name: plot-sweep
seed: 4
messages: 300
sender: {window: 16, retry: {timeout: 200ms}}
network:
  data: {loss: 0.05, latency: {dist: exponential, mean: 10ms}}
  ack: {loss: 0.1, latency: {dist: exponential, mean: 10ms}}
observe: {sample_every: 200ms, trace_messages: 60}
sweep:
  grid:
    semantics: [at-most-once, at-least-once, exactly-once]
    network.ack.loss: [0.0, 0.25]
  replications: 2
"""


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> SweepData:
    return load_sweep(run_sweep(make(SWEEP), out=tmp_path_factory.mktemp("a")).folder)


def test_the_plots_that_fit_a_sweep_and_why_others_do_not(stored):
    assert [k for k in plots.PLOT_KINDS if plots.unfit_reason(k, stored) is None] == [
        "duplicates", "store", "latency", "tradeoff"]
    assert "receiver.dedup.window" in plots.unfit_reason("escapes", stored)
    untraced = SweepData(stored.folder, stored.parameters, stored.runs, stored.series,
                         stored.latency.iloc[0:0], stored.timings)
    assert "observe.trace_messages" in plots.unfit_reason("latency", untraced)
    with pytest.raises(ResultsError, match="plot 'escapes' does not fit"):
        plots.sweep_figure("escapes", stored)


def test_a_stored_sweep_expands_again_into_its_points(stored):
    """The folder's scenario.yaml rebuilds every point, at-most-once included: the
    resolved form would carry the at-least-once preset's max_attempts into it."""
    scenarios = plots.point_scenarios(stored)
    assert scenarios is not None and sorted(scenarios) == list(range(6))
    by_semantics = {s.semantics: s.sender.retry.max_attempts for s in scenarios.values()}
    assert by_semantics == {"at-most-once": 1, "at-least-once": None, "exactly-once": None}


def test_a_stored_sweep_plots_what_its_table_holds(stored):
    ax = plots.sweep_figure("duplicates", stored).axes[0]
    runs = stored.runs
    alo = runs[runs["semantics"] == "at-least-once"]
    expected = alo.groupby("network.ack.loss")["duplicate_processing_per_message"].mean()
    line = errorbars(ax)["at-least-once"].lines[0]
    assert list(line.get_xdata()) == [0.0, 0.25]
    assert np.allclose(line.get_ydata(), expected.to_numpy())
    store = {ln.get_label(): ln for ln in plots.sweep_figure("store", stored).axes[0].lines}
    assert np.all(store["at-least-once"].get_ydata() == 0)  # no store
    # Exactly-once at the last ack loss: the mean of its two replications' series.
    last = runs[(runs["semantics"] == "exactly-once") & (runs["network.ack.loss"] == 0.25)]
    point = int(last["point"].iloc[0])
    series = [s for _, s in stored.series[stored.series["point"] == point].groupby("replication")]
    end = min(s["time_s"].max() for s in series)
    times = np.unique(np.concatenate([s["time_s"] for s in series]))
    times = times[times <= end]
    mean = np.mean([np.interp(times, s["time_s"], s["dedup_entries"]) for s in series], axis=0)
    assert list(store["exactly-once"].get_xdata()) == list(times)
    assert list(store["exactly-once"].get_ydata()) == list(mean)
    assert 290 < mean[-1] <= 300  # about one entry per message by then
    ax = plots.sweep_figure("duplicates", stored).axes[0]
    assert [ln.get_gid() for ln in ax.lines if (ln.get_gid() or "").startswith("closed form")] == [
        "closed form at-least-once"]


def render(fig, suffix: str, tmp_path: Path) -> bytes:
    path = tmp_path / f"figure{suffix}"
    plots.save(fig, path)
    return path.read_bytes()


def test_identical_results_give_identical_png_and_svg_bytes(stored, tmp_path_factory, tmp_path):
    again = load_sweep(run_sweep(make(SWEEP), out=tmp_path_factory.mktemp("b")).folder)
    first = plots.write_sweep_plots(stored, tmp_path / "one")
    second = plots.write_sweep_plots(again, tmp_path / "two")
    assert [p.name for p in first] == [p.name for p in second] and len(first) == 8
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
    # ...and different results give different bytes.
    changed = stored.runs.copy()
    changed.loc[changed["semantics"] == "at-least-once", "duplicate_processing_per_message"] *= 1.5
    for suffix in (".png", ".svg"):
        assert render(plots.duplicates_vs_ack_loss(changed), suffix, tmp_path) != render(
            plots.duplicates_vs_ack_loss(stored.runs), suffix, tmp_path)


def test_plot_command_draws_what_fits_and_explains_what_does_not(stored, tmp_path):
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "alosim", "plot", *args], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)

    p = cli(str(stored.folder), "--kind", "tradeoff", "--kind", "duplicates", "--out", str(tmp_path / "p"))
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in (tmp_path / "p").iterdir()) == [
        "duplicates.png", "duplicates.svg", "tradeoff.png", "tradeoff.svg"]
    with io.BytesIO() as buffer:
        drawn = plots.sweep_figure("duplicates", stored)  # the library's picture, titled with the scenario
        assert drawn._suptitle.get_text() == "plot-sweep"
        drawn.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
        assert buffer.getvalue() == (tmp_path / "p" / "duplicates.png").read_bytes()
    p = cli(str(stored.folder), "--kind", "escapes")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "plot 'escapes' does not fit this sweep: needs receiver.dedup.window" in p.stderr
