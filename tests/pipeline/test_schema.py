"""The pipeline's YAML: broker, consumer and network.consume, and their errors."""

from __future__ import annotations

import pytest

from alosim.scenario import ScenarioError, parse_scenario

PIPELINE = """
name: p
messages: 10
broker: {visibility_timeout: 2s, max_deliveries: 4, prefetch: 10, dedup: {kind: ttl, window: 5min}}
consumer: {count: 2, concurrency: 3, processing: {dist: exponential, mean: 0.5s}, nack_probability: 0.1}
network:
  consume: {data: {loss: 0.01}, ack: {loss: 0.02}}
faults: [{target: consumer-1, at: 1s, for: 1s}, {target: broker, at: 2s, for: 1s}]
"""


def test_a_pipeline_reads_with_units_and_defaults() -> None:
    s = parse_scenario(PIPELINE)
    assert s.is_pipeline
    assert s.broker is not None and s.consumer is not None and s.network.consume is not None
    assert s.broker.visibility_timeout == 2.0
    assert s.broker.dedup.window == 300.0
    assert s.broker.durable is True
    assert s.consumer.concurrency == 3
    assert s.network.consume.ack.loss == 0.02
    resolved = s.resolved()
    assert "receiver" not in resolved
    assert resolved["broker"]["max_deliveries"] == 4


def test_a_single_hop_resolves_without_pipeline_fields() -> None:
    s = parse_scenario("name: s\nmessages: 5\n")
    assert not s.is_pipeline
    resolved = s.resolved()
    assert "broker" not in resolved and "consumer" not in resolved
    assert "consume" not in resolved["network"]
    assert "receiver" in resolved


def test_exactly_once_puts_the_store_at_the_consumer() -> None:
    s = parse_scenario("name: p\nmessages: 5\nsemantics: exactly-once\nbroker: {}\n")
    assert s.consumer is not None and s.consumer.dedup.kind == "set"
    assert s.broker is not None and s.broker.dedup.kind == "none"


def test_overrides_reach_pipeline_fields() -> None:
    s = parse_scenario(PIPELINE).with_overrides({"broker.visibility_timeout": "500ms"})
    assert s.broker is not None and s.broker.visibility_timeout == 0.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("consumer: {}", "consumer: belongs to a pipeline"),
        ("broker: {}\nreceiver: {}", "receiver: is the far end of a single hop"),
        ("faults: [{target: broker, at: 1, for: 1}]", "faults[0].target: broker needs a pipeline"),
        ("broker: {}\nfaults: [{target: consumer-3, at: 1, for: 1}]", "there is no consumer-3"),
        ("broker: {}\nfaults: [{target: receiver-0, at: 1, for: 1}]", "a pipeline has consumers"),
        ("broker: {visibilty_timeout: 1}", "broker.visibilty_timeout: unknown key; did you mean 'visibility_timeout'?"),
        ("broker: {visibility_timeout: 0}", "broker.visibility_timeout"),
        ("broker: {max_deliveries: 0}", "broker.max_deliveries"),
        ("broker: {dedup: {kind: set, write_delay: 1s}}", "write_delay applies to a consumer's store"),
        ("broker: {}\nconsumer: {nack_probability: 2}", "consumer.nack_probability"),
        ("network: {consume: {}}", "network.consume is the broker <-> consumer hop"),
        ("semantics: exactly-once\nbroker: {}\nconsumer: {dedup: {kind: none}}", "needs an idempotent consumer"),
        ("broker: {kind: log, max_length: 10}", "broker: max_length bounds a queue (kind: queue)"),
        ("broker: {kind: log, overflow: drop-head}", "broker: overflow bounds a queue (kind: queue)"),
        ("broker: {overflow: reject-publish}", "overflow: reject-publish applies to a bounded queue"),
        ("broker: {max_length: 0}", "broker.max_length"),
        ("broker: {max_length: 3, overflow: reject-new}", "broker.overflow"),
        # what real brokers and clients do, where it makes no sense
        ("broker: {kind: log, reclaim: {interval: 1s}}", "broker: reclaim belongs to a queue"),
        ("broker: {reclaim: {interval: 0}}", "broker.reclaim.interval"),
        ("broker: {reclaim: {interval: 1s, jitter: 1}}", "broker.reclaim.jitter: expected true or false"),
        ("broker: {reclaim: {interval: 1s, every: 1s}}", "broker.reclaim.every: unknown key"),
        ("broker: {kind: log}\nconsumer: {pull: {batch: 10}}", "consumer.pull belongs to a queue's consumers"),
        ("broker: {kind: log}\nconsumer: {start_delay: {dist: constant, value: 1ms}}",
         "consumer.start_delay belongs to a queue's consumers"),
        ("broker: {kind: log}\nconsumer: {lease_extension: {every: 1s}}",
         "consumer.lease_extension belongs to a queue's consumers"),
        ("broker: {visibility_timeout: 10s}\nconsumer: {lease_extension: {every: 10s}}",
         "consumer.lease_extension.every: 10s is not shorter than broker.visibility_timeout (10s)"),
        ("broker: {visibility_timeout: 10s}\nconsumer: {lease_extension: {every: 5s, max: 10s}}",
         "consumer.lease_extension.max: 10s is not longer than broker.visibility_timeout"),
        ("broker: {}\nconsumer: {ack: before-processing, lease_extension: {every: 5s}}",
         "with ack: before-processing"),
        ("broker: {}\nconsumer: {pull: {batch: 0}}", "consumer.pull.batch"),
        ("broker: {}\nconsumer: {pull: {}}", "consumer.pull.batch"),
        ("broker: {}\nconsumer: {start_delay: {dist: mixture, components: [{weight: 1, dist: uniform, "
         "low: 1ms, high: soon}]}}", "consumer.start_delay.components.0.high: expected a duration"),
        ("broker: {}\nconsumer: {processing: {dist: empirical, values: [1ms, x]}}",
         "consumer.processing.values: expected a duration"),
    ],
)
def test_bad_pipelines_get_one_line_naming_the_field(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(f"name: x\nmessages: 1\n{text}\n", "f.yaml")
    message = str(err.value)
    assert message.startswith("f.yaml: ")
    assert expected in message
    assert "\n" not in message


def test_a_queue_pipeline_without_the_new_behaviour_reads_as_before() -> None:
    """Left out, reclaim, start_delay, lease_extension and pull are not recorded
    (a run's resolved scenario is what it always was); set, they are."""
    resolved = parse_scenario(PIPELINE).resolved()
    assert "reclaim" not in resolved["broker"]
    assert not {"start_delay", "lease_extension", "pull"} & set(resolved["consumer"])
    full = parse_scenario(PIPELINE + """
""").with_overrides({"broker.reclaim": {"interval": "50ms"},
                     "consumer.start_delay": {"dist": "uniform", "low": "1ms", "high": "3ms"},
                     "consumer.lease_extension": {"every": "1s", "max": "10s"},
                     "consumer.pull": {"batch": 5}}).resolved()
    assert full["broker"]["reclaim"] == {"interval": 0.05, "jitter": False}
    assert full["consumer"]["lease_extension"] == {"every": 1.0, "max": 10.0}
    assert full["consumer"]["pull"] == {"batch": 5}
    assert full["consumer"]["start_delay"] == {"dist": "uniform", "low": 0.001, "high": 0.003}
    log = parse_scenario("name: l\nmessages: 5\nbroker: {kind: log}\n").resolved()
    assert "reclaim" not in log["broker"] and "pull" not in log["consumer"]
