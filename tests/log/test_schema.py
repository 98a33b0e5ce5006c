"""The log's YAML: broker kind log, the consumer group's fields, and their errors."""

from __future__ import annotations

import pytest

from alosim.scenario import ScenarioError, parse_scenario

LOG = """
name: l
messages: 10
sender: {window: 5}
broker: {kind: log, partitions: 6, partitioner: key, keys: {count: 50, dist: zipf, s: 1.2},
         retention: 10min, dedup: {kind: sequence}}
consumer:
  count: 3
  assignment: round-robin
  fetch_batch: 20
  session_timeout: 10s
  max_poll_interval: 1min
  rebalance_delay: 200ms
  commit: {policy: interval, interval: 2s, latency: 5ms}
"""


def test_a_log_reads_with_units_and_defaults() -> None:
    s = parse_scenario(LOG)
    assert s.broker is not None and s.consumer is not None
    assert s.broker.kind == "log" and s.broker.partitions == 6 and s.broker.retention == 600.0
    assert s.broker.keys.dist == "zipf" and s.broker.keys.s == 1.2
    assert s.consumer.commit.interval == 2.0 and s.consumer.commit.latency == 0.005
    assert s.consumer.max_poll_interval == 60.0 and s.consumer.rebalance_delay == 0.2
    assert s.network.consume is None  # a log's consumers fetch; no consume links
    resolved = s.resolved()
    assert "visibility_timeout" not in resolved["broker"] and "concurrency" not in resolved["consumer"]
    assert resolved["consumer"]["commit"]["policy"] == "interval"


def test_kafka_defaults() -> None:
    s = parse_scenario("name: l\nmessages: 1\nbroker: {kind: log}\n")
    assert s.consumer is not None
    assert s.consumer.commit.policy == "interval" and s.consumer.commit.interval == 5.0
    assert s.consumer.session_timeout == 45.0 and s.consumer.max_poll_interval == 300.0
    assert s.consumer.fetch_batch == 500 and s.consumer.dedup.kind == "none"


def test_a_queue_pipeline_resolves_as_before() -> None:
    resolved = parse_scenario("name: q\nmessages: 1\nbroker: {}\n").resolved()
    for name in ("kind", "partitions", "keys", "retention"):
        assert name not in resolved["broker"]
    for name in ("commit", "fetch_batch", "session_timeout"):
        assert name not in resolved["consumer"]


@pytest.mark.parametrize(("text", "expected"), [
    ("broker: {partitions: 3}", "broker: partitions belongs to a log: set kind: log"),
    ("broker: {}\nconsumer: {commit: {policy: after-each}}",
     "consumer.commit belongs to a log's consumer group"),
    ("broker: {kind: log, visibility_timeout: 1s}", "visibility_timeout belongs to a queue"),
    ("broker: {kind: log, durable: false}", "a log broker is durable"),
    ("broker: {kind: log, dedup: {kind: set}}", "a log's producer idempotence is a sequence store"),
    ("broker: {kind: log}\nconsumer: {concurrency: 2}", "consumer.concurrency belongs to a queue"),
    ("broker: {kind: log}\nconsumer: {dedup: {kind: set}}", "use consumer.commit.policy: transactional"),
    ("broker: {kind: log}\nnetwork: {consume: {}}", "network.consume: a log's consumers fetch"),
    ("semantics: exactly-once\nbroker: {kind: log}", "needs consumer.commit.policy: transactional"),
    ("semantics: at-most-once\nbroker: {kind: log}", "needs consumer.commit.policy: before-processing"),
    ("broker: {kind: log}\nconsumer: {commit: {policy: after-each, interval: 1s}}",
     "interval applies to policy: interval"),
    ("broker: {kind: log}\nconsumer: {commit: {policy: sometimes}}", "consumer.commit.policy"),
    ("broker: {kind: log, keys: {dist: pareto}}", "broker.keys.dist"),
    ("broker: {kind: log, partitions: 0}", "broker.partitions"),
])
def test_misuse_gets_one_line(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(f"name: x\nmessages: 1\n{text}\n", "f.yaml")
    message = str(err.value)
    assert message.startswith("f.yaml: ")
    assert expected in message, message
    assert "\n" not in message


def test_a_resolved_log_scenario_reads_back_the_same() -> None:
    from alosim.scenario import validate_scenario

    for text in (LOG, LOG.replace("policy: interval, interval: 2s", "policy: after-each")):
        s = parse_scenario(text)
        again = validate_scenario(s.resolved(), "<resolved>")
        assert again.resolved() == s.resolved()
