"""One chat completion from an OpenAI-compatible server, with our retries, and errors told by type only.

:func:`ask` sends a system and a user message through the real ``openai`` client and returns the
answer text. Retries are ours, not the client's: at most ``retries`` after a connection error,
429 or 5xx, each after ``retry_delay_s``, none when the server's ``Retry-After`` asks for longer
and none past ``deadline`` (the openai client would otherwise honour a ``Retry-After`` of up to two
minutes). :func:`describe_error` reduces any failure to its type and HTTP status, e.g.
"AuthenticationError (401)": an error's message, headers and body may echo the request, key
included, so none of them is ever shown or logged (the HTTP transport's DEBUG log of response
headers is raised to INFO for the same reason). :class:`LRU` caches answers in memory.
Used by ``care_guide``; there is nothing to run here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from functools import cache

# The HTTP transport under the openai client logs raw response headers at DEBUG, and a server may echo
# the Authorization header in one; its names differ between httpx distributions.
TRANSPORT_LOGGERS = ("httpcore", "httpcore2")
SYSTEM_PROMPT = "당신은 두피 관리 정보를 주는 도우미입니다. 의학적 진단이나 치료 권고는 하지 않습니다."


class LRU:
    """A small thread-safe least-recently-used cache."""

    def __init__(self, size: int = 256) -> None:
        self.size, self.data, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
            return None

    def put(self, key, value) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


@cache
def openai_client(key: str, base_url: str | None, timeout: float):
    """The (cached) client for one key, server and per-request timeout."""
    # Heavy import, done here so the first guide's budget (not module import) pays for it once.
    from openai import OpenAI

    for name in TRANSPORT_LOGGERS:  # never let DEBUG logging print an echoed key
        transport_log = logging.getLogger(name)
        transport_log.setLevel(max(transport_log.level, logging.INFO))
    # max_retries=0: ask() retries itself, with pauses that fit the deadline.
    client = OpenAI(api_key=key, base_url=base_url or None, timeout=timeout, max_retries=0)
    _ = client.chat.completions  # resolve the lazily imported resource modules now, too
    return client


def describe_error(exc: BaseException) -> str:
    """``exc`` as its type and HTTP status only: "AuthenticationError (401)", "APIConnectionError"."""
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    return f"{name} ({status})" if isinstance(status, int) else name


def retry_after_s(exc: Exception) -> float | None:
    """The server's requested wait in seconds (inf when it sent one we cannot read), else None."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) / scale
            except ValueError:  # an HTTP date: some time in the future, too long for us
                return float("inf")
    return None


def ask(
    client, prompt: str, model: str, temperature: float, retries: int, retry_delay_s: float, deadline: float
) -> str:
    """The answer text to ``prompt``; raises the client's error when the retries are spent."""
    # Heavy import (the openai package); the client above has already paid for it.
    import openai

    attempt = 0
    while True:
        try:
            return _chat(client, prompt, model, temperature)
        except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
            server_wait = retry_after_s(exc)
            if (
                attempt >= retries
                or (server_wait is not None and server_wait > retry_delay_s)
                or time.monotonic() + retry_delay_s >= deadline
            ):
                raise
            attempt += 1
            time.sleep(retry_delay_s)


def _chat(client, prompt: str, model: str, temperature: float) -> str:
    response = client.chat.completions.create(
        model=model,
        temperature=temperature,
        messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
    )
    return response.choices[0].message.content or ""
