"""Every ``$ alosim ...`` command shown in the documentation runs, and prints what is shown.

The format, the elisions and the masks of volatile parts are described in
:mod:`tests.docs.shown` (and, for authors, in docs/contributing/examples.md).
One test per page: its commands run in order, in a fresh folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from alosim.cli import cli
from tests.conftest import ROOT
from tests.docs.shown import MASKS, Example, examples, mask, mismatch

#: The pages whose examples are run: every Markdown page of the documentation site but the
#: guide (docs/guide/, the chapters that were the README's), whose ``alosim run`` and
#: ``alosim compare`` examples tests/test_readme_outputs.py runs, with README.md's own.
PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if "guide" not in p.relative_to(ROOT / "docs").parts)


def _pages_with_examples() -> list[Path]:
    return [p for p in PAGES if examples(p, ROOT)]


@pytest.mark.parametrize("page", _pages_with_examples(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shown_output_is_what_the_command_prints(page: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    for example in examples(page, ROOT):
        result = CliRunner().invoke(cli, example.args, prog_name="alosim")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        problem = mismatch(mask(example.shown, tmp_path), mask(result.stdout, tmp_path))
        assert problem is None, f"{example.page}:{example.line}: $ {example.command}\n{problem}"


def test_the_documentation_shows_examples() -> None:
    # The test above is parametrized by the pages that have examples: none found would pass vacuously.
    assert len(_pages_with_examples()) >= 5


def test_the_how_to_table_names_the_commands_its_pages_run() -> None:
    import re

    index = ROOT / "docs/how-to/index.md"
    tested = {e.command for page in index.parent.glob("*.md") for e in examples(page, ROOT)}
    named = re.findall(r"`(alosim [^`]+)`", index.read_text(encoding="utf-8"))
    assert named and not set(named) - tested, set(named) - tested


# -- the mechanism itself ------------------------------------------------------------------


def test_examples_are_read_with_their_outputs(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("text\n\n```text\n$ alosim validate a.yaml\na.yaml: ok\n$ alosim results\nnone\n```\n\n"
                    "```sh\n$ alosim run x.yaml\n```\n\n```text\nnot an example\n```\n")
    found = examples(page, tmp_path)
    assert found == [Example("page.md", 4, "alosim validate a.yaml", "a.yaml: ok"),
                     Example("page.md", 6, "alosim results", "none")]
    assert found[0].args == ["validate", "a.yaml"]


def test_elision_matches_any_lines_but_everything_shown_must_be_printed_in_order() -> None:
    printed = ["a", "b", "c", "d", "e"]
    assert mismatch(["a", "b", "c", "d", "e"], printed) is None
    assert mismatch(["a", "...", "e"], printed) is None
    assert mismatch(["...", "c", "..."], printed) is None
    assert mismatch(["a", "...", "c", "...", "e"], printed) is None
    assert mismatch(["a", "b"], printed) is not None  # more printed than shown, nothing elided
    assert mismatch(["b", "...", "e"], printed) is not None  # not from the first line
    assert mismatch(["a", "...", "d", "...", "c"], printed) is not None  # out of order
    assert mismatch(["a", "...", "x", "..."], printed) is not None


def test_masks_hide_only_what_they_name(tmp_path: Path) -> None:
    shown = "    wall time                0.22s\nfinished in 3.1 s wall\n2026-12-07 01:02:03  ok\n"
    printed = "    wall time               10.5s\nfinished in 12 s wall\n2027-01-01 00:00:00  ok\n"
    assert mask(shown) == mask(printed)
    assert mask("    duplicates    4,449") != mask("    duplicates    4,450")
    assert mask(f"results: {tmp_path}/a", tmp_path) == mask("results: /tmp/elsewhere/b") == ["results: <tmp>"]
    assert mask("10,000 messages, 100.7 s simulated in 0.35 s") == mask("10,000 messages, 100.7 s simulated in 3 s")
    assert mask("10,000 messages, 100.7 s simulated") != mask("10,000 messages, 100.8 s simulated")
    assert mask("<Styler at 0x7f83f9ebf410>") == mask("<Styler at 0x7f00aa>")
    assert mask('<table id="T_96c94">') == mask('<table id="T_0a1b2">')
    assert set(MASKS) == {"wall", "date", "tmp", "address", "styler"}
