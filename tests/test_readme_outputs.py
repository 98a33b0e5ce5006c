"""The Python session the guide shows (docs/guide/python.md) prints what it shows.

The ``$ alosim ...`` commands of README.md and of every documentation page,
the guide's included, are run by tests/docs/test_shown_examples.py.
"""

from __future__ import annotations

from tests.conftest import ROOT


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
