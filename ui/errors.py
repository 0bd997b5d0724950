"""What users are told when something goes wrong: clear, bilingual, and never a local path.

- :func:`public_error` turns an exception into one line with every local path cut to ``…/name``;
- :func:`safe_endpoint` wraps an event handler or API endpoint so that an unexpected exception becomes
  a ``gr.Error`` with the Korean/English "could not be completed" message (the details go to the
  server log), never Gradio's bare "Error".
"""

from __future__ import annotations

import functools
import inspect
import logging
import re

import gradio as gr

from ui.i18n import both

log = logging.getLogger("scalp_app")

# An absolute local path (POSIX or Windows) that is not part of a URL or a Hub repo id.
_LOCAL_PATH = re.compile(r"(?<![\w:/.~-])(?:[A-Za-z]:\\|/)(?:[\w.~@+-]+[/\\])+([\w.~@+-]*)")


def public_error(exc: BaseException | str) -> str:
    """A one-line, user-facing description of an error with every local path cut to ``…/name``."""
    text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    text = " ".join(str(text).split())
    text = _LOCAL_PATH.sub(lambda m: "…/" + m.group(1), text)
    return text[:400]


def user_error(message: str) -> gr.Error:
    """A ``gr.Error`` shown as is (no traceback printed), with any local path removed."""
    return gr.Error(public_error(message), print_exception=False)


def safe_endpoint(fn):
    """``fn`` with every exception other than ``gr.Error`` logged and replaced by a clear bilingual one."""

    def convert(exc: Exception) -> gr.Error:
        if isinstance(exc, gr.Error):
            return exc
        log.exception("%s failed", fn.__qualname__)
        return gr.Error(both("err_internal"), print_exception=False)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                raise convert(exc) from None

        return generator

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise convert(exc) from None

    return wrapper
