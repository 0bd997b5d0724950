"""Reproduce the whole pipeline on an AI Hub download, and compare with the seed only like for like.

For each protocol (``full``: the honest one, unique images split by subject into train, validation
and test; ``folder``: the seed's per-folder sets) it runs ``datasets_prep build``, trains,
calibrates and evaluates the six models (``scalp_models train``), then writes ``OUT/results.md``
and ``OUT/results.json``:

- **one table per protocol**, one row per symptom, on its test split (subjects in neither training
  nor validation): test subjects and images; accuracy, macro-F1 and QWK, each with its 95% interval
  from a bootstrap over subjects; ECE before and after calibration; the majority-class baseline.
  These tables carry no seed column: the seed was never measured on unseen people;
- **the seed-comparable table**: the folder protocol on AI Hub Validation (its evaluation split,
  which training evaluates as served and files in each model's ``eval_report.json``), whose
  subjects were also in training, as the seed's were, beside the seed's (DeepRoot) validation
  accuracy and its reported macro-F1, with the difference in points; never a difference for
  generated data (``prep_config.json`` ``synthetic``).

Compare with the seed only in the seed-comparable table; the ``full`` table is the estimate for a
new person. The base used (a concrete id, from each model's ``training_config.json``) heads the file.

    python -m pipeline reproduce --aihub-root ~/aihub216 --out reproduction --base auto
    # a quick smoke run on a simulated download:
    python -m datasets_prep simulate --out /tmp/sim --images 120 --seed 0
    python -m pipeline reproduce --aihub-root /tmp/sim --out /tmp/repro --base tiny --image-size 48 --max-steps 20
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from datasets_prep.build import BuildConfig, build
from scalp_core.cli import help_field, parse_dataclass_args
from scalp_core.contracts import read_prep_config
from scalp_core.symptoms import LABEL_SCHEMES, get_symptom
from scalp_models.train import TrainConfig, train

PROTOCOLS = ("full", "folder")
SEED_PROTOCOL = "folder"  # the seed's own protocol: the only one its numbers can stand beside
COLUMNS = (
    "symptom", "ko", "test_subjects", "test_images",
    "accuracy", "accuracy_ci95", "macro_f1", "macro_f1_ci95", "qwk", "qwk_ci95",
    "ece_before_calibration", "ece_after_calibration", "majority_baseline_accuracy",
)
SEED_COLUMNS = (
    "symptom", "ko", "split", "subjects", "images", "accuracy", "accuracy_ci95", "macro_f1",
    "majority_baseline_accuracy", "seed_accuracy_pct", "seed_macro_f1", "delta_vs_seed_pct",
)
PERCENT_COLUMNS = ("seed_accuracy_pct", "delta_vs_seed_pct")
SEED_REFERENCE = Path(__file__).with_name("seed_reference.csv")


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
    validation_fraction: float = help_field("Protocol full: share of the subjects in the validation split.", default=0.15)
    test_fraction: float = help_field("Share of the subjects in the test split (see `datasets_prep build`).", default=0.15)
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


def seed_macro_f1() -> dict[str, list[float]]:
    """The seed's reported validation macro-F1 per symptom key, as ``[low, high]`` (``seed_reference.csv``)."""
    with open(SEED_REFERENCE, encoding="utf-8", newline="") as f:
        return {row["symptom"]: [float(row["macro_f1_low"]), float(row["macro_f1_high"])] for row in csv.DictReader(f)}


def result_row(key: str, metrics: dict) -> dict:
    """One row of a protocol's table from the test metrics of one symptom (no seed column)."""
    ci = metrics.get("ci95") or {}
    return {
        "symptom": key,
        "ko": get_symptom(key).ko,
        "test_subjects": metrics.get("n_subjects"),
        "test_images": metrics["n"],
        "accuracy": metrics["accuracy"],
        "accuracy_ci95": ci.get("accuracy"),
        "macro_f1": metrics["macro_f1"],
        "macro_f1_ci95": ci.get("macro_f1"),
        "qwk": metrics["qwk"],
        "qwk_ci95": ci.get("qwk"),
        "ece_before_calibration": metrics.get("ece_uncalibrated"),
        "ece_after_calibration": metrics["ece"],
        "majority_baseline_accuracy": metrics.get("majority_baseline_accuracy"),
    }


def seed_row(key: str, metrics: dict, synthetic: bool) -> dict:
    """One row of the seed-comparable table: the folder protocol's evaluation split beside the seed.

    The difference is left out (None) for generated data: its accuracy says nothing about the seed's."""
    spec = get_symptom(key)
    accuracy = metrics["accuracy"]
    comparable = not synthetic and isinstance(accuracy, float) and not math.isnan(accuracy)
    return {
        "symptom": key,
        "ko": spec.ko,
        "split": metrics.get("split"),
        "subjects": metrics.get("n_subjects"),
        "images": metrics["n"],
        "accuracy": accuracy,
        "accuracy_ci95": (metrics.get("ci95") or {}).get("accuracy"),
        "macro_f1": metrics["macro_f1"],
        "majority_baseline_accuracy": metrics.get("majority_baseline_accuracy"),
        "seed_accuracy_pct": spec.seed_accuracy_pct,
        "seed_macro_f1": seed_macro_f1().get(key),
        "delta_vs_seed_pct": 100.0 * accuracy - spec.seed_accuracy_pct if comparable else None,
    }


def format_cell(column: str, value) -> str:
    """Metrics to three decimals, percentages to one, intervals and ranges in brackets, missing as ``–``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, list):
        if column == "seed_macro_f1":  # a range read off the seed's notebook, to the digits it printed
            return "–".join(f"{v:.2f}" for v in value)
        low, high = (format_cell(column, v) for v in value)
        return f"[{low}, {high}]"
    if isinstance(value, float):
        if column == "delta_vs_seed_pct":
            return f"{value:+.1f}"
        return f"{value:.1f}" if column in PERCENT_COLUMNS else f"{value:.3f}"
    return str(value)


def markdown_table(rows: list[dict], columns: tuple[str, ...] = COLUMNS) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(format_cell(col, row[col]) for col in columns) + " |" for row in rows]
    return "\n".join(lines)


def base_used(results: dict) -> str | None:
    """The concrete base the models of one protocol started from, read from their training_config.json."""
    bases = set()
    for result in results.values():
        path = Path(result["out_dir"]) / "training_config.json"
        if path.is_file():
            bases.add(json.loads(path.read_text(encoding="utf-8")).get("base"))
    bases.discard(None)
    return ", ".join(sorted(bases)) or None


def results_markdown(config: ReproduceConfig, tables: dict, bases: dict, seed: dict | None) -> str:
    """``results.md``: the header, one table per protocol and the seed-comparable table."""
    used = ", ".join(f"{p}: `{b}`" for p, b in bases.items()) or "unknown"
    md = [
        "# Reproduction results", "",
        f"Source: `{config.aihub_root}`; base used: {used} (asked for `{config.base}`); label scheme {config.labels}.",
        "",
        "Compare with the seed (DeepRoot) only in the seed-comparable table at the end: the folder protocol on "
        "AI Hub Validation, the seed's own evaluation set, whose people were also in training. The protocol "
        "tables are on test subjects the models never saw (in neither training nor validation); the `full` "
        "table is the estimate for a new person. Intervals are 95% bootstrap intervals over subjects.",
        "",
    ]
    titles = {"full": "the honest protocol: unique images, split by subject",
              "folder": "the seed's per-folder sets; test = whole Training subjects absent from AI Hub Validation"}
    for protocol, rows in tables.items():
        md += [f"## Protocol `{protocol}` ({titles.get(protocol, protocol)}), test split", "", markdown_table(rows), ""]
    md += ["## Seed-comparable: protocol `folder` on AI Hub Validation", ""]
    if seed is None:
        md += [f"Not run: add `{SEED_PROTOCOL}` to --protocols.", ""]
        return "\n".join(md)
    seen = seed["subjects_seen_in_training"]
    md.append(
        "As the seed had it: AI Hub Validation is the evaluation set, and "
        + (f"{seen} of its subjects also appear in training" if seen is not None else "most of its subjects also "
           "appear in training")
        + ", so these numbers overstate what a new person gets. seed_accuracy_pct is the seed's validation "
        "accuracy, seed_macro_f1 the validation macro-F1 its notebook printed, where it was reported "
        f"(`{SEED_REFERENCE.name}`)."
    )
    if seed["synthetic"]:
        md.append("The data are generated (`synthetic.simulate`): no difference from the seed is given.")
    md += ["", markdown_table(seed["rows"], SEED_COLUMNS), ""]
    return "\n".join(md)


def seed_comparable(prepared: Path, results: dict) -> dict:
    """The seed-comparable table from the folder protocol's training results: its evaluation split
    (AI Hub Validation, named in ``prep_config.json``), which training evaluated as served and filed
    in each model's eval_report.json beside the test metrics."""
    prep = read_prep_config(prepared)
    split = prep.settings.get("evaluation_split", "validation")
    return {
        "split": split,
        "synthetic": prep.synthetic,
        "subjects_seen_in_training": prep.settings.get("evaluation_subjects_seen_in_training"),
        "rows": [seed_row(key, result[split], prep.synthetic) for key, result in results.items()],
    }


def reproduce(config: ReproduceConfig) -> dict:
    """Build, train and evaluate every protocol; returns ``{protocol: [row, ...]}`` and writes the tables."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reproduce_config.json").write_text(json.dumps(asdict(config), indent=2), encoding="utf-8")
    tables: dict[str, list[dict]] = {}
    bases: dict[str, str | None] = {}
    timings = {}
    seed = None
    for protocol in config.protocol_list:
        prepared = out / "prepared" / protocol
        t0 = time.perf_counter()
        build(
            BuildConfig(
                aihub_root=Path(config.aihub_root),
                out=prepared,
                labels=config.labels,
                protocol=protocol,
                validation_fraction=config.validation_fraction,
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
        bases[protocol] = base_used(results)
        if protocol == SEED_PROTOCOL:
            seed = seed_comparable(prepared, results)
    (out / "results.md").write_text(results_markdown(config, tables, bases, seed), encoding="utf-8")
    (out / "results.json").write_text(
        json.dumps({"config": asdict(config), "timings": timings, "base": bases, "tables": tables,
                    "seed_comparable": seed}, ensure_ascii=False, indent=2),
        encoding="utf-8",
    )
    return tables


def main(argv: list[str] | None = None) -> int:
    config = parse_dataclass_args(ReproduceConfig, argv, prog="python -m pipeline reproduce",
                                  description=__doc__.split("\n\n")[0])
    tables = reproduce(config)
    for protocol, rows in tables.items():
        print(f"\nProtocol {protocol}\n" + markdown_table(rows))
    print(f"\nwritten: {Path(config.out) / 'results.md'} (with the seed-comparable table) and results.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
