"""One symptom model as the diagnoser serves it: the model, its shared preprocessing, its threshold.

``prepare_symptom_model`` reads what the diagnoser needs from a transformers checkpoint (the resize
and normalisation it can share, grayscale handling, an unfolded temperature, the "uncertain"
threshold, the severity names); ``model_pixels`` builds its input, sharing resizes and
normalisations between models through two dicts; ``load_pretrained`` loads one folder safely
(safetensors only, no code from the folder).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForImageClassification

from scalp_core import SymptomSpec, split_label
from scalp_models.diagnosis import DEFAULT_UNCERTAIN_BELOW, check_uncertain_below
from scalp_models.shared_preprocessing import Normalization, ResizeKey, plan_preprocessing, resized_tensor


@dataclass
class SymptomModel:
    spec: SymptomSpec
    model: torch.nn.Module
    processor: Any
    gray: bool  # feed luminance (a grayscale model whose stem is not folded)
    resize: ResizeKey | None
    normalization: Normalization | None
    temperature: float
    uncertain_below: float  # the model's validated threshold (or the default), before any override
    labels: tuple[str, ...]
    severities: tuple[tuple[str, str], ...]


def prepare_symptom_model(spec: SymptomSpec, model: torch.nn.Module, processor) -> SymptomModel:
    model.eval()
    config = model.config
    scalp = dict(getattr(config, "scalp", None) or {})
    if scalp.get("symptom") not in (None, spec.key):
        raise ValueError(
            f"the model given for {spec.key} says it is for {scalp['symptom']!r}; check the folder names"
        )
    resize, normalization = plan_preprocessing(processor)
    gray = bool(scalp.get("grayscale")) and not scalp.get("grayscale_folded")
    if resize is not None and gray:
        resize = ResizeKey(resize.size, resize.resample, gray=True)
    temperature = float(scalp.get("temperature", 1.0) or 1.0)
    if scalp.get("temperature_folded"):
        temperature = 1.0  # already divided into the classifier
    uncertain_below = scalp.get("uncertain_below")
    uncertain_below = DEFAULT_UNCERTAIN_BELOW if uncertain_below is None else check_uncertain_below(
        uncertain_below, f"the {spec.key} model's config.scalp.uncertain_below"
    )
    labels = tuple(config.id2label[i] for i in range(config.num_labels))
    return SymptomModel(
        spec=spec,
        model=model,
        processor=processor,
        gray=gray,
        resize=resize,
        normalization=normalization,
        temperature=temperature,
        uncertain_below=uncertain_below,
        labels=labels,
        severities=tuple(split_label(label) for label in labels),
    )



def model_pixels(entry: SymptomModel, images: Sequence[Image.Image], resized: dict, normalised: dict):
    """The model's normalised (N, 3, H, W) input; resizes and normalisations are shared via the dicts."""
    if entry.resize is None:  # a processor we cannot share: run it as is
        inputs = list(images)
        if entry.gray:
            inputs = [image.convert("L").convert("RGB") for image in inputs]
        return entry.processor(images=inputs, return_tensors="pt")["pixel_values"]
    key = (entry.resize, entry.normalization)
    if key not in normalised:
        if entry.resize not in resized:
            resized[entry.resize] = resized_tensor(images, entry.resize)
        a, b = entry.normalization.affine()
        # in numpy for the reason resized_tensor gives; the same float32 products and sums as torch's
        normalised[key] = torch.from_numpy(resized[entry.resize].numpy() * a.numpy() + b.numpy())
    return normalised[key]


def load_pretrained(folder: str | os.PathLike) -> tuple[torch.nn.Module, Any]:
    """Model and image processor of one folder: safetensors weights only, and no code from the folder."""
    model = AutoModelForImageClassification.from_pretrained(
        folder, trust_remote_code=False, use_safetensors=True
    )
    processor = AutoImageProcessor.from_pretrained(folder, backend="pil", trust_remote_code=False)
    return model.eval(), processor


def preprocess_id(entry: SymptomModel) -> str:
    """A text that changes whenever the model's input would (part of the int8 cache key)."""
    if entry.resize is None:
        return f"processor {entry.processor.to_json_string()} gray={entry.gray}"
    return f"{entry.resize} {entry.normalization}"
