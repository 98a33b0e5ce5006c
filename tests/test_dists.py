import math

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from alosim.dists import (Constant, Distribution, Empirical, Exponential, LogNormal, Mixture, Pareto,
                          Uniform)

adapter = TypeAdapter(Distribution)


def test_read_from_scenario_form_with_units():
    d = adapter.validate_python({"dist": "exponential", "mean": "20ms"})
    assert isinstance(d, Exponential)
    assert d.mean == pytest.approx(0.02)
    assert repr(d) == "Exponential(mean_s=0.02)"


@pytest.mark.parametrize(
    "dist",
    [
        Constant(value=0.01),
        Uniform(low=0.005, high=0.015),
        Exponential(mean=0.02),
        LogNormal(mean=0.02, sigma=0.5),
        Pareto(mean=0.02, shape=3.5),
    ],
)
def test_sample_mean_and_variance_match_exact_moments(dist):
    n = 400_000
    x = dist.sample(np.random.default_rng(42), n)
    assert x.min() >= 0
    # 99.9% interval for the mean from the exact variance (CLT).
    half = 3.29 * math.sqrt(dist.variance / n)
    assert abs(x.mean() - dist.mean) <= half + 1e-15
    if dist.variance > 0:
        # Sample variance within 10% (fourth moments are finite for all of these).
        assert x.var() == pytest.approx(dist.variance, rel=0.1)


def test_pareto_has_its_scale_as_minimum_and_infinite_variance_when_heavy():
    p = Pareto(mean=1.0, shape=1.5)
    assert p.scale == pytest.approx(1 / 3)
    assert p.variance == math.inf
    assert p.sample(np.random.default_rng(1), 1000).min() >= p.scale


@pytest.mark.parametrize(
    "bad",
    [
        {"dist": "uniform", "low": "20ms", "high": "10ms"},
        {"dist": "exponential", "mean": 0},
        {"dist": "exponential", "mean": "-5ms"},
        {"dist": "pareto", "mean": 1, "shape": 1.0},
        {"dist": "lognormal", "mean": 1},
        {"dist": "gamma", "mean": 1},
        {"dist": "constant", "value": 1, "extra": 2},
    ],
)
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ValidationError):
        adapter.validate_python(bad)


# -- mixtures and empirical distributions ------------------------------------------

MIXTURE = {"dist": "mixture", "components": [
    {"weight": 0.9, "dist": "uniform", "low": "20s", "high": "40s"},
    {"weight": 0.1, "dist": "constant", "value": "2min"}]}


def test_a_mixture_reads_flat_components_and_has_exact_moments():
    m = adapter.validate_python(MIXTURE)
    assert isinstance(m, Mixture)
    # mean 0.9 * 30 + 0.1 * 120; E[X^2] = 0.9 (100/3 + 900) + 0.1 * 14400
    assert m.mean == pytest.approx(39.0)
    assert m.variance == pytest.approx(0.9 * (400 / 12 + 900) + 0.1 * 14400 - 39.0**2)
    assert m.upper_bound == 120.0
    assert repr(m) == "Mixture(0.9 * Uniform(low=20.0, high=40.0), 0.1 * Constant(value=120.0))"
    assert adapter.validate_python(m.model_dump()) == m  # what a run records reads back the same


def test_an_empirical_distribution_has_the_moments_of_its_values():
    e = adapter.validate_python({"dist": "empirical", "values": ["10ms", 0.02, "30ms", "60ms"]})
    assert isinstance(e, Empirical)
    assert e.mean == pytest.approx(0.03)
    assert e.variance == pytest.approx(((0.02) ** 2 + 0.01**2 + 0 + 0.03**2) / 4)
    assert e.upper_bound == pytest.approx(0.06)
    assert repr(e) == "Empirical(values=[0.01, 0.02, 0.03, 0.06])"
    long = Empirical(values=[0.001 * i for i in range(1, 8)])
    assert repr(long) == "Empirical(values=[0.001, 0.002, 0.003, 0.004, 0.005, ... (7 values)])"


@pytest.mark.parametrize("spec", [
    MIXTURE,
    {"dist": "mixture", "components": [{"weight": 0.3, "dist": "exponential", "mean": "5ms"},
                                       {"weight": 0.7, "dist": "empirical", "values": [0.001, 0.004]}]},
    {"dist": "empirical", "values": [0.001, 0.002, 0.002, 0.010, 0.050]},
])
def test_mixture_and_empirical_samples_match_their_exact_moments(spec):
    dist = adapter.validate_python(spec)
    n = 400_000
    x = dist.sample(np.random.default_rng(7), n)
    half = 3.29 * math.sqrt(dist.variance / n)
    assert abs(x.mean() - dist.mean) <= half
    assert x.var() == pytest.approx(dist.variance, rel=0.05)
    assert x.max() <= dist.upper_bound


@pytest.mark.parametrize(("dist", "t"), [
    (Constant(value=0.01), 20.0),
    (Uniform(low=0.001, high=0.003), 20.0),
    (Exponential(mean=0.01), 20.0),
    (Empirical(values=[0.001, 0.002, 0.01]), 20.0),
    (adapter.validate_python(MIXTURE), -0.05),
])
def test_the_moment_generating_function_matches_a_sample_mean(dist, t):
    x = np.exp(t * dist.sample(np.random.default_rng(3), 400_000))
    assert x.mean() == pytest.approx(dist.mgf(t), rel=0.01)


def test_the_moment_generating_function_diverges_where_the_tail_is_heavy():
    assert Exponential(mean=0.1).mgf(10.0) == math.inf
    assert LogNormal(mean=0.01, sigma=1).mgf(1.0) == math.inf
    assert Pareto(mean=0.01, shape=3).mgf(1.0) == math.inf


@pytest.mark.parametrize(("bad", "says"), [
    ({"dist": "mixture", "components": [{"weight": 0.5, "dist": "constant", "value": 1}]}, "sum to 1"),
    ({"dist": "mixture", "components": [{"dist": "constant", "value": 1}]}, "weight"),
    ({"dist": "mixture", "components": [{"weight": 1, **MIXTURE}]}, "does not match"),
    ({"dist": "mixture", "components": []}, "at least one component"),
    ({"dist": "empirical"}, "either 'values'"),
    ({"dist": "empirical", "values": [1], "file": "x.csv"}, "either 'values'"),
    ({"dist": "empirical", "values": []}, "at least 1"),
    ({"dist": "empirical", "values": ["-1ms"]}, ">= 0"),
    ({"dist": "empirical", "values": ["soon"]}, "duration"),
    ({"dist": "empirical", "file": "../observed.csv"}, "beside the scenario"),
    ({"dist": "empirical", "file": "/etc/passwd"}, "beside the scenario"),
])
def test_bad_mixtures_and_empirical_distributions_are_refused(bad, says):
    with pytest.raises(ValidationError) as info:
        adapter.validate_python(bad)
    assert says in str(info.value)


# -- an empirical distribution read from a CSV file beside the scenario ---------------------

SCENARIO = """
name: observed
messages: 200
sender: {rate: 100/s, window: null}
broker: {visibility_timeout: 1s}
consumer:
  processing: {dist: empirical, file: observed.csv}
"""


def _load(tmp_path, csv: str | bytes | None, name: str = "observed.csv"):
    from alosim.scenario import load_scenario

    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace("observed.csv", name))
    if isinstance(csv, str):
        (tmp_path / name).write_text(csv)
    elif isinstance(csv, bytes):
        (tmp_path / name).write_bytes(csv)
    return load_scenario(path)


def test_a_csv_beside_the_scenario_is_read_and_a_run_records_its_values(tmp_path, monkeypatch):
    import alosim

    scenario = _load(tmp_path, "duration\n10ms\n# a comment\n\n0.02\n 30ms \n")
    processing = scenario.consumer.processing
    assert isinstance(processing, Empirical) and processing.values == (0.01, 0.02, 0.03)
    assert processing.file == "observed.csv"
    resolved = scenario.resolved()["consumer"]["processing"]
    assert resolved == {"dist": "empirical", "values": [0.01, 0.02, 0.03]}
    # The run's own record reads back without the file, from anywhere.
    monkeypatch.chdir("/")
    result = alosim.simulate(scenario)
    (tmp_path / "observed.csv").unlink()
    from alosim.scenario import validate_scenario

    again = validate_scenario(result.scenario, "<run>").consumer.processing
    assert again.values == processing.values and again.file is None


@pytest.mark.parametrize(("csv", "says"), [
    (None, "file observed.csv: no such file"),
    ("10ms\n20ms\nlater\n", "file observed.csv, line 3: expected a duration"),
    ("10ms\n20ms, 30ms\n", "file observed.csv, line 2: expected one column"),
    ("10ms\n-5ms\n", "file observed.csv, line 2: expected a duration >= 0"),
    ("# nothing\n\n", "file observed.csv: holds no duration"),
    (b"\xff\xfe10ms\n", "file observed.csv: cannot read it"),
    ("1ms\n" * 70_000, "may be at most 256 KiB"),
])
def test_a_bad_csv_is_one_line_naming_the_scenario_the_field_the_file_and_the_line(tmp_path, csv, says):
    from alosim.scenario import ScenarioError

    with pytest.raises(ScenarioError) as info:
        _load(tmp_path, csv)
    message = str(info.value)
    assert says in message and "consumer.processing" in message and "s.yaml" in message, message
    assert "Traceback" not in message


def test_a_csv_that_is_not_a_regular_file_is_refused(tmp_path):
    import os

    from alosim.scenario import ScenarioError

    os.mkfifo(tmp_path / "observed.csv")
    with pytest.raises(ScenarioError, match="not a regular file"):
        _load(tmp_path, None)
    (tmp_path / "folder").mkdir()
    with pytest.raises(ScenarioError, match="is a directory"):
        _load(tmp_path, None, name="folder")
