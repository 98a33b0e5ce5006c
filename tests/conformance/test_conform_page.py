"""The ``alosim conform`` example of docs/guide/conform.md prints what the page shows.

The example needs a real broker, so it runs here, against the suite's own
(tests/docs/test_shown_examples.py runs every other shown command). What the
broker measures -- counts, timer overshoot, the real column and the verdict
-- and the port it listens on are masked (the ``measured`` and ``port`` masks
of :mod:`tests.docs.shown`); the rest, alosim's own prediction included, must
be printed as shown.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from alosim.cli import cli
from tests.conftest import ROOT
from tests.docs.shown import examples, mask, mismatch

pytestmark = pytest.mark.conformance

PAGE = ROOT / "docs" / "guide" / "conform.md"
EXAMPLES = [e for e in examples(PAGE, ROOT) if e.needs_broker]


def test_the_page_shows_a_conform_example() -> None:
    assert [e.args[0] for e in EXAMPLES] == ["conform"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e.page}:{e.line}")
def test_the_conform_example_prints_what_the_page_shows(example, request: pytest.FixtureRequest, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    args = example.args
    shown_url = args[args.index("--broker") + 1]
    url = request.getfixturevalue(f"{shown_url.split(':')[0]}_url")
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [url if a == shown_url else a for a in args], prog_name="alosim")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1, 3), result.output  # a verdict, not a failure to measure
    problem = mismatch(mask(example.shown, tmp_path), mask(result.stdout, tmp_path))
    assert problem is None, f"{example.page}:{example.line}: $ {example.command}\n{problem}\n\n{result.stdout}"
