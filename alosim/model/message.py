"""The message record: one per message, shared by every copy of it.

A transmission does not copy the message: the link carries a reference to
this record and the attempt number. The record therefore holds the ground
truth that no single actor could know -- whether any copy was delivered or
processed, and why a duplicate or a loss happened -- and it lives only while
something still refers to it (the sender's window, a packet on a link, a
receiver's queue). That is what keeps memory bounded by what is in flight.
"""

from __future__ import annotations


class Message:
    """One message. Fields a message may never need are not set when it is
    created (this runs once per message): ``first_sent``, ``last_sent`` and
    ``deadline`` are set by its first transmission, ``recorded_epoch`` when a store
    records it, ``log_place`` and ``log_records`` when a log's producer creates it,
    and ``wait`` and ``cause`` fall back to class defaults until a retry policy
    or a loss sets them. (A field every message of a shape sets has a slot: a
    field kept in ``__dict__`` costs each message that sets it a dict.)"""

    __slots__ = (
        "id",
        "key",  # what a dedup store remembers: the id, or the key a topology's node gave it
        "sender",
        "seq",
        "receiver",
        "created",
        "attempts",
        "first_sent",  # time of the first transmission
        "last_sent",  # time of the latest transmission
        "settled",
        "acked",
        "delivered",
        "processed",
        "copies",
        "recorded_epoch",  # its store's wipe count when the id was recorded
        "timer",  # the ticket of its live retry timer (older ones are stale)
        "deadline",  # when its sender stops waiting for its latest transmission
        # A queue broker's (see alosim.model.broker): the publishes of it it accepted.
        "broker_entries",
        # A log's (see alosim.model.log), set when a log's producer creates it: its
        # (key, partition), and the records of it the log appended so far.
        "log_place",
        "log_records",
        "__dict__",  # room for the rarely set fields below
    )

    wait: float = 0.0  # the last retry wait (decorrelated jitter grows from it)
    cause: str | None = None  # why it was lost, if it is
    # Several workers: copies past a receiver's store check whose id is not
    # yet recorded, and copies admitted while another was (each will be a
    # duplicate the store could not catch).
    active: int = 0
    concurrent: int = 0
    floor: int = 0  # its connection's floor at its latest transmission (sequence stores)
    # Held back by a sender's mitigation: "circuit_open" (its breaker is open)
    # or "retry_budget" (its latest retransmission was suppressed); "" if not.
    held: str = ""
    # A topology's call caught at its node as a duplicate of an earlier call
    # with the same key (see alosim.model.topology): if never processed, it
    # ends neither processed nor lost.
    absorbed: bool = False
    short_circuited: int = -1  # the breaker's open period in which it was last counted held
    # A queue broker's (see alosim.model.broker): why the store missed the latest
    # publish that was a duplicate, the store's wipe count when it recorded the id,
    # and whether a full queue refused a publish that answers for the message.
    broker_miss: str = "unexplained"
    broker_epoch: int = 0
    broker_refused: bool = False
    # A pipeline's consumer store (see alosim.model.consumer): its wipe count and
    # the time when it recorded the id (None: never recorded).
    consumer_epoch: int | None = None
    consumer_recorded_at: float = 0.0

    def __init__(self, id: int, sender: int, seq: int, receiver: int, created: float) -> None:
        self.id = self.key = id
        self.sender = sender
        self.seq = seq  # per-connection sequence number, what a sequence dedup store keys on
        self.receiver = receiver
        self.created = created
        self.attempts = 0
        self.settled = False  # the sender is done with it: acked or gave up
        self.acked = False
        self.delivered = False  # some copy reached a receiver that was up and did not lose it in a crash
        self.processed = 0  # times a receiver executed its side effect
        self.copies = 0  # copies on the data link or at a receiver
        self.timer = 0
        self.broker_entries = 0  # read by a queue broker at every publish: a slot, set here

    def __repr__(self) -> str:
        return f"Message(id={self.id}, sender={self.sender}, seq={self.seq}, attempts={self.attempts})"
