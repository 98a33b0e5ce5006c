"""The simulated world: messages, links, senders, receivers and dedup stores.

One SimPy process per long-lived actor (each sender's arrivals, each
receiver's processing loop). Per-message activity -- a packet crossing a
link, a retry timer -- is a plain scheduled event with a callback, because
one process per message is an order of magnitude slower.
"""
