"""Fit the domain check of trained models on their prepared data: ``python -m scalp_models novelty``.

Reads the folder ``datasets_prep build`` wrote (the one the models were trained on): the train
split's images fit the score, the validation split fixes its scales and threshold, and the test
split's in-domain rate is recorded (the rule is in :mod:`scalp_models.novelty`). Images are taken
once per ``image_id`` from the colour symptoms' datasets; the grayscale symptoms store gray copies,
which have lost the colour the score reads. Above ``--max-images`` per split a seeded sample is
drawn (Lite0 takes about 15 ms per image and CPU core). The fit is written as ``novelty.json``
into every model folder under ``--models``; ``hub_upload models`` pushes it with the models and
the Hub loader downloads it with them.

    python -m scalp_models novelty --data prepared --models models [--max-images 4000]

Training can call :func:`fit_models_novelty` with a :class:`NoveltyFitConfig` directly.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalp_core.cli import help_field, parse_dataclass_args
from scalp_core.contracts import PrepConfigError, read_prep_config
from scalp_core.symptoms import SYMPTOMS
from scalp_models.data import load_symptom_dataset
from scalp_models.lite0_features import LITE0_DIM, Lite0Features
from scalp_models.novelty import (
    COLOUR_NAMES,
    DEFAULT_COMPONENTS,
    DEFAULT_QUANTILE,
    NoveltyFeatures,
    NoveltyFit,
    fit_novelty,
    novelty_features,
    write_novelty,
)

CHUNK = 32  # images decoded at a time: a 600 px split of thousands never sits in memory at once


@dataclass(frozen=True)
class NoveltyFitConfig:
    """What ``python -m scalp_models novelty`` reads and writes."""

    data: Path = help_field("Build output folder of `datasets_prep build`: the data the models were trained on.")
    models: Path = help_field("Folder of the model folders <symptom key>/; novelty.json is written into each.")
    components: int = help_field(
        "Principal directions of the Lite0-feature Gaussian (at most a quarter of the training images).",
        default=DEFAULT_COMPONENTS,
    )
    quantile: float = help_field(
        "Held-out quantile that fixes the scales and the threshold (0.99: about 1 in 100 held-out photos "
        "falls outside).",
        default=DEFAULT_QUANTILE,
    )
    max_images: int = help_field("At most this many images per split; a seeded sample above it.", default=4000)
    seed: int = help_field("Seed of that sample.", default=0)
    threads: int = help_field("ONNX Runtime threads for the Lite0 features (0: every core).", default=0)

    def __post_init__(self):
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "models", Path(self.models))
        if self.components < 1:
            raise ValueError(f"--components must be >= 1, got {self.components}")
        if not 0.5 <= self.quantile < 1.0:
            raise ValueError(f"--quantile must be in [0.5, 1), e.g. 0.99; got {self.quantile}")
        if self.max_images < 20:
            raise ValueError(f"--max-images must be >= 20, got {self.max_images}")
        if self.threads < 0:
            raise ValueError(f"--threads must be >= 0 (0: every core), got {self.threads}")


def split_features(
    data: Path, split: str, extractor: Lite0Features, max_images: int, seed: int
) -> NoveltyFeatures:
    """The score's input for the unique colour images of one split (a seeded sample above ``max_images``)."""
    rows, seen = [], set()  # (dataset, row) of each image, first copy wins, in symptom and row order
    for spec in SYMPTOMS:
        if spec.grayscale or not (data / spec.key).is_dir():
            continue
        dataset = load_symptom_dataset(data, spec.key)[split]
        if "image_id" not in dataset.column_names:
            raise ValueError(f"{data / spec.key} has no image_id column; rebuild it with `python -m datasets_prep build`")
        for row, image_id in enumerate(dataset["image_id"]):
            if image_id not in seen:
                seen.add(image_id)
                rows.append((dataset, row))
    if len(rows) > max_images:
        chosen = np.sort(np.random.default_rng(seed).choice(len(rows), size=max_images, replace=False))
        rows = [rows[i] for i in chosen]
    parts = [NoveltyFeatures(np.empty((0, LITE0_DIM)), np.empty((0, len(COLOUR_NAMES))))]
    for start in range(0, len(rows), CHUNK):
        images = [dataset[row]["image"] for dataset, row in rows[start : start + CHUNK]]
        parts.append(novelty_features(images, extractor))
    return NoveltyFeatures.concatenate(parts)


def fit_models_novelty(config: NoveltyFitConfig) -> tuple[NoveltyFit, list[Path]]:
    """Fit on ``config.data`` and write ``novelty.json`` into each model folder; returns (fit, folders)."""
    prep = read_prep_config(config.data)
    folders = [config.models / s.key for s in SYMPTOMS if (config.models / s.key / "config.json").is_file()]
    if not folders:
        raise FileNotFoundError(f"no model folders <symptom key>/ with a config.json under {config.models}; "
                                "train first: python -m scalp_models train --data ... --out ...")
    colour = [s.key for s in SYMPTOMS if not s.grayscale]
    if not any((config.data / key).is_dir() for key in colour):
        raise FileNotFoundError(f"{config.data} holds no colour symptom's dataset ({', '.join(colour)}); the domain "
                                "check reads colour images, and the grayscale symptoms store gray copies")
    extractor = Lite0Features(threads=config.threads or os.cpu_count() or 1)
    train, heldout, test = (
        split_features(config.data, split, extractor, config.max_images, config.seed + offset)
        for offset, split in enumerate(("train", "validation", "test"))
    )
    source = "generated by synthetic.simulate" if prep.synthetic else "AI Hub 유형별 두피 이미지"
    fit = fit_novelty(
        train, heldout, test=test, components=config.components, quantile=config.quantile,
        synthetic_training_data=prep.synthetic,
        training_images=(f"{len(train.lite0)} unique colour images of the train split of a datasets_prep build "
                         f"({prep.protocol} protocol, {source}); held out: {len(heldout.lite0)} validation "
                         f"images; rate measured on {len(test.lite0)} test images"),
    )
    for folder in folders:
        write_novelty(folder, fit)
    return fit, folders


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse_dataclass_args(NoveltyFitConfig, argv, prog="python -m scalp_models novelty",
                                      description=__doc__.split("\n\n")[0])
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        fit, folders = fit_models_novelty(config)
    except (PrepConfigError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    about = fit.about
    rate = about["heldout_in_domain_rate"]
    print(f"domain check fitted on {about['n_train']} images ({about['components_used']} components), threshold "
          f"on {about['n_heldout']} validation images; test split in domain: "
          f"{'n/a' if rate is None else f'{rate:.1%}'} of {about['n_test']} ({time.perf_counter() - start:.0f} s)")
    print(f"wrote novelty.json into {len(folders)} model folders under {config.models}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
