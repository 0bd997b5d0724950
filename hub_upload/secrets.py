"""Find the Hugging Face token and keep it out of every message, log line and traceback.

The token comes from ``HF_TOKEN`` or the ``huggingface_hub`` login (``hf auth login``),
via :func:`huggingface_hub.get_token`. Everything the CLI prints goes through
:func:`scrub`, which masks the known token and anything shaped like one (``hf_...``);
:func:`scrubbed_errors` turns any failure into a :class:`HubUploadError` whose message
is scrubbed and whose chained traceback is dropped, and :func:`scrubbed_output` wraps
stdout/stderr and logging handlers for the duration of a CLI run.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator

import huggingface_hub.utils.logging  # noqa: F401  (adds the stderr handler that scrubbed_output filters)
from huggingface_hub import get_token

MASK = "hf_***"
# Hub user and org tokens are "hf_" + ~34 letters/digits; 16+ keeps words like hf_transfer readable.
_TOKEN_SHAPE = re.compile(r"\bhf_[A-Za-z0-9]{16,}\b")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")
_TOKEN_SHAPE_BYTES = re.compile(_TOKEN_SHAPE.pattern.encode())


class HubUploadError(RuntimeError):
    """A failure of a hub_upload command, with a message safe to print (no token)."""


_known_tokens: set[str] = set()


def remember_token(token: str | None) -> None:
    """Mask this exact token too, even if it does not look like ``hf_...``."""
    if token and len(token) >= 4:
        _known_tokens.add(token)


def resolve_token() -> str | None:
    """The token from ``HF_TOKEN`` or the saved Hub login, or None when there is none."""
    token = get_token()
    remember_token(token)
    return token


def holds_token(data: bytes, token: str | None = None) -> bool:
    """Whether ``data`` holds ``token``, a token this run has seen, or anything shaped like a Hub token."""
    tokens = _known_tokens | ({token} if token else set())
    return any(t.encode() in data for t in tokens) or _TOKEN_SHAPE_BYTES.search(data) is not None


def scrub(text: object) -> str:
    """``text`` with every known token, token-shaped string and bearer header value masked."""
    out = str(text)
    for token in sorted(_known_tokens, key=len, reverse=True):
        out = out.replace(token, MASK)
    out = _TOKEN_SHAPE.sub(MASK, out)
    return _BEARER.sub(lambda m: m.group(1) + MASK, out)


class ScrubFilter(logging.Filter):
    """Logging filter that rewrites each record's message with :func:`scrub`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not leak args either
            message = f"{record.msg} {record.args}"
        record.msg, record.args = scrub(message), None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class _ScrubbingStream:
    """A text stream wrapper that scrubs everything written through it."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(scrub(text))
        return len(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def scrubbed_output() -> Iterator[None]:
    """Scrub stdout, stderr and every logging handler (root and huggingface_hub) inside the block."""
    scrub_filter = ScrubFilter()
    handlers = list(logging.getLogger().handlers)
    for name in ("huggingface_hub", "transformers", "datasets"):
        handlers += logging.getLogger(name).handlers
    for handler in handlers:
        handler.addFilter(scrub_filter)
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _ScrubbingStream(old_out), _ScrubbingStream(old_err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        for handler in handlers:
            handler.removeFilter(scrub_filter)


@contextlib.contextmanager
def scrubbed_errors(action: str) -> Iterator[None]:
    """Re-raise any exception as :class:`HubUploadError` with a scrubbed message and no chained traceback."""
    try:
        yield
    except HubUploadError as err:
        try:  # keep the subclass (e.g. PublicPushRefused) so callers can tell refusals from failures
            scrubbed = type(err)(scrub(err))
        except TypeError:
            scrubbed = HubUploadError(scrub(err))
        raise scrubbed from None
    except Exception as err:  # the original may carry request headers or URLs with the token
        status = getattr(getattr(err, "response", None), "status_code", None)
        hint = ""
        if status == 401:
            hint = " Check that HF_TOKEN (or `hf auth login`) holds a valid token with write access."
        elif status == 403:
            hint = " Your token cannot write to this namespace; use your user name or an org you belong to."
        detail = scrub(f"{type(err).__name__}: {err}")
        raise HubUploadError(f"{action} failed: {detail}{hint}") from None
