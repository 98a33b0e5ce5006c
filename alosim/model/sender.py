"""The sender: arrivals, the in-flight window, retry timers and giving up.

Messages arrive at ``rate`` (Poisson or periodic) into an outbox -- or, with
no rate, a new message is created whenever the window has room (a closed
loop that keeps the window full). At most ``window`` messages are un-acked at
once. Each transmission starts a retry timer. If the timer expires before an
ack arrives the sender retransmits, until ``max_attempts`` transmissions
have been made or ``delivery_timeout`` has passed since the first one; then
it gives up.

This is where duplicates are born: when a data packet arrived but its ack was
lost (or was merely slower than the timeout), the retransmission delivers the
same message again.

How long to wait before retransmitting is the retry policy (see
:class:`alosim.scenario.Retry`): fixed, exponential backoff, or an adaptive
timeout estimated from round trips as TCP does (RFC 6298), each optionally
with jitter.

Retry timers are neither processes nor one SimPy event each. Every timer
the sender sets (a transmission's, or a held message's re-armed one) gets the
next *ticket*, and the message keeps the ticket of its latest (``msg.timer``);
the sender keeps its pending timers in a queue ordered by deadline, behind a
single scheduled wake-up for the earliest. An un-acked message has exactly one
*live* timer -- the ticket in ``_live``, which maps it to the message: a timer
that expires is taken out before the retransmission sets the next, and an ack
(or giving up) takes its message's ticket out at once. What stays queued is
only a deadline and a ticket, so that a settled message is freed as soon as
nothing else holds it (not when its timer would have expired, tens of
milliseconds and hundreds of messages later). With the same wait after every
transmission and no mitigation, deadlines come in ticket order and ``_live``
(in insertion order, which is ticket order) is the whole queue: the earliest
live timer is its first entry, the message's own ``deadline``. Otherwise a
heap of (deadline, ticket) keeps them ordered, and the entry of a settled
message is dropped when it reaches the front. Most messages are acked long
before their timeout, so most timers cost an entry in a dict and no
simulation event.

A sender can crash (see :mod:`alosim.model.faults`). With a durable outbox
its un-acked messages survive and are resent when it restarts -- within the
retry limits: one whose delivery timeout ran out meanwhile, or which has used
its ``max_attempts`` (at-most-once: its one attempt), is given up instead, so
at-most-once never sends a message twice; messages not yet sent are sent.
Without a durable outbox they are abandoned.

Two optional mitigations keep retries from becoming the overload (see
:mod:`alosim.model.mitigation`):

* A **retry budget** (``sender.retry_budget``): a retransmission -- after a
  timeout, a negative ack or a restart -- needs a whole token. One that finds
  none is *suppressed* (``retries_suppressed`` counts each refusal): nothing
  is sent, the message's timer is re-armed for the wait its retry policy
  would give the next attempt (cut at its delivery timeout), and it asks
  again then. It stays un-acked: ``max_attempts`` counts transmissions made,
  so only ``delivery_timeout`` (or an ack of an earlier copy) ends it. The
  bucket survives a sender crash, so retransmissions <= burst + ratio x first
  transmissions holds over a whole run.
* A **circuit breaker** per connection (``sender.circuit_breaker``): while
  it is open, or half-open with its probes out, a transmission to its
  receiver is *held*. A held message keeps its window slot and waits in the
  breaker's list; ``short_circuited`` counts each held message once per open
  period. A message never sent yet has no timer and no delivery timeout
  running (that starts at its first transmission, as for any message in the
  outbox). A held retransmission keeps a timer, re-armed like a suppressed
  one: when it fires the message gives up if its delivery timeout has run
  out, else asks the breaker again (a held retransmission is not a timeout).
  When the breaker turns half-open the oldest held messages go out as its
  probes; when it closes every held message goes out at once, in creation
  order (retransmissions still subject to the budget). A crash restarts the
  breakers closed.

**Loss causes.** As everywhere, a lost message is charged to the first thing
that went wrong with it (``msg.cause`` is set once). The sender's own reason
comes last: when it gives a message up, the limit that ran out
(``delivery_timeout``, ``max_attempts``) is the cause -- unless the message's
latest retransmission was being held back, then it is ``circuit_open`` (held
by a breaker) or ``retry_budget`` (suppressed), which is why its limit ran
out. A message still unsettled when the run stops is not lost and has no
cause.

Messages are numbered per connection (this sender to one receiver), so that
the receiver's sequence store sees every number of its connection; see
:class:`alosim.model.dedup.SequenceDedup` for the floor each transmission
carries.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator
from heapq import heappop, heappush
from typing import TYPE_CHECKING

import simpy

from alosim.model.events import Later
from alosim.model.message import Message
from alosim.model.mitigation import CLOSED, OPEN, CircuitBreaker, TokenBucket
from alosim.scenario import Sender as SenderSpec
from alosim.streams import Draws

if TYPE_CHECKING:
    from alosim.model.world import World

# RFC 6298: gains of the smoothed round trip and its variation, K, and the
# clock granularity G (1 ms, a common timer tick) that keeps the RTO above
# the round trip itself when the round trip never varies.
_ALPHA, _BETA, _K, _G = 1 / 8, 1 / 4, 4, 0.001


def _by_id(msg: Message) -> int:
    return msg.id


class Sender:
    # Slots keep attribute access on the hot path fast (a plain instance
    # dict stops being specialised by CPython past about 30 attributes).
    __slots__ = (
        "world", "env", "rec", "index", "actor", "window", "retry", "timeout", "max_attempts",
        "delivery_timeout", "max_timeout", "durable_outbox", "rate", "remaining", "duration",
        "outbox", "in_flight", "creating", "up", "_restarted", "_resend", "_gap", "_jitter",
        "srtt", "rttvar", "rto", "_adaptive", "_send_data", "_same_wait", "_fifo", "_live",
        "_heap", "_front", "_ticket", "_wake_at", "_wake_callbacks", "_next_id", "_receivers",
        "_seqs", "_floors", "_open", "_backoff_at", "_budget", "_breakers", "_guarded",
        "_half_open_callbacks",
    )

    def __init__(self, world: World, index: int, spec: SenderSpec,
                 quota: int | None, duration: float | None) -> None:
        self.world = world
        self.env = world.env
        self.rec = world.rec
        self.index = index
        self.actor = f"sender-{index}"
        self.window = spec.window if spec.window is not None else math.inf
        retry = spec.retry
        self.retry = retry
        self.timeout = retry.timeout
        self.max_attempts = retry.max_attempts or 0  # 0: retry until acked
        self.delivery_timeout = retry.delivery_timeout
        self.max_timeout = retry.max_timeout if retry.max_timeout is not None else math.inf
        if retry.policy == "adaptive" and retry.max_timeout is None:
            self.max_timeout = max(60.0, retry.timeout)  # RFC 6298 (2.5): at least 60 s
        self.durable_outbox = spec.durable_outbox
        self.rate = spec.rate
        # Messages this sender may still create (inf: until `duration` ends).
        self.remaining = math.inf if quota is None else quota
        self.duration = duration
        self.outbox: deque[Message] = deque()
        self.in_flight = 0
        self.creating = True
        self.up = True
        self._restarted: simpy.Event | None = None
        self._resend: list[Message] = []  # un-acked messages kept by a durable outbox
        if spec.rate is not None:
            rng = world.streams.generator(f"sender.{index}.arrivals")
            mean_gap = 1.0 / spec.rate
            if spec.arrivals == "poisson":
                self._gap: Callable[[], float] = Draws(lambda n: rng.exponential(mean_gap, n))
            else:
                self._gap = lambda: mean_gap
        self._jitter = world.streams.uniforms(f"sender.{index}.jitter")
        # Adaptive timeout state (RFC 6298).
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = retry.timeout
        self._adaptive = retry.policy == "adaptive"
        self._send_data = world.data_link.send
        # Pending retry timers (see the module docstring): the live ones by ticket, and
        # with the same wait after every transmission and no mitigation (which re-arms
        # timers without a transmission) nothing else (_fifo); otherwise a heap of
        # (deadline, ticket) keeps them ordered.
        self._same_wait = (retry.policy == "fixed" and retry.jitter == "none"
                           and retry.delivery_timeout is None)
        self._live: dict[int, Message] = {}
        self._ticket = 0  # the latest ticket given
        self._wake_at = math.inf  # the earliest scheduled wake-up
        self._wake_callbacks = (self._on_wake,)
        self._next_id = world.message_ids.__next__
        self._receivers = world.receiver_count
        # Sequence numbers are per connection (this sender -> one receiver), as
        # Kafka numbers per producer and partition: a receiver sees every
        # number of its connection. _seqs[r] is the next number towards r.
        self._seqs = [0] * self._receivers
        # With a sequence store, each transmission carries the connection's
        # floor: the lowest number the sender may still send. Everything below
        # it is settled (acked, given up or abandoned), which lets the store
        # close gaps that will never fill. _open[r] holds the connection's
        # messages in number order until they settle.
        self._floors = world.sequence_floors
        self._open: list[deque[Message]] = [deque() for _ in range(self._receivers)]
        # Adaptive timeout: when the RTO was last backed off (RFC 6298 5.5 backs
        # off the one retransmission timer, so once per loss episode).
        self._backoff_at = -math.inf
        # Overload mitigations (see the module docstring). Without them the
        # hot path only ever tests `_guarded` (in _fill) and `_breakers` (per ack).
        self._budget = TokenBucket(spec.retry_budget) if spec.retry_budget is not None else None
        self._breakers = ([CircuitBreaker(spec.circuit_breaker) for _ in range(self._receivers)]
                          if spec.circuit_breaker is not None else None)
        self._guarded = self._budget is not None or self._breakers is not None
        self._fifo = self._same_wait and not self._guarded
        self._heap: list[tuple[float, int]] = []  # (not _fifo)
        # _fifo: the ticket at the front of the queue a FIFO of every ticket would hold
        # (its settled timers dropped when a wake-up reaches them; see _timers).
        self._front = 1
        self._half_open_callbacks = (self._half_open,)
        if self._budget is not None:
            self.rec.loss_causes.setdefault("retry_budget", 0)
        if self._breakers is not None:
            self.rec.loss_causes.setdefault("circuit_open", 0)

    # -- arrivals ------------------------------------------------------------

    def start(self) -> None:
        if self.rate is None:
            self._fill()
        else:
            self.env.process(self._arrivals())

    def _arrivals(self) -> Generator[simpy.Event, None, None]:
        """Open loop: messages arrive at ``rate`` whether or not the window has room
        (but not while the sender is down)."""
        env = self.env
        while self.remaining > 0:
            yield env.timeout(self._gap())
            if not self.up:
                self._restarted = env.event()
                yield self._restarted
            if self.duration is not None and env.now >= self.duration:
                break
            self.outbox.append(self._create())
            self._fill()
        self._stop_creating()

    def _create(self) -> Message:
        self.remaining -= 1
        msg_id = self._next_id()
        receiver = msg_id % self._receivers
        seqs = self._seqs
        seq = seqs[receiver]
        seqs[receiver] = seq + 1
        now = self.env._now
        msg = Message(msg_id, self.index, seq, receiver, now)
        if self._floors:
            self._open[receiver].append(msg)
        rec = self.rec
        if not msg_id & 0xFFF:
            rec.flush()  # keeps the latency buffers small
        if msg_id < rec.trace_limit:
            rec.event(now, self.actor, "create", msg_id, 0)
        return msg

    @property
    def unsettled(self) -> int:
        """Messages created and not yet acked or given up."""
        return self.in_flight + len(self.outbox)

    @property
    def created(self) -> int:
        """Messages this sender created so far (counted from its sequence numbers)."""
        return sum(self._seqs)

    def unsettled_messages(self) -> list[Message]:
        """The messages counted by :attr:`unsettled` (for the end-of-run accounting)."""
        if self.up:
            sent = list(self._live.values())
            sent += self._held_unsent()
        else:
            sent = [msg for msg in self._resend if not msg.settled]
        return sent + list(self.outbox)

    def floor(self, receiver: int) -> int:
        """The lowest sequence number towards ``receiver`` that may still be sent."""
        open_ = self._open[receiver]
        while open_ and open_[0].settled:
            open_.popleft()
        return open_[0].seq if open_ else self._seqs[receiver]

    @property
    def _timers(self) -> range | list[tuple[float, int]]:
        """The timers the queue holds, settled ones not dropped yet included (what the
        memory budget counts: World.held). Without a heap, the tickets of a FIFO that
        dropped its settled timers only when a wake-up reached them, as the heap does."""
        return range(self._front, self._ticket + 1) if self._fifo else self._heap

    def _stop_creating(self) -> None:
        if self.creating:
            self.creating = False
            self.world.check_done()

    def _fill(self) -> None:
        """Send from the outbox (or, closed loop, new messages) while the window has room."""
        if not self.up:
            return
        if self._guarded:
            self._fill_guarded()
            return
        closed_loop = self.rate is None
        while self.in_flight < self.window:
            if self.outbox:
                msg = self.outbox.popleft()
                now = msg.first_sent = self.env._now
                self.rec.outbox_wait_add(now - msg.created)
            elif closed_loop and self.remaining > 0:
                # Created when the window has room: no wait (the world adds
                # these zeros to the outbox wait in one go, see World.run).
                msg = self._create()
                msg.first_sent = self.env._now
            else:
                break
            self.in_flight += 1
            self.transmit(msg)
        if closed_loop and self.creating and self.remaining <= 0:
            self._stop_creating()

    # -- transmissions and timers ----------------------------------------------

    def transmit(self, msg: Message) -> None:
        rec = self.rec
        now = self.env._now
        attempt = msg.attempts = msg.attempts + 1
        msg.last_sent = now
        rec.transmissions += 1
        traced = msg.id < rec.trace_limit
        if attempt > 1:
            rec.retransmissions += 1
            if msg.delivered:
                rec.spurious_retransmissions += 1  # a copy got there: its ack was lost or late
        if self._floors:
            msg.floor = self.floor(msg.receiver)
        if traced:
            rec.event(now, self.actor, "send", msg.id, attempt, "resend" if attempt > 1 else "")
        copies = self._send_data((msg, attempt))
        if copies:
            msg.copies += copies
        else:
            rec.data_lost += 1
            if traced:
                rec.event(now, "network", "data_lost", msg.id, attempt)
        # Each transmission's timer has its own ticket: a timer whose message
        # was sent again before it fired (after a negative ack) is stale.
        ticket = msg.timer = self._ticket = self._ticket + 1
        self._live[ticket] = msg
        if self._same_wait:
            deadline = now + self.timeout
        else:
            deadline = now + self._wait(msg, attempt)
            if self.delivery_timeout is not None:
                deadline = min(deadline, msg.first_sent + self.delivery_timeout)
        if not self._fifo:
            heappush(self._heap, (deadline, ticket))
        # The transmission carries its deadline on the record (a receiver that
        # discards expired work reads it; see Receiver.discard_expired).
        msg.deadline = deadline
        if deadline < self._wake_at:
            self._wake_at = deadline
            Later.at(self.env, deadline, self._wake_callbacks, deadline)

    def _wait(self, msg: Message, attempt: int) -> float:
        """How long to wait for an ack of transmission ``attempt`` before retrying."""
        retry = self.retry
        if retry.jitter == "decorrelated":
            # AWS's "decorrelated jitter": between the base and three times the last wait.
            low = retry.timeout
            high = max(low, 3 * (msg.wait or low))
            msg.wait = min(self.max_timeout, low + self._jitter() * (high - low))
            return msg.wait
        if retry.policy == "fixed":
            wait = retry.timeout
        elif retry.policy == "exponential":
            wait = min(retry.timeout * retry.multiplier ** (attempt - 1), self.max_timeout)
        else:  # adaptive: the current RTO (backed off by timeouts, reset by samples)
            wait = self.rto
        if retry.jitter == "full":
            wait *= self._jitter()
        elif retry.jitter == "equal":
            wait = wait / 2 + self._jitter() * wait / 2
        return wait

    def _on_wake(self, event: Later) -> None:
        """Expire the timers that are due; sleep until the first one still live."""
        if event._value != self._wake_at:
            return  # superseded: an earlier wake-up was scheduled after this one
        # While this runs, _wake_at stays at now, so that retransmissions made
        # here do not schedule wake-ups of their own.
        env = self.env
        now = env._now
        live = self._live
        if self._fifo:
            # The earliest live timer is the first in _live (settled ones are gone already).
            # Each that is due expires as _expired and _retry would take it without a
            # mitigation, an adaptive timeout or a delivery timeout (none of which _fifo
            # has): counted, traced, then given up (max_attempts) or sent again.
            rec = self.rec
            max_attempts = self.max_attempts
            untraced = rec.trace_limit
            plain = not self._floors
            while live:
                ticket = next(iter(live))
                msg = live[ticket]
                deadline = msg.deadline  # its latest transmission's: the ticket's own
                if deadline > now:
                    self._front = ticket
                    self._wake_at = deadline
                    Later.at(env, deadline, self._wake_callbacks, deadline)
                    return
                del live[ticket]
                rec.timeouts += 1
                if msg.id < rec.trace_limit:
                    rec.event(now, self.actor, "timeout", msg.id, msg.attempts)
                if max_attempts and msg.attempts >= max_attempts:
                    self._give_up(msg, "max_attempts")
                    self._settle(msg)
                elif plain and msg.id >= untraced:
                    # transmit(msg): a retransmission, untraced, with no floor to carry.
                    attempt = msg.attempts = msg.attempts + 1
                    msg.last_sent = now
                    rec.transmissions += 1
                    rec.retransmissions += 1
                    if msg.delivered:
                        rec.spurious_retransmissions += 1  # a copy got there: its ack was lost or late
                    copies = self._send_data((msg, attempt))
                    if copies:
                        msg.copies += copies
                    else:
                        rec.data_lost += 1
                    ticket = msg.timer = self._ticket = self._ticket + 1
                    live[ticket] = msg
                    msg.deadline = now + self.timeout
                    # (Later than now, the wake-up being handled: it schedules none of its own.)
                else:
                    self.transmit(msg)
            self._front = self._ticket + 1
            self._wake_at = math.inf
            return
        heap = self._heap
        while heap:
            deadline, ticket = heap[0]
            if ticket not in live:
                heappop(heap)  # its message settled, or it was re-armed or sent again since
            elif deadline <= now:
                heappop(heap)
                self._expired(live.pop(ticket), deadline)
            else:
                self._wake_at = deadline
                Later.at(self.env, deadline, self._wake_callbacks, deadline)
                return
        self._wake_at = math.inf

    def _expired(self, msg: Message, deadline: float) -> None:
        if self._guarded:
            if msg.held:
                # A held or suppressed retransmission asks again: no ack was awaited.
                self._retry(msg, deadline)
                return
            if self._breakers is not None:
                self._outcome(msg, failed=True)
        rec = self.rec
        now = self.env._now
        rec.timeouts += 1
        if msg.id < rec.trace_limit:
            rec.event(now, self.actor, "timeout", msg.id, msg.attempts)
        self._retry(msg, deadline, backoff=self._adaptive)

    def _retry(self, msg: Message, deadline: float, backoff: bool = False) -> None:
        """Send ``msg`` again, or give it up if its limits ran out (at ``deadline``)."""
        now = self.env._now
        if self.delivery_timeout is not None and deadline >= msg.first_sent + self.delivery_timeout:
            cause = "delivery_timeout"
        elif self.max_attempts and msg.attempts >= self.max_attempts:
            cause = "max_attempts"
        else:
            if backoff and msg.last_sent >= self._backoff_at:
                # RFC 6298 (5.5) doubles the RTO when *the* retransmission timer
                # expires. Here every message has its own deadline, so a loss
                # episode (a partition, a burst) expires many at once; only a
                # transmission sent after the last back-off backs off again.
                # The others were sent under the old RTO and are retransmitted
                # with the new one.
                self.rto = min(2 * self.rto, self.max_timeout)
                self._backoff_at = now
            if self._guarded:
                self._again(msg)
            else:
                self.transmit(msg)
            return
        self._give_up(msg, cause)
        self._settle(msg)

    def _give_up(self, msg: Message, cause: str) -> None:
        """Stop trying ``msg`` (the caller settles it)."""
        rec = self.rec
        rec.gave_up += 1
        if self._guarded and msg.held:
            # Its latest retransmission was held back by a mitigation: charge
            # that rather than the limit that ran out meanwhile.
            cause = msg.held
            self._unhold(msg)
        msg.cause = msg.cause or cause
        if msg.id < rec.trace_limit:
            rec.event(self.env._now, self.actor, "gave_up", msg.id, msg.attempts, cause)

    # -- acks --------------------------------------------------------------------

    def on_packet(self, event: Later) -> None:
        """An ack arrived from the link."""
        msg, attempt = event._value
        if attempt < 0:
            self._nacked(msg, -attempt)
            return
        rec = self.rec
        now = self.env._now
        if msg.settled or not self.up:
            if not self.up:
                # Lost to the sender (a durable outbox will resend the message).
                rec.acks_lost += 1
                rec.acks_dropped_while_down += 1
            else:
                rec.late_acks += 1
            if msg.id < rec.trace_limit:
                rec.event(now, self.actor, "ack_ignored", msg.id, attempt,
                          "sender down" if not self.up else "already settled")
            return
        msg.acked = True
        rec.ack_latency_add(now - msg.first_sent)  # also counts acked
        if msg.id < rec.trace_limit:
            rec.event(now, self.actor, "acked", msg.id, attempt)
        if self._adaptive and attempt == msg.attempts:
            # The ack names the transmission it answers (as TCP timestamps do),
            # so the round trip of the latest one is unambiguous (Karn's rule).
            self._sample_rtt(now - msg.last_sent)
        # _settle(msg), inlined: this runs once per message.
        msg.settled = True
        del self._live[msg.timer]  # its one live timer (see the module docstring)
        self.in_flight -= 1
        if msg.copies:  # World.settled(msg), inlined
            self.world.pending[msg.id] = msg
        elif not msg.processed:
            self.world.lost(msg)
        if self._breakers is not None:
            self._outcome(msg, failed=False)
        self._fill()
        if not self.in_flight and not self.creating:
            self.world.check_done()

    def _nacked(self, msg: Message, attempt: int) -> None:
        """A negative ack: a full receiver queue rejected transmission ``attempt``.
        The latest transmission of an unsettled message is retried at once."""
        rec = self.rec
        if msg.settled or not self.up or attempt != msg.attempts:
            rec.nacks_ignored += 1
            return
        rec.nacks_received += 1
        if msg.id < rec.trace_limit:
            rec.event(self.env._now, self.actor, "nacked", msg.id, attempt)
        if self._breakers is not None:
            self._outcome(msg, failed=True)
        self._live.pop(msg.timer, None)  # sent again (or given up) before its timer fired
        self._retry(msg, self.env._now)

    def _sample_rtt(self, rtt: float) -> None:
        """RFC 6298 section 2: update SRTT, RTTVAR and RTO with a new measurement."""
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = (1 - _BETA) * self.rttvar + _BETA * abs(self.srtt - rtt)
            self.srtt = (1 - _ALPHA) * self.srtt + _ALPHA * rtt
        rto = self.srtt + max(_G, _K * self.rttvar)
        self.rto = min(max(rto, self.retry.min_timeout), self.max_timeout)

    def _settle(self, msg: Message) -> None:
        """The sender is done with ``msg`` (acked or given up): free its window slot."""
        msg.settled = True
        self._live.pop(msg.timer, None)  # (a timer that expired is out already)
        self.in_flight -= 1
        self.world.settled(msg)
        self._fill()
        if not self.in_flight and not self.creating:
            self.world.check_done()

    # -- overload mitigations -------------------------------------------------------

    def _fill_guarded(self) -> None:
        """:meth:`_fill` with a retry budget or circuit breakers: the same, but each
        first transmission goes through :meth:`_first`."""
        closed_loop = self.rate is None
        while self.in_flight < self.window:
            if self.outbox:
                msg = self.outbox.popleft()
                self.rec.outbox_wait_add(self.env._now - msg.created)
            elif closed_loop and self.remaining > 0:
                msg = self._create()
            else:
                break
            self.in_flight += 1
            self._first(msg)
        if closed_loop and self.creating and self.remaining <= 0:
            self._stop_creating()

    def _first(self, msg: Message) -> None:
        """The first transmission of ``msg`` (which has its window slot), unless
        its breaker holds it; it earns the retry budget its share."""
        breakers = self._breakers
        if breakers is not None:
            breaker = breakers[msg.receiver]
            if breaker.blocks():
                self._hold(msg, breaker)
                return
            breaker.sent(msg)
        msg.first_sent = self.env._now
        if self._budget is not None:
            self._budget.earn()
        self.transmit(msg)

    def _again(self, msg: Message) -> None:
        """A retransmission of ``msg`` that its limits allow: held while its breaker
        is open, suppressed when the budget has no whole token, else sent."""
        breakers = self._breakers
        if breakers is not None:
            breaker = breakers[msg.receiver]
            if breaker.blocks():
                self._hold(msg, breaker)
                return
        budget = self._budget
        if budget is not None and not budget.take():
            self._suppress(msg)
            return
        if msg.held:
            self._unhold(msg)
        if breakers is not None:
            breaker.sent(msg)
        self._live.pop(msg.timer, None)  # a held message's re-armed timer (one that expired is out)
        self.transmit(msg)

    def _hold(self, msg: Message, breaker: CircuitBreaker) -> None:
        """Keep ``msg`` back until ``breaker`` lets it out. A message already sent
        keeps a timer (see :meth:`_rearm`) so that its limits still apply."""
        rec = self.rec
        if msg.held != "circuit_open":
            msg.held = "circuit_open"
            breaker.held.append(msg)
        if msg.short_circuited != breaker.opened:  # once per message per open period
            msg.short_circuited = breaker.opened
            rec.short_circuited += 1
        if msg.id < rec.trace_limit:
            rec.event(self.env._now, self.actor, "held", msg.id, msg.attempts, "circuit open")
        if msg.attempts:
            self._rearm(msg)

    def _suppress(self, msg: Message) -> None:
        """The retry budget refused a retransmission of ``msg``: ask again later."""
        rec = self.rec
        rec.retries_suppressed += 1
        if msg.held == "circuit_open":
            self._unhold(msg)
        msg.held = "retry_budget"
        if msg.id < rec.trace_limit:
            rec.event(self.env._now, self.actor, "suppressed", msg.id, msg.attempts, "retry budget")
        self._rearm(msg)

    def _unhold(self, msg: Message) -> None:
        """``msg`` leaves whatever held it back."""
        if msg.held == "circuit_open":
            self._breakers[msg.receiver].held.remove(msg)  # type: ignore[index]
        msg.held = ""

    def _rearm(self, msg: Message) -> None:
        """Give ``msg`` a timer without a transmission: the wait the retry policy
        would give its next attempt, cut at its delivery timeout."""
        now = self.env._now
        deadline = now + self._wait(msg, msg.attempts + 1)
        if self.delivery_timeout is not None:
            deadline = min(deadline, msg.first_sent + self.delivery_timeout)
        live = self._live
        live.pop(msg.timer, None)  # (a timer that expired is out already)
        ticket = msg.timer = self._ticket = self._ticket + 1
        live[ticket] = msg
        heappush(self._heap, (deadline, ticket))  # (a mitigation re-arms: never _fifo)
        if deadline < self._wake_at:
            self._wake_at = deadline
            Later.at(self.env, deadline, self._wake_callbacks, deadline)

    def _outcome(self, msg: Message, failed: bool) -> None:
        """Tell ``msg``'s breaker how a transmission ended, and act on its verdict."""
        breaker = self._breakers[msg.receiver]  # type: ignore[index]
        verdict = breaker.record(msg, failed)
        if verdict is None:
            return
        rec = self.rec
        now = self.env._now
        if verdict is OPEN:
            breaker.open()
            rec.breaker_opened += 1
            if msg.id < rec.trace_limit:
                rec.event(now, self.actor, "breaker_open", msg.id, msg.attempts,
                          f"receiver-{msg.receiver}")
            Later.at(self.env, now + breaker.open_for, self._half_open_callbacks,
                     (breaker, breaker.generation))
        elif verdict is CLOSED:
            breaker.close()
            if msg.id < rec.trace_limit:
                rec.event(now, self.actor, "breaker_closed", msg.id, msg.attempts,
                          f"receiver-{msg.receiver}")
            self._release(breaker)

    def _half_open(self, event: Later) -> None:
        """An open period ended: let the probes out, the oldest held messages first."""
        breaker, generation = event._value
        if generation != breaker.generation or not self.up:
            return  # the sender crashed meanwhile and its breakers restarted closed
        breaker.half_open()
        self._release(breaker)

    def _release(self, breaker: CircuitBreaker) -> None:
        """Send what ``breaker`` held, in creation order, as long as it lets them out."""
        waiting = sorted((msg for msg in breaker.held if not msg.settled), key=_by_id)
        breaker.held = []
        for i, msg in enumerate(waiting):
            if breaker.blocks():
                breaker.held = waiting[i:]
                return
            msg.held = ""
            if msg.attempts:
                self._again(msg)
            else:
                self._first(msg)

    def _held_unsent(self) -> list[Message]:
        """Messages a breaker holds that were never sent (they have no timer)."""
        if self._breakers is None:
            return []
        return sorted((msg for breaker in self._breakers for msg in breaker.held
                       if not msg.attempts and not msg.settled), key=_by_id)

    # -- crashes -----------------------------------------------------------------

    def crash(self) -> None:
        """Stop. A durable outbox keeps un-acked messages for the restart;
        otherwise they are abandoned."""
        if not self.up:
            return
        self.up = False
        now = self.env._now
        # The live timers' messages in deadline order (_fifo: ticket order is deadline order).
        live = self._live
        unacked = (list(live.values()) if self._fifo
                   else [live[ticket] for _, ticket in sorted(self._heap) if ticket in live])
        live.clear()
        self._heap.clear()
        self._front = self._ticket + 1
        if self._breakers is not None:
            # The breakers are the process's memory: they restart closed. Messages
            # they held and that were never sent wait for the restart (or are
            # abandoned) with the rest.
            unacked += self._held_unsent()
            for msg in unacked:
                if msg.held == "circuit_open":
                    msg.held = ""
            for breaker in self._breakers:
                breaker.close()
                breaker.held = []
        if self.durable_outbox:
            self._resend = unacked
            return
        self._resend = []
        for msg in unacked:
            self.in_flight -= 1
            self._abandon(msg, now)
        while self.outbox:
            self._abandon(self.outbox.popleft(), now)
        if not self.in_flight and not self.creating:
            self.world.check_done()

    def _abandon(self, msg: Message, now: float) -> None:
        """Give ``msg`` up because the sender crashed and forgot it."""
        rec = self.rec
        rec.abandoned += 1
        msg.cause = msg.cause or "sender_crash"
        if msg.id < rec.trace_limit:
            rec.event(now, self.actor, "abandoned", msg.id, msg.attempts, "sender crashed")
        msg.settled = True
        self.world.settled(msg)

    def restart(self) -> None:
        """Come back up. A durable outbox's un-acked messages are resent within
        the same limits as any retry: a message whose delivery timeout ran out
        while the sender was down, or which used its last attempt (at-most-once:
        its only one), is given up instead. Messages never sent are sent."""
        if self.up:
            return
        self.up = True
        now = self.env._now
        resend, self._resend = self._resend, []
        for msg in resend:
            if msg.settled:
                continue
            if not msg.attempts:  # held by a circuit breaker when the sender crashed
                self._first(msg)
                continue
            if self.delivery_timeout is not None and now >= msg.first_sent + self.delivery_timeout:
                self._give_up(msg, "delivery_timeout")
            elif self.max_attempts and msg.attempts >= self.max_attempts:
                self._give_up(msg, "max_attempts")
            else:
                if self._guarded:
                    self._again(msg)
                else:
                    self.transmit(msg)
                continue
            # _settle without refilling the window yet: the resends go first.
            msg.settled = True
            self.in_flight -= 1
            self.world.settled(msg)
        if self._restarted is not None:
            restarted, self._restarted = self._restarted, None
            restarted.succeed()
        self._fill()
        if not self.in_flight and not self.creating:
            self.world.check_done()
