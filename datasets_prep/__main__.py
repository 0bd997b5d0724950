"""Command-line entry point of the data-preparation stage.

    python -m datasets_prep simulate --out DIR --images 300 --seed 0   # synthetic AI Hub download
    python -m datasets_prep build --aihub-root DIR --out OUT           # AI Hub download -> prepared/

Each sub-command is a module with its own ``main(argv)``: ``simulate`` is
:func:`synthetic.simulate.main`, ``build`` is :func:`datasets_prep.build.main`.
"""

from __future__ import annotations

from datasets_prep import build
from scalp_core.cli import run_subcommand
from synthetic import simulate

COMMANDS = {
    "simulate": (simulate.main, "write a miniature synthetic AI Hub download"),
    "build": (build.main, "turn an AI Hub download into prepared datasets"),
}


def main(argv: list[str] | None = None) -> int:
    return run_subcommand(argv, COMMANDS, "usage: python -m datasets_prep {" + ",".join(COMMANDS) + "} [options]")


if __name__ == "__main__":
    raise SystemExit(main())
