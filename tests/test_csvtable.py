"""The run's CSV files, written without pandas, are byte for byte what pandas wrote."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import alosim
from alosim.csvtable import table_text, write_table
from tests.conftest import SCENARIOS


def pandas_bytes(columns: dict[str, list[Any]], tmp_path: Path) -> bytes:
    path = tmp_path / "pandas.csv"
    pd.DataFrame(columns, columns=list(columns)).to_csv(path, index=False, lineterminator="\n")
    return path.read_bytes()


def ours(columns: dict[str, list[Any]], tmp_path: Path) -> bytes:
    path = tmp_path / "ours.csv"
    write_table(path, columns)
    return path.read_bytes()


@pytest.mark.parametrize("name, overrides", [
    ("ack-lost", ["messages=300"]),
    ("kafka-auto-commit-replay", ["duration=20s"]),
    ("poison-message-dlq", []),
    ("overload-collapse", ["duration=5s"]),
    ("compare-semantics", []),
])
def test_a_runs_tables_are_what_pandas_wrote(name: str, overrides: list[str], tmp_path: Path) -> None:
    result = alosim.simulate(alosim.load_scenario(SCENARIOS / f"{name}.yaml", overrides))
    summary = result.summary_frame().drop(columns=["wall_time_s"])
    tables = [(result.summary_columns(), summary), (result.series_columns(), result.series_frame())]
    if result.trace:
        tables.append((result.trace_columns(), result.trace_frame()))
    for columns, frame in tables:
        expected = tmp_path / "frame.csv"
        frame.to_csv(expected, index=False, lineterminator="\n")
        assert table_text(columns) is not None  # written without pandas
        assert ours(columns, tmp_path) == expected.read_bytes()


def test_every_kind_of_column_is_written_as_pandas_writes_it(tmp_path: Path) -> None:
    rng = random.Random(5)
    magnitudes = [10.0 ** e for e in range(-12, 20)]
    floats = [rng.uniform(-1, 1) * m for m in magnitudes] + [0.0, -0.0, 1e16, 1e-4, 9.999e-5, 123456789.0,
                                                             math.inf, -math.inf, math.nan, 0.1 + 0.2]
    n = len(floats)
    texts = ["plain", "a,b", 'say "hi"', "line\nbreak", "", " lead", "tab\tx", "naïve", "cr\r"]
    columns: dict[str, list[Any]] = {
        "floats": floats,
        "ints": [rng.randint(-10**12, 10**12) for _ in range(n)],
        "ints_and_floats": [k if k % 2 else k + 0.5 for k in range(n)],
        "ints_and_missing": [None if k % 3 == 0 else k for k in range(n)],
        "floats_and_missing": [None if k % 4 == 0 else k / 7 for k in range(n)],
        "bools": [k % 2 == 0 for k in range(n)],
        "texts": [texts[k % len(texts)] for k in range(n)],
        "texts_and_missing": [None if k % 5 == 0 else texts[k % len(texts)] for k in range(n)],
        "nothing": [None] * n,
        "with, comma": list(range(n)),
    }
    assert table_text(columns) is not None
    assert ours(columns, tmp_path) == pandas_bytes(columns, tmp_path)
    for name, values in columns.items():  # each alone, and a single row of it
        assert ours({name: values}, tmp_path) == pandas_bytes({name: values}, tmp_path), name
        assert ours({name: values[:1]}, tmp_path) == pandas_bytes({name: values[:1]}, tmp_path), name
    assert ours({"empty": []}, tmp_path) == pandas_bytes({"empty": []}, tmp_path)


def test_a_mix_only_pandas_writes_faithfully_is_left_to_pandas(tmp_path: Path) -> None:
    columns: dict[str, list[Any]] = {"mixed": [True, 2, "three", 4.5, None], "huge": [2**60, 0.5, 1, 2, 3]}
    assert table_text(columns) is None
    assert ours(columns, tmp_path) == pandas_bytes(columns, tmp_path)
