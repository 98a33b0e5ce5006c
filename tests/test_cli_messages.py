"""What ``alosim`` says around a run: notes, blame for bad overrides, written files."""

from __future__ import annotations

from click.testing import CliRunner

from alosim.cli import cli
from tests.conftest import SCENARIOS


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_run_of_a_sweep_scenario_says_only_the_base_point_runs(tmp_path):
    result = invoke("run", str(SCENARIOS / "compare-semantics.yaml"), "--out", str(tmp_path),
                    "--no-plot", "--set", "messages=200")
    assert result.exit_code == 0
    assert "runs only its base point" in result.stderr
    assert f"alosim sweep {SCENARIOS / 'compare-semantics.yaml'}" in result.stderr
    assert "sweep" not in result.stdout.splitlines()[0]


def test_run_of_a_plain_scenario_says_nothing_on_stderr(tmp_path):
    result = invoke("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(tmp_path), "--no-plot",
                    "--set", "messages=200")
    assert result.exit_code == 0 and result.stderr == ""


def test_a_misspelt_override_blames_the_set_option_not_the_file(tmp_path):
    for item, field in (("netwrk.ack.loss=0.2", "netwrk: unknown key; did you mean 'network'?"),
                        ("network.ack.loss=2", "network.ack.loss: Input should be less than or equal to 1"),
                        ("sender.retry.timout=1s", "sender.retry.timout: unknown key")):
        result = invoke("run", str(SCENARIOS / "ack-lost.yaml"), "--out", str(tmp_path), "--set", item)
        assert result.exit_code == 2
        assert result.stderr.startswith(f"alosim: error: --set {item}: {field}"), result.stderr
        assert "ack-lost.yaml" not in result.stderr
    assert not any(tmp_path.iterdir())


def test_a_bad_file_is_still_blamed_on_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmessages: 10\nnetwork: {ack: {los: 0.1}}\n")
    result = invoke("run", str(bad), "--out", str(tmp_path / "out"), "--set", "network.data.loss=0.1")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"alosim: error: {bad}: network.ack.los: unknown key")


def test_trace_says_where_it_wrote_the_mermaid_file_and_names_the_attempt_column(tmp_path):
    target = tmp_path / "seq.mmd"
    result = invoke("trace", str(SCENARIOS / "ack-lost.yaml"), "--messages", "2", "--mermaid", str(target))
    assert result.exit_code == 0
    assert f"mermaid diagram: {target}" in result.stdout
    assert target.read_text().startswith("sequenceDiagram")
    header = result.stdout.splitlines()[0].split()
    assert "attempt" in header and "try" not in header


def test_summary_shows_spurious_retransmissions_and_the_backlog():
    import alosim
    from alosim.cli import format_summary
    from tests.conftest import make

    scenario = make("name: s\nseed: 1\nmessages: 300\nsender: {rate: 100/s, window: 4}")
    summary = dict(alosim.simulate(scenario).summary)
    plain = format_summary(scenario, summary, 0.1)
    assert "spurious retransmissions" in plain and "outbox wait p50" in plain
    older = {k: v for k, v in summary.items() if k != "spurious_retransmissions" and not k.startswith("outbox_wait")}
    assert "spurious" not in format_summary(scenario, older, 0.1)  # a summary stored by an older alosim
    summary.update({"spurious_retransmissions": 7, "outbox_wait_p50_s": 0.5, "outbox_wait_p95_s": 2.0,
                    "outbox_wait_p99_s": 3.0, "outbox_wait_max_s": 4.0, "outbox_wait_mean_s": 0.75})
    shown = format_summary(scenario, summary, 0.1).splitlines()
    spurious = next(i for i, line in enumerate(shown) if "spurious retransmissions" in line)
    assert shown[spurious - 1].strip().startswith("retransmissions") and shown[spurious].split()[-1] == "7"
    backlog = next(i for i, line in enumerate(shown) if line.strip().startswith("sender backlog"))
    assert [" ".join(line.split()[-2:]) for line in shown[backlog + 1:backlog + 6]] == ["500 ms", "2 s", "3 s", "4 s", "750 ms"]


def test_a_bare_number_in_a_round_trip_duration_is_pointed_out_with_how_it_was_read():
    from click.testing import CliRunner

    from alosim.cli import cli

    path = str(SCENARIOS / "ack-lost.yaml")
    odd = CliRunner().invoke(cli, ["validate", path, "--set", "sender.retry.timeout=100"])
    assert odd.exit_code == 0
    assert ("alosim: warning: --set sender.retry.timeout=100: a bare number is seconds: read as 1.67 min"
            in odd.stderr)
    for fine in ("sender.retry.timeout=100ms", "sender.retry.timeout=0.3", "duration=60"):
        assert "warning" not in CliRunner().invoke(cli, ["validate", path, "--set", fine]).stderr, fine


def test_duration_and_messages_replace_each_other_and_errors_name_the_option():
    from click.testing import CliRunner

    import alosim
    from alosim.cli import cli

    path = SCENARIOS / "ack-lost.yaml"  # gives messages: 10,000 and a rate
    day = alosim.load_scenario(path, ["duration=1d"])
    assert (day.messages, day.duration) == (None, 86400.0)
    assert alosim.load_scenario(SCENARIOS / "metastable-retry-storm.yaml", ["messages=50"]).duration is None
    both = CliRunner().invoke(cli, ["validate", str(path), "--set", "messages=10", "--set", "duration=1s"])
    assert both.exit_code == 2
    assert both.stderr.startswith("alosim: error: --set messages=10: give exactly one of")


def test_validate_takes_set():
    from click.testing import CliRunner

    from alosim.cli import cli

    bad = CliRunner().invoke(cli, ["validate", str(SCENARIOS / "ack-lost.yaml"), "--set", "network.ack.loss=2"])
    assert bad.exit_code == 2 and bad.stderr.startswith("alosim: error: --set network.ack.loss=2: network.ack.loss")
