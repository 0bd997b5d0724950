"""Balanced, labelled generated examples of one symptom: what the demo models, tests and benchmarks train
and measure on.

    >>> images, labels, grades = render_symptom_examples(spec, per_class=12, seed=0)

Deterministic for a seed. The target symptom's grade is drawn per class; the other five follow
:func:`synthetic.render.random_severities`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from scalp_core.symptoms import SymptomSpec, class_names, grade_to_class
from synthetic.render import random_severities, render_scalp


def grades_for_class(cls: int, scheme: int) -> list[int]:
    return [g for g in range(4) if grade_to_class(g, scheme) == cls]


def render_symptom_examples(
    spec: SymptomSpec,
    per_class: int,
    seed: int,
    size=(320, 240),
    scheme: int = 3,
    out_short_side: int | None = None,
    keep_colour: bool = False,
) -> tuple[list, list[int], list[int]]:
    """Balanced generated examples for one symptom: (images, class labels, grades).

    The target symptom's grade is drawn per class; the other five symptoms follow
    ``random_severities`` (realistic background variation). Deterministic for ``seed``.
    Grayscale symptoms get gray pictures, as ``datasets_prep build`` stores them, unless
    ``keep_colour`` (the models convert colour themselves; the domain check reads colour).
    """
    rng = np.random.default_rng(seed)
    images, labels, grades = [], [], []
    k = len(class_names(scheme))
    for i in range(per_class * k):
        cls = i % k
        grade = int(rng.choice(grades_for_class(cls, scheme)))
        severities = random_severities(rng)
        severities[spec.key] = grade
        image = render_scalp(severities, rng, size=size)
        if out_short_side:
            w, h = image.size
            scale = out_short_side / min(w, h)
            image = image.resize((round(w * scale), round(h * scale)), Image.Resampling.BICUBIC)
        if spec.grayscale and not keep_colour:
            image = image.convert("L")
        images.append(image)
        labels.append(cls)
        grades.append(grade)
    return images, labels, grades


def render_symptom_dataset_dict(
    spec: SymptomSpec,
    per_class: dict[str, int],
    seed: int,
    size=(160, 120),
    scheme: int = 3,
    out_short_side: int | None = None,
):
    """A ``DatasetDict`` shaped like ``datasets_prep build`` output, from generated images (tests, demos).

    It has no ``prep_config.json``: whoever saves it as a prepared folder writes one with
    ``scalp_core.contracts.write_prep_config``."""
    # Heavy (pyarrow, pandas); only tests and benchmarks build datasets, the demo build does not.
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
    from datasets import Image as ImageFeature

    features = Features(
        {
            "image": ImageFeature(),
            "label": ClassLabel(names=list(class_names(scheme))),
            "grade": Value("int64"),
            "image_id": Value("string"),
            "subject": Value("string"),
        }
    )
    splits = {}
    for offset, (split, n) in enumerate(per_class.items()):
        images, labels, grades = render_symptom_examples(spec, n, seed * 1000 + offset, size, scheme, out_short_side)
        splits[split] = Dataset.from_dict(
            {
                "image": images,
                "label": labels,
                "grade": grades,
                "image_id": [f"{split}-{i:05d}" for i in range(len(images))],
                "subject": [f"{split}-{i:05d}" for i in range(len(images))],
            },
            features=features,
        )
    return DatasetDict(splits)
