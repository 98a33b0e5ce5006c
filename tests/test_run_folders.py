"""A run's folder names its variant: the ``--set`` options, readable, safe as a file name,
cut short, and still told apart by the fingerprint after them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from alosim.cli import cli
from alosim.fieldunits import VARIANT_CHARS, variant_name, variant_title
from alosim.files import file_label
from alosim.results import run_id
from tests.conftest import SCENARIOS


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_a_variant_is_named_by_the_last_key_and_value_of_each_option():
    assert variant_name(["receiver.dedup.kind=none", " network.ack.loss = 0.3"]) == "kind=none, loss=0.3"
    assert variant_name([]) == ""
    assert variant_title("ack-lost", "kind=none") == "ack-lost [kind=none]"
    assert variant_title("ack-lost", "") == "ack-lost"


@pytest.mark.parametrize(("text", "label"), [
    ("kind=none, loss=0.3", "kind-none-loss-0.3"),
    ("partitions=[{at: 1, for: 2}]", "partitions-at-1-for-2"),
    ("name=../../etc/passwd", "name-..-..-etc-passwd"),
    ("timeout=250ms", "timeout-250ms"),
    ("x=é€ ", "x"),
    ("", ""),
])
def test_a_label_holds_only_safe_file_name_characters(text, label):
    assert file_label(text, 60) == label


def test_run_ids_carry_the_variant_cut_short_before_the_fingerprint():
    assert run_id(7, "59b2f16f678366a4") == "seed-7-59b2f16f678366a4"
    assert run_id(7, "7fd05921a4249ac1", "kind=none") == "seed-7-kind-none-7fd05921a4249ac1"
    long = run_id(7, "0123456789abcdef", ", ".join(f"key{i}=value{i}" for i in range(20)))
    assert long.startswith("seed-7-key0-value0-") and long.endswith("-0123456789abcdef")
    assert len(long) <= len("seed-7--0123456789abcdef") + VARIANT_CHARS
    assert "/" not in run_id(7, "ab", "path=a/b") and ".." not in run_id(7, "ab", "x=..")


def test_a_variant_run_lands_in_a_folder_that_names_it(tmp_path):
    out = tmp_path / "r"
    assert invoke("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(out), "--no-plot").exit_code == 0
    shown = invoke("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(out), "--no-plot",
                   "--set", "messages=100", "--set", "receiver.dedup.kind=none")
    assert shown.exit_code == 0
    folders = sorted(p.name for p in (out / "ack-lost").iterdir())
    plain, variant = sorted(folders, key=len)
    manifest = json.loads((out / "ack-lost" / variant / "manifest.json").read_text())
    assert plain == f"seed-7-{json.loads((out / 'ack-lost' / plain / 'manifest.json').read_text())['fingerprint']}"
    assert variant == f"seed-7-messages-100-kind-none-{manifest['fingerprint']}"
    assert manifest["variant"] == "messages=100, kind=none"
    assert f"results: {out / 'ack-lost' / variant}" in shown.stdout


def test_two_variants_whose_names_are_cut_alike_still_land_apart(tmp_path):
    # The names agree in their first VARIANT_CHARS characters; the fingerprints do not.
    pad = "x" * VARIANT_CHARS
    out = tmp_path / "r"
    for loss in ("0.1", "0.2"):
        assert invoke("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(out), "--no-plot",
                      "--set", f"description={pad}",
                      "--set", "messages=50", "--set", f"network.ack.loss={loss}").exit_code == 0
    folders = sorted(p.name for p in (out / "ack-lost").iterdir())
    assert len(folders) == 2
    assert folders[0][:-16] == folders[1][:-16]  # the same readable part
    assert folders[0][-16:] != folders[1][-16:]


def test_the_same_variant_lands_in_the_same_folder_again(tmp_path):
    out = tmp_path / "r"
    for _ in range(2):
        assert invoke("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(out), "--no-plot",
                      "--set", "messages=50", "--set", "network.ack.loss=0.1").exit_code == 0
    assert len(list((out / "ack-lost").iterdir())) == 1


def _sweep(out, *sets: str):
    args = ["sweep", str(SCENARIOS / "compare-semantics.yaml"), "--out", str(out), "--executor", "serial",
            "--no-progress", "--set", "messages=40", "--set", "sweep.replications=1"]
    for item in sets:
        args += ["--set", item]
    shown = invoke(*args)
    assert shown.exit_code == 0, shown.output
    return shown


def test_a_sweep_of_a_variant_names_it_in_its_folder_and_every_picture(tmp_path, monkeypatch):
    import alosim.plots as plots

    titles = []
    monkeypatch.setattr(plots, "save", lambda fig, path: titles.append(fig._suptitle.get_text()))
    _sweep(tmp_path / "r", "network.data.loss=0.05")
    (folder,) = (tmp_path / "r" / "compare-semantics").iterdir()
    # the sweep's own options (messages is the scenario's, sweep.replications the sweep's)
    assert folder.name.startswith("sweep-semantics_ack.loss-messages-40-loss-0.05-")
    assert json.loads((folder / "sweep.json").read_text())["variant"] == "messages=40, loss=0.05"
    assert titles and set(titles) == {"compare-semantics [messages=40, loss=0.05]"}


def test_a_sweep_stored_before_folders_named_variants_is_resumed_in_its_folder(tmp_path):
    _sweep(tmp_path / "r")
    (folder,) = (tmp_path / "r" / "compare-semantics").iterdir()
    old = folder.with_name(folder.name.replace("-messages-40", ""))
    folder.rename(old)
    shown = _sweep(tmp_path / "r")
    assert "18 stored before, 0 computed" in shown.stdout
    assert [p.name for p in (tmp_path / "r" / "compare-semantics").iterdir()] == [old.name]
