"""Image processors for the scalp models: squash-resize to (size, size), rescale, normalise.

``create_image_processor(spec, base)`` returns transformers' PIL-backed
``EfficientNetImageProcessorPil`` (torchvision is deliberately not a dependency), saved as
``preprocessor_config.json`` beside the model so ``pipeline("image-classification")`` applies the
same steps. The normalisation follows the starting weights:

- ``google/efficientnet-*``: ImageNet mean/std (the Hub configs write this as std=sqrt(std) plus
  ``include_top=True``, which divides twice; we write the product once);
- ``lite0``: the TF EfficientNet-Lite constants, (x·255 − 127) / 128;
- ``tiny``/``scratch-*``: 0.5 / 0.5.

Grayscale symptoms always get ONE mean and ONE std for all three channels, so the luminance
projection of ``modeling.fold_grayscale`` commutes with normalisation.

    >>> from scalp_core import get_symptom
    >>> processor = create_image_processor(get_symptom("dandruff"), "lite0")
    >>> processor.size == {"height": 240, "width": 240}, processor.image_mean == processor.image_mean[:1] * 3
    (True, True)
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from transformers.models.efficientnet.image_processing_pil_efficientnet import EfficientNetImageProcessorPil

from scalp_core import SymptomSpec
from scalp_models.bases import DEFAULT_BASE, RESAMPLE, TINY_BASE, TINY_IMAGE_SIZE, normalization, resolve_base


def create_image_processor(
    spec: SymptomSpec,
    base: str = DEFAULT_BASE,
    *,
    image_size: int | None = None,
) -> EfficientNetImageProcessorPil:
    """The processor matching ``create_model(spec, base, image_size=...)``."""
    base = resolve_base(base)
    size = image_size or (TINY_IMAGE_SIZE if base == TINY_BASE else spec.input_size)
    mean, std = normalization(base, spec.grayscale)
    return EfficientNetImageProcessorPil(
        size={"height": size, "width": size},
        do_resize=True,
        resample=RESAMPLE,
        do_center_crop=False,
        do_rescale=True,
        rescale_factor=1 / 255,
        rescale_offset=False,
        do_normalize=True,
        image_mean=mean,
        image_std=std,
        include_top=False,
    )


def _is_plain_efficientnet_processor(processor) -> bool:
    """True for the processors ``create_image_processor`` makes: squash-resize, /255, normalise."""
    size = getattr(processor, "size", None) or {}
    return (
        isinstance(processor, EfficientNetImageProcessorPil)
        and bool(processor.do_resize)
        and isinstance(size, dict) and size.get("height") is not None and size.get("height") == size.get("width")
        and not processor.do_center_crop
        and bool(processor.do_rescale) and abs(float(processor.rescale_factor) - 1 / 255) < 1e-12
        and not getattr(processor, "rescale_offset", False)
        and not getattr(processor, "include_top", False)
        and bool(processor.do_normalize)
        and len(processor.image_mean) == 3 and len(processor.image_std) == 3
    )


def pixel_values(images, processor):
    """``processor(images=images, return_tensors="pt")["pixel_values"]`` for RGB PIL images, in one pass.

    For the processors made here the result is the same to ~1e-7 (the same PIL resize, then
    ``(x − 255·mean) / (255·std)`` in float32), but it skips the processor's several float copies:
    at 600 px about 3× faster, which is what feeds a GPU (see bench/train.py). Any other processor
    or image mode goes through the processor itself.
    """
    if not images or not _is_plain_efficientnet_processor(processor) or any(im.mode != "RGB" for im in images):
        return processor(images=images, return_tensors="pt")["pixel_values"]
    side = int(processor.size["height"])
    resample = Image.Resampling(int(processor.resample))
    mean = np.asarray(processor.image_mean, np.float32) * 255.0
    scale = 1.0 / (np.asarray(processor.image_std, np.float32) * 255.0)
    out = np.empty((len(images), 3, side, side), np.float32)
    for i, image in enumerate(images):
        if image.size != (side, side):
            image = image.resize((side, side), resample)
        array = np.asarray(image, dtype=np.float32)
        array -= mean
        array *= scale
        out[i] = array.transpose(2, 0, 1)
    return torch.from_numpy(out)
