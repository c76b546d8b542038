"""Recording: what every write leaves behind in its own transaction.

Below the domains and above the core: an event in the outbox (delivered later by the
dispatcher) and a row in the change log (read by multi-device sync). Domains import this
package; the dispatcher and the event routes, which read what was recorded, sit above
the domains.
"""
