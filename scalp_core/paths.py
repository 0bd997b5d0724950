"""Where the project caches what it builds on first use (converted weights, demo models, ONNX exports).

``$SCALP_CACHE`` when set, else ``~/.cache/scalp-care``; every stage asks :func:`cache_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$SCALP_CACHE`` or ``~/.cache/scalp-care`` (not created here)."""
    root = os.environ.get("SCALP_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "scalp-care"
