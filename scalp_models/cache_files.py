"""What the cache holds, when each file was last used, and pruning what nothing has used for a while.

The ONNX exports and their int8 copies are keyed by the model's weights (``onnx_backend.model_fingerprint``)
and the int8 copies also by their recipe, so a new model version, a retrained model or a changed recipe leaves
the old files behind: about 17 MB per model and version (13.4 MB fp32, 3.8 MB int8). Nothing reads them
again, and nothing here deletes them on its own, since another app or bench may share the cache. Each load
marks its file used (:func:`mark_used`, its modification time), so::

    python -m scalp_models cache                          # what is cached, its size, days since last used
    python -m scalp_models cache --prune --dry-run        # what --prune would remove
    python -m scalp_models cache --prune --older-than 30  # remove files unused for 30 days

removes the exports, int8 copies (with what serving learned about them, ``<copy>.shift.json``) and generated
calibration photos that nothing has loaded for ``--older-than`` days, and the leftovers of builds that were
interrupted. A copy retired to fp32 while serving is not loaded again, but each start reads its retirement and
marks the copy and its ``.shift.json`` used, so pruning never lets a retired copy serve again by forgetting
why. The demo models and the ImageNet Lite0 weights are listed but never pruned: the app needs them offline,
and each is one set, replaced in place when stale. The app logs a hint at start when pruning would free more
than :data:`HINT_MB`.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scalp_core.paths import cache_dir

log = logging.getLogger(__name__)

DAY_S = 86400.0
DEFAULT_OLDER_THAN_DAYS = 30.0
LEFTOVER_AFTER_S = 3600.0  # a build's temporary older than this was interrupted (a build takes minutes)
HINT_MB = 200.0
PRUNABLE = (("onnx", "*.onnx"), ("int8", "photos-*.npz"))  # (folder, pattern) of files marked on use
KEPT = ("demo-models", "lite0", "demo_images")  # needed offline, one set each: listed, never pruned
# Temporaries of interrupted builds: export and quantization folders, atomic writes' partial files.
LEFTOVERS = (".export-*", ".int8-*", ".*.*.*")
SHIFT_SUFFIX = ".shift.json"


def shift_file(copy_path: Path) -> Path:
    """Where the widest shift that shadow re-checks saw on an int8 copy is kept: beside the copy
    (``scalp_models.int8_serving``; its retirement too)."""
    return Path(copy_path).with_suffix(SHIFT_SUFFIX)


def copy_of(shift_path: Path) -> Path:
    """The int8 copy that :func:`shift_file` ``shift_path`` belongs to."""
    return shift_path.with_name(shift_path.name.removesuffix(SHIFT_SUFFIX) + ".onnx")


def mark_used(path: Path) -> None:
    """Record that ``path`` was just used (its modification time), so pruning keeps it. Best effort: a
    read-only cache (a Space's image, a shared volume) is fine, and nothing else relies on it."""
    try:
        os.utime(path)
    except OSError:
        pass


@dataclass(frozen=True)
class Entry:
    """One thing in the cache: a file, or a kept folder (summed)."""

    path: Path
    kind: str  # "fp32 export", "int8 copy", "calibration photos", "leftover", or a KEPT folder's name
    size: int
    last_used: float  # seconds since the epoch
    extras: tuple[Path, ...] = ()  # files that go with it (an int8 copy's .shift.json)

    @property
    def prunable(self) -> bool:
        return self.kind not in KEPT

    def age_days(self, now: float) -> float:
        return max(0.0, now - self.last_used) / DAY_S


def _kind(path: Path) -> str:
    if path.suffix == ".npz":
        return "calibration photos"
    return "int8 copy" if "-int8-" in path.stem else "fp32 export"


def _tree_size(path: Path) -> tuple[int, float]:
    """Bytes under ``path`` and the newest modification time there."""
    if path.is_file():
        stat = path.stat()
        return stat.st_size, stat.st_mtime
    size, newest = 0, path.stat().st_mtime
    for root, _, files in os.walk(path):
        for name in files:
            try:
                stat = (Path(root) / name).stat()
            except OSError:
                continue
            size += stat.st_size
            newest = max(newest, stat.st_mtime)
    return size, newest


def scan(cache: Path | None = None) -> list[Entry]:
    """Everything in the cache that this project writes, as entries (missing folders are empty). A file that
    another process removes or replaces meanwhile (a build finishing, another prune) is left out."""
    cache = Path(cache or cache_dir())
    entries: list[Entry] = []
    for folder, pattern in PRUNABLE:
        root = cache / folder
        if not root.is_dir():
            continue
        now = time.time()
        for path in sorted(root.glob(pattern)):
            if not path.name.startswith("."):
                shift = shift_file(path)
                _add(entries, path, _kind(path), extras=(shift,) if shift.is_file() else ())
        for path in sorted(root.glob(f"*{SHIFT_SUFFIX}")):  # what serving learned about a copy that is gone:
            if not copy_of(path).is_file():  # a retirement
                _add(entries, path, "int8 memory (copy gone)")  # read at every start, which marks it used
        leftovers = {path for pattern_left in LEFTOVERS for path in root.glob(pattern_left)}
        for path in sorted(leftovers):  # younger ones may be a build running now
            _add(entries, path, "leftover", unless_newer_than=now - LEFTOVER_AFTER_S)
    for name in KEPT:
        if (cache / name).exists():
            _add(entries, cache / name, name)
    return entries


def _add(entries: list[Entry], path: Path, kind: str, extras: tuple[Path, ...] = (),
         unless_newer_than: float | None = None) -> None:
    try:
        size, newest = _tree_size(path)
        size += sum(p.stat().st_size for p in extras)
    except OSError:
        return
    if unless_newer_than is None or newest < unless_newer_than:
        entries.append(Entry(path, kind, size, newest, extras))


def check_days(older_than_days: float) -> float:
    """``older_than_days``, or ValueError unless it is a number ≥ 0 (NaN is not)."""
    if not older_than_days >= 0:
        raise ValueError(f"--older-than must be a number of days ≥ 0, got {older_than_days}")
    return older_than_days


def stale(entries: Sequence[Entry], older_than_days: float, now: float | None = None) -> list[Entry]:
    """The prunable entries unused for more than ``older_than_days`` (leftovers whatever their age)."""
    check_days(older_than_days)
    now = time.time() if now is None else now
    return [e for e in entries if e.prunable and (e.kind == "leftover" or e.age_days(now) > older_than_days)]


def prune(entries: Sequence[Entry]) -> int:
    """Remove ``entries`` (with their extras); the bytes freed. A file another process removed first is fine."""
    freed = 0
    for entry in entries:
        removed = True
        for path in (entry.path, *entry.extras):
            try:
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except FileNotFoundError:
                continue
            except OSError as err:
                log.warning("could not remove %s: %s", path, err)
                removed = False
        freed += entry.size if removed else 0
    return freed


def stale_hint(cache: Path | None = None, older_than_days: float = DEFAULT_OLDER_THAN_DAYS) -> str | None:
    """One line for the app's log when more than :data:`HINT_MB` could be pruned, else None."""
    try:
        candidates = stale(scan(cache), older_than_days)
    except OSError:
        return None
    size_mb = sum(e.size for e in candidates) / 2**20
    if size_mb <= HINT_MB:
        return None
    return (f"the cache holds {size_mb:.0f} MB that nothing has used for {older_than_days:g} days "
            f"({len(candidates)} file{'' if len(candidates) == 1 else 's'}); `python -m scalp_models cache --prune` removes them")


def format_table(entries: Sequence[Entry], now: float, pruned: Sequence[Entry] = (), label: str = "pruned") -> str:
    """The listing; the ``pruned`` entries are marked ``label`` ("would be pruned" on a dry run)."""
    marked = {e.path for e in pruned}
    rows = ["| file | kind | MB | days since used | |", "|---|---|---:|---:|---|"]
    for e in sorted(entries, key=lambda e: (not e.prunable, -e.age_days(now), e.path.name)):
        note = "kept (needed offline)" if not e.prunable else (label if e.path in marked else "")
        rows.append(f"| {e.path.name} | {e.kind} | {e.size / 2**20:.1f} | {e.age_days(now):.1f} | {note} |")
    total = sum(e.size for e in entries) / 2**20
    rows.append(f"| **all** | | **{total:.1f}** | | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scalp_models cache", description=__doc__.splitlines()[0])
    parser.add_argument("--cache", help="the cache folder (default: $SCALP_CACHE or ~/.cache/scalp-care)")
    parser.add_argument("--prune", action="store_true", help="remove what nothing has used for --older-than days")
    parser.add_argument("--older-than", type=float, default=DEFAULT_OLDER_THAN_DAYS, metavar="DAYS",
                        help=f"days unused before --prune removes a file (default {DEFAULT_OLDER_THAN_DAYS:g})")
    parser.add_argument("--dry-run", action="store_true", help="with --prune: show what would go, remove nothing")
    args = parser.parse_args(argv)
    try:
        check_days(args.older_than)
    except ValueError as err:
        parser.error(str(err))
    cache = Path(args.cache) if args.cache else cache_dir()
    if not cache.is_dir():
        print(f"{cache}: no cache yet (the app and the benches create it on first use)")
        return 0
    now = time.time()
    entries = scan(cache)
    chosen = stale(entries, args.older_than, now) if args.prune else []
    print(f"{cache}\n")
    print(format_table(entries, now, chosen, "would be pruned" if args.dry_run else "pruned"))
    if args.prune:
        size_mb = sum(e.size for e in chosen) / 2**20
        if args.dry_run:
            print(f"\n--dry-run: --prune would remove {len(chosen)} files ({size_mb:.1f} MB)")
        else:
            print(f"\nremoved {len(chosen)} files, {prune(chosen) / 2**20:.1f} MB")
    return 0
