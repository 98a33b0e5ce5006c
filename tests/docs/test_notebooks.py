"""Each notebook runs, and its committed outputs are what it computes.

One test per notebook executes it once in a fresh kernel (this is the
suite's only execution of the notebooks) and compares the outputs committed
in the file with the ones just computed: text exactly, once wall-clock
times are masked; pictures present where they were (see
:mod:`docsgen.notebooks`). After changing what a notebook computes, refresh
its outputs with ``make notebooks``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from docsgen.notebooks import NOTEBOOKS, differences, execute, pictures
from tests.docs.shown import mask

PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_committed_outputs_are_what_the_notebook_computes(path: Path) -> None:
    committed = nbformat.read(path, as_version=4)
    assert pictures(committed) >= 1, f"{path.name}: committed without its pictures (run make notebooks)"
    computed = execute(path)
    problems = differences(committed, computed, mask)
    assert not problems, f"{path.name}: committed outputs differ (run make notebooks):\n" + "\n".join(problems)


def test_every_notebook_is_tested() -> None:
    assert len(PATHS) >= 9


def test_a_changed_output_is_caught_and_a_wall_time_is_not() -> None:
    def notebook(*outputs: dict) -> nbformat.NotebookNode:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("run()", outputs=[nbformat.from_dict(o) for o in outputs])]
        return nb

    def out(text: str) -> dict:
        return {"output_type": "stream", "name": "stdout", "text": text}

    picture = {"output_type": "display_data", "metadata": {},
               "data": {"image/png": "iVBORw0K", "text/plain": "<Figure size 640x480 with 1 Axes>"}}
    base = notebook(out("duplicates 4,449\nwall time  0.22s\n"), picture)
    assert differences(base, notebook(out("duplicates 4,449\nwall time  1.5s\n"), picture), mask) == []
    assert differences(base, notebook(out("duplicates 4,450\nwall time  0.22s\n"), picture), mask)
    assert differences(base, notebook(out("duplicates 4,449\nwall time  0.22s\n")), mask)  # picture gone


def test_a_stream_flushed_in_pieces_is_one_stream() -> None:
    def notebook(*texts: str) -> nbformat.NotebookNode:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("run()", outputs=[
            nbformat.from_dict({"output_type": "stream", "name": "stdout", "text": t}) for t in texts])]
        return nb

    whole = notebook("no violation found\n\nnever violated:\n  crashes = 0\n")
    assert differences(whole, notebook("no violation found\n\nnever violated:\n  crashes = 0", "\n"), mask) == []
    assert differences(whole, notebook("no violation found\n\nnever ", "violated:\n  crashes = 0\n"), mask) == []
    assert differences(whole, notebook("no violation found\n", "\nnever violated:\n  crashes = 1\n"), mask)
