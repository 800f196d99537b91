"""The router: the only component that calls the venue.

    orders.approved ──▶ batch consumer ──▶ Intake ──▶ Placer (places, batched per category)
    (group router)                                 └▶ Commands (amend, cancel, cancel-all)
                                                        │
                    VenueGate: breaker, shared rate limit, freeze key, transient retries
                                                        │
                                                      venue ──private stream──▶ lease holder
    control (every instance, no group) ──▶ FreezeWatcher: cancel-all until the venue is flat
    reconciliation lease holder ──▶ Reconciler: adopt, settle, report drift
    FreezeWatcher: trading ACTIVE again ──▶ VenueHealth: one fresh probe closes an open circuit

Every record change goes through `OrderStore.update_many` with the domain functions, and the
instance whose write made a transition publishes its events on `orders.events` and counts
its metrics. See `docs/architecture.md` for the whole flow.
"""
