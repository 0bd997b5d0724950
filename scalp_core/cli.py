"""Helpers shared by the command-line entry points (``python -m datasets_prep``, ``scalp_models``, ...).

Options are frozen dataclasses whose fields carry their help text, read by transformers'
``HfArgumentParser`` in each ``main``::

    @dataclass(frozen=True)
    class TrainConfig:
        data: str = help_field("Build output folder of `datasets_prep build`.")
        seed: int = help_field("Seed of model init and training.", default=42)
"""

from __future__ import annotations

import sys
from dataclasses import field


def help_field(text: str, **kwargs):
    """A dataclass ``field`` whose ``--help`` text is ``text`` (other keyword arguments pass through)."""
    return field(metadata={"help": text}, **kwargs)


def parse_dataclass_args(config_class, argv: list[str] | None, *, prog: str, description: str):
    """``config_class`` filled from the command line ``argv`` with transformers' ``HfArgumentParser``.

    Flags are the field names with dashes or underscores (``--aihub-root`` and ``--aihub_root``);
    unknown flags exit 2 with argparse's usage message; a ``ValueError`` from the dataclass's own
    checks (``__post_init__``) propagates, so each ``main`` decides how to report it.
    """
    from transformers import HfArgumentParser  # heavy (about a second): only a command line needs it

    parser = HfArgumentParser(config_class, prog=prog, description=description)
    config, unknown = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True,
                                                         look_for_args_file=False)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")  # exits 2, as argparse does
    return config


def run_subcommand(argv: list[str] | None, commands: dict, usage: str) -> int:
    """``python -m PACKAGE COMMAND [options]``: run ``commands[COMMAND][0](options)``.

    ``commands`` maps each name to ``(main, one-line description)``; ``usage`` heads the command list.
    ``-h``/``--help`` prints the list (exit 0), no command prints it too (exit 2), and an unknown
    command prints it with an error on stderr (exit 2).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    listing = "\n".join([usage.strip(), "", "commands:", *(f"  {name:10s} {about}" for name, (_, about) in commands.items()),
                         "", "Run a command with --help for its options."])
    if not argv or argv[0] in ("-h", "--help"):
        print(listing)
        return 0 if argv else 2
    if argv[0] not in commands:
        print(f"{listing}\n\nerror: unknown command {argv[0]!r}; expected one of {', '.join(commands)}",
              file=sys.stderr)
        return 2
    run, _ = commands[argv[0]]
    return int(run(argv[1:]) or 0)
