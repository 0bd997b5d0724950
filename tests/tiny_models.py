"""Six tiny random classifiers with distinct answers, shared by the diagnoser and ONNX tests.

모낭사이홍반 runs at a larger size than the rest (as 600 vs 240 px in the real configuration), and
one grayscale model is left unfolded (``UNFOLDED_GRAY``) so the code path that converts gray
inputs itself is exercised too.
"""

from __future__ import annotations

from pathlib import Path

import torch

from scalp_core import SYMPTOMS
from scalp_models.modeling import create_model, fold_grayscale
from scalp_models.processing import create_image_processor

SIZES = {s.key: (96 if s.key == "interfollicular_erythema" else 64) for s in SYMPTOMS}
UNFOLDED_GRAY = next(s.key for s in SYMPTOMS if s.grayscale)


def tiny_classifiers() -> dict:
    """``{symptom key: (model, processor)}``, seeded, in eval mode."""
    torch.manual_seed(0)
    models = {}
    for spec in SYMPTOMS:
        model = create_model(spec, "tiny", image_size=SIZES[spec.key]).eval()
        with torch.no_grad():  # a random head gives ~uniform output; make the answers distinct
            model.classifier.weight.normal_(std=3.0)
            model.classifier.bias.normal_(std=0.5)
        if spec.grayscale and spec.key != UNFOLDED_GRAY:
            fold_grayscale(model)
        models[spec.key] = (model, create_image_processor(spec, "tiny", image_size=SIZES[spec.key]))
    return models


def save_tiny_classifiers(folder: Path) -> Path:
    """``tiny_classifiers()`` saved as ``folder/<symptom key>/`` model folders."""
    for key, (model, processor) in tiny_classifiers().items():
        model.save_pretrained(folder / key)
        processor.save_pretrained(folder / key)
    return folder
