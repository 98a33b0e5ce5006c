"""The theory pages: each closed form of :mod:`alosim.analytic`, and the tests that hold
the simulator against it.

The page is the module's own text (the models and assumptions it states),
then one section per public function: its signature, its
docstring (assumptions and source), and every test function of ``tests/``
that uses it -- read from the tests' syntax trees, so a closed form that
loses its last test shows "no test uses it" on the page.
"""

from __future__ import annotations

import ast
import inspect
from collections import defaultdict
from pathlib import Path

from alosim import analytic
from docsgen.markup import docstring

ROOT = Path(__file__).resolve().parent.parent


def closed_forms() -> list[tuple[str, object]]:
    """The public functions of :mod:`alosim.analytic`, in source order (the classes it
    returns are on the API page)."""
    found = []
    for name, obj in vars(analytic).items():
        if name.startswith("_") or not inspect.isfunction(obj):
            continue
        if getattr(obj, "__module__", None) != analytic.__name__:
            continue
        found.append((inspect.getsourcelines(obj)[1], name, obj))  # type: ignore[arg-type]
    return [(name, obj) for _, name, obj in sorted(found)]


def _names_used(node: ast.AST) -> set[str]:
    used: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            used.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            used.add(sub.attr)
    return used


def _imports_analytic(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("alosim.analytic", "alosim"):
            if node.module == "alosim.analytic" or any(a.name == "analytic" for a in node.names):
                return True
        if isinstance(node, ast.Import) and any(a.name == "alosim.analytic" for a in node.names):
            return True
    return False


def validating_tests(names: set[str], tests: Path = ROOT / "tests") -> dict[str, list[str]]:
    """For each name, the tests (``path::function``) that use it, directly or through a
    helper function of their own module."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(tests.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not _imports_analytic(tree):
            continue
        functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        helpers = {name: _names_used(fn) & names for name, fn in functions.items()
                   if not name.startswith("test_")}
        constants = {t.id: _names_used(n.value) & names for n in tree.body if isinstance(n, ast.Assign)
                     for t in n.targets if isinstance(t, ast.Name)}
        for name, fn in functions.items():
            if not name.startswith("test_"):
                continue
            used = _names_used(fn)
            direct = used & names
            via = {x for h in used & (helpers.keys() | constants.keys())
                   for x in helpers.get(h, constants.get(h, set()))}
            for closed_form in sorted(direct | via):
                found[closed_form].append(f"{path.relative_to(ROOT)}::{name}")
    return found


def page() -> str:
    """The Markdown of the theory page."""
    forms = closed_forms()
    tests = validating_tests({name for name, _ in forms})
    out = [
        "# Theory: the closed forms",
        "",
        "Generated from `alosim/analytic.py` and the test suite each time the site is built. "
        "Each closed form states the model it assumes and its source; the tests listed under it "
        "compare the simulator with it (statistical ones with a 99 % confidence interval under "
        "a fixed seed). `alosim run` prints the closed forms whose assumptions a run meets "
        "beside the measurement (`alosim/theory.py` decides which apply).",
        "",
        "## The models {#models}",
        "",
        docstring(analytic),
        "",
    ]
    for name, obj in forms:
        signature = str(inspect.signature(obj))  # type: ignore[arg-type]
        out.append(f"## `{name}` {{#{name}}}")
        out.append("")
        out.append(f"```python\n{name}{signature}\n```")
        out.append("")
        out.append(docstring(obj) or "*(no docstring)*")
        out.append("")
        users = tests.get(name, [])
        if users:
            out.append(f"**Validated by** ({len(users)} test{'s' if len(users) != 1 else ''}):")
            out.append("")
            out.extend(f"- `{t}`" for t in users)
        else:
            out.append("**Validated by:** no test uses it.")
        out.append("")
    return "\n".join(out)
