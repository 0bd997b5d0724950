"""Command line of the whole-pipeline driver.

    python -m pipeline reproduce --aihub-root ~/aihub216 [--out reproduction] [--base auto]

``--help`` after the command lists its options.
"""

from __future__ import annotations

from pipeline import reproduce
from scalp_core.cli import run_subcommand

COMMANDS = {
    "reproduce": (reproduce.main, "whole pipeline on an AI Hub download, with comparison tables"),
}


def main(argv: list[str] | None = None) -> int:
    return run_subcommand(argv, COMMANDS, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
