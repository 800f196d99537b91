"""Record updates whose transitions are read back: who changed what, counted once.

`OrderStore.update_many` returns each record after its update, but not whether this call
made the change or found it made. `Tracker` wraps each update function to remember the
record it was applied to; the store may call a function more than once (compare-and-set
retries), and the last call is the one whose result was written. The instance whose write
made a transition is then the one that publishes its events and counts its metrics, so N
instances (or a redelivery) never count one transition twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from libs.common.domain.ids import ClientOrderId
from libs.common.domain.orders import Order
from libs.common.stores.orders import Announcer, OrderStore, UpdateFn


@dataclass(frozen=True, slots=True)
class Change:
    """A record before and after one update (equal when the update changed nothing)."""

    before: Order
    after: Order

    @property
    def changed(self) -> bool:
        return self.before != self.after


class Tracker:
    """Collects updates for one `update_many` round trip and reads their changes back."""

    def __init__(self) -> None:
        self._items: list[tuple[ClientOrderId, UpdateFn]] = []
        self._seen: dict[int, Order] = {}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, client_order_id: ClientOrderId, fn: UpdateFn) -> int:
        """Queue `fn` on the record; returns the index of its result in `run`'s list."""
        index = len(self._items)

        def step(order: Order) -> Order:
            self._seen[index] = order  # the last call's input is the record written over
            return fn(order)

        self._items.append((client_order_id, step))
        return index

    async def run(
        self,
        store: OrderStore,
        known: Mapping[ClientOrderId, Order] | None = None,
        announce: Announcer | None = None,
    ) -> list[Change | Exception]:
        """Apply every queued update (one batched compare-and-set); a change or an error each.
        `known`, `announce`: see `OrderStore.update_many`."""
        if not self._items:
            return []
        results = await store.update_many(self._items, known=known, announce=announce)
        return [
            result if isinstance(result, Exception) else Change(self._seen[i], result)
            for i, result in enumerate(results)
        ]


def changes_only(results: Sequence[Change | Exception]) -> list[Change]:
    """The changes that did change a record (errors and no-ops dropped)."""
    return [r for r in results if isinstance(r, Change) and r.changed]
