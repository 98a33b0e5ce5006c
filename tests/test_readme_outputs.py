"""The outputs the README shows are what alosim prints now.

Each ``text`` block of README.md that starts with ``$ alosim run`` or
``$ alosim compare`` (a one-line command) is run again; every line the
README shows must appear in the output, in the same order (``...`` stands
for lines left out; the ``results:`` line names a folder that depends on
--out).
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
EXAMPLES = BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_has_run_and_compare_examples():
    commands = [command.split()[1] for command, _ in EXAMPLES]
    assert commands.count("run") >= 3 and commands.count("compare") >= 2


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


def test_the_readme_rerun_table_is_what_knobs_prints():
    import alosim
    from alosim import knobs

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(">>> print(shown.table.to_string(index=False))\n") + len(
        ">>> print(shown.table.to_string(index=False))\n")
    shown_text = readme[start:readme.index("```", start)].rstrip("\n")
    scenario = alosim.load_scenario(ROOT / "scenarios" / "ack-lost.yaml")
    shown = knobs.rerun(scenario, {"network.ack.loss": 0.5, "sender.retry.timeout": "100ms"})
    assert shown.table.to_string(index=False) == shown_text
