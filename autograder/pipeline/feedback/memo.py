"""Bounded stores for what every feedback page repeats: the release's cells, rendered, highlighted
and cleaned once in a worker's warm-up, recur on every student's page."""
from __future__ import annotations

from typing import Callable, Hashable

#: Entries a store keeps: the release's pieces, with room to spare.
MAX_ENTRIES = 4096


def remembered(store: dict, key: Hashable, make: Callable[[], str], keep: bool = True) -> str:
    """store[key], made by make() the first time, and kept if keep and the store has room."""
    value = store.get(key)
    if value is None:
        value = make()
        if keep and len(store) < MAX_ENTRIES:
            store[key] = value
    return value
