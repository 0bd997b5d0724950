"""Int8 serving: ONNX Runtime static quantization of the cached fp32 exports, checked before use.

Each fp32 export (``scalp_models.onnx_backend``) gets an int8 copy: ``quantize_static`` in QDQ
format, uint8 activations and per-channel int8 weights (this CPU has AVX-512 VNNI, so no reduced
range), activation ranges calibrated on :data:`CALIBRATION_IMAGES` generated photos
(``synthetic.render.render_scalp``, saved as 640×480 JPEGs and decoded and preprocessed exactly as
serving does) one batch at a time, then a bias correction on the first of those photos
(:func:`correct_biases`: each quantized Conv's mean output per channel is set back to fp32's), in a
child process (``scalp_core.isolated``) that gets the preprocessed photos as a ``.npy`` file. The
calibration method (MinMax, Percentile or Entropy), the bias correction's photo count and the nodes
that stay fp32 are data, with the measured reasons, in ``int8_exclusions.json``; identity
squeeze-excite gates (the Lite0-based models) are removed first (:func:`fold_constant_gates`). The file is cached beside the fp32 one as
``<fp32 name>-int8-<recipe>.onnx``: the recipe hashes the rules, the calibration and bias-correction
settings, the preprocessing and the ONNX Runtime version, so any change makes a new file.

Before an int8 file serves, :func:`check_int8` runs it and the fp32 file on :data:`CHECK_IMAGES`
other generated photos: the top class must agree on ≥ :data:`CHECK_MIN_AGREEMENT` of them and no
probability may move by more than :data:`CHECK_MAX_DP` (features: relative error ≤
:data:`CHECK_MAX_FEATURE_ERROR`); otherwise :class:`Int8Error` says why and the caller keeps fp32.

    session, check = ensure_int8(fp32_path, preprocess, preprocess_id, name="hair_loss")
    python -m scalp_models.quantize_sweep --models demo --symptom hair_loss   # the measurements behind the rules
    python -m scalp_models.quantize_sweep --models demo --calibrations MinMax Percentile:99.999 Entropy
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from scalp_core.isolated import run_isolated
from scalp_core.paths import cache_dir, write_bytes_atomically
from scalp_models.cache_files import mark_used
from scalp_models.int8_bias import correct_biases
from scalp_models.metrics import softmax
from scalp_models.onnx_graph import INPUT_NAME, create_session, fold_constant_gates

log = logging.getLogger(__name__)

# 2: identity gates behind Identity nodes are folded too; 3: bias correction (see correct_biases);
# 4: inputs over 240 px calibrate fewer photos a batch (calibration_batch; 224 and 240 px files are as in 3)
RECIPE_VERSION = 4
RULES_FILE = Path(__file__).with_name("int8_exclusions.json")
CALIBRATION_IMAGES = 256  # "a few hundred generated images per model"
CALIBRATION_BATCH, CALIBRATION_SIDE = 8, 240  # photos per calibration batch at inputs up to 240 px
CHECK_IMAGES = 32
CALIBRATION_SEED, CHECK_SEED = 8108, 8109  # other seeds than the demo build's (1234+) and the benches' (0)
PHOTO_SIZE = (640, 480)
CHECK_MIN_AGREEMENT = 0.95
CHECK_MAX_DP = 0.25
CHECK_MAX_FEATURE_ERROR = 0.15  # ‖f_int8 − f_fp32‖ / ‖f_fp32‖, per photo, for feature extractors

# Preprocess: decoded RGB photos → the model's float32 (N, 3, H, W) input, as serving computes it.
Preprocess = Callable[[Sequence[Image.Image]], np.ndarray]


class Int8Error(RuntimeError):
    """An int8 copy could not be built, loaded or trusted; the message says why (fp32 keeps serving)."""


@dataclass(frozen=True)
class Int8Check:
    """How an int8 file compares with its fp32 file on held-out generated photos."""

    images: int
    agreement: float  # share of photos with the same top class (1.0 for feature extractors)
    max_dp: float  # largest |probability difference| (logits) or relative feature error (features)
    # Largest change of a difference between two classes' probabilities, max(q − p) − min(q − p) on one
    # photo (0 for features). Where int8's top two are further apart than a photo's shift, fp32's top
    # class is the same: the diagnoser's re-check margin (scalp_models.int8_serving).
    max_shift: float = 0.0


# ----------------------------------------------------------------------------- calibration photos


def generated_photos(count: int, seed: int, cache: Path | None = None) -> list[Image.Image]:
    """``count`` generated scalp photos (640×480 JPEG, decoded like an upload); cached as one ``.npz``."""
    from scalp_models.shared_preprocessing import decode_image  # torch: not in the quantizing child process

    return [decode_image(blob) for blob in generated_jpegs(count, seed, cache)]


def generated_jpegs(count: int, seed: int, cache: Path | None = None) -> list[bytes]:
    """The JPEG files of :func:`generated_photos` (256 decoded photos hold 236 MB, their files 17 MB)."""
    folder = Path(cache or cache_dir() / "int8")
    path = folder / f"photos-{seed}-{count}-{PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}.npz"
    blobs = None
    if path.is_file():
        mark_used(path)
        try:
            with np.load(path) as data:
                flat, ends = data["bytes"], data["ends"]
            blobs = [flat[a:b].tobytes() for a, b in zip(np.r_[0, ends[:-1]], ends)]
        except (OSError, ValueError, KeyError) as err:
            log.warning("rendering the calibration photos again (%s is unreadable: %s)", path.name, err)
    if blobs is None or len(blobs) != count:
        from synthetic.render import random_severities, render_scalp

        rng = np.random.default_rng(seed)
        blobs = []
        for _ in range(count):
            buffer = io.BytesIO()
            render_scalp(random_severities(rng), rng, size=PHOTO_SIZE).save(buffer, format="JPEG", quality=90)
            blobs.append(buffer.getvalue())
        try:
            folder.mkdir(parents=True, exist_ok=True)
            packed = io.BytesIO()
            np.savez(packed, bytes=np.frombuffer(b"".join(blobs), np.uint8), ends=np.cumsum([len(b) for b in blobs]))
            write_bytes_atomically(path, packed.getvalue())  # a failed write leaves no temporary behind
        except OSError as err:  # a read-only cache costs a re-render next time, nothing more
            log.warning("cannot cache the calibration photos in %s (%s)", folder, err)
    return blobs


def batched_pixels(preprocess: Preprocess, photos: Sequence[Image.Image], batch: int = CALIBRATION_BATCH):
    """The model inputs of ``photos``, ``batch`` at a time (a 600 px batch of 256 would be 1 GB)."""
    for start in range(0, len(photos), batch):
        yield np.ascontiguousarray(preprocess(photos[start : start + batch]), dtype=np.float32)


# ----------------------------------------------------------------------------- the recipe


CALIBRATION_METHODS = ("MinMax", "Percentile", "Entropy")
# Keys of onnxruntime.quantization's extra_options that a recipe's "calibration" may set.
CALIBRATION_OPTIONS = ("CalibPercentile", "CalibTensorRangeSymmetric", "ActivationSymmetric", "num_bins",
                       "num_quantized_bins")


def load_calibration(path: Path = RULES_FILE) -> dict:
    """The recipe's ``calibration``: ``{"method": MinMax|Percentile|Entropy, "extra_options": {...}}``."""
    calibration = json.loads(Path(path).read_text(encoding="utf-8")).get("calibration", {"method": "MinMax"})
    return check_calibration(calibration, Path(path).name)


def check_calibration(calibration: dict, where: str = "calibration") -> dict:
    method, options = calibration.get("method"), dict(calibration.get("extra_options") or {})
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"{where}: calibration method {method!r} is not one of {', '.join(CALIBRATION_METHODS)}")
    unknown = sorted(set(options) - set(CALIBRATION_OPTIONS))
    if unknown:
        raise ValueError(f"{where}: unknown calibration options {unknown}; allowed: {', '.join(CALIBRATION_OPTIONS)}")
    return {"method": method, "extra_options": options}


def load_bias_correction(path: Path = RULES_FILE) -> int:
    """How many of the calibration photos (the first ones) :func:`correct_biases` measures on (0: none)."""
    setting = json.loads(Path(path).read_text(encoding="utf-8")).get("bias_correction", {"photos": 0})
    photos = setting.get("photos")
    if not isinstance(photos, int) or isinstance(photos, bool) or not 0 <= photos <= 1024:
        raise ValueError(f"{Path(path).name}: bias_correction.photos must be an integer in 0..1024, got {photos!r}")
    return photos


def load_rules(path: Path = RULES_FILE) -> list[dict]:
    rules = json.loads(Path(path).read_text(encoding="utf-8"))["rules"]
    for rule in rules:
        if not {"group", "match", "keep_fp32", "reason"} <= set(rule) or len(rule["match"]) != 1:
            raise ValueError(f"{path.name}: rule {rule.get('group')!r} needs group, one match, keep_fp32, reason")
    return rules


def recipe_id(rules: Sequence[dict], preprocess_id: str, calibration: dict | None = None) -> str:
    import onnxruntime

    calibration = load_calibration() if calibration is None else calibration
    payload = {"version": RECIPE_VERSION, "rules": list(rules), "calibration": [CALIBRATION_IMAGES, CALIBRATION_SEED],
               "method": calibration, "bias_correction": load_bias_correction(), "preprocess": preprocess_id,
               "onnxruntime": onnxruntime.__version__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def _group_of(node) -> int:
    return next((a.i for a in node.attribute if a.name == "group"), 1)


def matched_nodes(model, match: dict) -> list[str]:
    """Names of the nodes one rule's ``match`` selects (see ``int8_exclusions.json``)."""
    nodes = list(model.graph.node)
    kind, value = next(iter(match.items()))
    if kind == "name_contains":
        return [n.name for n in nodes if value in n.name]
    positions = [i for i, n in enumerate(nodes) if n.op_type == value] if kind in ("first", "after_last") else []
    if kind == "first":
        return [nodes[positions[0]].name] if positions else []
    if kind == "after_last":
        return [n.name for n in nodes[positions[-1] + 1 :]] if positions else []
    if kind == "before_name":  # the nodes in front of the first one whose name contains value (none if none does)
        end = next((i for i, n in enumerate(nodes) if value in n.name), 0)
        return [n.name for n in nodes[:end]]
    if kind == "depthwise":
        return [n.name for n in nodes if n.op_type == "Conv" and _group_of(n) > 1]
    raise ValueError(f"unknown match {kind!r} in {RULES_FILE.name}")


def excluded_nodes(model, rules: Sequence[dict]) -> dict[str, str]:
    """Node name → the group that keeps it fp32."""
    return {name: rule["group"] for rule in rules if rule["keep_fp32"] for name in matched_nodes(model, rule["match"])}


def quantize_file(fp32_path: Path, out_path: Path, preprocess: Preprocess, rules: Sequence[dict],
                  photos: Sequence[Image.Image], calibration: dict | None = None,
                  bias_correction: int | None = None) -> dict[str, str]:
    """Write the int8 QDQ copy of ``fp32_path`` to ``out_path``; returns the nodes kept fp32.

    ``calibration`` (default: the recipe's) picks how activation ranges are set from ``photos``;
    then :func:`correct_biases` measures on the first ``bias_correction`` of them (default: the
    recipe's count; 0 skips it)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    calibration = check_calibration(load_calibration() if calibration is None else calibration)

    class Reader(CalibrationDataReader):
        """One batch at a time; ``set_range`` lets ONNX Runtime fold each batch into its ranges (or
        histograms) before reading the next, so calibration memory is one batch's activations."""

        def __init__(self):
            self.starts = list(range(0, len(photos), per_batch))
            self.set_range(0, len(self.starts))

        def __len__(self):
            return len(self.starts)

        def set_range(self, start_index: int, end_index: int):
            chosen = [photos[i] for s in self.starts[start_index:end_index]
                      for i in range(s, min(s + per_batch, len(photos)))]
            self.batches = batched_pixels(preprocess, chosen, per_batch)

        def get_next(self):
            return next(({INPUT_NAME: batch} for batch in self.batches), None)

    model = onnx.load(str(fp32_path))
    fold_constant_gates(model)
    excluded = excluded_nodes(model, rules)
    per_batch = calibration_batch(model)
    with tempfile.TemporaryDirectory(prefix="scalp-int8-") as tmp:
        folded = Path(tmp) / "folded.onnx"
        onnx.save(model, str(folded))
        quantize_static(
            str(folded), str(out_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=False,
            nodes_to_exclude=sorted(excluded), calibrate_method=CalibrationMethod[calibration["method"]],
            extra_options={**calibration["extra_options"], "CalibStridedMinMax": 1},
        )
    count = load_bias_correction() if bias_correction is None else bias_correction
    if count:
        quantized = onnx.load(str(out_path))
        correct_biases(model, quantized, lambda n: batched_pixels(preprocess, photos[:count], n), per_batch)
        onnx.save(quantized, str(out_path))
    return excluded


def calibration_batch(model) -> int:
    """Photos per calibration batch for ``model``: :data:`CALIBRATION_BATCH` up to 240 px inputs, fewer
    above, so that one batch's activations stay those of 8 photos at 240 px. ONNX Runtime keeps every
    tensor of a batch while it calibrates: a 600 px EfficientNet-b1 took 9 GB at 8 photos a batch."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    side = max((d.dim_value for d in dims[2:]), default=0) or CALIBRATION_SIDE
    return max(1, min(CALIBRATION_BATCH, CALIBRATION_BATCH * CALIBRATION_SIDE**2 // side**2))


def write_pixels(preprocess: Preprocess, jpegs: Sequence[bytes], path: Path) -> None:
    """The model inputs of the photos ``jpegs`` as one float32 ``.npy`` file, decoded and written a batch at a
    time, so the serving process never holds them all."""
    from scalp_models.shared_preprocessing import decode_image

    def decoded(blobs: Sequence[bytes]) -> np.ndarray:
        return preprocess([decode_image(b) for b in blobs])

    out = None
    for start, batch in zip(range(0, len(jpegs), CALIBRATION_BATCH), batched_pixels(decoded, jpegs)):
        if out is None:
            out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(len(jpegs), *batch.shape[1:]))
        out[start : start + len(batch)] = batch
    out.flush()
    del out


def quantize_pixels_file(fp32_path: str, out_path: str, pixels_path: str, rules: list[dict]) -> int:
    """:func:`quantize_file` on calibration inputs already preprocessed into ``pixels_path`` (a float32
    ``.npy``, read as needed): what :func:`ensure_int8`'s child process runs. Returns the nodes kept fp32."""
    pixels = np.load(pixels_path, mmap_mode="r")
    kept = quantize_file(Path(fp32_path), Path(out_path), lambda indices: pixels[list(indices)], rules,
                         range(len(pixels)))
    return len(kept)


# ----------------------------------------------------------------------------- checking and caching


def pair_shift(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """Per row of two probability arrays: how far the difference of any two classes moved,
    max(q − p) − min(q − p). Where ``candidate``'s top two are further apart than that, ``reference``'s top
    class is the same."""
    moved = candidate - reference
    return moved.max(axis=1) - moved.min(axis=1)


def compare_outputs(reference: np.ndarray, candidate: np.ndarray, features: bool = False,
                    temperature: float = 1.0) -> Int8Check:
    """fp32 ``reference`` against int8 ``candidate`` outputs; logits become probabilities at the model's
    calibration ``temperature``, as serving shows them."""
    if features:
        error = np.linalg.norm(candidate - reference, axis=1) / np.maximum(np.linalg.norm(reference, axis=1), 1e-12)
        return Int8Check(len(reference), 1.0, float(error.max()))
    p, q = (softmax(np.asarray(logits, np.float64) / temperature) for logits in (reference, candidate))
    return Int8Check(len(p), float((p.argmax(1) == q.argmax(1)).mean()), float(np.abs(p - q).max()),
                     float(pair_shift(p, q).max()))


def check_int8(fp32_session, int8_session, preprocess: Preprocess, photos: Sequence[Image.Image],
               features: bool = False, name: str = "model", temperature: float = 1.0) -> Int8Check:
    """Compare the two sessions on ``photos``; :class:`Int8Error` when the int8 one is not good enough.

    One photo per run, as serving runs them: a batch of 8 would grow both sessions' memory arenas
    (which never shrink) to batch size, ~0.2 GB per 224 px model."""
    ref, got = [], []
    for pixels in batched_pixels(preprocess, photos, batch=1):
        ref.append(fp32_session.run(None, {INPUT_NAME: pixels})[0].reshape(len(pixels), -1))
        got.append(int8_session.run(None, {INPUT_NAME: pixels})[0].reshape(len(pixels), -1))
    check = compare_outputs(np.concatenate(ref), np.concatenate(got), features, temperature)
    limit = CHECK_MAX_FEATURE_ERROR if features else CHECK_MAX_DP
    if not np.isfinite(check.max_dp) or check.max_dp > limit or check.agreement < CHECK_MIN_AGREEMENT:
        what = "relative feature error" if features else "max |Δp|"
        raise Int8Error(f"the int8 copy of {name} disagrees with fp32 on generated photos: {what} {check.max_dp:.3f} "
                        f"(≤ {limit}), top class agreement {check.agreement:.1%} (≥ {CHECK_MIN_AGREEMENT:.0%})")
    return check


_LOCK = threading.Lock()
export_count = 0  # int8 files this process built (tests check reuse)


def int8_path(fp32_path: Path, preprocess_id: str, rules: Sequence[dict] | None = None) -> Path:
    """Where the int8 copy of ``fp32_path`` is cached (beside it)."""
    rules = load_rules() if rules is None else rules
    return Path(fp32_path).with_name(f"{Path(fp32_path).stem}-int8-{recipe_id(rules, preprocess_id)}.onnx")


def ensure_int8(fp32_path: Path, preprocess: Preprocess, preprocess_id: str, *, threads: int = 1,
                features: bool = False, name: str = "model", rules: Sequence[dict] | None = None,
                fp32_session=None, extra_check_photos: Sequence[Image.Image] = (), temperature: float = 1.0):
    """``(int8 session, Int8Check)`` for ``fp32_path``: the cached copy or a new one, checked against fp32
    on :data:`CHECK_IMAGES` generated photos plus ``extra_check_photos`` (probabilities at the model's
    calibration ``temperature``).

    Raises :class:`Int8Error` (the caller keeps fp32) when quantizing, loading or the check fails."""
    global export_count
    try:
        rules = load_rules() if rules is None else rules
        path = int8_path(fp32_path, preprocess_id, rules)
        with _LOCK:  # one quantization at a time: each one already keeps a core busy
            if not path.is_file():
                start = time.perf_counter()
                with tempfile.TemporaryDirectory(dir=path.parent, prefix=".int8-") as tmp:
                    built, pixels = Path(tmp) / "int8.onnx", Path(tmp) / "calibration.npy"
                    write_pixels(preprocess, generated_jpegs(CALIBRATION_IMAGES, CALIBRATION_SEED), pixels)
                    # In a child process, so the quantizer's heap (~1 GB over seven models) is not left in
                    # the serving app, and a crash in it keeps fp32 serving instead of ending the app.
                    kept = run_isolated(quantize_pixels_file, {"fp32_path": str(fp32_path), "out_path": str(built),
                                                               "pixels_path": str(pixels), "rules": list(rules)})
                    os.replace(built, path)  # atomic: a racing process sees the whole file or none
                export_count += 1
                log.info("quantized %s to int8 in %.1f s (%d nodes kept fp32)", name, time.perf_counter() - start,
                         kept)
            else:
                mark_used(path)  # so `python -m scalp_models cache --prune` keeps it
        session = create_session(path, threads=threads)
        check = check_int8(fp32_session or create_session(fp32_path, threads=threads), session, preprocess,
                           [*generated_photos(CHECK_IMAGES, CHECK_SEED), *extra_check_photos], features, name,
                           temperature)
    except Int8Error:
        raise
    except Exception as err:  # quantizer, runtime, unreadable file: all mean "keep fp32"
        raise Int8Error(f"the int8 copy of {name} is unusable ({type(err).__name__}: {err})") from err
    return session, check
