"""A run whose books do not balance comes back as a result, never a traceback.

The books (:mod:`alosim.model.books`) are the model's own identities: a failed
one is a defect of alosim, reported as a failed check ``books_<identity>``
whose summary column holds the numbers, and printed as a one-line bug report
by ``alosim run`` and ``alosim trace``. Here a miscount is planted (a
duplicate processing charged to no cause, as the log's consumer group once
did) to see it reported.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import alosim
from alosim.cli import cli
from alosim.model.world import World
from tests.conftest import make

pytestmark = pytest.mark.books_may_fail

SMALL = """
name: small-log
seed: 4
messages: 30
sender: {retry: {timeout: 1s}}
broker: {kind: log}
consumer: {processing: {dist: constant, value: 1ms}}
"""


@pytest.fixture
def uncharged(monkeypatch: pytest.MonkeyPatch) -> None:
    """One duplicate processing without a cause, as a model defect would leave it."""
    causes = World.duplicate_causes

    def one_more(self: World) -> dict[str, int]:
        out = causes(self)
        out["consume.unexplained"] += 1
        return out

    monkeypatch.setattr(World, "duplicate_causes", one_more)


def test_a_failed_book_is_a_failed_check_with_its_numbers(uncharged: None) -> None:
    r = alosim.simulate(make(SMALL))
    assert not r.ok
    assert r.checks["books_duplicates_explained"] is False
    assert r.checks["books_duplicate_causes"] is False
    assert r.checks["acked_were_processed"] is True  # the guarantees are still checked
    assert r.summary["books_duplicates_explained"] == "1 duplicate processings without a cause"
    assert r.summary["check_books_duplicates_explained"] is False
    assert r.bugs == [
        "alosim bug: the books do not balance (duplicate_causes): duplicate processings by cause "
        "1 do not add up to duplicate_processing 0",
        "alosim bug: the books do not balance (duplicates_explained): 1 duplicate processings "
        "without a cause",
    ]


def test_explore_sees_a_failed_book_as_a_violation(uncharged: None) -> None:
    from alosim.explore import violations

    scenario = make(SMALL)
    r = alosim.simulate(scenario)
    found = violations(scenario, r.summary)
    assert ["books_duplicates_explained", "alosim_bug", 1] in found
    assert {g for g, _, _ in found} & set(r.checks) == {k for k, v in r.checks.items() if not v}


def test_books_that_balance_add_no_check_and_no_column() -> None:
    r = alosim.simulate(make(SMALL))
    assert r.ok and r.bugs == []
    assert not any(k.startswith(("books_", "check_books_")) for k in r.summary)


def test_run_prints_a_failed_book_as_one_line_and_writes_the_result(uncharged: None, tmp_path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    out = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "r"), "--no-plot"],
                             catch_exceptions=False)
    assert out.exit_code == 0
    assert "Traceback" not in out.output
    assert ("alosim bug: the books do not balance (duplicates_explained): 1 duplicate processings "
            "without a cause\n") in out.output
    assert "guarantee violated" not in out.output  # the guarantees held; the books did not
    (folder,) = (tmp_path / "r" / "small-log").iterdir()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["ok"] is False and manifest["checks"]["books_duplicates_explained"] is False


def test_trace_prints_a_failed_book_as_one_line(uncharged: None, tmp_path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    out = CliRunner().invoke(cli, ["trace", str(path), "--messages", "3"], catch_exceptions=False)
    assert out.exit_code == 0
    assert "Traceback" not in out.output
    assert out.output.count("alosim bug: the books do not balance") == 2
