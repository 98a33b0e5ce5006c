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
from tests.docs.shown import MASKS, Example, examples, mask, mismatch, stray_commands

#: The pages whose examples are run: README.md and every Markdown page of the documentation site.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _pages_with_examples() -> list[Path]:
    return [p for p in PAGES if examples(p, ROOT)]


def _here(page: Path) -> list[Example]:
    """The examples of ``page`` this suite runs: those that need a real broker (``alosim conform``)
    run in the conformance suite (tests/conformance/test_conform_page.py)."""
    return [e for e in examples(page, ROOT) if not e.needs_broker]


@pytest.mark.parametrize("page", [p for p in PAGES if _here(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_shown_output_is_what_the_command_prints(page: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    for example in _here(page):
        result = CliRunner().invoke(cli, example.args, prog_name="alosim")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        problem = mismatch(mask(example.shown, tmp_path), mask(result.stdout, tmp_path))
        assert problem is None, f"{example.page}:{example.line}: $ {example.command}\n{problem}"


def test_the_documentation_shows_examples() -> None:
    # The test above is parametrized by the pages that have examples: none found would pass vacuously.
    assert len(_pages_with_examples()) >= 5


def test_every_shown_command_is_an_example() -> None:
    # A `$ alosim` line in a block of another language, or inside an example's output, would not be run.
    assert [stray for page in PAGES for stray in stray_commands(page, ROOT)] == []


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


def test_a_command_continues_over_lines_ending_in_a_backslash_and_any_block_may_hold_one(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```\n$ alosim compare a.yaml \\\n    --with 'x={a: 1}' \\\n    --with y=2\nout\n```\n\n"
                    "```sh\n$ alosim run a.yaml\n```\n\n````markdown\n```text\n$ alosim run b.yaml\n```\n````\n")
    (found,) = examples(page, tmp_path)
    assert found == Example("page.md", 2, "alosim compare a.yaml --with 'x={a: 1}' --with y=2", "out")
    assert found.args == ["compare", "a.yaml", "--with", "x={a: 1}", "--with", "y=2"]
    # The sh block's command is not run: flagged. The markdown block shows how to write an example.
    assert stray_commands(page, tmp_path) == ["page.md:9"]


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
    assert mismatch([], []) is None
    assert mismatch([], printed) is not None  # nothing shown under a command: it prints nothing
    assert mismatch(["..."], printed) is None


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
    assert mask("executor: auto, up to 2 workers") == mask("executor: auto, up to 16 workers")
    assert mask("2 workers") != mask("3 workers")
    assert mask("conform x against nats://127.0.0.1:4222 (nats)") == mask("conform x against nats://127.0.0.1:40111 (nats)")
    assert set(MASKS) == {"wall", "date", "tmp", "address", "styler", "workers", "port", "measured"}


def test_the_measured_mask_hides_a_real_broker_s_figures_and_keeps_alosim_s() -> None:
    def row(real: str, alosim: str, rest: str) -> str:
        return f"  duplicates per message  {real:>18} {alosim:>18} {rest}"

    shown = row("0.3920 ± 0.0126", "0.3675 ± 0.0029", "    +0.0245   0.0449  agrees")
    assert mask(shown) == mask(row("11.3000 ± 0.7000", "0.3675 ± 0.0029", "   +10.9325   2.1000  DIFFERS"))
    assert mask(shown) != mask(row("0.3920 ± 0.0126", "0.3676 ± 0.0029", "    +0.0244   0.0449  agrees"))
    assert mask("  2088 deliveries (1.3920 per message), 2088 side effects, 87 dead-lettered") == mask(
        "  2101 deliveries (1.4007 per message), 2101 side effects, 80 dead-lettered")
    assert mask("1500 messages at 200/s, speed 1, 0 consumer crashes, 7.9s") == mask(
        "1500 messages at 200/s, speed 1, 0 consumer crashes, 12.0s")
    assert mask("1500 messages at 200/s") != mask("1400 messages at 200/s")
    assert mask("verdict: agrees") == mask("verdict: inconclusive (the machine was busy)")
