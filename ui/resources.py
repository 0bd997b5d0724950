"""Things the app loads in the background (the models, the photo check, the catalog) and how they recover.

A :class:`Resource` loads its value in a daemon thread on first use. A failure is remembered with a
message safe to show users (``ui.errors.public_error``: no local paths) and retried with exponential
backoff (:data:`FIRST_RETRY_S` doubling up to :data:`MAX_RETRY_S`) the next time someone asks after
the wait, so a model repo that was briefly unreachable at start recovers without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from ui.errors import public_error

T = TypeVar("T")
log = logging.getLogger("scalp_app")

FIRST_RETRY_S = 5.0
MAX_RETRY_S = 300.0
class Unavailable(RuntimeError):
    """The resource is still loading, or failed and waits for its retry; ``str()`` says which."""

    def __init__(self, name: str, status: str, error: str | None, retry_in_s: float | None):
        self.status, self.error, self.retry_in_s = status, error, retry_in_s
        if status == "failed":
            message = f"{name} could not be loaded: {error}"
        else:
            message = f"{name} is still being prepared; try again shortly"
        super().__init__(message)


class Resource(Generic[T]):
    """A value loaded once in the background, with remembered failures retried after a backoff."""

    def __init__(self, name: str, load: Callable[[], T], *, clock: Callable[[], float] = time.monotonic,
                 first_retry_s: float = FIRST_RETRY_S, max_retry_s: float = MAX_RETRY_S):
        self.name = name
        self._load = load
        self._clock = clock
        self._first_retry_s, self._max_retry_s = first_retry_s, max_retry_s
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.status = "idle"  # idle | loading | ready | failed
        self.value: T | None = None
        self.error: str | None = None
        self.failures = 0
        self.started_at: float | None = None
        self.ready_at: float | None = None
        self._retry_at = 0.0

    def start(self) -> None:
        """Start loading (in a thread) unless loaded, loading, or failed and still waiting for its retry."""
        with self._lock:
            if self.status in ("loading", "ready") or (self.status == "failed" and self._clock() < self._retry_at):
                return
            self.status = "loading"
            self.started_at = self._clock()
            self._done = threading.Event()
            done = self._done
        threading.Thread(target=self._run, args=(done,), name=f"scalp-load-{self.name}", daemon=True).start()

    def _run(self, done: threading.Event) -> None:
        try:
            value = self._load()
        except Exception as exc:  # remembered, shown to users, retried after the backoff
            with self._lock:
                self.failures += 1
                self.status, self.error = "failed", public_error(exc)
                wait = min(self._max_retry_s, self._first_retry_s * 2 ** (self.failures - 1))
                self._retry_at = self._clock() + wait
            log.error("loading %s failed (attempt %d; retrying in %.0f s): %s: %s",
                      self.name, self.failures, wait, type(exc).__name__, exc)
        else:
            with self._lock:
                self.value, self.status, self.error, self.failures = value, "ready", None, 0
                self.ready_at = self._clock()
            log.info("%s ready after %.1f s", self.name, self.ready_at - (self.started_at or self.ready_at))
        finally:
            done.set()

    def get(self, timeout: float | None = None) -> T:
        """The value; starts or retries loading as due, waits up to ``timeout`` s, else raises Unavailable."""
        self.start()
        if timeout:
            self._done.wait(timeout)
        if self.status == "ready":
            return self.value
        raise Unavailable(self.name, self.status, self.error, self.retry_in_s)

    def reset(self) -> None:
        """Forget the value and any failure (a new configuration)."""
        with self._lock:
            if self.status == "loading":
                raise RuntimeError(f"{self.name} is loading; reconfigure before it starts")
            self.status, self.value, self.error, self.failures, self._retry_at = "idle", None, None, 0, 0.0

    @property
    def retry_in_s(self) -> float | None:
        """Seconds until a failed load is tried again (0 when due), None unless failed."""
        if self.status != "failed":
            return None
        return max(0.0, self._retry_at - self._clock())

    @property
    def load_seconds(self) -> float | None:
        if self.ready_at is None or self.started_at is None:
            return None
        return self.ready_at - self.started_at
