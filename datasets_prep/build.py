"""Build honest per-symptom datasets from a real AI Hub '유형별 두피 이미지' download.

Reads ``Training/`` and ``Validation/`` (found case-insensitively, also one or two
levels down such as ``01.데이터/1.Training``) holding ``[원천]``/``[라벨]`` folders,
their ``.zip`` files, or any mix (zip member names in UTF-8 or CP949), and writes
the on-disk contract of ``docs/ARCHITECTURE.md``:

- ``OUT/images.parquet``: one row per unique image (the raw download repeats an image
  in every symptom folder where its grade is > 0, and the all-healthy images in all
  six ``0.양호`` folders);
- ``OUT/<symptom key>/``: a ``datasets.DatasetDict`` (train/validation/test) per symptom;
- ``OUT/report.json``, ``OUT/report.md``, ``OUT/prep_config.json`` (through
  :func:`scalp_core.contracts.write_prep_config`, with ``synthetic`` true for a
  ``datasets_prep simulate`` download).

Protocol ``full`` (the honest one) pools Training and Validation and splits the unique images by
subject into train/validation/test (about 70/15/15 of the subjects, stratified, seeded; no subject
in two splits); protocol ``folder`` keeps AI Hub's folders, AI Hub Validation being its evaluation
split as the seed had it (:mod:`~datasets_prep.splits`). The evaluation splits hold the original
image bytes; ``prep_config.json`` names the evaluation split and how many of its subjects were seen
in training. Every skipped file is named in the report with its reason, including
``[원천]``/``[라벨]`` folders lying outside Training/Validation (their split is unknown).
A build output (``prep_config.json``/``dataset_dict.json``) under the root is never read.
The steps live in their own modules, in order: :mod:`~datasets_prep.discovery`,
:mod:`~datasets_prep.indexing` (with :mod:`~datasets_prep.labels`), :mod:`~datasets_prep.decoding`,
:mod:`~datasets_prep.splits`, :mod:`~datasets_prep.writing` and :mod:`~datasets_prep.report`;
this module holds the configuration, :func:`build` and the command line.

    python -m datasets_prep build --aihub-root ~/aihub216 --out prepared [--protocol full|folder] \\
        [--validation-fraction 0.15 --test-fraction 0.15]
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from datasets_prep import report as build_report
from datasets_prep.decoding import decode_all
from datasets_prep.discovery import Download, SkipLog, discover_download
from datasets_prep.indexing import index_sources, resolve_images
from datasets_prep.splits import OUTPUT_SPLITS, assign_splits, image_table, original_bytes_splits
from datasets_prep.writing import write_symptom_datasets
from scalp_core.cli import help_field, parse_dataclass_args
from scalp_core.contracts import PROTOCOLS, PrepConfig, write_prep_config
from scalp_core.symptoms import LABEL_SCHEMES, SYMPTOMS, SymptomSpec

DEFAULT_WORKERS = max(1, (os.cpu_count() or 1) - 1)


@dataclass(frozen=True)
class BuildConfig:
    """Everything the build needs; saved as ``OUT/prep_config.json``."""

    aihub_root: Path = help_field("Folder holding the AI Hub download (Training/ and Validation/, zipped or not).")
    out: Path = help_field("Output folder for images.parquet, the per-symptom DatasetDicts and the report.")
    labels: int = help_field(
        "Label scheme: 3 (양호 / 경증·중등도 / 중증, the seed's) or 4 (all AI Hub grades).", default=3
    )
    protocol: str = help_field(
        "full: every unique image labelled by its JSON value (honest). "
        "folder: the seed's per-folder sets labelled by folder grade (seed-comparable).",
        default="full",
    )
    validation_fraction: float = help_field(
        "Protocol full: share of the subjects in the validation split (early stopping, calibration, the "
        "uncertain threshold). Protocol folder: unused, validation is AI Hub Validation.",
        default=0.15,
    )
    test_fraction: float = help_field(
        "Protocol full: share of the subjects in the test split. Protocol folder: share of the Training "
        "subjects moved to test, only among those absent from AI Hub Validation.",
        default=0.15,
    )
    seed: int = help_field("Seed of the subject-wise split.", default=0)
    image_size_override: int | None = help_field(
        "Resize every image so its shorter side is this many pixels instead of each spec's input_size "
        "(for tests and small runs, e.g. 64).",
        default=None,
    )
    workers: int = help_field(
        "Processes decoding images (1 = in this process). Default: one per core but one, since this "
        "process collects and writes the results; on 2 cores 1 worker measured faster than 2.",
        default=DEFAULT_WORKERS,
    )
    jpeg_quality: int = help_field(
        "JPEG quality of the stored, resized train/validation images (evaluation splits keep the original bytes).",
        default=92,
    )

    def __post_init__(self):
        object.__setattr__(self, "aihub_root", Path(self.aihub_root))
        object.__setattr__(self, "out", Path(self.out))
        if self.labels not in LABEL_SCHEMES:
            raise ValueError(f"--labels must be one of {LABEL_SCHEMES}, got {self.labels!r}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"--protocol must be 'full' or 'folder', got {self.protocol!r}")
        for flag, value in (("--validation-fraction", self.validation_fraction), ("--test-fraction", self.test_fraction)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{flag} must be in [0, 1), e.g. 0.15, got {value!r}")
        if self.validation_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"--validation-fraction {self.validation_fraction} and --test-fraction {self.test_fraction} leave "
                "no subjects to train on: their sum must be below 1 (e.g. 0.15 and 0.15)"
            )
        if self.image_size_override is not None and not 8 <= self.image_size_override <= 4096:
            raise ValueError(
                f"--image-size-override must be 8..4096 pixels, got {self.image_size_override!r}"
            )
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers!r}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"--jpeg-quality must be 1..100, got {self.jpeg_quality!r}")
        if self.out.resolve() == self.aihub_root.resolve():
            raise ValueError("--out must differ from --aihub-root: the build writes its own folders there")
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(
                f"--out {self.out} exists and is not a folder; choose a folder for the build output"
            )

    def variant_for(self, spec: SymptomSpec) -> tuple[int, bool]:
        """(shorter side in pixels, grayscale) of the stored images for ``spec``."""
        return (self.image_size_override or spec.input_size, spec.grayscale)

    def to_json(self) -> dict:
        data = asdict(self)
        data["aihub_root"] = str(self.aihub_root)
        data["out"] = str(self.out)
        return data


class BuildError(RuntimeError):
    """Nothing usable remained; the message says why and what to check."""


@dataclass
class BuildResult:
    """What :func:`build` wrote: the output folder, the unique-image and split counts, the report dict."""

    out: Path
    n_images: int
    split_counts: dict[str, int]
    report: dict


def build(config: BuildConfig) -> BuildResult:
    """Run the whole build; raise :class:`BuildError` when nothing usable remains."""
    skips = SkipLog()
    warnings: list[str] = []
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if not config.aihub_root.is_dir():
        raise BuildError(f"--aihub-root {config.aihub_root} is not a folder; point it at the AI Hub download")
    config.out.mkdir(parents=True, exist_ok=True)
    # --out may lie inside --aihub-root: never read the build's own output (its per-symptom
    # ``validation/`` folders would look like an AI Hub split on the next run).
    download = discover_download(config.aihub_root, skips, exclude=frozenset({config.out.resolve()}))
    found = {split: [str(d) for d in dirs] for split, dirs in download.split_dirs.items()}
    found["top_level_entries"] = sorted(p.name for p in config.aihub_root.iterdir())[:100]

    index = index_sources(download.sources, skips)
    records, conflicts = resolve_images(index, skips)

    # -- decode every unique image once -------------------------------------------------------
    variant_of = {spec.key: config.variant_for(spec) for spec in SYMPTOMS}
    cache_dir = config.out / ".build_cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    cache_dir.mkdir(parents=True)
    timings["index_s"] = round(time.perf_counter() - started, 3)
    decode_started = time.perf_counter()
    decoded = decode_all(
        records,
        tuple(sorted(set(variant_of.values()))),
        cache_dir,
        skips,
        workers=config.workers,
        jpeg_quality=config.jpeg_quality,
    )
    timings["decode_s"] = round(time.perf_counter() - decode_started, 3)
    timings["decoded_images"] = len(decoded)
    for stem in list(records):
        if stem not in decoded:
            del records[stem]

    if not records:
        report = build_report.make_report(
            config, found, download, skips.items, conflicts, warnings, None, None, {}, index.metadata_files
        )
        build_report.write_reports(config.out, report)
        shutil.rmtree(cache_dir, ignore_errors=True)
        why = _why_nothing_usable(config, download, found, skips)
        raise BuildError(f"nothing usable to build: {why}. See {config.out / 'report.md'}.")

    # -- the unique-image table and its split by subject ------------------------------------------
    frame = image_table(records)
    splits = assign_splits(
        frame, config.protocol, config.labels, config.validation_fraction, config.test_fraction, config.seed,
        warnings,
    )
    frame.to_parquet(config.out / "images.parquet", index=False)

    # -- per-symptom DatasetDicts --------------------------------------------------------------
    datasets_started = time.perf_counter()
    class_counts = write_symptom_datasets(
        frame,
        cache_dir,
        config.out,
        labels=config.labels,
        protocol=config.protocol,
        variant_of=variant_of,
        originals=decoded,
        original_splits=original_bytes_splits(config.protocol),
        warnings=warnings,
    )
    shutil.rmtree(cache_dir, ignore_errors=True)
    timings["datasets_s"] = round(time.perf_counter() - datasets_started, 3)

    duplicates = {
        "folder_entries": len(index.folder_entry_keys),
        "label_entries": len(index.label_entry_keys),
        "unique_images": int(len(frame)),
        "unique_images_with_copies": int((frame["folders"].map(len) > 1).sum()),
    }
    split_counts = {split: int((frame["split"] == split).sum()) for split in OUTPUT_SPLITS}
    report = build_report.make_report(
        config,
        found,
        download,
        skips.items,
        conflicts,
        warnings,
        duplicates,
        splits,
        class_counts,
        index.metadata_files,
        split_counts=split_counts,
    )
    timings["total_s"] = round(time.perf_counter() - started, 3)
    report["timings"] = timings
    build_report.write_reports(config.out, report)
    # prep_config.json is the report's effective configuration, read back by training and evaluation.
    settings = {k: v for k, v in report["config"].items() if k not in ("protocol", "synthetic", "labels")}
    prep_config = PrepConfig(config.protocol, download.synthetic, config.labels, settings)
    write_prep_config(config.out, prep_config)
    return BuildResult(config.out, int(len(frame)), split_counts, report)


def _why_nothing_usable(config: BuildConfig, download: Download, found: dict, skips: SkipLog) -> str:
    """Why no image survived, and what to check, for the :class:`BuildError` message."""
    if not download.sources and download.outside_splits:
        return (
            f"{download.outside_splits} [원천]/[라벨] folders or zips found under {config.aihub_root}, "
            "but none inside a Training/ or Validation/ folder, so no split is known; keep the download's "
            "Training/ and Validation/ folders (Training dirs: none, Validation dirs: none)"
        )
    if not download.sources:
        return (
            f"no [원천]/[라벨] folders or zips found under {config.aihub_root} "
            f"(Training dirs: {found['train'] or 'none'}, "
            f"Validation dirs: {found['validation'] or 'none'})"
        )
    reasons = Counter(item["category"] for item in skips.items)
    return f"{len(download.sources)} folders/zips found, but every image was skipped ({dict(reasons)})"


# ---------------------------------------------------------------------------------------------
# CLI


def parse_config(argv: list[str] | None = None) -> BuildConfig:
    """The :class:`BuildConfig` of a command line; ``ValueError`` (from its checks) for bad values."""
    return parse_dataclass_args(
        BuildConfig, argv, prog="python -m datasets_prep build",
        description="Turn an AI Hub '유형별 두피 이미지' download into honest per-symptom datasets.")


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse_config(argv)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        result = build(config)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{k} {v}" for k, v in result.split_counts.items())
    print(
        f"built {result.n_images} unique images ({counts}) into {result.out}; see {result.out / 'report.md'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
