"""A sliding-window rate limit, per client and overall: what caps the app's paid OpenAI calls.

``/care_guide`` (and the guide tab) may ask OpenAI for a guide; a client that calls it in a loop
would otherwise run up an unbounded bill. :class:`RateLimiter` allows at most ``per_client`` calls per
client and ``overall`` calls in all per :data:`WINDOW_S`; beyond that the app answers with the
built-in guide and a notice.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

WINDOW_S = 60.0


class RateLimiter:
    """At most ``per_client`` calls per client and ``overall`` calls in any :data:`WINDOW_S` seconds."""

    def __init__(self, per_client: int, overall: int, clock: Callable[[], float] = time.monotonic):
        if per_client < 0 or overall < 0:
            raise ValueError(f"rate limits must be >= 0, got per_client={per_client}, overall={overall}")
        self.per_client, self.overall = per_client, overall
        self._clock = clock
        self._lock = threading.Lock()
        self._all: deque[float] = deque()
        self._by_client: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, client: str) -> bool:
        """Count one call for ``client`` and return True, or return False (nothing counted) when over a limit."""
        now = self._clock()
        with self._lock:
            for calls in (self._all, self._by_client[client]):
                while calls and now - calls[0] >= WINDOW_S:
                    calls.popleft()
            if not self._by_client[client]:
                del self._by_client[client]  # forget idle clients: the table stays small
            mine = self._by_client.get(client, deque())
            if len(self._all) >= self.overall or len(mine) >= self.per_client:
                return False
            self._all.append(now)
            self._by_client[client].append(now)
            return True
