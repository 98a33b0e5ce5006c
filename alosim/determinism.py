"""Checking that a run is deterministic: the same scenario and seed, run in
separate processes with different ``PYTHONHASHSEED`` values, must produce
the same fingerprint.

Nondeterminism in a simulator hides easily -- iterating a set of strings,
reading the clock, a dict ordered by hash -- and shows only as results that
differ between runs. Every run reports a fingerprint (a hash of its summary,
series and trace, wall time excluded), so running it twice and comparing
the two is enough to catch it.

The two runs are child processes of the command, and end with it: if the
command is interrupted (Ctrl-C, SIGTERM) it kills them before it exits, and
if it is killed outright each child notices and ends itself
(:mod:`alosim.lifeline`; the child learns its parent from
:data:`PARENT_ENV`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HASH_SEEDS = ("1", "2")
#: The environment variable that tells a child run the pid of the command that started it.
PARENT_ENV = "ALOSIM_PARENT_PID"


@dataclass(frozen=True)
class Verdict:
    fingerprints: dict[str, str]  # hash seed -> fingerprint

    @property
    def ok(self) -> bool:
        return len(set(self.fingerprints.values())) == 1

    def describe(self) -> str:
        runs = ", ".join(f"PYTHONHASHSEED={h}: {f}" for h, f in self.fingerprints.items())
        if self.ok:
            return f"deterministic: the same fingerprint in separate processes ({runs})"
        return f"NOT deterministic: fingerprints differ between processes ({runs})"


class CheckError(Exception):
    """A run could not be done at all (its output is in the message)."""


def check(file: Path, overrides: Sequence[str] = (), seed: int | None = None) -> Verdict:
    """Run ``file`` once per hash seed, in parallel child processes; compare fingerprints."""
    args = [sys.executable, "-m", "alosim", "fingerprint", str(file)]
    args += [f"--set={o}" for o in overrides]
    if seed is not None:
        args += ["--seed", str(seed)]
    children: dict[str, subprocess.Popen[str]] = {}
    try:
        for h in HASH_SEEDS:
            children[h] = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "PYTHONHASHSEED": h, PARENT_ENV: str(os.getpid())})
        fingerprints = {}
        for h, child in children.items():
            out, err = child.communicate()
            if child.returncode != 0:
                raise CheckError(err.strip() or f"the run with PYTHONHASHSEED={h} failed")
            fingerprints[h] = json.loads(out)["fingerprint"]
    finally:
        for child in children.values():  # interrupted, or one failed: the other is not wanted
            if child.poll() is None:
                child.kill()
                child.wait()
    return Verdict(fingerprints)
