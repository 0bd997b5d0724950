"""Reproduce the whole pipeline on an AI Hub download and compare with the seed's accuracies.

For each protocol (``full``: honest, unique images split by subject; ``folder``: the seed's
per-folder sets) it runs ``datasets_prep build``, trains, calibrates and evaluates the six
models (``scalp_models train``), and ends with one table per protocol, one row per symptom:
test accuracy, macro-F1, QWK, ECE, the majority baseline, the seed's (DeepRoot) validation
accuracy and ours minus the seed's, in percentage points. The tables are printed and written
to ``OUT/results.md`` and ``OUT/results.json``.

    python -m pipeline reproduce --aihub-root ~/aihub216 --out reproduction --base auto
    # a quick smoke run on a simulated download:
    python -m datasets_prep simulate --out /tmp/sim --images 120 --seed 0
    python -m pipeline reproduce --aihub-root /tmp/sim --out /tmp/repro --base tiny --image-size 48 --max-steps 20

Note the seed's numbers are *validation* accuracies of folder-protocol models; ours are on a
subject-disjoint test split, so only the ``folder`` table is roughly comparable.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from datasets_prep.build import BuildConfig, build
from scalp_core.cli import help_field, parse_dataclass_args
from scalp_core.symptoms import LABEL_SCHEMES, get_symptom
from scalp_models.train import TrainConfig, train

PROTOCOLS = ("full", "folder")
COLUMNS = (
    "symptom", "ko", "n_test", "accuracy", "macro_f1", "qwk", "ece",
    "majority_baseline_accuracy", "seed_accuracy_pct", "delta_vs_seed_pct",
)


@dataclass(frozen=True)
class ReproduceConfig:
    """Options of ``python -m pipeline reproduce``; saved as ``OUT/reproduce_config.json``."""

    aihub_root: str = help_field("Folder of the AI Hub '유형별 두피 이미지' download (or a `datasets_prep simulate` output).")
    out: str = help_field("Output folder: prepared/<protocol>/, models/<protocol>/<key>/, results.md/json.", default="reproduction")
    base: str = help_field("Starting weights for train (google/efficientnet-b1, lite0, tiny, auto).", default="auto")
    image_size: int | None = help_field("Input size override for build and train (small runs); default per spec.", default=None)
    max_steps: int = help_field("Training steps per model (-1 = --epochs).", default=-1)
    epochs: float = help_field("Training epochs per model when --max-steps is -1.", default=15.0)
    batch_size: int = help_field("Per-device training batch size.", default=32)
    labels: int = help_field("Label scheme, 3 or 4.", default=3)
    protocols: str = help_field("Comma-separated protocols to run: full, folder.", default="full,folder")
    test_fraction: float = help_field("Share of Training subjects moved to the test split.", default=0.1)
    seed: int = help_field("Seed of the split and of training.", default=42)
    quiet: bool = help_field("No progress bars.", default=False)

    def __post_init__(self):
        if not Path(self.aihub_root).is_dir():
            raise FileNotFoundError(f"--aihub-root {self.aihub_root} is not a folder; point it at the AI Hub download")
        bad = [p for p in self.protocol_list if p not in PROTOCOLS]
        if bad or not self.protocol_list:
            raise ValueError(f"--protocols must be a comma list of {PROTOCOLS}, got {self.protocols!r}")
        if self.labels not in LABEL_SCHEMES:
            raise ValueError(f"--labels must be one of {LABEL_SCHEMES}, got {self.labels}")

    @property
    def protocol_list(self) -> list[str]:
        return [p.strip() for p in self.protocols.split(",") if p.strip()]


def result_row(key: str, metrics: dict) -> dict:
    spec = get_symptom(key)
    accuracy = metrics["accuracy"]
    return {
        "symptom": key,
        "ko": spec.ko,
        "n_test": metrics["n"],
        "accuracy": accuracy,
        "macro_f1": metrics["macro_f1"],
        "qwk": metrics["qwk"],
        "ece": metrics["ece"],
        "majority_baseline_accuracy": metrics.get("majority_baseline_accuracy"),
        "seed_accuracy_pct": spec.seed_accuracy_pct,
        "delta_vs_seed_pct": 100.0 * accuracy - spec.seed_accuracy_pct,
    }


def _fmt(value) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}" if abs(value) <= 1.0 else f"{value:+.1f}" if value < 0 else f"{value:.1f}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = []
        for col in COLUMNS:
            value = row[col]
            if col == "delta_vs_seed_pct":
                cells.append(f"{value:+.1f}")
            else:
                cells.append(_fmt(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reproduce(config: ReproduceConfig) -> dict:
    """Build, train and evaluate every protocol; returns ``{protocol: [row, ...]}`` and writes the tables."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reproduce_config.json").write_text(json.dumps(asdict(config), indent=2), encoding="utf-8")
    tables: dict[str, list[dict]] = {}
    timings = {}
    for protocol in config.protocol_list:
        prepared = out / "prepared" / protocol
        t0 = time.perf_counter()
        build(
            BuildConfig(
                aihub_root=Path(config.aihub_root),
                out=prepared,
                labels=config.labels,
                protocol=protocol,
                test_fraction=config.test_fraction,
                seed=config.seed,
                image_size_override=config.image_size,
            )
        )
        t1 = time.perf_counter()
        results = train(
            TrainConfig(
                data=str(prepared),
                out=str(out / "models" / protocol),
                symptom="all",
                base=config.base,
                image_size=config.image_size,
                max_steps=config.max_steps,
                epochs=config.epochs,
                batch_size=config.batch_size,
                seed=config.seed,
                quiet=config.quiet,
            )
        )
        timings[protocol] = {"build_s": round(t1 - t0, 1), "train_s": round(time.perf_counter() - t1, 1)}
        tables[protocol] = [result_row(key, r["test"]) for key, r in results.items()]

    md = ["# Reproduction results", "",
          f"Source: `{config.aihub_root}`; base `{config.base}`; label scheme {config.labels}.",
          "Accuracy, macro-F1, QWK and ECE on the subject-disjoint test split; seed = DeepRoot validation accuracy.", ""]
    for protocol, rows in tables.items():
        md += [f"## Protocol `{protocol}`", "", markdown_table(rows), ""]
    (out / "results.md").write_text("\n".join(md), encoding="utf-8")
    (out / "results.json").write_text(
        json.dumps({"config": asdict(config), "timings": timings, "tables": tables}, ensure_ascii=False, indent=2),
        encoding="utf-8",
    )
    return tables


def main(argv: list[str] | None = None) -> int:
    config = parse_dataclass_args(ReproduceConfig, argv, prog="python -m pipeline reproduce",
                                  description=__doc__.split("\n\n")[0])
    tables = reproduce(config)
    for protocol, rows in tables.items():
        print(f"\nProtocol {protocol}\n" + markdown_table(rows))
    print(f"\nwritten: {Path(config.out) / 'results.md'} and results.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
