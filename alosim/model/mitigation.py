"""The sender's overload mitigations: a retry budget and a circuit breaker.

Retries are load. When a receiver slows down, its queueing delay passes the
sender's timeout, every waiting message is retransmitted, and the copies keep
the queue full after the slowdown is over. Two mechanisms on the sender limit
what retries can add:

* :class:`TokenBucket` -- the **retry budget** of gRPC's retry throttling and
  Finagle's ``RetryBudget``: retransmissions may be at most a fraction of
  first transmissions, plus a burst. One bucket per sender, shared by all its
  receivers.
* :class:`CircuitBreaker` -- stop sending to a receiver whose transmissions
  keep failing, wait, then let a few probes through before trusting it again
  (closed -> open -> half-open -> closed, as in Hystrix or resilience4j).
  One breaker per connection: a sender with several receivers has one for
  each.

Both are plain state machines. The sender (:mod:`alosim.model.sender`) asks
them before each transmission, tells the breaker each transmission's
outcome, schedules the end of an open period and decides what happens to a
message they hold back.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import TYPE_CHECKING

from alosim.scenario import CircuitBreaker as BreakerSpec
from alosim.scenario import RetryBudget

if TYPE_CHECKING:
    from alosim.model.message import Message

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class TokenBucket:
    """A retry budget: ``burst`` tokens at the start and at most; a first
    transmission earns ``ratio``; a retransmission costs one whole token.

    Tokens are counted in integer units of ``1/d``, where ``ratio = n/d`` is the
    ratio as written (``0.1`` is exactly 1/10), so that ten first transmissions
    at ratio 0.1 earn exactly one token -- no floating-point sum falls just
    short of it -- and retransmissions <= burst + ratio x first transmissions
    holds exactly.
    """

    __slots__ = ("earned", "cost", "cap", "tokens")

    def __init__(self, spec: RetryBudget) -> None:
        ratio = Fraction(repr(float(spec.ratio)))
        self.earned = ratio.numerator  # per first transmission, in units of 1/cost
        self.cost = ratio.denominator  # one token
        self.cap = spec.burst * self.cost
        self.tokens = self.cap

    def earn(self) -> None:
        """A first transmission was made."""
        tokens = self.tokens + self.earned
        self.tokens = tokens if tokens < self.cap else self.cap

    def take(self) -> bool:
        """Withdraw a token for a retransmission, if there is a whole one."""
        if self.tokens < self.cost:
            return False
        self.tokens -= self.cost
        return True

    @property
    def level(self) -> float:
        """Tokens in the bucket."""
        return self.tokens / self.cost


class CircuitBreaker:
    """One connection's breaker.

    Closed, it keeps the outcomes of the last ``window`` transmissions and
    opens when the window is full and failures / window >= ``failure_ratio``.
    Open, it lets nothing out (:meth:`blocks`). Half-open (after
    ``open_for``, which the sender schedules), it lets ``probes``
    transmissions out; once each of them has an outcome it closes if all were
    acked, and any failed probe opens it again. Outcomes of transmissions made
    before it opened, arriving while it is open or half-open, are ignored:
    only the probes decide.

    ``held`` is the sender's list of messages waiting for this breaker; the
    breaker only keeps it.
    """

    __slots__ = ("failure_ratio", "size", "open_for", "probes", "state", "outcomes", "failures",
                 "opened", "generation", "probing", "probes_sent", "probes_acked", "held")

    def __init__(self, spec: BreakerSpec) -> None:
        self.failure_ratio = spec.failure_ratio
        self.size = spec.window
        self.open_for = spec.open_for
        self.probes = spec.probes
        self.state = CLOSED
        self.outcomes: deque[bool] = deque()  # True: a failure
        self.failures = 0
        self.opened = 0  # times opened; also the number of the current open period
        self.generation = 0  # bumped by every transition: a stale end-of-open-period is ignored
        self.probing: list[Message] = []  # messages whose probe has no outcome yet
        self.probes_sent = 0
        self.probes_acked = 0
        self.held: list[Message] = []

    def blocks(self) -> bool:
        """Whether a transmission must wait."""
        state = self.state
        return state is OPEN or (state is HALF_OPEN and self.probes_sent >= self.probes)

    def sent(self, msg: Message) -> None:
        """A transmission of ``msg`` went out (half-open: it is a probe)."""
        if self.state is HALF_OPEN:
            self.probes_sent += 1
            self.probing.append(msg)

    def record(self, msg: Message, failed: bool) -> str | None:
        """The outcome of a transmission of ``msg``; returns the state to move
        to (:data:`OPEN` or :data:`CLOSED`) if it changes, else None."""
        if self.state is CLOSED:
            outcomes = self.outcomes
            outcomes.append(failed)
            self.failures += failed
            if len(outcomes) > self.size:
                self.failures -= outcomes.popleft()
            if len(outcomes) == self.size and self.failures / self.size >= self.failure_ratio:
                return OPEN
            return None
        if self.state is HALF_OPEN and msg in self.probing:
            if failed:
                return OPEN
            self.probing.remove(msg)
            self.probes_acked += 1
            if self.probes_acked >= self.probes:
                return CLOSED
        return None

    def open(self) -> None:
        self.state = OPEN
        self.opened += 1
        self.generation += 1
        self._forget()

    def half_open(self) -> None:
        self.state = HALF_OPEN
        self.generation += 1
        self._forget()

    def close(self) -> None:
        self.state = CLOSED
        self.generation += 1
        self._forget()

    def _forget(self) -> None:
        self.outcomes.clear()
        self.failures = 0
        self.probing.clear()
        self.probes_sent = 0
        self.probes_acked = 0


__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "CircuitBreaker", "TokenBucket"]
