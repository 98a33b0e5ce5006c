"""Whatever a person types, the loader answers with a scenario or one clear
error -- never a traceback -- and every valid scenario simulates."""

from __future__ import annotations

import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alosim
from alosim.scenario import ScenarioError, parse_scenario, validate_scenario

KEYS = ["name", "seed", "semantics", "messages", "duration", "max_time", "sender", "network",
        "receiver", "observe", "faults", "sweep", "count", "rate", "window", "retry", "timeout",
        "max_attempts", "policy", "jitter", "data", "ack", "loss", "latency", "dist", "mean",
        "value", "dedup", "kind", "window", "capacity", "fp_rate", "processing", "target", "at",
        "for", "mtbf", "mttr", "p", "r", "duplicate", "fifo", "partitions", "bogus", "lose"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["250ms", "5min", "-1s", "3 parsecs", "100/s", "1e999", "nan", "exactly-once",
                     "at-most-once", "ttl", "bloom", "gilbert-elliott", "exponential", "../../x",
                     "receiver-0", "senders", ""]),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=6),
    ),
    max_leaves=40,
)


def load_or_error(text: str) -> None:
    try:
        parse_scenario(text, source="fuzz.yaml")
    except ScenarioError as error:
        message = str(error)
        assert message.startswith("fuzz.yaml: ")
        assert "Traceback" not in message
        assert all(line.startswith("fuzz.yaml: ") for line in message.splitlines())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_arbitrary_yaml_documents(document):
    load_or_error(yaml.safe_dump(document))


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes(data):
    load_or_error(data.decode("utf-8", errors="replace"))


@settings(max_examples=200)
@given(st.text(alphabet=string.printable, max_size=300))
def test_random_text(text):
    load_or_error(text)


def test_deep_nesting_and_huge_values():
    load_or_error("a: " + "[" * 5000 + "]" * 5000)
    load_or_error("name: t\nmessages: " + "9" * 5000 + "\n")
    load_or_error("name: t\nmessages: 10\nseed: " + "9" * 100 + "\n")
    load_or_error("name: " + "x" * 100_000 + "\nmessages: 1\n")
    load_or_error("name: t\nmessages: 10\nsender: {window: 1e400}\n")
    load_or_error("&a [*a, *a]")


def test_yaml_tags_that_build_objects_are_refused():
    for tag in ("!!python/object/apply:os.system ['echo hi']", "!!python/name:os.system",
                "!!python/object:alosim.Scenario {}", "!custom 3", "!!binary aGVsbG8="):
        load_or_error(f"name: {tag}\nmessages: 1\n")


def test_a_valid_document_among_fuzz_is_recognised():
    scenario = parse_scenario("name: ok\nmessages: 5\n")
    assert scenario.messages == 5


# -- every valid scenario simulates ------------------------------------------------

durations = st.sampled_from(["0ms", "1ms", "5ms", "20ms", "100ms"])
latency = st.one_of(
    st.builds(lambda v: {"dist": "constant", "value": v}, durations),
    st.builds(lambda m: {"dist": "exponential", "mean": m}, st.sampled_from(["1ms", "10ms", "50ms"])),
    st.builds(lambda m, s: {"dist": "lognormal", "mean": m, "sigma": s},
              st.sampled_from(["2ms", "20ms"]), st.sampled_from([0.3, 1.0])),
    st.builds(lambda m, a: {"dist": "pareto", "mean": m, "shape": a},
              st.sampled_from(["5ms", "30ms"]), st.sampled_from([1.5, 3.0])),
    st.builds(lambda lo, w: {"dist": "uniform", "low": lo, "high": lo + w},
              st.sampled_from([0.0, 0.005]), st.sampled_from([0.0, 0.01])),
)
loss = st.one_of(st.sampled_from([0.0, 0.1, 0.5, 1.0]),
                 st.builds(lambda p, r: {"model": "gilbert-elliott", "p": p, "r": r},
                           st.sampled_from([0.01, 0.2]), st.sampled_from([0.1, 1.0])))
link = st.fixed_dictionaries({"loss": loss, "latency": latency},
                             optional={"duplicate": st.sampled_from([0.0, 0.2]),
                                       "fifo": st.booleans()})
dedup = st.one_of(
    st.just({"kind": "none"}), st.just({"kind": "set"}),
    st.builds(lambda w: {"kind": "ttl", "window": w}, st.sampled_from(["10ms", "1s"])),
    st.builds(lambda c: {"kind": "lru", "capacity": c}, st.integers(1, 50)),
    st.just({"kind": "sequence"}),
    st.builds(lambda c, p: {"kind": "bloom", "capacity": c, "fp_rate": p},
              st.integers(1, 100), st.sampled_from([0.01, 0.3])),
).flatmap(lambda d: st.fixed_dictionaries(
    {**{k: st.just(v) for k, v in d.items()},
     "durable": st.booleans(), "write_delay": st.sampled_from([0, "2ms"])}))
retry = st.fixed_dictionaries(
    {"policy": st.sampled_from(["fixed", "exponential", "adaptive"]),
     "timeout": st.sampled_from(["5ms", "50ms", "300ms"]),
     "jitter": st.sampled_from(["none", "full", "equal"]),
     "max_attempts": st.sampled_from([None, 1, 3]),
     "delivery_timeout": st.sampled_from([None, "1s"])})
fault = st.one_of(
    st.builds(lambda t, a, f: {"target": t, "at": a, "for": f},
              st.sampled_from(["receiver-0", "sender-0", "receivers", "senders"]),
              st.sampled_from([0, "100ms", "1s"]), st.sampled_from(["10ms", "500ms"])),
    st.builds(lambda t: {"target": t, "mtbf": "300ms", "mttr": "50ms"},
              st.sampled_from(["receiver-0", "sender-0"])),
)
scenarios = st.fixed_dictionaries({
    "name": st.just("fuzz"),
    "seed": st.integers(0, 2**31),
    "semantics": st.just("at-least-once"),
    "messages": st.integers(1, 120),
    "max_time": st.just("60s"),
    "sender": st.fixed_dictionaries({
        "count": st.integers(1, 3), "window": st.integers(1, 20), "retry": retry,
        "durable_outbox": st.booleans(),
        "rate": st.sampled_from([None, "50/s", "1000/s"])}),
    "network": st.fixed_dictionaries({"data": link, "ack": link}, optional={
        "partitions": st.lists(st.builds(lambda a, f, d: {"at": a, "for": f, "direction": d},
                                         st.sampled_from([0, "50ms"]), st.sampled_from(["20ms", "1s"]),
                                         st.sampled_from(["both", "data", "ack"])), max_size=2)}),
    "receiver": st.fixed_dictionaries({
        "count": st.integers(1, 3), "processing": latency, "dedup": dedup,
        "ack": st.sampled_from(["after-processing", "before-processing"])}),
    "faults": st.lists(fault, max_size=2),
    "observe": st.just({"trace_messages": 0, "sample_every": "100ms"}),
})


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios)
def test_every_valid_scenario_simulates_with_consistent_counts(data):
    try:
        scenario = validate_scenario(data, "fuzz")
    except ScenarioError:
        return  # e.g. decorrelated jitter with the adaptive policy: a clear error is an answer
    s = alosim.simulate(scenario).summary
    assert 0 <= s["duplicate_deliveries"] <= s["deliveries"]
    assert s["messages"] == s["acked"] + s["gave_up"] + s["abandoned"] + s["unsettled"]
    assert s["processed"] >= s["duplicate_processing"]
    assert s["processed"] - s["duplicate_processing"] + s["lost"] + s["unsettled"] >= s["messages"] - s[
        "abandoned"] or s["unsettled"] > 0
    assert s["transmissions"] >= s["messages"] - s["unsettled"] - s["abandoned"]
    assert s["deliveries"] <= s["transmissions"] + s["network_duplicates"]
    assert s["lost"] == sum(v for k, v in s.items() if k.startswith("lost_"))
    assert s["duplicate_processing"] == sum(
        v for k, v in s.items() if k.startswith("duplicates_") and k != "duplicates_detected")
    assert s["lost_unexplained"] == 0 and s["duplicates_unexplained"] == 0
    assert s["dedup_entries_peak"] >= s["dedup_entries_final"] >= 0
