"""The simulated world: messages, links, senders, receivers, dedup stores and
the wiring that connects them (:mod:`alosim.model.world`).

Long-lived activity that waits on the clock is a SimPy process (each
sender's arrivals, each fault injector). Per-message activity -- a packet
crossing a link, a retry timer, processing finishing -- is a plain scheduled
event with a callback, because one process per message is an order of
magnitude slower; the receiver is driven by such events alone.
"""
