"""Input written to hurt: every cost bounded before it is paid, one clear line, exit 2.

Each test here is an attack that once cost minutes, gigabytes or a
traceback; each must now fail fast with a message that says why.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alosim import yamlread
from alosim.scenario import MAX_PROBLEMS, ScenarioError, load_scenario, parse_scenario
from tests.conftest import ROOT, SCENARIOS

BILLION_LAUGHS = """\
name: lol
messages: 1
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def alosim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alosim", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


def one_error(p: subprocess.CompletedProcess) -> str:
    """The run failed cleanly: exit 2, one error line, no traceback, nothing on stdout."""
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("alosim: error: "), p.stderr
    return lines[0]


def problem(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="f.yaml")
    return str(info.value)


# -- cost of reading -----------------------------------------------------------------


def test_billion_laughs_is_refused_fast_and_small(tmp_path):
    path = tmp_path / "lol.yaml"
    path.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS.encode()) < 600
    started = time.perf_counter()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert time.perf_counter() - started < 2.0
    # ru_maxrss is in kB on Linux: the expanded graph (a billion strings) was never built.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 50_000
    assert f"holds more than {yamlread.MAX_NODES:,} values" in str(info.value)
    assert "alias" in str(info.value)


def test_shared_anchors_within_the_limit_are_read():
    text = "name: x\nmessages: 10\nsender: &s {window: 4}\nsweep: {grid: {sender: [*s, *s]}}\n"
    scenario = parse_scenario(text)
    assert scenario.sweep is not None and scenario.sweep.grid["sender"] == [{"window": 4}] * 2


def test_an_alias_inside_its_own_anchor_is_refused():
    assert "an alias refers to the node that contains it" in problem("name: x\na: &a [1, *a]\n")


def test_expanded_size_counts_each_use_of_an_alias():
    loader = yamlread.StrictLoader("a: &a [1, 2, 3]\nb: [*a, *a]\n")
    node = loader.get_single_node()
    # root + 2 keys + [a: list + 3] + [b: list + 2 x (list + 3)] = 1 + 2 + 4 + 9
    assert yamlread.expanded_size(node) == 16
    with pytest.raises(yamlread.ReadError):
        yamlread.expanded_size(node, limit=15)


def test_deep_nesting_is_refused_before_the_recursion_limit():
    text = "name: x\nmessages: " + "[" * 5000 + "]" * 5000 + "\n"
    assert f"nested more than {yamlread.MAX_DEPTH} levels deep" in problem(text)


def test_a_huge_file_is_refused_by_its_size(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("name: x\nmessages: 1\n" + "".join(f"k{i}: 1\n" for i in range(40_000)))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "a scenario file may be at most 256 KiB" in str(info.value)
    assert "KiB;" in str(info.value)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_device_is_refused_without_reading_it(tmp_path):
    p = alosim("validate", "/dev/zero", cwd=tmp_path)
    assert one_error(p) == ("alosim: error: /dev/zero: is not a regular file (a device, pipe or "
                            "socket?); expected a YAML file")


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError) as info:
        load_scenario(fifo)  # opening a FIFO for reading would block for ever
    assert "is not a regular file" in str(info.value)


def test_error_lines_are_capped(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text("name: x\nmessages: 1\n" + "".join(f"k{i}: 1\n" for i in range(3000)))
    p = alosim("validate", str(path), cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == MAX_PROBLEMS + 1
    assert lines[0] == f"alosim: error: {path}: k0: unknown key (expected one of: name, description, " \
        "seed, semantics, messages, duration, max_time, sender, network, receiver, broker, consumer, " \
        "observe, faults, sweep, budget, expect, explore, guarantees, topology)"
    assert lines[-1] == f"alosim: error: {path}: ... and {3000 - MAX_PROBLEMS:,} more problems"


# -- the two --set extremes ---------------------------------------------------------------


def test_set_with_a_value_nested_2000_deep(tmp_path):
    value = "[" * 2000 + "]" * 2000
    p = alosim("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(tmp_path / "r"),
               "--set", f"messages={value}", cwd=tmp_path)
    assert one_error(p) == (f"alosim: error: {SCENARIOS / 'ack-lost.yaml'}: --set messages: not valid "
                            f"YAML: line 1, column 101: nested more than 100 levels deep")
    assert not (tmp_path / "r").exists()


def test_set_with_a_5000_digit_integer_gets_the_error_a_file_gets(tmp_path):
    digits = "7" * 5000
    p = alosim("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(tmp_path / "r"),
               "--set", f"messages={digits}", cwd=tmp_path)
    from_set = one_error(p)
    assert from_set.endswith("--set messages: not valid YAML: line 1, column 1: an integer of "
                             "5,000 digits; at most 100 are read")
    path = tmp_path / "big-int.yaml"
    path.write_text(f"name: x\nmessages: {digits}\n")
    from_file = one_error(alosim("validate", str(path), cwd=tmp_path))
    assert from_file.endswith("not valid YAML: line 2, column 11: an integer of 5,000 digits; at most "
                              "100 are read")
    assert not (tmp_path / "r").exists()


# -- strict reading -----------------------------------------------------------------------


def test_a_duplicate_key_is_an_error_naming_both_lines():
    text = "name: x\nmessages: 10\nsender: {window: 2}\nmessages: 20\n"
    assert problem(text) == ("f.yaml: not valid YAML: line 4, column 1: duplicate key 'messages' "
                             "(first on line 2); a key may appear once in a mapping")


def test_a_duplicate_key_in_a_nested_flow_mapping():
    text = "name: x\nmessages: 10\nsender: {window: 2, window: 3}\n"
    assert "line 3, column 21: duplicate key 'window' (first on line 3)" in problem(text)


def test_a_merge_key_may_be_overridden():
    text = "name: x\nmessages: 10\nsender:\n  <<: {window: 2, count: 2}\n  window: 3\n"
    scenario = parse_scenario(text)
    assert scenario.sender.window == 3 and scenario.sender.count == 2


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("messages", "true", "messages: expected a whole number, got true"),
    ("messages", "'100'", "messages: expected a whole number, got '100'"),
    ("sender.window", "false", "sender.window: expected a whole number, got false"),
    ("sender.count", "yes", "sender.count: expected a whole number, got true"),
    ("receiver.dedup.capacity", "true", "expected a whole number, got true"),
    ("network.ack.loss", "true", "network.ack.loss: expected a number, got true"),
    ("network.data.fifo", "1", "network.data.fifo: expected true or false, got 1"),
    ("network.data.fifo", "'yes'", "network.data.fifo: expected true or false, got 'yes'"),
    ("network.data.latency", "{dist: pareto, mean: 1s, shape: true}",
     "network.data.latency.shape: expected a number, got True"),
])
def test_counts_numbers_and_flags_are_typed_strictly(field, value, expected):
    text = "name: x\nmessages: 10\nsemantics: exactly-once\n"
    text = text.replace("messages: 10\n", "") if field == "messages" else text
    head, _, leaf = field.rpartition(".")
    nested = f"{leaf}: {value}"
    for part in reversed(head.split(".") if head else []):
        nested = f"{part}: {{{nested}}}"
    if field == "receiver.dedup.capacity":
        nested = f"receiver: {{dedup: {{kind: lru, capacity: {value}}}}}"
    assert expected in problem(text + nested + "\n")


def test_a_whole_float_is_still_a_count():
    assert parse_scenario("name: x\nmessages: 1.0e+3\n").messages == 1000


# -- output that input cannot forge ------------------------------------------------------


def test_a_file_name_cannot_forge_an_output_line(tmp_path):
    forged = tmp_path / "a\nalosim: error: forged.yaml"
    forged.write_text("name: x\nmessages: 1\n")
    p = alosim("validate", str(forged), cwd=tmp_path)
    assert p.returncode == 0
    assert p.stdout.count("\n") == 1 and "a\\nalosim: error: forged.yaml: ok (x, at-least-once)" in p.stdout
    p = alosim("validate", str(tmp_path / "b\u2028c\x1b[31m.yaml"), cwd=tmp_path)
    assert one_error(p).endswith("b\\u2028c\\x1b[31m.yaml: no such file")


def test_keys_and_values_cannot_forge_an_output_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text('name: x\nmessages: 1\n"k\\nalosim: error: forged": 1\nsemantics: "a\\u2029b"\n')
    p = alosim("validate", str(path), cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 2, lines
    assert all(line.startswith(f"alosim: error: {path}: ") for line in lines)
    assert "k\\nalosim: error: forged: unknown key" in p.stderr
    assert "\\u2029" in p.stderr


def test_an_output_folder_cannot_forge_an_output_line(tmp_path):
    out = tmp_path / "r\rfake: line"
    p = alosim("run", str(SCENARIOS / "ack-lost.yaml"), "--set", "messages=50", "--no-plot",
               "--out", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    (line,) = [line for line in p.stdout.split("\n") if line.startswith("results: ")]
    # Shown relative to the working folder (tmp_path), with the carriage return escaped.
    assert line.startswith("results: r\\rfake: line/ack-lost/seed-7-")
    assert "\r" not in p.stdout


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("consumer.count", "true", "consumer.count: expected a whole number, got true"),
    ("consumer.concurrency", "'8'", "consumer.concurrency: expected a whole number, got '8'"),
    ("broker.max_deliveries", "true", "broker.max_deliveries: expected a whole number, got true"),
    ("broker.prefetch", "false", "broker.prefetch: expected a whole number, got false"),
    ("broker.durable", "1", "broker.durable: expected true or false, got 1"),
])
def test_pipeline_counts_and_flags_are_typed_strictly(field, value, expected):
    section, leaf = field.split(".")
    text = f"name: x\nmessages: 10\nbroker: {{}}\nconsumer: {{}}\n{section}: {{{leaf}: {value}}}\n"
    text = text.replace(f"{section}: {{}}\n", "", 1)
    assert expected in problem(text)
