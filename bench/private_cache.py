"""``--private-cache`` for the benches: run on a copy of the project's cache without what serving learned.

The int8 backend keeps beside each copy what its shadow re-checks saw (``<copy>.shift.json``: a widened
re-check margin, or the copy's retirement to fp32; see ``scalp_models.int8_serving``). A bench on the
default cache therefore starts from earlier runs' margins and widens the app's own. On a private copy of
the cache (the demo models, exports and int8 copies, without those files) every run starts from the
check photos' margins, and the real cache is left as it was. The copy is deleted afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from scalp_core.paths import cache_dir  # noqa: E402

LEARNED = "*.shift.json"  # what serving learned about an int8 copy


@contextlib.contextmanager
def private_cache(enabled: bool = True) -> Iterator[Path]:
    """Point ``$SCALP_CACHE`` (for this process and the processes it starts) at a copy of the cache without
    :data:`LEARNED` files, for the ``with`` block; yields the cache in use (the real one when not ``enabled``)."""
    if not enabled:
        yield cache_dir()
        return
    source, before = cache_dir(), os.environ.get("SCALP_CACHE")
    with tempfile.TemporaryDirectory(prefix="scalp-bench-cache-") as scratch:
        copy = Path(scratch) / "cache"
        if source.is_dir():
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns(LEARNED), symlinks=True)
        else:
            copy.mkdir()
        print(f"private cache: {copy} (a copy of {source} without {LEARNED})", file=sys.stderr)
        os.environ["SCALP_CACHE"] = str(copy)
        try:
            yield copy
        finally:
            if before is None:
                os.environ.pop("SCALP_CACHE", None)
            else:
                os.environ["SCALP_CACHE"] = before
