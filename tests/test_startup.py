"""The command line imports only what a command needs (a fast start), and the
package's public names are still there, loaded on first use."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import alosim
from tests.conftest import SCENARIOS

HEAVY = ("numpy", "pandas", "matplotlib", "pydantic", "simpy", "scipy", "pyarrow", "ipywidgets")

PROBE = """
import json, sys
from alosim.cli import cli
try:
    cli.main(sys.argv[1:], prog_name="alosim")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


def loaded(*args: str, cwd: Path) -> list[str]:
    """The heavy modules a command imported (it runs in a fresh interpreter)."""
    env = dict(os.environ, PYTHONPATH=str(Path(alosim.__file__).parent.parent))
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_import_alosim_loads_nothing_heavy(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(alosim.__file__).parent.parent))
    done = subprocess.run([sys.executable, "-c", f"import alosim, sys; print(sorted(m for m in {HEAVY!r} "
                           "if m in sys.modules))"], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_help_and_validate_load_no_numpy_pandas_or_matplotlib(tmp_path: Path) -> None:
    assert loaded("--help", cwd=tmp_path) == []
    validate = loaded("validate", str(SCENARIOS / "ack-lost.yaml"), cwd=tmp_path)
    assert "pydantic" in validate  # the schema
    assert not {"numpy", "pandas", "matplotlib", "scipy", "pyarrow"} & set(validate)


@pytest.mark.parametrize("plot", [False, True])
def test_a_run_writes_its_tables_without_pandas(plot: bool, tmp_path: Path) -> None:
    args = ["run", str(SCENARIOS / "ack-lost.yaml"), "--set", "messages=10", "--out", str(tmp_path)]
    heavy = loaded(*args, *([] if plot else ["--no-plot"]), cwd=tmp_path)
    assert "pandas" not in heavy and "pyarrow" not in heavy
    if not plot:  # with a picture: loaded here, or in a process of its own (tests/test_picture_process.py)
        assert "matplotlib" not in heavy
    assert len(list(tmp_path.glob("ack-lost/seed-*/summary.csv"))) == 1
    assert len(list(tmp_path.glob("ack-lost/seed-*/growth.png"))) == plot


def test_every_public_name_is_the_object_its_module_defines() -> None:
    for name in alosim.__all__:
        if name == "__version__":
            continue
        module = importlib.import_module(alosim._WHERE[name])
        assert getattr(alosim, name) is getattr(module, name), name
    assert set(alosim._WHERE) == set(alosim.__all__) - {"__version__"}
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        alosim.nothing_here  # noqa: B018
