"""``alosim run`` prints a pipeline per hop, and a result keeps the pipeline's series."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from alosim.cli import cli
from alosim.observe.pipeline import PIPELINE_SERIES
from alosim.scenario import parse_scenario
from alosim.simulate import simulate

SCENARIO = """
name: pipe
messages: 20
broker: {visibility_timeout: 1s}
consumer: {processing: {dist: constant, value: 1.5}, concurrency: 100}
network: {consume: {data: {latency: {dist: constant, value: 0}}, ack: {latency: {dist: constant, value: 0}}}}
"""


def test_run_prints_each_hop_and_the_duplicates_by_hop_and_cause(tmp_path: Path) -> None:
    path = tmp_path / "pipe.yaml"
    path.write_text(SCENARIO)
    result = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "out")])
    assert "publish hop (producer -> broker)" in result.output
    assert "consume hop (broker -> consumers)" in result.output
    line = next(l for l in result.output.splitlines() if "consume: lease expired" in l)
    assert line.split()[-1] == "20"  # 1.5 s of processing outlasts every 1 s lease once
    assert "duplicates_consume" not in result.output
    series = next((tmp_path / "out" / "pipe").glob("seed-*/timeseries.csv")).read_text()
    assert "broker_ready,broker_in_flight,dlq_size" in series.splitlines()[0]


def test_the_pipeline_series_are_sampled_with_the_others() -> None:
    result = simulate(parse_scenario(SCENARIO))
    lengths = {len(result.series[name]) for name in ("time_s", *PIPELINE_SERIES)}
    assert len(lengths) == 1
    assert max(result.series["broker_in_flight"]) >= 1
