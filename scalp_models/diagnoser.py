"""``ScalpDiagnoser``: the six symptom models behind one call per image.

Load the six models from a Hub namespace (repos ``NS/scalp-<suffix>``), a local folder of six
``<symptom key>/`` model folders, or ``"demo"`` (cached demo models, built on first use):

    >>> from scalp_models import ScalpDiagnoser
    >>> diagnoser = ScalpDiagnoser.from_source("models")          # or "me", or "demo"
    >>> diagnosis = diagnoser.diagnose("scalp.jpg")
    >>> diagnosis["hair_loss"].label, diagnosis["hair_loss"].probabilities
    >>> diagnosis.to_dict()                                       # JSON-safe

or from a shell (prints the JSON)::

    python -m scalp_models.diagnoser --source demo scalp.jpg [more.jpg ...]

Each image is decoded once (EXIF orientation applied, converted to RGB), resized once per
distinct input size (and resampling filter, and — for grayscale models whose stem is not
folded — once more in gray), normalised with each model's own processor parameters (the
result equals the model's ``preprocessor_config.json`` run through transformers), and fed to
each model. The models are plain transformers checkpoints, so ``pipeline("image-classification")``
on one folder returns the same probabilities. Temperature scaling is normally folded into the
classifier; an unfolded ``config.scalp["temperature"]`` is applied here.

Two backends give the same probabilities (within ~1e-6): ``backend="onnx"`` (the default) exports
each model once to ONNX (cached under ``$SCALP_CACHE/onnx/``, see ``scalp_models.onnx_backend``)
and runs the models concurrently with ONNX Runtime, ~2.8× faster than six eager PyTorch
forwards on two cores (``python bench/infer.py``); ``backend="torch"`` runs the PyTorch models.
If ONNX Runtime is missing or an export fails, a warning is logged and PyTorch is used.

Loading from the Hub goes through ``huggingface_hub``/``transformers``, so ``HF_HUB_OFFLINE=1``
works from the local cache; whatever is missing is reported at once in one
``ModelsUnavailableError`` naming every missing repository or file.
"""

from __future__ import annotations

import io
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from scalp_core import SYMPTOMS, SymptomSpec, split_label
from scalp_core.images import to_rgb

BACKENDS = ("onnx", "torch")
DEFAULT_BACKEND = "onnx"  # falls back to "torch" with a warning when ONNX Runtime or the export fails
REQUIRED_FILES = ("config.json", "preprocessor_config.json", "model.safetensors")
DEFAULT_UNCERTAIN_BELOW = 0.5

ImageInput = Any  # PIL.Image.Image | str | os.PathLike | bytes | numpy.ndarray
log = logging.getLogger(__name__)


class ModelsUnavailableError(RuntimeError):
    """Some of the six models could not be loaded; ``.missing`` lists every missing item."""

    def __init__(self, source: str, missing: Sequence[str], hint: str = ""):
        self.source = source
        self.missing = list(missing)
        lines = [f"Cannot load the scalp models from {source!r}; missing:"]
        lines += [f"  - {item}" for item in self.missing]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


class ImageDecodeError(ValueError):
    """The input could not be read as an image."""


@dataclass(frozen=True)
class SymptomResult:
    """One symptom's answer for one image."""

    symptom: str  # spec key, e.g. "hair_loss"
    ko: str  # 탈모
    en: str  # Hair loss
    labels: tuple[str, ...]  # class names "한국어 (English)", index order
    probabilities: tuple[float, ...]  # calibrated, sums to 1
    predicted: int  # class index of the highest probability
    label: str  # labels[predicted]
    severity_ko: str  # e.g. 경증·중등도
    severity_en: str  # e.g. mild–moderate
    confidence: float  # probabilities[predicted]
    uncertain: bool  # confidence < the diagnoser's uncertain_below

    def to_dict(self) -> dict:
        out = asdict(self)
        out["labels"] = list(self.labels)
        out["probabilities"] = [float(p) for p in self.probabilities]
        return out


@dataclass(frozen=True)
class Diagnosis:
    """The six symptoms' answers for one image, in ``SYMPTOMS`` order."""

    results: tuple[SymptomResult, ...]
    uncertain_below: float
    _by_key: dict = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_key", {r.symptom: r for r in self.results})

    def __getitem__(self, key: str) -> SymptomResult:
        """By symptom key (``hair_loss``) or Korean name (``탈모``)."""
        if key in self._by_key:
            return self._by_key[key]
        for result in self.results:
            if key == result.ko:
                return result
        raise KeyError(f"no result for {key!r}; have {sorted(self._by_key)}")

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @property
    def any_uncertain(self) -> bool:
        return any(r.uncertain for r in self.results)

    def to_dict(self) -> dict:
        return {
            "uncertain_below": float(self.uncertain_below),
            "symptoms": {r.symptom: r.to_dict() for r in self.results},
        }


# ----------------------------------------------------------------------------- preprocessing


def decode_image(image: ImageInput) -> Image.Image:
    """PIL image, path, bytes or numpy array → RGB PIL image with EXIF orientation applied."""
    try:
        if isinstance(image, Image.Image):
            pil = image
        elif isinstance(image, (str, os.PathLike)):
            pil = Image.open(image)
            pil.load()
        elif isinstance(image, (bytes, bytearray, memoryview)):
            pil = Image.open(io.BytesIO(bytes(image)))
            pil.load()
        elif isinstance(image, np.ndarray):
            pil = Image.fromarray(_to_uint8(image))
        else:
            raise ImageDecodeError(
                f"unsupported image input of type {type(image).__name__}; "
                "pass a PIL image, a file path, the file's bytes or a numpy array"
            )
    except (OSError, ValueError, TypeError) as err:
        if isinstance(err, ImageDecodeError):
            raise
        raise ImageDecodeError(f"could not read the image ({err}); use a JPEG or PNG photo") from err
    return to_rgb(ImageOps.exif_transpose(pil))


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # channels-first → channels-last
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating) and array.size and float(np.nanmax(array)) <= 1.0:
        array = array * 255.0  # float images in [0, 1]
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class ResizeKey:
    size: int
    resample: int
    gray: bool  # convert to gray (replicated) before resizing: unfolded grayscale models only


@dataclass(frozen=True)
class Normalization:
    """x · scale (− 1 if offset) − mean) / std (/ std again if include_top), per channel."""

    scale: float
    offset: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    include_top: bool

    def affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(a, b) with normalised = raw_uint8 · a + b, shapes (1, 3, 1, 1)."""
        std = torch.tensor(self.std, dtype=torch.float64)
        mean = torch.tensor(self.mean, dtype=torch.float64)
        divisor = std * std if self.include_top else std
        shift = mean + (1.0 if self.offset else 0.0)
        a = torch.full((3,), self.scale, dtype=torch.float64) / divisor
        b = -shift / divisor
        return a.float().view(1, 3, 1, 1), b.float().view(1, 3, 1, 1)


def _three(value) -> tuple[float, float, float]:
    if isinstance(value, (int, float)):
        return (float(value),) * 3
    values = tuple(float(v) for v in value)
    if len(values) == 1:
        return values * 3
    if len(values) != 3:
        raise ValueError(f"expected 1 or 3 channel values, got {value!r}")
    return values


def _size_of(processor) -> int | None:
    size = getattr(processor, "size", None)
    if size is None:
        return None
    get = size.get if isinstance(size, Mapping) else lambda k: getattr(size, k, None)
    height, width = get("height"), get("width")
    if height and width and height == width and not get("shortest_edge"):
        return int(height)
    return None


def plan_preprocessing(processor) -> tuple[ResizeKey | None, Normalization | None]:
    """What the processor does, if it is the square-resize/rescale/normalise we can share.

    ``(None, None)`` means "run the processor itself" (e.g. center cropping or aspect-keeping
    resizes), which is slower but always right.
    """
    size = _size_of(processor)
    if (
        size is None
        or not getattr(processor, "do_resize", True)
        or getattr(processor, "do_center_crop", False)
        or getattr(processor, "do_pad", False)
        or not getattr(processor, "do_rescale", True)
        or not getattr(processor, "do_normalize", True)
    ):
        return None, None
    resample = getattr(processor, "resample", None)
    resample = int(resample) if resample is not None else int(Image.Resampling.BILINEAR)
    normalization = Normalization(
        scale=float(processor.rescale_factor),
        offset=bool(getattr(processor, "rescale_offset", False)),
        mean=_three(processor.image_mean),
        std=_three(processor.image_std),
        include_top=bool(getattr(processor, "include_top", False)),
    )
    return ResizeKey(size, resample, gray=False), normalization


def resized_tensor(images: Sequence[Image.Image], key: ResizeKey) -> torch.Tensor:
    """uint8-valued float32 tensor (N, 3, size, size): one PIL resize per image."""
    arrays = []
    for image in images:
        source = image.convert("L") if key.gray else image
        resized = np.asarray(source.resize((key.size, key.size), resample=key.resample))
        if resized.ndim == 2:  # gray: resampling is per channel, so replicating after is exact
            resized = np.repeat(resized[..., None], 3, axis=-1)
        arrays.append(resized)
    batch = torch.from_numpy(np.stack(arrays))  # N, H, W, 3 uint8
    # contiguous NCHW like the processor's output: a channels-last input would silently switch
    # every convolution to the channels-last kernels, which are slower here
    return batch.permute(0, 3, 1, 2).contiguous().float()


# ----------------------------------------------------------------------------- the models


@dataclass
class _SymptomModel:
    spec: SymptomSpec
    model: torch.nn.Module
    processor: Any
    gray: bool  # feed luminance (a grayscale model whose stem is not folded)
    resize: ResizeKey | None
    normalization: Normalization | None
    temperature: float
    labels: tuple[str, ...]
    severities: tuple[tuple[str, str], ...]


def _prepare(spec: SymptomSpec, model: torch.nn.Module, processor) -> _SymptomModel:
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
    labels = tuple(config.id2label[i] for i in range(config.num_labels))
    return _SymptomModel(
        spec=spec,
        model=model,
        processor=processor,
        gray=gray,
        resize=resize,
        normalization=normalization,
        temperature=temperature,
        labels=labels,
        severities=tuple(split_label(label) for label in labels),
    )


class ScalpDiagnoser:
    """Six symptom classifiers, one ``diagnose`` call per image (or batch of images)."""

    def __init__(
        self,
        models: Mapping[str, tuple[torch.nn.Module, Any]],
        *,
        uncertain_below: float = DEFAULT_UNCERTAIN_BELOW,
        num_threads: int | None = None,
        backend: str = DEFAULT_BACKEND,
        source: str = "<in memory>",
    ):
        """``models`` maps every symptom key to ``(model, image_processor)``.

        ``backend="onnx"`` (default) exports each model once to ONNX (cached, see
        ``scalp_models.onnx_backend``) and runs the models concurrently with ONNX Runtime; if
        ONNX Runtime is missing or an export fails it logs a warning and uses ``"torch"``.
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if not 0.0 <= uncertain_below <= 1.0:
            raise ValueError(f"uncertain_below must be a probability in [0, 1], got {uncertain_below!r}")
        missing = [spec.key for spec in SYMPTOMS if spec.key not in models]
        if missing:
            raise ModelsUnavailableError(source, [f"model for {key}" for key in missing])
        self.backend = backend
        self.source = source
        self.uncertain_below = float(uncertain_below)
        self.num_threads = num_threads or min(4, os.cpu_count() or 1)
        torch.set_num_threads(self.num_threads)
        self._models = [_prepare(spec, *models[spec.key]) for spec in SYMPTOMS]
        self._onnx = None
        if backend == "onnx":
            self._onnx = self._start_onnx()
            if self._onnx is None:
                self.backend = "torch"

    def _start_onnx(self):
        """An ``OnnxRunner`` for the models whose preprocessing we share, or None (→ torch)."""
        try:
            from scalp_models.onnx_backend import OnnxOptions, OnnxRunner

            exportable = {e.spec.key: (e.model, e.resize.size) for e in self._models if e.resize is not None}
            if not exportable:
                raise RuntimeError("no model has a square resize that ONNX inputs can be built from")
            return OnnxRunner(exportable, OnnxOptions(threads=self.num_threads))
        except Exception as err:  # ImportError, OnnxExportError, ORT load errors: all mean "use PyTorch"
            log.warning("ONNX backend unavailable (%s: %s); using the PyTorch backend",
                        type(err).__name__, err)
            return None

    @property
    def onnx_paths(self) -> dict[str, Path]:
        """Symptom key → cached ``.onnx`` file (empty for the torch backend)."""
        return dict(self._onnx.paths) if self._onnx is not None else {}

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def from_source(
        cls,
        source: str | os.PathLike,
        *,
        revision: str | None = None,
        uncertain_below: float = DEFAULT_UNCERTAIN_BELOW,
        num_threads: int | None = None,
        backend: str = DEFAULT_BACKEND,
    ) -> ScalpDiagnoser:
        """Load from a Hub namespace, a local folder of six ``<key>/`` folders, or ``"demo"``.

        A Hub namespace ``NS`` means the repos ``NS/scalp-<suffix>`` (``SymptomSpec.repo_name``).
        """
        kwargs = {"uncertain_below": uncertain_below, "num_threads": num_threads, "backend": backend}
        if str(source) == "demo":
            from scalp_models.demo import ensure_demo_models

            return cls.from_folder(ensure_demo_models(), **kwargs)
        path = Path(source).expanduser()
        if path.is_dir():
            return cls.from_folder(path, **kwargs)
        text = str(source)
        if os.sep in text.rstrip(os.sep) or text.startswith((".", "~")) or "/" in text:
            raise ModelsUnavailableError(
                text,
                [f"folder {path} (it does not exist)"],
                "Pass a folder holding six <symptom key>/ model folders, a Hub namespace such as 'me', "
                "or 'demo'.",
            )
        try:
            return cls.from_hub(text, revision=revision, **kwargs)
        except ModelsUnavailableError as err:
            note = f"(No local folder {path} exists, so {text!r} was read as a Hub namespace.)"
            hint = f"{err.args[0].splitlines()[-1]}\n{note}"
            raise ModelsUnavailableError(text, err.missing, hint) from None

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, **kwargs) -> ScalpDiagnoser:
        folder = Path(folder)
        missing = []
        for spec in SYMPTOMS:
            model_dir = folder / spec.key
            if not model_dir.is_dir():
                missing.append(f"{model_dir}/ (model folder for {spec.key} {spec.ko})")
                continue
            missing += [f"{model_dir / name}" for name in REQUIRED_FILES if not (model_dir / name).is_file()]
        if missing:
            raise ModelsUnavailableError(
                str(folder),
                missing,
                "Train them with `python -m scalp_models train ...` or use source='demo'.",
            )
        loaded = {spec.key: _load_pretrained(folder / spec.key) for spec in SYMPTOMS}
        return cls(loaded, source=str(folder), **kwargs)

    @classmethod
    def from_hub(cls, namespace: str, *, revision: str | None = None, **kwargs) -> ScalpDiagnoser:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            GatedRepoError,
            LocalEntryNotFoundError,
            RemoteEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        from scalp_models.bases import hub_reachable

        at = f"@{revision}" if revision else ""
        missing, offline_misses = [], 0
        cache_only = not hub_reachable()  # 2 s check instead of retries with back-off per file
        for spec in SYMPTOMS:
            repo_id = f"{namespace}/{spec.repo_name}"
            for filename in REQUIRED_FILES:
                try:
                    # After one failed connection, read the rest from the cache too.
                    local_only = cache_only or offline_misses > 0
                    hf_hub_download(repo_id, filename, revision=revision, local_files_only=local_only)
                except GatedRepoError:
                    missing.append(f"{repo_id}{at} (gated: accept its terms on the Hub and log in)")
                    break
                except RepositoryNotFoundError:
                    missing.append(f"{repo_id} (repository not found, or private: run `hf auth login`)")
                    break
                except RevisionNotFoundError:
                    missing.append(f"{repo_id}{at} (revision {revision!r} not found)")
                    break
                except LocalEntryNotFoundError:
                    offline_misses += 1
                    missing.append(
                        f"{repo_id}{at}/{filename} (not in the local cache and the Hub is unreachable)"
                    )
                except (RemoteEntryNotFoundError, EntryNotFoundError):
                    missing.append(f"{repo_id}{at}/{filename} (file not in the repository)")
                except OSError as err:  # network and other HTTP errors
                    missing.append(f"{repo_id}{at}/{filename} ({type(err).__name__}: {err})")
                except ValueError as err:  # HFValidationError: not a valid repo id
                    missing.append(f"{repo_id} (not a valid Hub repository id: {err})")
                    break
        if missing:
            hint = "Upload them with `python -m hub_upload ...`, or use a local folder or 'demo'."
            if offline_misses:
                hint = (
                    "Connect to the Hub once to download them (they are cached), or unset HF_HUB_OFFLINE; "
                    "or use a local folder or 'demo'."
                )
            raise ModelsUnavailableError(namespace, missing, hint)
        loaded = {
            spec.key: _load_pretrained(
                f"{namespace}/{spec.repo_name}", revision=revision, local_files_only=cache_only
            )
            for spec in SYMPTOMS
        }
        return cls(loaded, source=namespace, **kwargs)

    # -- inference ----------------------------------------------------------------------------

    def diagnose(self, image: ImageInput | list[ImageInput]) -> Diagnosis | list[Diagnosis]:
        """One image → ``Diagnosis``; a list of images → a list (same as ``diagnose_batch``)."""
        if isinstance(image, (list, tuple)):
            return self.diagnose_batch(image)
        return self.diagnose_batch([image])[0]

    def diagnose_batch(self, images: Iterable[ImageInput]) -> list[Diagnosis]:
        decoded = [decode_image(image) for image in images]
        if not decoded:
            return []
        probabilities = self.predict_proba(decoded)
        return [self._diagnosis(i, probabilities) for i in range(len(decoded))]

    @torch.inference_mode()
    def predict_proba(self, images: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        """Decoded RGB images → {symptom key: (N, num_classes) float64 probabilities}."""
        resized: dict[ResizeKey, torch.Tensor] = {}
        normalised: dict[tuple[ResizeKey, Normalization], torch.Tensor] = {}
        by_key = {entry.spec.key: entry for entry in self._models}
        logits: dict[str, torch.Tensor] = {}
        if self._onnx is not None:
            # Each group starts as soon as its inputs are ready (the costliest group first), so
            # resizing for the other groups overlaps its inference.
            futures = []
            for group in self._onnx.groups:
                pixels = {k: self._pixels(by_key[k], images, resized, normalised).numpy() for k in group}
                futures.append(self._onnx.submit(group, pixels))
            for future in futures:
                logits.update({k: torch.from_numpy(v) for k, v in future.result().items()})
        out = {}
        for entry in self._models:
            key = entry.spec.key
            if key not in logits:
                logits[key] = entry.model(pixel_values=self._pixels(entry, images, resized, normalised)).logits
            scores = logits[key].double()
            if entry.temperature != 1.0:
                scores = scores / entry.temperature
            out[key] = torch.softmax(scores, dim=-1).numpy()
        return out

    @staticmethod
    def _pixels(entry: _SymptomModel, images: Sequence[Image.Image], resized: dict, normalised: dict):
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
            normalised[key] = resized[entry.resize] * a + b
        return normalised[key]

    def _diagnosis(self, index: int, probabilities: dict[str, np.ndarray]) -> Diagnosis:
        results = []
        for entry in self._models:
            probs = probabilities[entry.spec.key][index]
            predicted = int(np.argmax(probs))
            confidence = float(probs[predicted])
            severity_ko, severity_en = entry.severities[predicted]
            results.append(
                SymptomResult(
                    symptom=entry.spec.key,
                    ko=entry.spec.ko,
                    en=entry.spec.en,
                    labels=entry.labels,
                    probabilities=tuple(float(p) for p in probs),
                    predicted=predicted,
                    label=entry.labels[predicted],
                    severity_ko=severity_ko,
                    severity_en=severity_en,
                    confidence=confidence,
                    uncertain=bool(confidence < self.uncertain_below) or math.isnan(confidence),
                )
            )
        return Diagnosis(results=tuple(results), uncertain_below=self.uncertain_below)

    @property
    def specs(self) -> tuple[SymptomSpec, ...]:
        return tuple(entry.spec for entry in self._models)

    def model_for(self, key: str) -> tuple[torch.nn.Module, Any]:
        for entry in self._models:
            if entry.spec.key == key:
                return entry.model, entry.processor
        raise KeyError(key)


def _load_pretrained(name_or_path: str | os.PathLike, revision: str | None = None, local_files_only=False):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    kwargs = {"revision": revision, "local_files_only": local_files_only}
    model = AutoModelForImageClassification.from_pretrained(name_or_path, **kwargs)
    processor = AutoImageProcessor.from_pretrained(name_or_path, backend="pil", **kwargs)
    return model.eval(), processor


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(description="Diagnose scalp photos with the six symptom models.")
    parser.add_argument("images", nargs="+", help="photo files (JPEG/PNG)")
    parser.add_argument("--source", default="demo", help="Hub namespace, local models folder, or 'demo'")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit)")
    parser.add_argument("--uncertain-below", type=float, default=DEFAULT_UNCERTAIN_BELOW,
                        help="flag a symptom as uncertain when its top probability is below this")
    parser.add_argument("--threads", type=int, help="CPU threads (default: min(4, CPUs))")
    parser.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                        help="onnx (ONNX Runtime, exported once and cached) or torch")
    args = parser.parse_args(argv)
    try:
        diagnoser = ScalpDiagnoser.from_source(
            args.source,
            revision=args.revision,
            uncertain_below=args.uncertain_below,
            num_threads=args.threads,
            backend=args.backend,
        )
        results = diagnoser.diagnose_batch(args.images)
    except (ModelsUnavailableError, ImageDecodeError) as err:
        print(err, file=sys.stderr)
        return 1
    payload = {str(path): diagnosis.to_dict() for path, diagnosis in zip(args.images, results)}
    print(json.dumps(payload, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
