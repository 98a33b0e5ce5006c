import math

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from alosim.dists import Constant, Distribution, Exponential, LogNormal, Pareto, Uniform

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
