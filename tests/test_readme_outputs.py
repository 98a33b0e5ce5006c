"""The outputs the README and the guide show are what alosim prints now.

Each ``text`` block of README.md and of the guide pages (docs/guide/*.md,
the chapters that were the README's) that starts with ``$ alosim run`` or
``$ alosim compare`` (a one-line command) is run again; every line the
page shows must appear in the output, in the same order (``...`` stands
for lines left out; the ``results:`` line names a folder that depends on
--out). The guide pages are left out of the stricter shown-examples check
(tests/docs/test_shown_examples.py) because some of their commands are slow
or need a broker; these are the ones run here.
"""

from __future__ import annotations

import os
import re
import shlex

import pytest
from click.testing import CliRunner

from alosim.cli import cli
from tests.conftest import ROOT

BLOCK = re.compile(r"```text\n\$ (alosim (?:run|compare) [^\n\\]*)\n(.*?)```", re.S)
# Long enough for a CI machine and short enough for the suite: the README's slower examples
# (sweeps, the seven storm variants) are not among these.
#: README.md (the landing page) and the guide pages (docs/guide/*.md).
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "guide").glob("*.md"))]
EXAMPLES = [example for page in PAGES for example in BLOCK.findall(page.read_text(encoding="utf-8"))]
README_EXAMPLES = BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_and_the_guide_have_run_and_compare_examples():
    commands = [command.split()[1] for command, _ in EXAMPLES]
    assert commands.count("run") >= 3 and commands.count("compare") >= 2
    # The landing page's own worked example is among them.
    assert [command for command, _ in README_EXAMPLES] == ["alosim run scenarios/ack-lost.yaml"]


@pytest.mark.parametrize(("command", "shown"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_a_readme_output_is_what_alosim_prints(command, shown, tmp_path):
    args = shlex.split(command)[1:]
    if args[0] == "run":
        args += ["--out", str(tmp_path), "--no-plot"]
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        result = CliRunner(env={"COLUMNS": "100"}).invoke(cli, args, catch_exceptions=False)
    finally:
        os.chdir(here)
    assert result.exit_code == 0, result.output
    printed = result.stdout.splitlines()
    at = 0
    for line in shown.rstrip("\n").splitlines():
        if line.strip() == "..." or line.startswith("results: "):
            continue
        try:
            at = printed.index(line.rstrip(), at) + 1
        except ValueError:
            pytest.fail(f"README line not printed (in this order) by {command!r}:\n{line}\n\nprinted:\n"
                        + result.stdout)


def test_the_guide_rerun_table_is_what_knobs_prints():
    import alosim
    from alosim import knobs

    readme = (ROOT / "docs" / "guide" / "python.md").read_text(encoding="utf-8")
    start = readme.index(">>> print(shown.table.to_string(index=False))\n") + len(
        ">>> print(shown.table.to_string(index=False))\n")
    shown_text = readme[start:readme.index("```", start)].rstrip("\n")
    scenario = alosim.load_scenario(ROOT / "scenarios" / "ack-lost.yaml")
    shown = knobs.rerun(scenario, {"network.ack.loss": 0.5, "sender.retry.timeout": "100ms"})
    assert shown.table.to_string(index=False) == shown_text
