"""Distributions of latency and processing time, with exact moments.

Each distribution is a small frozen pydantic model: it validates its
parameters when built, reads from a scenario as ``{dist: exponential, mean:
20ms}``, prints as ``Exponential(mean=0.02)``, and knows its exact ``mean``
and ``variance`` so that tests and plots can compare simulated output with
theory. All times are in seconds.

``sample(rng, n)`` returns ``n`` draws as a numpy array; the model consumes
them through :class:`alosim.streams.Draws`, one batch at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.functional_validators import BeforeValidator

from alosim.streams import Draws
from alosim.units import parse_duration

if TYPE_CHECKING:
    import numpy as np  # imported where draws are made: reading a scenario needs no numpy

    from alosim.streams import Streams

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
PositiveSeconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


def _number(value: object) -> object:
    # pydantic would read true as 1.0 and "2" as 2.0: a number is written as a number.
    if isinstance(value, (bool, str)):
        raise ValueError(f"expected a number, got {value!r}")
    return value


Number = Annotated[float, BeforeValidator(_number)]


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{k}={v!r}" for k, v in self.model_dump().items() if k != "dist"
        )
        return f"{type(self).__name__}({fields})"

    __str__ = __repr__

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def variance(self) -> float:
        raise NotImplementedError

    @property
    def upper_bound(self) -> float:
        """The largest value the distribution can produce (``inf`` if unbounded)."""
        return math.inf

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    @property
    def is_zero(self) -> bool:
        """True if every value is 0 (a stage that takes no time)."""
        return False

    def draws(self, streams: Streams, name: str) -> Callable[[], float]:
        """Values one at a time from stream ``name``, as the model's actors take them."""
        rng = streams.generator(name)
        return Draws(lambda n: self.sample(rng, n))


class Constant(_Dist):
    """Always ``value``."""

    dist: Literal["constant"] = "constant"
    value: Seconds

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0

    @property
    def upper_bound(self) -> float:
        return self.value

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        import numpy as np

        return np.full(n, self.value)

    @property
    def is_zero(self) -> bool:
        return self.value == 0

    def draws(self, streams: Streams, name: str) -> Callable[[], float]:
        value = self.value  # no stream: nothing is random
        return lambda: value


class Uniform(_Dist):
    """Uniform on ``[low, high]``."""

    dist: Literal["uniform"] = "uniform"
    low: Seconds
    high: Seconds

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"uniform needs low <= high, got low={self.low} high={self.high}")
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12

    @property
    def upper_bound(self) -> float:
        return self.high

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)


class Exponential(_Dist):
    """Exponential with the given ``mean`` (rate 1/mean)."""

    dist: Literal["exponential"] = "exponential"
    mean_s: PositiveSeconds = Field(alias="mean")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def mean(self) -> float:
        return self.mean_s

    @property
    def variance(self) -> float:
        return self.mean_s**2

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean_s, n)


class LogNormal(_Dist):
    """Log-normal with the given ``mean`` and shape ``sigma`` (std. dev. of the log).

    The underlying normal has ``mu = ln(mean) - sigma**2 / 2``, so the mean
    is exactly ``mean``; the variance is ``(exp(sigma**2) - 1) * mean**2``.
    """

    dist: Literal["lognormal"] = "lognormal"
    mean_s: PositiveSeconds = Field(alias="mean")
    sigma: Number = Field(gt=0, le=10)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def mean(self) -> float:
        return self.mean_s

    @property
    def variance(self) -> float:
        return (math.exp(self.sigma**2) - 1) * self.mean_s**2

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        mu = math.log(self.mean_s) - self.sigma**2 / 2
        return rng.lognormal(mu, self.sigma, n)


class Pareto(_Dist):
    """Pareto (type I) with the given ``mean`` and tail index ``shape`` > 1.

    The scale (the smallest value) is ``mean * (shape - 1) / shape``. The
    variance is finite only for ``shape > 2``:
    ``scale**2 * shape / ((shape - 1)**2 * (shape - 2))``.
    """

    dist: Literal["pareto"] = "pareto"
    mean_s: PositiveSeconds = Field(alias="mean")
    shape: Number = Field(gt=1, le=1000)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def scale(self) -> float:
        return self.mean_s * (self.shape - 1) / self.shape

    @property
    def mean(self) -> float:
        return self.mean_s

    @property
    def variance(self) -> float:
        if self.shape <= 2:
            return math.inf
        a = self.shape
        return self.scale**2 * a / ((a - 1) ** 2 * (a - 2))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        # numpy's pareto is the Lomax (Pareto II) form; shifting by one gives type I.
        return (rng.pareto(self.shape, n) + 1.0) * self.scale


Distribution = Annotated[
    Union[Constant, Uniform, Exponential, LogNormal, Pareto],
    Field(discriminator="dist"),
]

__all__ = ["Constant", "Distribution", "Exponential", "LogNormal", "Pareto", "Uniform"]
