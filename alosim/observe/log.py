"""What a pipeline on a log measures: offsets, commits, replays and order.

A log pipeline (``broker: {kind: log}``, see :mod:`alosim.model.log`) keeps
every single-hop column read end to end, as a queue pipeline does
(:mod:`alosim.observe.pipeline`): ``processed`` and ``duplicate_processing``
count side effects at the consumers, ``lost`` messages never processed,
``deliveries`` publishes arriving at the broker, ``acks_sent`` its publish acks.

:class:`LogStats` adds, as the columns of :meth:`LogStats.columns`:

* duplicate effects charged to their cause (``duplicates_publish_<cause>``:
  a producer retry the log appended twice; ``duplicates_consume_<cause>``: a
  record processed again -- replayed from the last commit after a crash
  (:data:`LOG_CONSUME_CAUSES`), after a rebalance took the partition from a
  live member, or because a stalled member was kicked out while it was still
  processing). Their sum is ``duplicate_processing``;
* losses only a log has (:data:`LOG_LOSS_CAUSES`): committed before
  processing and then crashed, expired by retention before it was consumed;
* effects out of creation order, per key and per partition, by cause
  (:data:`ORDER_CAUSES`);
* records appended, fetched, processed; commits made, landed, failed (a
  member no longer in the group's generation) or lost (a crash before they
  landed); rebalances and the time the group spent stopped in them;
* lag over time (records appended and not yet processed, and not yet
  committed), as sampled series.
"""

from __future__ import annotations

from typing import Any

#: Why a record caused a second effect.
LOG_CONSUME_CAUSES: tuple[str, ...] = (
    "replay_after_crash",  # processed since the last commit by a member that crashed
    "replay_after_rebalance",  # processed, not committed, by a live member that lost the partition
    "stalled_consumer_kicked_out",  # processed by a member past max.poll.interval, or by its successor
    "unexplained",
)

#: Why the log holds two records of one message (idempotence off).
LOG_PUBLISH_CAUSES: tuple[str, ...] = ("producer_retry_duplicated", "unexplained")

#: Losses only a log has.
LOG_LOSS_CAUSES: tuple[str, ...] = ("commit_before_processing_crash", "retention_expired")

#: Why an effect came after the effect of a message created later (same key or partition).
ORDER_CAUSES: tuple[str, ...] = (
    # Appended after later messages of its key or partition: on a retry, with
    # idempotence off (its first publish was lost, or answered too late) ...
    "producer_retry_reordered",
    # ... or on its first publish, overtaken by a later one on a data link that
    # does not keep FIFO order.
    "network_reordered",
    "replay_after_crash",
    "replay_after_rebalance",
    "stalled_consumer_kicked_out",  # two members processed the partition at once
    "key_spread_over_partitions",  # round-robin partitioner: one key on several partitions
    "unexplained",
)

LOG_SERIES: tuple[str, ...] = ("log_lag", "log_commit_lag")

#: Partitions whose lag gets a series of its own (the series stay few and bounded).
LAG_PARTITIONS = 8

COUNTERS: tuple[str, ...] = (
    "records_appended",
    "publish_duplicates_caught",  # publishes a sequence store recognised (idempotent producer)
    "publish_duplicates_past_cache",  # of those, older than the last 5 appended on their partition
    "publish_stale_drops",  # late publishes of messages the producer gave up on
    "publishes_out_of_sequence",  # refused: an earlier sequence number is missing (retried)
    "publishes_dropped_while_down",
    "records_expired",  # removed by retention before the group committed past them
    "records_fetched",
    "records_processed",  # side effects (the same as processed)
    "records_dropped",  # fetched, then dropped unprocessed (crash, revoked batch)
    "commits",
    "commits_landed",
    "commits_failed",  # from a member the group had already rebalanced away
    "commits_lost",  # in flight when the member (or the broker) crashed
    "rebalances",
    "members_kicked_out",  # stalled longer than max.poll.interval
    "consumer_crashes",
    "broker_crashes",
    "lag_peak",
)


class LogStats:
    """The log pipeline's counters; the log and the group write into it."""

    __slots__ = (*COUNTERS, "publish_duplicates", "consume_duplicates", "out_of_order_key",
                 "out_of_order_partition", "rebalance_time_s", "commit_ticks")

    def __init__(self) -> None:
        for name in COUNTERS:
            setattr(self, name, 0)
        self.publish_duplicates: dict[str, int] = dict.fromkeys(LOG_PUBLISH_CAUSES, 0)
        self.consume_duplicates: dict[str, int] = dict.fromkeys(LOG_CONSUME_CAUSES, 0)
        self.out_of_order_key: dict[str, int] = dict.fromkeys(ORDER_CAUSES, 0)
        self.out_of_order_partition: dict[str, int] = dict.fromkeys(ORDER_CAUSES, 0)
        self.rebalance_time_s = 0.0
        # Auto-commit ticks, with or without something to commit: work for the
        # stall budget (alosim.budget), not a column.
        self.commit_ticks = 0

    def sample(self, series: dict[str, list[float]], lag: int, commit_lag: int,
               per_partition: list[int]) -> None:
        """One row: total lag (appended, not processed), commit lag (appended,
        not committed), and the lag of the first :data:`LAG_PARTITIONS` partitions."""
        if lag > self.lag_peak:
            self.lag_peak = lag
        series.setdefault("log_lag", []).append(lag)
        series.setdefault("log_commit_lag", []).append(commit_lag)
        for p, value in enumerate(per_partition[:LAG_PARTITIONS]):
            series.setdefault(f"log_lag_p{p}", []).append(value)

    def columns(self, loss_causes: dict[str, int], messages: int) -> dict[str, Any]:
        """The summary columns a log pipeline adds, every one always present."""
        out: dict[str, Any] = {f"log_{name}": getattr(self, name) for name in COUNTERS}
        out.update({f"duplicates_publish_{c}": n for c, n in self.publish_duplicates.items()})
        out.update({f"duplicates_consume_{c}": n for c, n in self.consume_duplicates.items()})
        out["duplicates_publish"] = sum(self.publish_duplicates.values())
        out["duplicates_consume"] = sum(self.consume_duplicates.values())
        out.update({f"lost_{c}": loss_causes.get(c, 0) for c in LOG_LOSS_CAUSES})
        out.update({f"out_of_order_key_{c}": n for c, n in self.out_of_order_key.items()})
        out.update({f"out_of_order_partition_{c}": n for c, n in self.out_of_order_partition.items()})
        out["out_of_order_key"] = sum(self.out_of_order_key.values())
        out["out_of_order_partition"] = sum(self.out_of_order_partition.values())
        out["log_rebalance_time_s"] = round(self.rebalance_time_s, 9)
        crashes = max(self.consumer_crashes, 1)
        out["duplicates_per_consumer_crash"] = self.consume_duplicates["replay_after_crash"] / crashes
        out["lost_per_consumer_crash"] = loss_causes.get("commit_before_processing_crash", 0) / crashes
        out["duplicate_effects_per_message"] = (out["duplicates_publish"]
                                                + out["duplicates_consume"]) / max(messages, 1)
        return out


__all__ = ["LOG_CONSUME_CAUSES", "LOG_LOSS_CAUSES", "LOG_PUBLISH_CAUSES", "LOG_SERIES",
           "ORDER_CAUSES", "LogStats"]
