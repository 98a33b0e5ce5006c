"""The sender: arrivals, the in-flight window, retry timers and giving up.

Messages arrive at ``rate`` (Poisson or periodic) into an outbox -- or, with
no rate, a new message is created whenever the window has room (a closed
loop that keeps the window full). At most ``window`` messages are un-acked at
once. Each transmission starts a retry timer. If the timer expires before an
ack arrives the sender retransmits, until ``max_attempts`` transmissions
have been made; then it gives up.

This is where duplicates are born: when a data packet arrived but its ack was
lost (or was merely slower than the timeout), the retransmission delivers the
same message again.

A retry timer is a scheduled event with a callback, not a process. An ack
does not cancel it (SimPy cannot unschedule an event); instead the timer
carries the generation it was started for, and a timer that fires for a
settled message or an older generation does nothing.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from typing import TYPE_CHECKING

import simpy

from alosim.model.events import Later
from alosim.model.message import Message
from alosim.scenario import Sender as SenderSpec
from alosim.streams import Draws

if TYPE_CHECKING:
    from alosim.simulate import World


class Sender:
    def __init__(self, world: World, index: int, spec: SenderSpec,
                 quota: int | None, duration: float | None) -> None:
        self.world = world
        self.env = world.env
        self.rec = world.rec
        self.index = index
        self.actor = f"sender-{index}"
        self.window = spec.window if spec.window is not None else math.inf
        self.timeout = spec.retry.timeout
        self.max_attempts = spec.retry.max_attempts or 0  # 0: retry until acked
        self.rate = spec.rate
        # Messages this sender may still create (inf: until `duration` ends).
        self.remaining = math.inf if quota is None else quota
        self.duration = duration
        self.outbox: deque[Message] = deque()
        self.in_flight = 0
        self.creating = True
        if spec.rate is not None:
            rng = world.streams.generator(f"sender.{index}.arrivals")
            mean_gap = 1.0 / spec.rate
            if spec.arrivals == "poisson":
                self._gap = Draws(lambda n: rng.exponential(mean_gap, n))
            else:
                self._gap = lambda: mean_gap
        self._send_data = world.data_link.send
        # Pending retry timers in deadline order (the timeout is the same for
        # every transmission, so the order is the order they were started).
        self._timers: deque[tuple[float, Message, int]] = deque()
        self._wake_pending = False
        self._wake_callbacks = (self._on_wake,)
        self._next_id = world.message_ids.__next__
        self._receivers = world.receiver_count
        self.next_seq = 0  # sequence number of the next message this sender creates

    # -- arrivals ------------------------------------------------------------

    def start(self) -> None:
        if self.rate is None:
            self._fill()
        else:
            self.env.process(self._arrivals())

    def _arrivals(self) -> Generator[simpy.Event, None, None]:
        """Open loop: messages arrive at ``rate`` whether or not the window has room."""
        env = self.env
        while self.remaining > 0:
            yield env.timeout(self._gap())
            if self.duration is not None and env.now >= self.duration:
                break
            self.outbox.append(self._create())
            self._fill()
        self._stop_creating()

    def _create(self) -> Message:
        self.remaining -= 1
        msg_id = self._next_id()
        seq = self.next_seq
        self.next_seq = seq + 1
        now = self.env._now
        msg = Message(msg_id, self.index, seq, msg_id % self._receivers, now)
        rec = self.rec
        rec.messages += 1
        if not msg_id & 0xFFF:
            rec.flush()  # keeps the latency buffers small
        if msg_id < rec.trace_limit:
            rec.event(now, self.actor, "create", msg_id, 0)
        return msg

    @property
    def unsettled(self) -> int:
        """Messages created and not yet acked or given up."""
        return self.in_flight + len(self.outbox)

    def _stop_creating(self) -> None:
        if self.creating:
            self.creating = False
            self.world.check_done()

    def _fill(self) -> None:
        """Send from the outbox (or, closed loop, new messages) while the window has room."""
        closed_loop = self.rate is None
        while self.in_flight < self.window:
            if self.outbox:
                msg = self.outbox.popleft()
            elif closed_loop and self.remaining > 0:
                msg = self._create()
            else:
                break
            self.in_flight += 1
            msg.first_sent = self.env._now
            self.transmit(msg)
        if closed_loop and self.creating and self.remaining <= 0:
            self._stop_creating()

    # -- transmissions and timers ----------------------------------------------

    def transmit(self, msg: Message) -> None:
        rec = self.rec
        now = self.env._now
        attempt = msg.attempts = msg.attempts + 1
        rec.transmissions += 1
        traced = msg.id < rec.trace_limit
        if attempt > 1:
            rec.retransmissions += 1
        if traced:
            rec.event(now, self.actor, "send", msg.id, attempt, "resend" if attempt > 1 else "")
        if self._send_data((msg, attempt)):
            msg.copies += 1
        else:
            rec.data_lost += 1
            if traced:
                rec.event(now, "network", "data_lost", msg.id, attempt)
        generation = msg.timer = msg.timer + 1
        self._timers.append((now + self.timeout, msg, generation))
        if not self._wake_pending:
            self._wake_pending = True
            Later(self.env, self.timeout, self._wake_callbacks)

    def _on_wake(self, event: Later) -> None:
        """Expire the timers that are due; sleep until the first one still live."""
        timers = self._timers
        now = self.env._now
        while timers:
            deadline, msg, generation = timers[0]
            if msg.settled or generation != msg.timer:
                timers.popleft()  # cancelled: acked, or superseded by a newer timer
            elif deadline <= now:
                timers.popleft()
                self._expired(msg)
            else:
                Later(self.env, deadline - now, self._wake_callbacks)
                return
        self._wake_pending = False

    def _expired(self, msg: Message) -> None:
        rec = self.rec
        rec.timeouts += 1
        if msg.id < rec.trace_limit:
            rec.event(self.env._now, self.actor, "timeout", msg.id, msg.attempts)
        if self.max_attempts and msg.attempts >= self.max_attempts:
            rec.gave_up += 1
            if msg.id < rec.trace_limit:
                rec.event(self.env._now, self.actor, "gave_up", msg.id, msg.attempts)
            self._settle(msg)
        else:
            self.transmit(msg)

    # -- acks --------------------------------------------------------------------

    def on_packet(self, event: simpy.Event) -> None:
        """An ack arrived from the link."""
        msg, attempt = event._value
        rec = self.rec
        now = self.env._now
        if msg.settled:
            rec.late_acks += 1
            if msg.id < rec.trace_limit:
                rec.event(now, self.actor, "ack_ignored", msg.id, attempt, "already settled")
            return
        msg.acked = True
        rec.ack_latency_add(now - msg.first_sent)  # also counts acked
        if msg.id < rec.trace_limit:
            rec.event(now, self.actor, "acked", msg.id, attempt)
        # _settle(msg), inlined: this runs once per message.
        msg.settled = True
        self.in_flight -= 1
        if msg.copies:
            self.world.pending[msg.id] = msg
        elif not msg.processed:
            self.world.lost(msg)
        self._fill()
        if not self.in_flight and not self.creating:
            self.world.check_done()

    def _settle(self, msg: Message) -> None:
        """The sender is done with ``msg`` (acked or given up): free its window slot."""
        msg.settled = True
        self.in_flight -= 1
        if msg.copies:
            self.world.pending[msg.id] = msg  # its fate is decided when the copies are handled
        elif not msg.processed:
            self.world.lost(msg)
        self._fill()
        if not self.in_flight and not self.creating:
            self.world.check_done()
