"""Command line of the scalp_models stage.

    python -m scalp_models train     --data prepared --symptom all --base auto --out models
    python -m scalp_models evaluate  --model models/hair_loss --data prepared [--split test] [--write]
    python -m scalp_models calibrate --model models/hair_loss --data prepared
    python -m scalp_models demo      [--out DIR]
    python -m scalp_models novelty   --data prepared --models models
    python -m scalp_models cache     [--prune [--older-than DAYS] [--dry-run]]

Each subcommand's ``main(argv)`` lives in its module; ``--help`` after a subcommand lists its options.
(The whole pipeline, build → train → tables, is ``python -m pipeline reproduce``.)
"""

from __future__ import annotations

from scalp_core.cli import run_subcommand

# Each command imports its module when it runs: they load torch and transformers (seconds), which
# the command list and another command's run should not wait for.


def run_train(argv: list[str]) -> int:
    from scalp_models import train

    return train.main(argv)


def run_evaluate(argv: list[str]) -> int:
    from scalp_models import evaluate

    return evaluate.main(argv)


def run_calibrate(argv: list[str]) -> int:
    from scalp_models import calibration

    return calibration.main(argv)


def run_demo(argv: list[str]) -> int:
    from scalp_models import demo

    return demo.main(argv)


def run_novelty(argv: list[str]) -> int:
    from scalp_models import novelty_fit

    return novelty_fit.main(argv)


def run_cache(argv: list[str]) -> int:
    from scalp_models import cache_files

    return cache_files.main(argv)


COMMANDS = {
    "train": (run_train, "fine-tune one model per symptom, calibrate and evaluate"),
    "evaluate": (run_evaluate, "metrics of a model folder on a prepared split"),
    "calibrate": (run_calibrate, "refit and fold the temperature on the validation split"),
    "demo": (run_demo, "build the six synthetic demo models"),
    "novelty": (run_novelty, "fit the domain check of trained models (novelty.json in each model folder)"),
    "cache": (run_cache, "list the cache (exports, int8 copies, photos) and prune what has not been used"),
}


def main(argv: list[str] | None = None) -> int:
    return run_subcommand(argv, COMMANDS, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
