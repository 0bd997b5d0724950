"""What every hub_upload push (models, dataset, Space) hands back and how it lists what it staged.

A push returns one :class:`PushResult` per repo: the commit to pin (``revision=commit``), or
None after a dry run, and the files it pushed. The pushes print through a :data:`Printer`
(``print`` by default) so tests and the CLI's token scrubber see every line.

    >>> PushResult("me/scalp-care", "space", None, "main", ("app.py",)).repo_type
    'space'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Printer = Callable[[str], None]


@dataclass(frozen=True)
class PushResult:
    """One repo pushed: what and where, and the commit to pin (``revision=commit``)."""

    repo_id: str
    repo_type: str
    commit: str | None
    revision: str
    files: tuple[str, ...]
    configs: tuple[str, ...] = ()  # dataset configs pushed with ``push_to_hub`` (their parquet shards)


def staged_files(staging: Path) -> tuple[str, ...]:
    """Every file under ``staging`` as a sorted POSIX path relative to it."""
    return tuple(sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()))
