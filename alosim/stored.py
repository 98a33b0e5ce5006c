"""What alosim reads back from a results store, checked as a scenario file is.

A results folder is input like any other: a file in it may have been
truncated by a full disk, edited by hand, replaced by ``/dev/zero`` or a
named pipe, or grown into a sparse file of gigabytes. Every JSON file alosim
reads back -- a run's ``manifest.json``, a sweep's ``sweep.json``, its run
files and ``history.jsonl``, a search's stored runs -- is read by
:func:`read_json` under the :class:`Stored` kind that names it:

* **the file**: a regular file of at most the kind's size cap
  (:func:`alosim.files.read_bounded`), so that reading costs what the cap
  says and never blocks;
* **the content**: UTF-8 JSON without ``NaN`` or infinities, matching the
  kind's schema (a pydantic model, strict: ``true`` is not a count and
  ``"3"`` not a number).

Anything else is :class:`ResultsError`, one line naming the file and what
is wrong with it. Tables that pandas reads by path (``runs.parquet``,
``summary.csv``, ...) get the file checks alone (:func:`check_table`).

This module imports only :mod:`alosim.files` (and pydantic).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alosim.files import OutputError, RefusedFile, check_regular, read_bounded

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30


class ResultsError(OutputError):
    """A results folder, or a file in it, that cannot be read as alosim wrote it."""


class _Stored(BaseModel):
    # Strict: a stored count is a JSON integer, a flag a JSON boolean. Unknown
    # keys are allowed -- a later version may add some -- and kept.
    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False, frozen=True)


Index = Field(ge=0, le=10**12)


class RunManifest(_Stored):
    """``<run>/manifest.json`` (:func:`alosim.results.write_run`). Runs written
    before dates and commands were recorded have neither."""

    alosim_version: str = Field(max_length=100)
    scenario: str = Field(max_length=200)
    seed: int = Field(ge=0, lt=2**63)
    fingerprint: str = Field(pattern=r"^[0-9a-f]{1,128}$")
    wall_time_s: float = Field(default=0.0, ge=0)
    checks: dict[str, bool] = Field(default_factory=dict)
    ok: bool = True
    written_at: str | None = Field(default=None, max_length=100)
    command: str | None = Field(default=None, max_length=100_000)
    #: The variant's name (:func:`alosim.fieldunits.variant_name`); empty for the scenario as
    #: written, missing in runs stored before manifests named it.
    variant: str | None = Field(default=None, max_length=100_000)


class SweepPoint(_Stored):
    point: int = Index
    set: dict[str, Any] = Field(default_factory=dict)
    values: dict[str, Any] = Field(default_factory=dict)


class SweepManifest(_Stored):
    """``<sweep>/sweep.json`` (:meth:`alosim.sweep.Plan.manifest`)."""

    format: Literal[1]
    name: str | None = Field(default=None, max_length=200)
    #: The variant's name (:func:`alosim.fieldunits.variant_name`) when ``--set`` changed the scenario.
    variant: str | None = Field(default=None, max_length=100_000)
    parameters: list[str]
    replications: int = Field(ge=1, le=10**9)
    points: list[SweepPoint]


class RunFile(_Stored):
    """``<sweep>/runs/p<point>-r<replication>.json`` (:class:`alosim.store.RunRecord`)."""

    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=True, frozen=True)

    format: int | None = None
    point: int = Index
    replication: int = Index
    seed: int = Field(ge=0, lt=2**64)
    values: list[Annotated[list[Any], Field(min_length=2, max_length=2)]]  # [path, value]
    summary: dict[str, Any] | None
    series: dict[str, list[float]] | None = None
    latency_s: list[float] | None = None
    error: str
    wall_time_s: float = Field(default=0.0, ge=0)

    @field_validator("values")
    @classmethod
    def _paths(cls, values: list[list[Any]]) -> list[list[Any]]:
        for i, (path, _) in enumerate(values):
            if not isinstance(path, str):
                raise ValueError(f"values[{i}] must be a [dotted path, value] pair")
        return values


class HistoryLine(_Stored):
    """One line of ``<sweep>/history.jsonl`` (:meth:`alosim.store.SweepStore.log`)."""

    date: str = Field(max_length=100)
    command: str = Field(max_length=100_000)
    computed: int = Index
    interrupted: bool = False


class ExploreRun(_Stored):
    """``<search>/runs/run-<index>.json`` (:class:`alosim.explore.RunOutcome`)."""

    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=True, frozen=True)

    index: int = Index
    drawn: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,200}$")], Any]  # dotted paths
    overrides: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,200}$")], Any]
    violations: list[Annotated[list[Any], Field(min_length=3, max_length=3)]]  # [guarantee, cause, amount]
    skipped: str

    @field_validator("violations")
    @classmethod
    def _named(cls, violations: list[list[Any]]) -> list[list[Any]]:
        for i, (guarantee, cause, _) in enumerate(violations):
            if not all(isinstance(n, str) and _NAME.match(n) for n in (guarantee, cause)):
                raise ValueError(f"violations[{i}] must be [guarantee, cause, amount], named by letters, "
                                 "digits, '_', '.' and '-'")
        return violations


@dataclass(frozen=True)
class Stored:
    """A kind of stored file: what to call it, its size cap, the schema of its content."""

    what: str
    max_bytes: int
    schema: type[_Stored] | None = None
    #: Whether ``NaN`` and ``Infinity`` may appear (a run's summary holds NaN
    #: for a percentile of nothing; a definition never does).
    allow_nan: bool = False


RUN_MANIFEST = Stored("a run manifest", 1 * MiB, RunManifest)
SWEEP_MANIFEST = Stored("a sweep manifest", 64 * MiB, SweepManifest)
RUN_FILE = Stored("a sweep's run file", 64 * MiB, RunFile, allow_nan=True)
HISTORY = Stored("a sweep history", 16 * MiB, HistoryLine)
EXPLORE_RUN = Stored("a stored search run", 16 * MiB, ExploreRun, allow_nan=True)
#: Tables read by pandas (parquet, CSV): a run's series may hold 10 million rows.
TABLE = Stored("a results table", 4 * GiB)


def damaged(path: Path | str, reason: str) -> ResultsError:
    """The one-line error for a damaged file; ``reason`` is kept alone for listings."""
    return ResultsError(f"{path}: the results store is damaged: {reason}", reason)


def read_text(path: Path | str, kind: Stored) -> str:
    """The UTF-8 text of ``path``, within ``kind``'s cap; :class:`ResultsError` otherwise.
    ``FileNotFoundError`` passes through (a missing file is often no damage)."""
    try:
        data = read_bounded(path, kind.max_bytes, kind.what)
    except FileNotFoundError:
        raise
    except RefusedFile as exc:
        raise damaged(path, str(exc)) from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot be read ({exc.strerror or exc})",
                           f"cannot be read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise damaged(path, f"not UTF-8 text (byte {exc.start})") from None


def parse_json(text: str, kind: Stored) -> dict[str, Any]:
    """``text`` as JSON checked against ``kind``'s schema; ValueError saying what is wrong."""
    try:
        data = json.loads(text) if kind.allow_nan else json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("not JSON (nested too deeply)") from None
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if kind.schema is None:
        return data  # type: ignore[no-any-return]
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object ({kind.what}), got {_kind(data)}")
    try:
        kind.schema.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_problem(exc)) from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    return data


def read_json(path: Path | str, kind: Stored) -> dict[str, Any]:
    """The content of the stored JSON file ``path`` of ``kind``, checked; the
    plain data (as written), or :class:`ResultsError` naming the file."""
    text = read_text(path, kind)
    try:
        return parse_json(text, kind)
    except ValueError as exc:
        raise damaged(path, str(exc)) from None


def check_table(path: Path | str) -> None:
    """A table pandas is about to read by its path: a regular file within the cap."""
    try:
        check_regular(path, TABLE.max_bytes, TABLE.what)
    except RefusedFile as exc:
        raise damaged(path, str(exc)) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number alosim writes")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), f"a {type(value).__name__}")


def _problem(exc: ValidationError) -> str:
    """The first problem of ``exc`` as ``field: message, got value`` (and how many more)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"]
    if first["type"] == "value_error" and "ctx" in first:
        message = str(first["ctx"].get("error", message))
    elif first["type"] != "missing" and "input" in first:
        message += f", got {_short(first['input'])}"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"'{where}': {message}{more}" if where else f"{message}{more}"


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = ["EXPLORE_RUN", "HISTORY", "RUN_FILE", "RUN_MANIFEST", "SWEEP_MANIFEST", "ResultsError",
           "Stored", "check_table", "damaged", "parse_json", "read_json", "read_text"]
