"""Distributions of latency and processing time, with exact moments.

Each distribution is a small frozen pydantic model: it validates its
parameters when built, reads from a scenario as ``{dist: exponential, mean:
20ms}``, prints as ``Exponential(mean=0.02)``, and knows its exact ``mean``
and ``variance`` so that tests and plots can compare simulated output with
theory. All times are in seconds.

``sample(rng, n)`` returns ``n`` draws as a numpy array; the model consumes
them through :class:`alosim.streams.Draws`, one batch at a time.

Two distributions describe what users measured rather than a textbook shape:
a :class:`Mixture` ("20-40 s, sometimes 2 min": weighted components) and an
:class:`Empirical` distribution (observed values, listed in the scenario or
read from a one-column CSV file beside it). Both know their exact mean,
variance and upper bound, and, as the others where it exists, their moment
generating function ``mgf(t) = E[exp(t X)]``, which the closed forms of
:mod:`alosim.analytic` need for a delay added to exponential processing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, create_model,
                      field_validator, model_validator)
from pydantic.functional_validators import BeforeValidator

from alosim import yamlread
from alosim.streams import Draws
from alosim.units import parse_duration, plain_number

if TYPE_CHECKING:
    import numpy as np  # imported where draws are made: reading a scenario needs no numpy

    from alosim.streams import Streams

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
PositiveSeconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


Number = Annotated[float, BeforeValidator(plain_number)]


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

    @property
    def lower_bound(self) -> float:
        """The smallest value the distribution can produce: every draw is at least this."""
        return 0.0

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def mgf(self, t: float) -> float:
        """The moment generating function E[exp(t X)] (``inf`` where it diverges)."""
        raise NotImplementedError(f"{type(self).__name__} has no moment generating function here")

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

    @property
    def lower_bound(self) -> float:
        return self.value

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        import numpy as np

        return np.full(n, self.value)

    def mgf(self, t: float) -> float:
        return math.exp(t * self.value)

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

    @property
    def lower_bound(self) -> float:
        return self.low

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)

    def mgf(self, t: float) -> float:
        width = self.high - self.low
        if t == 0 or width == 0:
            return math.exp(t * self.low)
        return (math.exp(t * self.high) - math.exp(t * self.low)) / (t * width)


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

    def mgf(self, t: float) -> float:
        return 1 / (1 - t * self.mean_s) if t * self.mean_s < 1 else math.inf


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

    def mgf(self, t: float) -> float:
        if t > 0:
            return math.inf  # a log-normal tail is heavier than any exponential
        return super().mgf(t)


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
    def lower_bound(self) -> float:
        return self.scale

    @property
    def variance(self) -> float:
        if self.shape <= 2:
            return math.inf
        a = self.shape
        return self.scale**2 * a / ((a - 1) ** 2 * (a - 2))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        # numpy's pareto is the Lomax (Pareto II) form; shifting by one gives type I.
        return (rng.pareto(self.shape, n) + 1.0) * self.scale

    def mgf(self, t: float) -> float:
        if t > 0:
            return math.inf  # a power-law tail
        return super().mgf(t)


class _Cache:
    """Arrays derived from a distribution's fields, built once: not part of its
    value (two distributions with equal fields are equal whatever they cached)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Cache)

    def __hash__(self) -> int:
        return 0


#: Most values an empirical distribution holds (a list in the scenario or a file).
MAX_EMPIRICAL_VALUES = 100_000


def _durations(values: object) -> object:
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"expected a list of durations, got {values!r:.60}")
    return [parse_duration(v) for v in values]


class Empirical(_Dist):
    """Observed values, each equally likely: ``{dist: empirical, values: [12ms, 15ms, 40ms]}``
    or ``{dist: empirical, file: observed.csv}``.

    The file is a one-column CSV beside the scenario file (a plain name or a
    path below its folder): one duration a line (``0.012`` in seconds, or with
    a unit, ``12ms``); blank lines and lines starting with ``#`` are skipped,
    and a first line without a digit is a header. It is read with the checks a
    scenario file gets (a regular file, at most
    :data:`alosim.yamlread.MAX_FILE_BYTES`), and a bad line is reported with
    the file's name and the line's number. The values are read when the
    scenario is validated; a run records them (not the file's name), so a
    result can be re-read without the file.

    Draws pick one of the values uniformly at random. The moments are those of
    the values themselves: the mean is their average, the variance their
    population variance (divided by n), the upper bound their maximum.
    """

    dist: Literal["empirical"] = "empirical"
    values: tuple[float, ...] = Field(min_length=1, max_length=MAX_EMPIRICAL_VALUES)
    file: str | None = Field(default=None, exclude=True)

    _cache: _Cache = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _read_file(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        has_values, has_file = data.get("values") is not None, data.get("file") is not None
        if has_values == has_file:
            raise ValueError("an empirical distribution takes either 'values' (a list) or "
                             "'file' (a CSV file beside the scenario), not both or neither")
        if has_file:
            folder = (info.context or {}).get("scenario_dir") if info.context else None
            data = dict(data)
            data["values"] = read_durations(data["file"], Path(folder) if folder else Path("."))
        return data

    @field_validator("values", mode="before")
    @classmethod
    def _parse(cls, values: object) -> object:
        return _durations(values)

    @field_validator("values")
    @classmethod
    def _non_negative(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        for i, v in enumerate(values):
            if v < 0:
                raise ValueError(f"values[{i}]: expected a duration >= 0, got {v!r}")
        return values

    def model_post_init(self, context: Any) -> None:
        import numpy as np

        self._cache = _Cache(np.asarray(self.values, dtype=float))

    def __repr__(self) -> str:
        shown = ", ".join(repr(v) for v in self.values[:5])
        more = f", ... ({len(self.values)} values)" if len(self.values) > 5 else ""
        source = f"file={self.file!r}, " if self.file else ""
        return f"Empirical({source}values=[{shown}{more}])"

    __str__ = __repr__

    @property
    def mean(self) -> float:
        return math.fsum(self.values) / len(self.values)

    @property
    def variance(self) -> float:
        mean = self.mean
        return math.fsum((v - mean) ** 2 for v in self.values) / len(self.values)

    @property
    def upper_bound(self) -> float:
        return max(self.values)

    @property
    def is_zero(self) -> bool:
        return max(self.values) == 0

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        array = self._cache.array
        return array[rng.integers(0, len(array), n)]

    def mgf(self, t: float) -> float:
        return math.fsum(math.exp(t * v) for v in self.values) / len(self.values)


def read_durations(name: str, folder: Path) -> list[float]:
    """The durations of a one-column CSV file ``name`` in ``folder`` (see :class:`Empirical`).

    Raises ``ValueError`` with one line naming the file (and the line) for a
    path that leaves the folder, a file that is missing, not a regular file,
    too large or not text, and a line that is not one duration.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"file: expected the name of a CSV file beside the scenario, got {name!r:.60}")
    parts = PurePath(name).parts
    if PurePath(name).is_absolute() or ".." in parts:
        raise ValueError(f"file: expected a CSV file beside the scenario (a name or a path below "
                         f"its folder), got {name!r:.100}")
    path = folder / name
    try:
        text = yamlread.read_file(path, what="an empirical distribution's file",
                                  kind="a CSV file of durations")
    except FileNotFoundError:
        raise ValueError(f"file {name}: no such file (looked in {folder})") from None
    except IsADirectoryError:
        raise ValueError(f"file {name}: is a directory, expected a CSV file of durations") from None
    except yamlread.ReadError as exc:
        raise ValueError(f"file {name}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"file {name}: cannot read it ({exc})") from None
    values: list[float] = []
    for number, line in enumerate(text.splitlines(), start=1):
        cell = line.strip()
        if not cell or cell.startswith("#"):
            continue
        if not values and number == 1 and not any(c.isdigit() for c in cell):
            continue  # a header
        if "," in cell or ";" in cell:
            raise ValueError(f"file {name}, line {number}: expected one column (one duration "
                             f"a line), got {cell!r:.60}")
        try:
            value = parse_duration(cell)
        except ValueError as exc:
            raise ValueError(f"file {name}, line {number}: {exc}") from None
        if value < 0:
            raise ValueError(f"file {name}, line {number}: expected a duration >= 0, got {cell!r:.60}")
        values.append(value)
        if len(values) > MAX_EMPIRICAL_VALUES:
            raise ValueError(f"file {name}: more than {MAX_EMPIRICAL_VALUES:,} values")
    if not values:
        raise ValueError(f"file {name}: holds no duration")
    return values


_SIMPLE = (Constant, Uniform, Exponential, LogNormal, Pareto, Empirical)


def _weighted(cls: type[_Dist]) -> type[_Dist]:
    """``cls`` with a ``weight``: one component of a :class:`Mixture`, written flat
    (``{weight: 0.1, dist: constant, value: 2min}``)."""
    return create_model(  # type: ignore[call-overload,no-any-return]
        f"Weighted{cls.__name__}", __base__=cls,
        weight=(Annotated[Number, Field(gt=0, le=1)], ...))


Component = Annotated[
    Union[tuple(_weighted(cls) for cls in _SIMPLE)],  # type: ignore[misc]
    Field(discriminator="dist"),
]


class Mixture(_Dist):
    """With probability ``weight`` each, a draw from one of ``components``:
    ``{dist: mixture, components: [{weight: 0.9, dist: uniform, low: 20s, high: 40s},
    {weight: 0.1, dist: constant, value: 2min}]}``.

    The weights are positive and sum to 1; a component is any other
    distribution (a mixture does not nest). With weights w_i and component
    means m_i and variances v_i: mean = sum w_i m_i, variance = sum w_i (v_i +
    m_i^2) - mean^2 (the law of total variance), upper bound = the largest
    component's, mgf(t) = sum w_i mgf_i(t). Each draw picks its component
    first (one categorical draw), then a value from it.
    """

    dist: Literal["mixture"] = "mixture"
    # (No min_length: pydantic would also report an empty tuple for a bad component.)
    components: tuple[Component, ...] = Field(max_length=100)

    _cache: _Cache = PrivateAttr()

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> Mixture:
        if not self.components:
            raise ValueError("a mixture needs at least one component")
        total = math.fsum(c.weight for c in self.components)
        if abs(total - 1) > 1e-9:
            raise ValueError(f"the weights of a mixture's components sum to 1, got {total:.12g}")
        return self

    def model_post_init(self, context: Any) -> None:
        import numpy as np

        weights = np.asarray([c.weight for c in self.components], dtype=float)
        self._cache = _Cache(weights / weights.sum())

    def __repr__(self) -> str:
        parts = []
        for c in self.components:
            text = repr(c).replace(f"Weighted{type(c).__mro__[1].__name__}(",
                                   f"{type(c).__mro__[1].__name__}(")
            text = text.replace(f", weight={c.weight!r}", "").replace(f"weight={c.weight!r}, ", "")
            parts.append(f"{c.weight!r} * {text}")
        return f"Mixture({', '.join(parts)})"

    __str__ = __repr__

    @property
    def mean(self) -> float:
        return math.fsum(c.weight * c.mean for c in self.components)

    @property
    def variance(self) -> float:
        mean = self.mean
        second = math.fsum(c.weight * (c.variance + c.mean**2) for c in self.components)
        return max(second - mean * mean, 0.0)

    @property
    def upper_bound(self) -> float:
        return max(c.upper_bound for c in self.components)

    @property
    def is_zero(self) -> bool:
        return all(c.is_zero for c in self.components)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        import numpy as np

        which = rng.choice(len(self.components), size=n, p=self._cache.array)
        out = np.empty(n)
        for k, component in enumerate(self.components):
            chosen = which == k
            count = int(chosen.sum())
            if count:
                out[chosen] = component.sample(rng, count)
        return out

    def mgf(self, t: float) -> float:
        return math.fsum(c.weight * c.mgf(t) for c in self.components)


Distribution = Annotated[
    Union[Constant, Uniform, Exponential, LogNormal, Pareto, Mixture, Empirical],
    Field(discriminator="dist"),
]

__all__ = ["Constant", "Distribution", "Empirical", "Exponential", "LogNormal", "Mixture", "Pareto",
           "Uniform", "read_durations"]
