"""A small thread-safe memo of values computed for the last few objects, keyed on the objects themselves."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable
from typing import Any


class RecentByIdentity:
    """The values computed for the last ``size`` objects (a few requests in flight at once).

    The key is the object itself (identity, never equality: two equal photos are two entries) plus an
    optional hashable ``key``; an entry whose object has been collected goes, so a new object at a
    reused address is never taken for it. The objects must not change in place while remembered."""

    def __init__(self, size: int):
        self.size = size
        self._lock = threading.Lock()
        self._entries: list[tuple[weakref.ref, Hashable, Any]] = []  # newest first

    def get(self, obj, key: Hashable = None, default=None):
        with self._lock:
            for ref, known, value in self._entries:
                if ref() is obj and known == key:
                    return value
        return default

    def put(self, obj, value, key: Hashable = None) -> None:
        with self._lock:
            self._entries = [(weakref.ref(obj), key, value)] + [
                entry for entry in self._entries[: self.size - 1] if entry[0]() is not None]
