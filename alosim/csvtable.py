"""Small tables written as CSV without pandas, byte for byte as pandas writes them.

A run writes its summary (one row), its sampled series and its trace as CSV.
Loading pandas for that costs more than the rest of a short run, so the run
writes them with the standard library, following the rules of
``DataFrame.to_csv(index=False, lineterminator="\\n")``: each column takes one
type from all its values -- all booleans, all integers, numbers (integers,
floats and missing values together are floats, so an integer is written
``5.0``), or text -- and a missing value (None, NaN) is an empty field; floats
are written in their shortest round-trip form (``repr``), fields are quoted
only when they must be (Python's ``csv`` module, as pandas uses it). A column
of any other mix is left to pandas itself, so the bytes never depend on which
writer ran. ``tests/test_csvtable.py`` compares both writers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _column_text(values: Sequence[Any]) -> list[str] | None:
    """The fields of one column as pandas writes them, or None for a mix it leaves to pandas."""
    kinds = {type(v) for v in values}
    if kinds <= {bool}:
        return [str(v) for v in values]
    if kinds <= {int}:
        return [str(v) for v in values]
    if kinds <= {int, float, type(None)} and kinds & {int, float}:
        if int in kinds and any(abs(v) > 2**53 for v in values if type(v) is int):
            return None  # not exact as a float: pandas keeps such a column as objects
        return ["" if v is None or math.isnan(v) else repr(float(v)) for v in values]
    if kinds <= {str, type(None)}:
        return ["" if v is None else v for v in values]
    return None


def table_text(columns: Mapping[str, Sequence[Any]]) -> str | None:
    """The CSV text of equally long ``columns`` (name -> values), or None when a
    column holds a mix of types that only pandas writes faithfully."""
    names = list(columns)
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        return None
    fields = []
    for name in names:
        text = _column_text(columns[name])
        if text is None:
            return None
        fields.append(text)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(names)
    writer.writerows(zip(*fields))
    return out.getvalue()


def write_table(path: Path, columns: Mapping[str, Sequence[Any]]) -> None:
    """Write ``columns`` to ``path`` as CSV (as ``pandas.DataFrame(columns).to_csv`` would)."""
    text = table_text(columns)
    if text is None:
        import pandas as pd

        pd.DataFrame(dict(columns), columns=list(columns)).to_csv(path, index=False, lineterminator="\n")
        return
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def rows_to_columns(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, list[Any]]:
    """Rows (tuples in the order of ``names``) as columns."""
    return {name: [row[k] for row in rows] for k, name in enumerate(names)}
