"""The shipped whole Kafka pipeline (scenarios/kafka-idempotent-producer.yaml):
what an idempotent producer and an auto-committing group leave behind."""

from __future__ import annotations

import math

import alosim
from tests.conftest import SCENARIOS


def test_an_idempotent_producer_leaves_only_consumer_side_replays() -> None:
    scenario = alosim.load_scenario(SCENARIOS / "kafka-idempotent-producer.yaml")
    s = alosim.simulate(scenario).summary
    # The producer side: retries reached the log and none was appended twice.
    assert s["log_publish_duplicates_caught"] > 0 and s["duplicates_publish"] == 0
    assert s["log_records_appended"] == s["messages"] and s["lost"] == 0 and s["gave_up"] == 0
    # Order per partition: never broken by a producer retry, only by a replay.
    assert s["out_of_order_partition"] == s["out_of_order_partition_replay_after_crash"] > 0
    assert s["out_of_order_partition_producer_retry_reordered"] == 0
    # Every duplicate effect is a replay after a consumer crash.
    assert s["duplicate_processing"] == s["duplicates_consume_replay_after_crash"] > 0


def test_its_replays_per_crash_are_lambda_t_over_two() -> None:
    # A member owns 2 of the 6 partitions (lambda = 100/s x 2/6) and commits every
    # T = 5 s; a crash at a uniform phase U replays the Poisson count of lambda U T
    # records: mean lambda T / 2, variance lambda T / 2 + (lambda T)^2 / 12.
    scenario = alosim.load_scenario(SCENARIOS / "kafka-idempotent-producer.yaml")
    s = alosim.simulate(scenario).summary
    lam_t = 100 * 2 / 6 * 5.0
    crashes = s["log_consumer_crashes"]
    assert crashes >= 15
    se = math.sqrt((lam_t / 2 + lam_t**2 / 12) / crashes)
    assert abs(s["duplicates_per_consumer_crash"] - lam_t / 2) < 2.576 * se
