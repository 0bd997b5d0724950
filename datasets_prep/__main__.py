"""Command-line entry point of the data-preparation stage.

    python -m datasets_prep simulate --out DIR --images 300 --seed 0   # synthetic AI Hub download
    python -m datasets_prep build --aihub-root DIR --out OUT           # AI Hub download -> prepared/

Each sub-command is a module with its own ``main(argv)``; they are imported only when
chosen, so one stage's heavy imports never slow the other.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "simulate": ("synthetic.simulate", "write a miniature synthetic AI Hub download"),
    "build": ("datasets_prep.build", "turn an AI Hub download into prepared datasets"),
}


def _usage() -> str:
    lines = ["usage: python -m datasets_prep {" + ",".join(COMMANDS) + "} [options]", "", "commands:"]
    lines += [f"  {name:<10} {about}" for name, (_, about) in COMMANDS.items()]
    lines.append("\nRun `python -m datasets_prep COMMAND --help` for a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name = COMMANDS[command][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        message = f"error: {module_name} is missing from this checkout (update it to get `{command}`)"
        print(message, file=sys.stderr)
        return 2
    result = module.main(rest)
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
