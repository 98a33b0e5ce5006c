"""The notebooks, executed: their outputs are committed, and must stay what they compute.

A notebook is committed with its outputs, so a reader browsing the repository
or the documentation site sees its tables and pictures. :func:`execute` runs
one in a fresh kernel (from ``notebooks/``, as JupyterLab does), without
timing metadata or widget state, so that executing it twice gives the same
file. :func:`differences` compares two executions of the same notebook:

* text outputs (standard output, ``text/plain``, ``text/html``,
  ``text/markdown``) must be equal once wall-clock times are masked (the
  masks of the shown examples, :data:`tests.docs.shown.MASKS` -- one
  mechanism for the documentation and the notebooks);
* pictures (``image/png``, ``image/svg+xml``) must be present where they
  were: their pixels depend on the fonts and renderer of the machine, their
  data on what the notebook computed, which its text outputs show;
* standard error is not compared (warnings depend on library versions).

``python -m docsgen.notebooks [NOTEBOOK...]`` (``make notebooks``) executes
notebooks and writes their outputs in place.
"""

from __future__ import annotations

import difflib
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

TEXT_TYPES = ("text/plain", "text/html", "text/markdown", "text/latex")
PICTURE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")
# A widget's model id is drawn at random by the kernel: the only volatile part of its output.
_MODEL_ID = re.compile(r'"model_id":\s*"[0-9a-f]+"|model_id=[\'"][0-9a-f]+[\'"]')


def execute(path: Path, timeout_s: int = 900) -> Any:
    """The notebook at ``path`` executed in a fresh kernel (the file is not changed)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout_s, kernel_name="python3", record_timing=False,
                            store_widget_state=False, resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return notebook


def _outputs(cell: Any, mask: Callable[[str], list[str]]) -> list[tuple[str, ...]]:
    """A code cell's outputs as comparable tuples: kind, mime type, masked text or 'present'."""
    found: list[tuple[str, ...]] = []
    stdout: list[str] = []  # consecutive stdout pieces are one stream, however the kernel flushed it
    for output in cell.get("outputs", []):
        kind = output["output_type"]
        if kind == "stream":
            if output["name"] == "stdout":
                text = "".join(output["text"]) if isinstance(output["text"], list) else output["text"]
                if stdout:
                    found.pop()
                stdout.append(text)
                found.append(("stdout", "\n".join(mask("".join(stdout)))))
            continue
        stdout = []
        if kind == "error":
            found.append(("error", output["ename"], output["evalue"]))
        else:
            for mime, data in sorted(output.get("data", {}).items()):
                text = data if isinstance(data, str) else "".join(data) if isinstance(data, list) else None
                if mime in PICTURE_TYPES:
                    found.append((kind, mime, "present"))
                elif mime in TEXT_TYPES and text is not None:
                    found.append((kind, mime, "\n".join(mask(_MODEL_ID.sub("model_id", text)))))
                else:
                    found.append((kind, mime, "present"))
    return found


def differences(committed: Any, computed: Any, mask: Callable[[str], list[str]]) -> list[str]:
    """Where the committed outputs are not what the notebook computes, cell by cell."""
    problems: list[str] = []
    code = [(i, c) for i, c in enumerate(committed.cells) if c.cell_type == "code"]
    fresh = [c for c in computed.cells if c.cell_type == "code"]
    if len(code) != len(fresh):
        return [f"{len(code)} code cells committed, {len(fresh)} executed"]
    for (index, old), new in zip(code, fresh):
        before, after = _outputs(old, mask), _outputs(new, mask)
        if before != after:
            first_line = old.source.splitlines()[0][:60] if old.source else ""
            problems.append(f"cell {index} ({first_line!r}):\n{_show(before, after)}")
    return problems


def _show(before: list[tuple[str, ...]], after: list[tuple[str, ...]]) -> str:
    """The first output that differs, as a diff of its lines (committed -> computed)."""
    if [item[:2] for item in before] != [item[:2] for item in after]:
        return f"  committed outputs {[i[:2] for i in before]}\n  computed outputs  {[i[:2] for i in after]}"
    old, new = next((a, b) for a, b in zip(before, after) if a != b)
    diff = difflib.unified_diff(old[-1].splitlines(), new[-1].splitlines(), "committed", "computed",
                                lineterm="", n=1)
    return f"  {old[0]} {old[1]}:\n" + "\n".join(f"    {line}" for line in list(diff)[:30])


def pictures(notebook: Any) -> int:
    """How many pictures the notebook's outputs hold."""
    return sum(1 for cell in notebook.cells for output in cell.get("outputs", [])
               for mime in output.get("data", {}) if mime in PICTURE_TYPES)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(paths: list[str]) -> None:
    for path in [Path(p) for p in paths] or sorted(NOTEBOOKS.glob("*.ipynb")):
        start_s, cpu_s = time.perf_counter(), _children_cpu_s()
        notebook = execute(path.resolve())
        nbformat.write(notebook, path)
        # The kernel's processor time, unlike the wall time, does not grow with the machine's
        # load: it is what a notebook's text may quote as its run time on a quiet machine.
        print(f"{path}: executed in {time.perf_counter() - start_s:.0f} s "
              f"({_children_cpu_s() - cpu_s:.0f} s of processor time in the kernel), "
              f"outputs written ({pictures(notebook)} pictures)")


if __name__ == "__main__":
    main(sys.argv[1:])
