"""A bounded broker queue (``broker.max_length``, ``broker.overflow``).

The closed form: one consumer, ``concurrency: 1`` and ``prefetch: 1``, so
that the broker leases one entry at a time and the consumer holds at most
that one; exponential processing at mu; Poisson publishes at lambda; every
link instant and lossless, the broker's write instant, and a lease (1 h)
far above any processing time, so that nothing is redelivered. A ready entry
waits only while the consumer holds a delivery, so the entries in the system
are the ``max_length`` ready places and the one being processed: an
M/M/1/K queue with K = ``max_length`` + 1. A publish that finds K in the
system finds the queue full (PASTA); the fraction of publishes that do is
the blocking probability rho^K (1 - rho)/(1 - rho^(K+1)).

* ``drop-head``: such a publish is accepted and the head entry dropped --
  one entry leaves for one that comes, the number in the system stays at K,
  exactly as when the newcomer is turned away. The publish is acked, so the
  producer never retries: the drops per publish are the blocking fraction.
* ``reject-publish``: the refused publish is nacked and the producer would
  retry at once, which adds arrivals (the stream is no longer Poisson). With
  ``sender.retry.max_attempts: 1`` the producer gives up on a nack instead,
  and the refusals per publish are the blocking fraction too; that is what is
  validated, not the retrying case.

Successive publishes are correlated, so each seed's run gives one fraction;
the seeds' fractions (independent) make a Student t interval at 99 %, which
must contain the closed form. Seeds are fixed.
"""

from __future__ import annotations

import pytest

import alosim
from alosim import analytic
from alosim.observe.pipeline import BOUNDED_QUEUE_COLUMNS
from alosim.scenario import parse_scenario
from tests.conftest import make

SEEDS = tuple(range(1, 11))
MU = 100.0

BASE = """
name: bounded
messages: 4000
sender: {rate: 100, window: null, retry: {timeout: 1000s}}
network:
  data: {latency: {dist: constant, value: 0}}
  ack: {latency: {dist: constant, value: 0}}
  consume:
    data: {latency: {dist: constant, value: 0}}
    ack: {latency: {dist: constant, value: 0}}
broker: {prefetch: 1, visibility_timeout: 1h}
consumer: {concurrency: 1, processing: {dist: exponential, mean: 10ms}}
"""


@pytest.mark.slow
@pytest.mark.parametrize(("rate", "max_length", "overflow"),
                         [(70.0, 2, "drop-head"), (100.0, 4, "drop-head"), (150.0, 1, "drop-head"),
                          (70.0, 2, "reject-publish"), (150.0, 3, "reject-publish")])
def test_the_overflow_fraction_is_the_mm1k_blocking_probability(rate, max_length, overflow):
    fractions = []
    for seed in SEEDS:
        s = alosim.simulate(make(BASE, seed=seed, **{
            "sender.rate": rate, "sender.retry.max_attempts": 1,
            "broker.max_length": max_length, "broker.overflow": overflow})).summary
        assert s["consume_redeliveries"] == 0 and s["retransmissions"] == 0, "extra arrivals"
        if overflow == "drop-head":
            assert s["broker_publishes_rejected"] == 0
            fractions.append(s["broker_overflow_dropped"] / s["publishes_accepted"])
        else:
            assert s["broker_overflow_dropped"] == 0
            assert s["nacks_received"] == s["broker_publishes_rejected"]
            fractions.append(s["broker_publishes_rejected"] / s["deliveries"])
        # Every drop or refusal loses its message, and nothing else does.
        assert s["lost"] == s["lost_broker_overflow"] == round(fractions[-1] * s["messages"])
    blocked = analytic.mean_interval(fractions)
    # K places: the ready ones and the delivery being processed.
    assert analytic.mm1k_blocking(rate, MU, max_length + 1) in blocked, blocked


QUEUE = """
name: small-queue
seed: 4
messages: 40
sender: {rate: 1000, window: null, retry: {timeout: 10s}, arrivals: periodic}
network:
  data: {latency: {dist: constant, value: 1ms}}
  ack: {latency: {dist: constant, value: 1ms}}
broker: {max_length: 2, prefetch: 1, visibility_timeout: 1h}
consumer: {processing: {dist: constant, value: 10ms}}
observe: {trace_messages: 40}
"""


def _run(**overrides: object) -> alosim.RunResult:
    return alosim.simulate(make(QUEUE, **overrides))


def test_drop_head_drops_the_oldest_ready_message_and_acks_every_publish():
    r = _run()
    s = r.summary
    # A burst of 40 publishes 1 ms apart at a consumer that takes 10 ms each:
    # the queue is full almost at once and stays full.
    assert s["broker_overflow_dropped"] > 20
    assert s["acked"] == s["messages"] == 40 and s["retransmissions"] == 0
    assert s["lost"] == s["lost_broker_overflow"] == s["broker_overflow_dropped"]
    assert s["broker_ready_peak"] == 2
    dropped = [e.message for e in r.trace or [] if e.event == "dropped"]
    # Drop-head: the oldest waiting go, so the survivors are the first taken
    # and the last ones published.
    processed = sorted(e.message for e in r.trace or [] if e.event == "processed")
    assert processed[-2:] == [38, 39]
    assert dropped == sorted(dropped) and 39 not in dropped
    assert set(dropped).isdisjoint(processed)


def test_reject_publish_nacks_and_the_producer_retries_until_there_is_room():
    r = _run(**{"broker.overflow": "reject-publish",
                "network.ack.latency": {"dist": "constant", "value": 0.02}})
    s = r.summary
    assert s["broker_overflow_dropped"] == 0
    assert s["broker_publishes_rejected"] > 0
    assert s["nacks_sent"] == s["broker_publishes_rejected"]
    # Each nack comes back as a retry: nothing is lost, every message is processed once.
    assert s["nacks_received"] == s["retransmissions"] == s["broker_publishes_rejected"]
    assert s["lost"] == 0 and s["processed"] == s["messages"] == 40
    assert s["duplicate_processing"] == 0 and s["lost_broker_overflow"] == 0
    # A refused publish got nowhere: its retry is neither a duplicate
    # delivery nor a spurious retransmission.
    assert s["duplicate_deliveries"] == s["spurious_retransmissions"] == 0


def test_a_refused_publish_is_not_recorded_by_the_broker_store():
    # A store that recorded the refused publish would take the retry for a
    # duplicate, ack it and drop it: the message would be lost.
    r = _run(**{"broker.overflow": "reject-publish", "broker.dedup": {"kind": "set"},
                "network.ack.latency": {"dist": "constant", "value": 0.02}})
    s = r.summary
    assert s["broker_publishes_rejected"] > 0
    assert s["publish_duplicates_caught"] == 0
    assert s["lost"] == 0 and s["processed"] == 40


def test_a_rejected_publish_given_up_is_lost_to_the_overflow():
    s = _run(**{"broker.overflow": "reject-publish", "sender.retry.max_attempts": 1}).summary
    assert s["broker_publishes_rejected"] > 0
    assert s["gave_up"] == s["broker_publishes_rejected"]
    assert s["lost"] == s["lost_broker_overflow"] == s["broker_publishes_rejected"]
    assert s["lost_max_attempts"] == 0  # the first thing that went wrong is the full queue


def test_the_bound_counts_ready_messages_not_deliveries_in_progress():
    # Two consumers each hold 3 un-acked deliveries: 6 in flight beside 2 ready.
    s = _run(**{"consumer.count": 2, "broker.prefetch": 3}).summary
    assert s["broker_in_flight_peak"] == 6
    assert s["broker_ready_peak"] == 2


def test_an_unbounded_queue_keeps_its_columns():
    s = _run(**{"broker.max_length": None}).summary
    assert not set(BOUNDED_QUEUE_COLUMNS) & set(s)
    assert s["nacks_sent"] == 0
    bounded = _run().summary
    assert set(BOUNDED_QUEUE_COLUMNS) <= set(bounded)


def test_an_unbounded_queue_resolves_without_the_bound():
    plain = parse_scenario("name: x\nmessages: 1\nbroker: {}\n")
    assert "max_length" not in plain.resolved()["broker"]
    bounded = parse_scenario("name: x\nmessages: 1\nbroker: {max_length: 5}\n")
    assert bounded.resolved()["broker"]["overflow"] == "drop-head"
    again = parse_scenario(bounded.to_yaml())
    assert again.broker is not None and again.broker.max_length == 5


def test_a_refusal_followed_by_an_acceptance_is_not_the_loss_cause():
    # Every delivery fails and the first one is the last (max_deliveries 1):
    # each message is dead-lettered, whether or not a publish of it was refused first.
    s = _run(**{"broker.overflow": "reject-publish", "broker.max_deliveries": 1,
                "consumer.poison_probability": 1.0,
                "network.ack.latency": {"dist": "constant", "value": 0.02}}).summary
    assert s["broker_publishes_rejected"] > 0
    assert s["lost"] == s["lost_dead_lettered"] == 40
    assert s["lost_broker_overflow"] == 0


def test_run_prints_the_bound_only_for_a_bounded_queue(tmp_path):
    from click.testing import CliRunner

    from alosim.cli import cli

    def output(text: str) -> str:
        path = tmp_path / "q.yaml"
        path.write_text(text)
        result = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "out")])
        assert result.exit_code == 0, result.output
        return result.output

    bounded = output(QUEUE)
    line = next(l for l in bounded.splitlines() if "dropped, queue full (head)" in l)
    dropped = alosim.simulate(make(QUEUE)).summary["broker_overflow_dropped"]
    assert line.split()[-1] == str(dropped)
    assert "refused, queue full (nacked)" in bounded
    unbounded = output(QUEUE.replace("max_length: 2, ", ""))
    assert "queue full" not in unbounded


def test_rabbitmq_max_length_reject_publish_loses_nothing_and_moves_the_backlog_to_the_producer():
    """What scenarios/rabbitmq-max-length.yaml says of ``--with broker.overflow=reject-publish``
    (its own run, drop-head, is checked by its ``expect:`` block)."""
    from tests.conftest import SCENARIOS

    scenario = alosim.load_scenario(SCENARIOS / "rabbitmq-max-length.yaml")
    s = alosim.simulate(scenario.with_overrides({"broker.overflow": "reject-publish"})).summary
    assert s["lost"] == s["acked_not_processed"] == s["broker_overflow_dropped"] == 0
    assert s["processed"] == s["acked"] == 20_000 and s["duplicate_processing"] == 0
    # The consumer's pace sets the length: 20,000 exponential services of
    # 4 ms take 80 s (standard deviation 0.57 s).
    assert s["sim_time_s"] == pytest.approx(80, abs=2)
    # The 16 unconfirmed publishes circle every 10 ms round trip while the
    # queue is full (almost all of the 80 s): about 16 x 80 / 0.01 publishes.
    assert s["transmissions_per_message"] == pytest.approx(16 * 80 / 0.01 / 20_000, rel=0.05)
    assert s["nacks_received"] == s["broker_publishes_rejected"] == s["retransmissions"]
    # The last messages, created at about 67 s, wait in the outbox until about 80 s.
    assert s["outbox_wait_max_s"] == pytest.approx(13, abs=1.5)


def test_the_dead_lettering_forms_step_aside_when_a_full_queue_dropped_entries():
    # Dropped entries are never delivered: per message, they would bias the forms.
    from alosim import theory

    base = QUEUE.replace("max_length: 2, prefetch: 1, visibility_timeout: 1h",
                         "max_length: 2, prefetch: 1, visibility_timeout: 1h, max_deliveries: 3")
    scenario = make(base, **{"consumer.nack_probability": 0.3})
    result = alosim.simulate(scenario)
    assert result.summary["broker_overflow_dropped"] > 0
    verdicts = [v for name, v in theory.applicability(scenario, result.summary, result.series)
                if name == "dead-lettering"]
    assert verdicts and all(isinstance(v, str) and "full broker queue" in v for v in verdicts)
    unbounded = make(base.replace("max_length: 2, ", ""), **{"consumer.nack_probability": 0.3})
    plain = alosim.simulate(unbounded)
    assert any(isinstance(v, theory.Comparison)
               for name, v in theory.applicability(unbounded, plain.summary, plain.series)
               if name == "dead-lettering")
