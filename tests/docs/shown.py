"""Shown examples: the ``$ alosim ...`` commands of the documentation and the output
shown under them, as the suite runs and compares them.

**The format.** A fenced block of language ``text`` or ``console`` (or of
none) whose first line starts with ``$ alosim`` is an example. Each ``$ alosim
...`` line is a command (a line ending in ``\\`` continues on the next, as in a
shell); the lines under it, up to the next ``$`` line or the end of the
block, are what it prints on standard output (progress bars, notes and
warnings go to standard error and are not compared; trailing blanks are
ignored). :func:`stray_commands` finds a ``$ alosim`` line that is not part
of an example, so a block cannot leave the check by its language.
Commands of one page run in order in one fresh folder that holds
``scenarios/`` (the shipped ones), so a later command sees the results an
earlier one wrote.

**Eliding.** A line holding only ``...`` (indented or not) stands for any
number of lines, none included: show the lines that matter and elide the
rest. Everything shown must match exactly, in order.

**Masks.** What changes from run to run without anything being wrong --
and only that -- is masked, in the shown output and in the printed one alike,
by the patterns of :data:`MASKS`: each match becomes ``<name>``. Add a mask
here, never a tolerance in a page. The notebooks' committed outputs are
compared through the same masks (:mod:`docsgen.notebooks`).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

#: Volatile parts of an output, by name: (pattern, what it stands for).
MASKS: dict[str, tuple[re.Pattern[str], str]] = {
    "wall": (re.compile(r"(?<=wall time)\s+\S+$|(?<=wall )\d[\d.,]*\s?(?:ms|s|min)\b|"
                        r"\b\d[\d.,]*\s?(?:ms|s|min)(?= wall)|(?<=simulated in )\d[\d.,]*\s?(?:ms|s|min)\b",
                        re.MULTILINE),
             "wall-clock time: depends on the machine and its load"),
    "address": (re.compile(r"\bat 0x[0-9a-f]+"), "where an object lives in memory (a notebook's repr)"),
    "styler": (re.compile(r"\bT_[0-9a-f]{5}(?=[_\"\s])"), "the random id pandas gives a styled table"),
    "date": (re.compile(r"\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?"),
             "the date and time a result was written"),
    "workers": (re.compile(r"(?<=up to )\d+(?= workers?\b)"),
                "how many worker processes an executor may start: the machine's cores"),
    "port": (re.compile(r"(?<=://127\.0\.0\.1:)\d+"), "the port a broker on loopback listens on"),
    "measured": (re.compile("|".join([
        r"(?<=consumer crashes, )\d+(?:\.\d+)?s$",  # how long the workload took to play
        r"^  \d+ deliveries \(\d+\.\d+ per message\), \d+ side effects, \d+ dead-lettered$",
        r"^  timer overshoot: .*$",
        r"^  consumer down \(kill to ready\): .*$",
        r"\s+\d+\.\d{4} ± \d+\.\d{4}(?=\s+\d+\.\d{4} ± \d+\.\d{4}\s+[+-]\d+\.\d{4}\s)",  # real, before alosim's
        r"\s+[+-]\d+\.\d{4}\s+\d+\.\d{4}\s+(?:agrees|DIFFERS)$",  # difference, bound, verdict
        r"(?<=difference \+ )\d+\.\d+ms(?= overshoot allowance)",
        r"(?<=^verdict: ).*$",
    ]), re.MULTILINE),
                 "what alosim conform measures on a real broker (counts, timer overshoot, the real column and "
                 "what depends on it); alosim's own column is not masked"),
    "tmp": (re.compile(r"/tmp/\S+"), "a path under the temporary folder (also the folder the commands run in)"),
}

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
                    re.MULTILINE | re.DOTALL)
#: The languages of a fenced block that may hold an example ("" = none given).
EXAMPLE_LANGUAGES = ("text", "console", "")
_ELIDE = re.compile(r"^\s*(?:\.\.\.|…)\s*$")


@dataclass(frozen=True)
class Example:
    """One shown command, the output shown under it, and where it is shown."""

    page: str
    line: int
    command: str
    shown: str

    @property
    def needs_broker(self) -> bool:
        """Whether the command plays against a real broker (``alosim conform``): the
        conformance suite runs it (tests/conformance/test_conform_page.py), against its own."""
        return self.args[0] == "conform"

    @property
    def args(self) -> list[str]:
        """The command's arguments, after ``alosim``."""
        words = shlex.split(self.command)
        assert words[0] == "alosim", self.command
        return words[1:]


def examples(path: Path, root: Path) -> list[Example]:
    """The shown examples of one Markdown page, in page order."""
    text = path.read_text(encoding="utf-8")
    page = str(path.relative_to(root))
    found: list[Example] = []
    for block in _FENCE.finditer(text):
        if block.group("lang") not in EXAMPLE_LANGUAGES:
            continue
        lines = [line[len(block.group("indent")):] for line in block.group("body").splitlines()]
        if not lines or not lines[0].startswith("$ alosim"):
            continue
        first_line = text.count("\n", 0, block.start("body")) + 1
        starts = [i for i, line in enumerate(lines) if line.startswith("$ ")]
        for i, end in zip(starts, [*starts[1:], len(lines)]):
            command, output = _command(lines[i:end])
            found.append(Example(page, first_line + i, command, "\n".join(output)))
    return found


def _command(lines: list[str]) -> tuple[str, list[str]]:
    """The command of ``lines`` (``$ ...``, continued by lines ending in ``\\``) and the lines after it."""
    words = [lines[0][2:].strip()]
    taken = 1
    while words[-1].endswith("\\") and taken < len(lines):
        words[-1] = words[-1][:-1].rstrip()
        words.append(lines[taken].strip())
        taken += 1
    return " ".join(words), lines[taken:]


def stray_commands(path: Path, root: Path) -> list[str]:
    """``page:line`` of each ``$ alosim`` line of a fenced block that is not an example's command.

    A ``markdown`` block shows a page's source (how to write an example), not a command."""
    text = path.read_text(encoding="utf-8")
    page = str(path.relative_to(root))
    commands = {e.line for e in examples(path, root)}
    stray = []
    for block in _FENCE.finditer(text):
        if block.group("lang") in ("markdown", "md"):
            continue
        first_line = text.count("\n", 0, block.start("body")) + 1
        for i, line in enumerate(block.group("body").splitlines()):
            if line.strip().startswith("$ alosim") and first_line + i not in commands:
                stray.append(f"{page}:{first_line + i}")
    return stray


def mask(text: str, tmp: Path | None = None) -> list[str]:
    """``text`` as lines with every volatile part masked and trailing blanks removed."""
    if tmp is not None:
        text = re.sub(re.escape(str(tmp)) + r"\S*", "<tmp>", text)
    for name, (pattern, _) in MASKS.items():
        text = pattern.sub(f"<{name}>", text)
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def mismatch(shown: list[str], printed: list[str]) -> str | None:
    """Why ``printed`` does not match ``shown`` (with its elisions), or None if it does."""
    segments: list[list[str]] = [[]]
    for line in shown:
        if _ELIDE.match(line):
            segments.append([])
        else:
            segments[-1].append(line)
    # Without an elision the output is exactly what is shown: nothing shown means nothing printed.
    anchored_start, anchored_end = bool(segments[0]) or len(segments) == 1, bool(segments[-1]) or len(segments) == 1
    position = 0
    for k, segment in enumerate(segments):
        if not segment:
            continue
        if k == 0 and anchored_start:
            at = 0 if printed[:len(segment)] == segment else -1
        else:
            at = next((i for i in range(position, len(printed) - len(segment) + 1)
                       if printed[i:i + len(segment)] == segment), -1)
        if at < 0:
            return (f"these shown lines are not printed (in this order, after line {position}):\n"
                    + "\n".join(segment))
        position = at + len(segment)
    if anchored_end and position != len(printed):
        return "printed more after the last shown line:\n" + "\n".join(printed[position:position + 10])
    return None
