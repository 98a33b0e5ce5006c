import json

import pytest

import alosim
from alosim.scenario import ScenarioError, json_schema, load_scenario, parse_scenario
from tests.conftest import SCENARIOS, SMALL, make


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="x.yaml")
    assert str(info.value).startswith("x.yaml: ")
    return info.value.problems


def test_every_shipped_scenario_is_valid_and_describes_its_question():
    files = sorted(SCENARIOS.glob("*.yaml"))
    assert len(files) >= 5
    for path in files:
        scenario = load_scenario(path)
        assert len(scenario.description) > 40, path


@pytest.mark.parametrize(
    ("semantics", "attempts", "dedup"),
    [("at-most-once", 1, "none"), ("at-least-once", None, "none"), ("exactly-once", None, "set")],
)
def test_semantics_presets_fill_what_the_file_leaves_out(semantics, attempts, dedup):
    s = parse_scenario(f"name: t\nmessages: 10\nsemantics: {semantics}\n")
    assert s.sender.retry.max_attempts == attempts
    assert s.receiver.dedup.kind == dedup


def test_explicit_fields_override_the_preset():
    s = parse_scenario("name: t\nmessages: 10\nsemantics: exactly-once\n"
                       "sender: {retry: {max_attempts: 4}}\n")
    assert s.sender.retry.max_attempts == 4
    assert s.receiver.dedup.kind == "set"


def test_contradictions_are_rejected():
    (path, message), = problems("name: t\nmessages: 10\nsemantics: exactly-once\n"
                                "receiver: {dedup: {kind: none}}\n")
    assert "exactly-once needs a dedup store" in message
    (path, message), = problems("name: t\nmessages: 10\nsemantics: at-most-once\n"
                                "sender: {retry: {max_attempts: 3}}\n")
    assert "at-most-once" in message and "max_attempts" in message


def test_misspelt_key_gets_a_suggestion_and_its_dotted_path():
    (path, message), = problems("name: t\nmessages: 10\nnetwork: {ack: {los: 0.1}}\n")
    assert path == "network.ack.los"
    assert "unknown key" in message and "did you mean 'loss'?" in message


def test_misspelt_key_inside_a_distribution():
    (path, message), = problems(
        "name: t\nmessages: 10\nnetwork: {data: {latency: {dist: exponential, meen: 5ms}}}\n")
    assert path.startswith("network.data.latency")
    assert "meen" in path or "mean" in message


def test_unknown_key_without_a_close_match_lists_the_allowed_ones():
    (path, message), = problems("name: t\nmessages: 10\nsender: {zebra: 1}\n")
    assert path == "sender.zebra"
    assert "expected one of:" in message and "window" in message


@pytest.mark.parametrize(
    ("fragment", "field", "words"),
    [
        ("network: {ack: {loss: 1.5}}", "network.ack.loss", "less than or equal to 1"),
        ("sender: {retry: {timeout: -2s}}", "sender.retry.timeout", "greater than 0"),
        ("sender: {retry: {timeout: 5 parsecs}}", "sender.retry.timeout", "unknown duration unit"),
        ("sender: {rate: fast}", "sender.rate", "expected a rate"),
        ("sender: {window: 0}", "sender.window", "greater than or equal to 1"),
        ("semantics: maybe-once", "semantics", "at-most-once"),
    ],
)
def test_bad_values_name_the_field_and_what_was_expected(fragment, field, words):
    found = problems(f"name: t\nmessages: 10\n{fragment}\n")
    assert any(path == field and words in message for path, message in found), found


@pytest.mark.parametrize("name", ["../../x", "a/b", ".hidden", "x..y", "", "é" * 3, "a" * 101])
def test_names_that_could_escape_the_results_folder_are_refused(name):
    found = problems(f"name: {json.dumps(name)}\nmessages: 10\n")
    assert found[0][0] == "name"


def test_malformed_yaml_and_wrong_document_shapes():
    (path, message), = problems("name: [unclosed\n")
    assert "not valid YAML" in message and "line" in message
    (path, message), = problems("- a\n- b\n")
    assert "expected a mapping" in message
    (path, message), = problems("")
    assert "empty" in message


def test_yaml_python_tags_are_refused():
    (path, message), = problems("name: !!python/object/apply:os.system ['true']\nmessages: 1\n")
    assert "not valid YAML" in message


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "nope.yaml")


def test_messages_or_duration_exactly_one():
    (path, message), = problems("name: t\n")
    assert "exactly one of 'messages'" in message
    (path, message), = problems("name: t\nduration: 5s\n")
    assert "needs sender.rate" in message


def test_overrides_re_resolve_presets_and_report_bad_paths():
    base = make(SMALL)
    amo = base.with_overrides({"semantics": "at-most-once"})
    assert amo.sender.retry.max_attempts == 1
    with pytest.raises(ScenarioError) as info:
        base.with_overrides({"network.ack.loss": 7})
    assert info.value.problems[0][0] == "network.ack.loss"


def test_set_overrides_from_the_command_line_parse_units():
    s = parse_scenario(SMALL, overrides=["sender.retry.timeout=1s", "network.ack.loss=0.5"])
    assert s.sender.retry.timeout == 1.0
    assert s.network.ack.loss == 0.5


def test_resolved_scenario_round_trips():
    s = make(SMALL)
    again = parse_scenario(s.to_yaml())
    assert again.resolved() == s.resolved()


def test_json_schema_describes_every_section():
    schema = json_schema()
    assert schema["title"] == "alosim scenario"
    assert {"sender", "network", "receiver", "observe", "semantics"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_public_api_is_pinned():
    assert sorted(alosim.__all__) == sorted(
        name for name in alosim.__all__ if not name.startswith("_") or name == "__version__"
    )
    for name in alosim.__all__:
        assert hasattr(alosim, name), name
