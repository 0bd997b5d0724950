"""Where the project caches what it builds on first use (converted weights, demo models, ONNX exports).

``$SCALP_CACHE`` when set, else ``~/.cache/scalp-care``; every stage asks :func:`cache_dir`.
:func:`write_text_atomically` and :func:`write_bytes_atomically` write the files that a racing process may read.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def cache_dir() -> Path:
    """``$SCALP_CACHE`` or ``~/.cache/scalp-care`` (not created here)."""
    root = os.environ.get("SCALP_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "scalp-care"


def write_text_atomically(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all (see :func:`write_bytes_atomically`)."""
    return write_bytes_atomically(path, text.encode("utf-8"))


def write_bytes_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all: a reader, in this process or another, never sees half
    a file. The temporary file beside it is removed when writing fails (the ``OSError`` is raised)."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise
    return path
