"""Load the per-symptom DatasetDicts written by ``datasets_prep build`` and turn images into tensors.

``DIR/<symptom key>/`` is a ``datasets.DatasetDict`` (train/validation/test) with columns
``image``, ``label`` (ClassLabel), ``grade``, ``image_id``, ``subject`` (docs/ARCHITECTURE.md).
Transforms are attached lazily with ``with_transform`` so nothing is decoded up front:

- train: :func:`scalp_models.augment.apply_augment` (random-resized crop to size², flips,
  rotations, mild brightness/contrast), then the image processor;
- eval: the whole image, squashed to size×size by the image processor.

Grayscale specs are fed as gray replicated to three channels (``L`` → ``RGB``), so a model
trained on them sees exactly what the grayscale-folded saved model computes.

    from scalp_models.data import load_symptom_dataset
    dd = load_symptom_dataset("prepared", "hair_loss")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from scalp_core.symptoms import LABEL_SCHEMES, SymptomSpec, class_names
from scalp_models.augment import AugmentPolicy, apply_augment
from scalp_models.processing import pixel_values

SPLITS = ("train", "validation", "test")


def load_symptom_dataset(data_dir: str | Path, key: str):
    """``datasets.load_from_disk(data_dir / key)``, checked against the contract."""
    # Heavy (pyarrow, pandas) and needed only here: the demo build, which the app may run on its
    # first start, imports this module for to_model_input alone.
    from datasets import DatasetDict, load_from_disk

    path = Path(data_dir) / key
    if not path.is_dir():
        raise FileNotFoundError(
            f"no prepared dataset for {key!r} at {path}; run `python -m datasets_prep build --aihub-root ... "
            f"--out {data_dir}` first (or `python -m datasets_prep simulate` for a miniature)"
        )
    dd = load_from_disk(str(path))
    if not isinstance(dd, DatasetDict):
        raise ValueError(f"{path} holds a single Dataset, expected a DatasetDict with splits {SPLITS}")
    missing = [s for s in SPLITS if s not in dd]
    if missing:
        raise ValueError(f"{path} lacks split(s) {missing}; datasets_prep build writes {SPLITS}")
    for column in ("image", "label"):
        if column not in dd["train"].column_names:
            raise ValueError(f"{path}: column {column!r} missing (have {dd['train'].column_names})")
    return dd


def label_scheme_of(dataset) -> int:
    """3 or 4, read from the ``label`` ClassLabel names."""
    names = tuple(dataset.features["label"].names)
    for scheme in LABEL_SCHEMES:
        if names == class_names(scheme):
            return scheme
    raise ValueError(f"label names {names} match neither label scheme {LABEL_SCHEMES}")


def to_model_input(image: Image.Image, spec: SymptomSpec) -> Image.Image:
    """RGB for colour specs; gray replicated to three channels for grayscale specs."""
    if spec.grayscale:
        return image.convert("L").convert("RGB")
    return image.convert("RGB")


def processor_size(processor) -> int:
    size = getattr(processor, "size", None) or {}
    if isinstance(size, dict):
        return int(size.get("height") or size.get("shortest_edge") or size.get("width"))
    return int(getattr(size, "height", None) or size)


def make_transform(spec: SymptomSpec, processor, policy: AugmentPolicy | None = None):
    """A ``with_transform`` function: batch of ``image``/``label`` → ``pixel_values``/``labels``.

    ``policy=None`` means evaluation (no randomness). Training randomness draws its seed from
    torch's generator, which the Trainer seeds (and reseeds per dataloader worker), so runs repeat.
    """
    size = processor_size(processor)

    def transform(batch):
        images = [to_model_input(im, spec) for im in batch["image"]]
        if policy is not None:
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))
            images = [apply_augment(im, policy, size, rng) for im in images]
        out = {"pixel_values": pixel_values(images, processor)}
        if "label" in batch:
            out["labels"] = torch.as_tensor(batch["label"], dtype=torch.long)
        return out

    return transform


def collate(examples: list[dict]) -> dict:
    batch = {"pixel_values": torch.stack([e["pixel_values"] for e in examples])}
    if "labels" in examples[0]:
        batch["labels"] = torch.stack([torch.as_tensor(e["labels"]) for e in examples])
    return batch


def class_counts(dataset, num_classes: int) -> np.ndarray:
    return np.bincount(np.asarray(dataset["label"], dtype=int), minlength=num_classes)
