"""Command line of the scalp_models stage.

    python -m scalp_models train     --data prepared --symptom all --base auto --out models
    python -m scalp_models evaluate  --model models/hair_loss --data prepared [--split test] [--write]
    python -m scalp_models calibrate --model models/hair_loss --data prepared
    python -m scalp_models demo      [--out DIR]
    python -m scalp_models reproduce --aihub-root ~/aihub216 [--out reproduction] [--base auto]

Each subcommand's ``main(argv)`` lives in its module; ``--help`` after a subcommand lists its options.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "train": ("scalp_models.train", "fine-tune one model per symptom, calibrate and evaluate"),
    "evaluate": ("scalp_models.evaluate", "metrics of a model folder on a prepared split"),
    "calibrate": ("scalp_models.calibration", "refit and fold the temperature on the validation split"),
    "demo": ("scalp_models.demo", "build the six synthetic demo models"),
    "reproduce": ("scalp_models.reproduce", "whole pipeline on an AI Hub download, with comparison tables"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [__doc__.strip(), "", "commands:"] + [f"  {name:10s} {text}" for name, (_, text) in COMMANDS.items()]
        print("\n".join(lines))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nunknown command {argv[0]!r}; expected one of {', '.join(COMMANDS)}", file=sys.stderr)
            return 2
        return 0
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
