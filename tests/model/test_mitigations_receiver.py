"""The receiver's overload mitigations: deduplication on arrival and discarding
expired work -- what each prevents in a retry storm, and that neither changes
a run that does not turn it on."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import alosim
from alosim.model.message import Message
from alosim.model.world import World
from tests.conftest import make
from tests.test_hostile_input import alosim as run_cli, one_error

# 70 % load (70/s, 10 ms mean processing), a 200 ms fixed timeout and a 1 s
# pause: without a mitigation every waiting message is retried every 200 ms
# and the duplicates keep the queue full long after the pause.
STORM = """
name: storm
semantics: at-least-once
duration: 10s
sender: {rate: 70/s, window: null, retry: {timeout: 200ms}}
network:
  data: {latency: {dist: constant, value: 5ms}}
  ack: {latency: {dist: constant, value: 5ms}}
receiver: {processing: {dist: exponential, mean: 10ms}}
faults: [{target: receiver-0, kind: pause, at: 2s, for: 1s}]
observe: {trace_messages: 100000}
"""
ON_ARRIVAL = {"receiver.dedup_on_arrival": True}
DISCARD = {"receiver.discard_expired": True}
NEW_COLUMNS = ("arrival_duplicates_dropped", "arrival_duplicates_reacked", "expired_discarded",
               "lost_expired_discarded")


def series(result: alosim.RunResult, *names: str) -> list[tuple[float, ...]]:
    return list(zip(*(result.series[name] for name in names)))


# -- dedup on arrival ---------------------------------------------------------------


def test_dedup_on_arrival_keeps_one_copy_per_message_in_the_queue():
    off = alosim.simulate(make(STORM))
    on = alosim.simulate(make(STORM, **ON_ARRIVAL))
    # Each queued copy is of a different message, so the queue never holds
    # more than the messages created so far; without the check it does, many times over.
    assert all(q <= m for q, m in series(on, "queue_length", "messages"))
    assert any(q > m for q, m in series(off, "queue_length", "messages"))
    assert on.summary["arrival_duplicates_dropped"] > 0
    assert on.summary["arrival_duplicates_reacked"] == 0  # no store: nothing to ack again
    # Without a store a copy arriving after the first was processed is processed again.
    assert 0 < on.summary["duplicate_processing"] < off.summary["duplicate_processing"] / 100


def test_with_a_store_the_queue_holds_only_unprocessed_messages():
    off = alosim.simulate(make(STORM, semantics="exactly-once"))
    on = alosim.simulate(make(STORM, semantics="exactly-once", **ON_ARRIVAL))
    # A recorded id is dropped on arrival, a queued one too: every queued copy
    # is of a message not yet processed (the id is recorded when processing ends).
    rows = series(on, "queue_length", "messages", "processed_unique")
    assert all(q <= m - p for q, m, p in rows)
    assert any(q > m - p for q, m, p in series(off, "queue_length", "messages", "processed_unique"))
    assert on.summary["duplicate_processing"] == 0
    s = on.summary
    assert 0 < s["arrival_duplicates_reacked"] < s["arrival_duplicates_dropped"]
    # Each copy the store caught on arrival was acked again and counted as caught.
    assert s["arrival_duplicates_reacked"] <= s["duplicates_detected"]
    reacked = [e for e in on.trace if e.event == "duplicate_detected" and e.detail == "on arrival"]
    assert len(reacked) == s["arrival_duplicates_reacked"]
    dropped = [e for e in on.trace if e.event == "dropped_on_arrival"]
    assert len(dropped) == s["arrival_duplicates_dropped"] - s["arrival_duplicates_reacked"]


def test_with_a_store_and_several_workers_no_copy_is_processed_twice():
    # Processing (300 ms) outlasts the timeout (200 ms): a retry arrives while
    # the first copy is in progress and a free worker takes it before the id
    # is recorded -- unless the arrival check drops it.
    slow = {"semantics": "exactly-once", "receiver.workers": 3, "sender.rate": 5, "faults": [],
            "receiver.processing": {"dist": "constant", "value": 0.3}}
    off = alosim.simulate(make(STORM, **slow)).summary
    on = alosim.simulate(make(STORM, **slow, **ON_ARRIVAL)).summary
    assert off["duplicate_processing"] == off["duplicates_concurrent_copy"] > 0
    assert on["duplicate_processing"] == 0
    assert on["arrival_duplicates_dropped"] > 0 and on["lost"] == on["unsettled"] == 0


def _copy(msg: Message, attempt: int) -> SimpleNamespace:
    """A data packet as the link delivers it (one more copy of ``msg``)."""
    msg.copies += 1
    msg.attempts = max(msg.attempts, attempt)
    return SimpleNamespace(_value=(msg, attempt))


def test_a_crash_clears_the_arrival_index_with_the_queue():
    world = World(make(STORM, **ON_ARRIVAL), 1)
    receiver = world.receivers[0]
    receiver.pause()  # arrivals wait in the queue
    msg = Message(0, 0, 0, 0, 0.0)
    receiver.on_packet(_copy(msg, 1))
    receiver.on_packet(_copy(msg, 2))
    assert receiver._present == {0: 1} and len(receiver.queue) == 1
    assert world.rec.arrival_duplicates_dropped == 1
    receiver.crash()
    assert receiver._present == {} and not receiver.queue
    receiver.restart()
    # The queue was lost: the next copy is the only one here, so it is kept.
    receiver.on_packet(_copy(msg, 3))
    assert receiver._present == {0: 3} and len(receiver.queue) == 1
    assert world.rec.arrival_duplicates_dropped == 1


def test_after_a_crash_in_a_storm_the_books_still_add_up():
    crash = [{"target": "receiver-0", "kind": "pause", "at": 2.0, "for": 1.0},
             {"target": "receiver-0", "kind": "crash", "at": 2.5, "for": 0.01}]
    r = alosim.simulate(make(STORM, faults=crash, **ON_ARRIVAL))  # the books run after every run
    assert r.summary["dropped_in_crash"] > 0 and r.summary["arrival_duplicates_dropped"] > 0
    # Retries of the messages lost in the crash arrive after it and are processed.
    lost = {e.message for e in r.trace if e.event == "dropped" and e.detail == "receiver crashed"}
    processed_after = {e.message for e in r.trace if e.event == "processed" and e.time_s > 2.51}
    assert lost <= processed_after


# -- discarding expired work -----------------------------------------------------------


def test_no_copy_is_processed_after_its_senders_deadline():
    constant = {"receiver.processing": {"dist": "constant", "value": 0.01}}
    on = alosim.simulate(make(STORM, **constant, **DISCARD))
    off = alosim.simulate(make(STORM, **constant))

    def late(result: alosim.RunResult) -> int:
        """Processings begun after the transmission's deadline (200 ms after it
        was sent) or after a newer transmission of the message was sent."""
        sends = {(e.message, e.attempt): e.time_s for e in result.trace if e.event == "send"}
        count = 0
        for e in result.trace:
            if e.event != "processed":
                continue
            taken = e.time_s - 0.01  # constant processing, never slowed here
            newer = sends.get((e.message, e.attempt + 1))
            if taken >= sends[(e.message, e.attempt)] + 0.2 or (newer is not None and newer <= taken):
                count += 1
        return count

    assert late(off) > 1000  # the check finds them when nothing discards
    assert late(on) == 0
    s = on.summary
    assert s["expired_discarded"] > 0
    discarded = [e for e in on.trace if e.event == "expired_discarded"]
    assert len(discarded) == s["expired_discarded"]
    assert {e.detail.split(" ")[0] for e in discarded} <= {"superseded", "deadline"}
    # A discarded copy is neither processed nor acked.
    assert s["processed"] + s["expired_discarded"] == s["deliveries"]
    assert s["acks_sent"] == s["processed"]


def test_a_message_whose_copies_were_all_discarded_is_lost_to_that_cause():
    r = alosim.simulate(make(STORM, **DISCARD, **{"sender.retry.max_attempts": 2}))
    s = r.summary
    assert s["lost_expired_discarded"] > 0
    causes = {k: v for k, v in s.items() if k.startswith("lost_") and v}
    assert sum(causes.values()) == s["lost"]
    # The sender gave up on each of them; the discard came first, so it names the loss.
    assert s["lost_expired_discarded"] <= s["gave_up"]


def test_together_a_dropped_newcomer_lends_its_transmission_to_the_queued_copy():
    # Without the loan the copy kept would be the oldest, the one that expires.
    constant = {"receiver.processing": {"dist": "constant", "value": 0.01}}
    r = alosim.simulate(make(STORM, **constant, **ON_ARRIVAL, **DISCARD))
    sends = {(e.message, e.attempt): e.time_s for e in r.trace if e.event == "send"}
    processed = [e for e in r.trace if e.event == "processed"]
    # Each copy processed answers the newest transmission that had arrived:
    # the one whose ack the sender is waiting for, sent within the last timeout.
    waits = [e.time_s - sends[(e.message, e.attempt)] for e in processed]
    assert max(waits) < 0.2 + 0.01  # begun before its deadline, then 10 ms of processing
    assert any(e.attempt > 1 for e in processed)
    discarded = [e for e in r.trace if e.event == "expired_discarded"]
    assert r.summary["expired_discarded"] == len(discarded) > 0


def test_both_mitigations_together_keep_the_books():
    for semantics in ("at-least-once", "exactly-once"):
        s = alosim.simulate(make(STORM, semantics=semantics, **ON_ARRIVAL, **DISCARD)).summary
        assert s["expired_discarded"] > 0 and s["arrival_duplicates_dropped"] > 0
        assert s["lost"] == 0 and s["unsettled"] == 0


# -- off: nothing changes ------------------------------------------------------------------


def test_off_the_summary_has_no_new_columns():
    s = alosim.simulate(make(STORM)).summary
    assert not set(NEW_COLUMNS) & set(s)
    on = alosim.simulate(make(STORM, **ON_ARRIVAL, **DISCARD)).summary
    assert set(NEW_COLUMNS) <= set(on)


@pytest.mark.parametrize("semantics", ["at-least-once", "exactly-once"])
def test_turned_on_where_there_is_nothing_to_do_they_change_nothing(semantics):
    # Light load and no pause: no copy waits past its deadline, no duplicate arrives.
    quiet = {"semantics": semantics, "sender.rate": 5, "faults": []}
    off = alosim.simulate(make(STORM, **quiet))
    on = alosim.simulate(make(STORM, **quiet, **ON_ARRIVAL, **DISCARD))
    assert on.summary["arrival_duplicates_dropped"] == on.summary["expired_discarded"] == 0
    assert on.series == off.series and on.trace == off.trace
    shared = {k: v for k, v in on.summary.items() if k not in NEW_COLUMNS and k != "fingerprint"}
    assert shared == {k: v for k, v in off.summary.items() if k != "fingerprint"}


# -- input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["dedup_on_arrival", "discard_expired"])
def test_a_flag_written_as_a_string_is_refused_in_one_line(tmp_path, field):
    path = tmp_path / "bad.yaml"
    path.write_text(f'name: bad\nmessages: 10\nsender: {{window: 1}}\nreceiver: {{{field}: "yes"}}\n')
    line = one_error(run_cli("run", str(path), "--out", str(tmp_path / "out"), cwd=tmp_path))
    assert f"receiver.{field}" in line and "expected true or false" in line
    assert not (tmp_path / "out").exists()


# -- the trace -------------------------------------------------------------------------------


def test_the_trace_names_both_and_the_diagram_marks_them_on_the_receiver_lane():
    from alosim import seqdiagram, trace

    r = alosim.simulate(make(STORM, **ON_ARRIVAL, **DISCARD, **{"observe.trace_messages": 200}))
    events = [e for e in r.trace if 130 <= e.message < 200]  # messages around the pause
    kinds = {e.event for e in events}
    assert {"dropped_on_arrival", "expired_discarded"} <= kinds
    log = trace.format_log(events)
    assert "dropped_on_arrival" in log and "expired_discarded" in log
    text = trace.mermaid(events)
    assert "dropped on arrival (a copy is queued or in progress)" in text
    assert "expired, discarded (superseded by #" in text or "expired, discarded (deadline" in text
    diagram = seqdiagram.layout(events)
    marks = {(n.kind, n.message, n.attempt): n for n in diagram.notes}
    for e in events:
        if e.event in ("dropped_on_arrival", "expired_discarded"):
            note = marks[(e.event, e.message, e.attempt)]
            assert note.actor == "receiver-0" and note.time_s == e.time_s
    fig = seqdiagram.draw(events, skip_quiet=False)
    ax = fig.axes[0]
    lane = {t.get_gid()[len("lane name "):]: t.get_position()[0]
            for t in ax.texts if (t.get_gid() or "").startswith("lane name ")}
    drawn = [line for line in ax.lines if (line.get_gid() or "").startswith("expired_discarded ")]
    assert drawn and all(list(line.get_xdata()) == [lane["receiver-0"]] for line in drawn)
    assert "expired, discarded" in [t.get_text() for t in ax.get_legend().get_texts()]
