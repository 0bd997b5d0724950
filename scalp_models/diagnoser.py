"""``ScalpDiagnoser``: the six symptom models behind one call per image.

Load the six models from a Hub namespace (repos ``NS/scalp-<suffix>``), a local folder of six
``<symptom key>/`` model folders, or ``"demo"`` (cached demo models, built on first use):

    >>> from scalp_models.diagnoser import ScalpDiagnoser
    >>> diagnoser = ScalpDiagnoser.from_source("models")          # or "me", or "demo"
    >>> diagnosis = diagnoser.diagnose("scalp.jpg")               # a scalp_models.diagnosis.Diagnosis
    >>> diagnosis["hair_loss"].label, diagnosis["hair_loss"].probabilities
    >>> diagnosis.to_dict()                                       # JSON-safe

or from a shell (prints the JSON)::

    python -m scalp_models.diagnoser --source demo scalp.jpg [more.jpg ...]
    python -m scalp_models.diagnoser --source demo --export-onnx     # print the cached .onnx files

Each image is decoded once (EXIF orientation applied, converted to RGB), resized once per
distinct input size (and resampling filter, and — for grayscale models whose stem is not
folded — once more in gray), normalised with each model's own processor parameters (the
result equals the model's ``preprocessor_config.json`` run through transformers; see
``scalp_models.shared_preprocessing``), and fed to each model. The models are plain transformers
checkpoints, so ``pipeline("image-classification")`` on one folder returns the same probabilities.
Temperature scaling is normally folded into the classifier; an unfolded
``config.scalp["temperature"]`` is applied here. Each answer is flagged ``uncertain`` when its top
probability is below the model's own ``config.scalp["uncertain_below"]`` (chosen on its validation
split by ``scalp_models.thresholds``; 1.0 flags every answer; 0.5 for a model that carries none),
unless the caller imposes one threshold on all six (``uncertain_below=``, ``--uncertain-below``).

Two backends give the same probabilities (within ~1e-6): ``backend="onnx"`` (the default) exports
each model once to ONNX (cached under ``$SCALP_CACHE/onnx/``, see ``scalp_models.onnx_backend``)
and runs the models concurrently with ONNX Runtime, ~2.8× faster than six eager PyTorch
forwards on two cores (``python bench/infer.py``); ``backend="torch"`` runs the PyTorch models.
If ONNX Runtime is missing or an export fails, a warning is logged and PyTorch is used. A third,
``backend="int8"`` (opt-in: ``--backend int8``) serves int8 copies (``scalp_models.quantize``): statically
quantized, checked against fp32 before use, close but not equal to fp32 (``bench/infer.py``); an answer
whose top two probabilities are closer than the recipe's re-check margin is recomputed on fp32
(``scalp_models.int8_serving``), so int8's rounding does not decide a severity near a class boundary.

Loading from the Hub goes through ``scalp_models.hub_loading`` (``huggingface_hub``), so
``HF_HUB_OFFLINE=1`` works from the local cache; whatever is missing is reported at once in one
``ModelsUnavailableError`` naming every missing repository or file. Models load with
``trust_remote_code=False`` and ``use_safetensors=True``: no code from a repo runs, and a repo or
folder whose weights are only a pickle ``pytorch_model.bin`` is refused with a message saying so.
``revision`` pins each repo to its own commit when given the dict of
``scalp_models.hub_loading.read_pins`` (``--pins pins.json`` on the command line).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from scalp_core import SYMPTOMS, SymptomSpec
from scalp_models.demo import ensure_demo_models
from scalp_models.diagnosis import Diagnosis, SymptomResult, check_uncertain_below, is_uncertain
from scalp_models.hub_loading import (
    REQUIRED_FILES,
    ModelsUnavailableError,
    PinsError,
    Revision,
    UnavailableModel,
    download_model_snapshots,
    pickle_only_reason,
    read_pins,
)
from scalp_models.int8_serving import Int8Upgrade, start_int8
from scalp_models.onnx_backend import OnnxOptions, OnnxRunner
from scalp_models.shared_preprocessing import (
    ImageDecodeError,
    ImageInput,
    Normalization,
    ResizeKey,
    decode_image,
)
from scalp_models.symptom_model import (
    SymptomModel,
    load_pretrained,
    model_pixels,
    prepare_symptom_model,
    preprocess_id,
)

BACKENDS = ("int8", "onnx", "torch")
# "onnx" falls back to "torch" with a warning when ONNX Runtime or the export fails. "int8" (opt-in,
# ui.config; bench/infer.py says why) serves fp32 ONNX at once and swaps in each model's checked int8 copy when it is
# ready (built in a background thread the first time); a copy failing its check keeps fp32, logged.
DEFAULT_BACKEND = "onnx"

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- the models


class ScalpDiagnoser:
    """Six symptom classifiers, one ``diagnose`` call per image (or batch of images)."""

    def __init__(
        self,
        models: Mapping[str, tuple[torch.nn.Module, Any]],
        *,
        uncertain_below: float | None = None,
        num_threads: int | None = None,
        backend: str = DEFAULT_BACKEND,
        source: str = "<in memory>",
        int8_margin: float | None = None,
    ):
        """``models`` maps every symptom key to ``(model, image_processor)``.

        ``uncertain_below=None`` (default): each model's own threshold (``config.scalp``); a number
        overrides them all.

        ``backend="onnx"`` (default) exports each model once to ONNX (cached, see
        ``scalp_models.onnx_backend``) and runs the models concurrently with ONNX Runtime; if
        ONNX Runtime is missing or an export fails it logs a warning and uses ``"torch"``.
        ``backend="int8"`` does the same, then swaps in each model's int8 copy (``scalp_models.quantize``)
        from a background thread once it is built and checked against fp32 (:meth:`wait_int8`); an int8
        answer whose top two probabilities are closer than its model's re-check margin is recomputed on
        the fp32 model, which stays loaded for that. Each margin is measured when the copy is checked
        (``scalp_models.int8_serving``; :attr:`int8_margins`); ``int8_margin`` sets one for all (0: never).
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if uncertain_below is not None:
            uncertain_below = check_uncertain_below(uncertain_below, "uncertain_below")
        missing = [UnavailableModel(f"model for {spec.key}") for spec in SYMPTOMS if spec.key not in models]
        if missing:
            raise ModelsUnavailableError(source, missing)
        self.source = source
        self.uncertain_below = uncertain_below  # the override, or None
        self.num_threads = num_threads or min(4, os.cpu_count() or 1)
        torch.set_num_threads(self.num_threads)
        self._models = [prepare_symptom_model(spec, *models[spec.key]) for spec in SYMPTOMS]
        self._onnx = self._start_onnx() if backend in ("int8", "onnx") else None
        self._backend = backend if self._onnx is not None or backend == "torch" else "torch"
        self._int8: Int8Upgrade | None = None
        if self._backend == "int8":
            self._int8 = start_int8(self._onnx, {key: self.preprocessor(key) for key in self._onnx.paths},
                                    int8_margin, {entry.spec.key: entry.temperature for entry in self._models})

    @property
    def backend(self) -> str:
        """What serves now: ``"int8"`` once every exported model runs its checked int8 copy (see
        :meth:`wait_int8`), ``"onnx"`` (fp32 ONNX Runtime) or ``"torch"``."""
        if self._backend == "int8" and set(self._onnx.precision.values()) != {"int8"}:
            return "onnx"
        return self._backend

    def wait_int8(self, timeout: float | None = None) -> bool:
        """Wait for the int8 copies (built once, then cached); True when every model now serves int8."""
        if self._int8 is None:
            return False
        self._int8.wait(timeout)
        return self.backend == "int8"

    @property
    def precisions(self) -> dict[str, str]:
        """Symptom key → ``"int8"``, ``"fp32"`` (ONNX) or ``"torch"``."""
        serving = self._onnx.precision if self._onnx is not None else {}
        return {entry.spec.key: serving.get(entry.spec.key, "torch") for entry in self._models}

    @property
    def int8_rechecks(self) -> dict[str, tuple[int, int]]:
        """Symptom key → (int8 answers recomputed on fp32 because they were near a class boundary, int8
        answers given) since start; empty unless int8 serves."""
        return self._int8.rechecks if self._int8 is not None else {}

    @property
    def int8_margins(self) -> dict[str, float]:
        """Symptom key → the top-two probability gap below which its int8 answers are re-checked on fp32
        (the largest shift its check photos showed, or ``int8_margin``); empty unless int8 serves."""
        return dict(self._int8.margins) if self._int8 is not None else {}

    @property
    def int8_shadows(self) -> dict[str, tuple[int, float]]:
        """Symptom key → (int8 answers beyond the margin recomputed on fp32 at random to watch the copy,
        the largest shift between two classes they found); a shift beyond the margin widens it."""
        return self._int8.shadows if self._int8 is not None else {}

    @property
    def int8_errors(self) -> dict[str, str]:
        """Symptom key → why it serves fp32 although int8 was asked for (logged as a warning too)."""
        return dict(self._int8.errors) if self._int8 is not None else {}

    def preprocessor(self, key: str):
        """``(preprocess, preprocess_id)``: decoded photos → this model's float32 input, as served."""
        entry = next(e for e in self._models if e.spec.key == key)

        def preprocess(images) -> np.ndarray:
            return model_pixels(entry, list(images), {}, {}).numpy()

        return preprocess, preprocess_id(entry)

    def _start_onnx(self):
        """An ``OnnxRunner`` for the models whose preprocessing we share, or None (→ torch)."""
        try:
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

    @property
    def thresholds(self) -> dict[str, float]:
        """Symptom key → the ``uncertain_below`` its answers are judged by (the override where given)."""
        return {entry.spec.key: self._threshold(entry) for entry in self._models}

    def _threshold(self, entry: SymptomModel) -> float:
        return entry.uncertain_below if self.uncertain_below is None else self.uncertain_below

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def from_source(
        cls,
        source: str | os.PathLike,
        *,
        revision: Revision = None,
        uncertain_below: float | None = None,
        num_threads: int | None = None,
        backend: str = DEFAULT_BACKEND,
        int8_margin: float | None = None,
    ) -> ScalpDiagnoser:
        """Load from a Hub namespace, a local folder of six ``<key>/`` folders, or ``"demo"``.

        A Hub namespace ``NS`` means the repos ``NS/scalp-<suffix>`` (``SymptomSpec.repo_name``);
        ``revision`` is one branch/tag/commit for all six or ``{symptom key or repo id: commit}``.
        """
        kwargs = {"uncertain_below": uncertain_below, "num_threads": num_threads, "backend": backend,
                  "int8_margin": int8_margin}
        if str(source) == "demo":
            return cls.from_folder(ensure_demo_models(), **kwargs)
        path = Path(source).expanduser()
        if path.is_dir():
            return cls.from_folder(path, **kwargs)
        text = str(source)
        if os.sep in text.rstrip(os.sep) or text.startswith((".", "~")) or "/" in text:
            raise ModelsUnavailableError(
                text,
                [UnavailableModel(f"folder {path}", "it does not exist")],
                "Pass a folder holding six <symptom key>/ model folders, a Hub namespace such as 'me', "
                "or 'demo'.",
            )
        try:
            return cls.from_hub(text, revision=revision, **kwargs)
        except ModelsUnavailableError as err:
            note = (
                f"(No local folder {path} exists, so {text!r} was read as a Hub namespace; "
                "a local folder of six <symptom key>/ model folders, or 'demo', works too.)"
            )
            raise ModelsUnavailableError(text, err.unavailable, f"{err.hint}\n{note}") from None

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, **kwargs) -> ScalpDiagnoser:
        folder = Path(folder)
        missing = []
        for spec in SYMPTOMS:
            model_dir = folder / spec.key
            if not model_dir.is_dir():
                missing.append(UnavailableModel(f"{model_dir}/", f"model folder for {spec.key} {spec.ko}"))
                continue
            files = tuple(name for name in REQUIRED_FILES if not (model_dir / name).is_file())
            pickled = "model.safetensors" in files and pickle_only_reason(os.listdir(model_dir))
            if pickled:
                missing.append(UnavailableModel(str(model_dir), pickled))
            elif files:
                missing.append(UnavailableModel(str(model_dir), files=files))
        if missing:
            raise ModelsUnavailableError(
                str(folder),
                missing,
                "Train them with `python -m scalp_models train ...` or use source='demo'.",
            )
        loaded = {spec.key: load_pretrained(folder / spec.key) for spec in SYMPTOMS}
        return cls(loaded, source=str(folder), **kwargs)

    @classmethod
    def from_hub(cls, namespace: str, *, revision: Revision = None, **kwargs) -> ScalpDiagnoser:
        """The repos ``NS/scalp-<suffix>`` via ``scalp_models.hub_loading`` (the local Hub cache when
        offline or when the Hub does not answer)."""
        folders = download_model_snapshots(namespace, revision)
        loaded = {key: load_pretrained(folder) for key, folder in folders.items()}
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
            then = self._int8.recheck if self._int8 is not None else None  # int8 answers near a boundary
            futures = []
            for group in self._onnx.groups:
                pixels = {k: model_pixels(by_key[k], images, resized, normalised).numpy() for k in group}
                futures.append(self._onnx.submit(group, pixels, then))
            for future in futures:
                logits.update({k: torch.from_numpy(v) for k, v in future.result().items()})
        out = {}
        for entry in self._models:
            key = entry.spec.key
            if key not in logits:
                logits[key] = entry.model(pixel_values=model_pixels(entry, images, resized, normalised)).logits
            out[key] = _probabilities(logits[key], entry.temperature)
        return out

    def _diagnosis(self, index: int, probabilities: dict[str, np.ndarray]) -> Diagnosis:
        results = []
        for entry in self._models:
            probs = probabilities[entry.spec.key][index]
            predicted = int(np.argmax(probs))
            confidence = float(probs[predicted])
            threshold = self._threshold(entry)
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
                    uncertain=is_uncertain(confidence, threshold),
                    uncertain_below=threshold,
                )
            )
        return Diagnosis(results=tuple(results))

    @property
    def specs(self) -> tuple[SymptomSpec, ...]:
        return tuple(entry.spec for entry in self._models)

    def model_for(self, key: str) -> tuple[torch.nn.Module, Any]:
        for entry in self._models:
            if entry.spec.key == key:
                return entry.model, entry.processor
        raise KeyError(key)


def _probabilities(logits: torch.Tensor, temperature: float) -> np.ndarray:
    scores = logits.double()
    if temperature != 1.0:
        scores = scores / temperature
    return torch.softmax(scores, dim=-1).numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Diagnose scalp photos with the six symptom models.")
    parser.add_argument("images", nargs="*", help="photo files (JPEG/PNG)")
    parser.add_argument("--source", default="demo", help="Hub namespace, local models folder, or 'demo'")
    pin = parser.add_mutually_exclusive_group()
    pin.add_argument("--revision", help="Hub revision (branch, tag or commit) for all six")
    pin.add_argument("--pins", type=Path,
                     help="JSON {repo id: commit} from `python -m hub_upload models --pins`")
    parser.add_argument("--uncertain-below", type=float, default=None,
                        help="flag every symptom as uncertain when its top probability is below this "
                             "(default: each model's own threshold, config.scalp.uncertain_below)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: min(4, CPUs))")
    parser.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                        help="onnx (ONNX Runtime fp32, exported once and cached), int8 (its quantized copy, "
                             "built once and checked against fp32) or torch")
    parser.add_argument("--export-onnx", action="store_true",
                        help="export (or find) the six models' ONNX files, print where they are, and stop")
    args = parser.parse_args(argv)
    if not args.images and not args.export_onnx:
        parser.error("give one or more photo files, or --export-onnx")
    if args.export_onnx:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        revision = read_pins(args.pins, args.source) if args.pins else args.revision
        diagnoser = ScalpDiagnoser.from_source(
            args.source,
            revision=revision,
            uncertain_below=args.uncertain_below,
            num_threads=args.threads,
            backend="onnx" if args.export_onnx else args.backend,
        )
        if args.export_onnx:
            return _print_onnx_paths(diagnoser)
        if args.backend == "int8":
            diagnoser.wait_int8()  # a one-off run should answer as int8 serving does
        results = diagnoser.diagnose_batch(args.images)
    except (ModelsUnavailableError, ImageDecodeError, PinsError) as err:
        print(err, file=sys.stderr)
        return 1
    payload = {str(path): diagnosis.to_dict() for path, diagnosis in zip(args.images, results)}
    print(json.dumps(payload, ensure_ascii=False, indent=2))
    return 0


def _print_onnx_paths(diagnoser: ScalpDiagnoser) -> int:
    if diagnoser.backend != "onnx":
        print("ONNX export failed; see the warning above", flush=True)
        return 1
    for key, path in diagnoser.onnx_paths.items():
        print(f"{key}\t{path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
