"""Six small demo models trained on synthetic scalp images, so the app works with no download.

Each demo model is the real ImageNet-pretrained EfficientNet-Lite0 backbone (``create_model(spec,
"lite0")``, offline from PyPI) with only its classifier head fitted, on frozen pooled features
of images drawn by :func:`synthetic.render.render_scalp` (in memory, deterministic seeds).
The head is a multinomial logistic regression (scikit-learn, L-BFGS) on features scaled by their
standard deviation floored at the median one (:func:`fit_head`), whose weights are copied into the
classifier; a temperature is then fitted on a held-out generated split and folded in.
Inputs are reduced to :data:`DEMO_INPUT_SIZE` px for speed; this is recorded in ``config.scalp``.
Each folder holds what a trained model folder holds (``eval_report.json``, ``confusion_matrix.png``,
``training_config.json``, and the set's domain check ``novelty.json`` of :mod:`scalp_models.novelty`,
fitted on the six models' generated training pictures: real photos come out as unlike them); its
model card is rendered by ``hub_upload`` like every other.

THESE MODELS HAVE NEVER SEEN A REAL SCALP PHOTO. They show the app working; they are not for
diagnosis.

    python -m scalp_models demo --out demo-models          # build into a folder
    python -c "from scalp_models.demo import ensure_demo_models; print(ensure_demo_models())"

``ensure_demo_models()`` caches the result in ``$SCALP_CACHE/demo-models`` (default
``~/.cache/scalp-care/demo-models``) with a stamp file; a stale or partial cache is rebuilt.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from scalp_core.cli import help_field
from scalp_core.isolated import run_isolated
from scalp_core.paths import cache_dir
from scalp_core.symptoms import SYMPTOMS, SymptomSpec, class_names
from scalp_models.calibration import classifier_layer, fit_temperature, fold_temperature
from scalp_models.data import to_model_input
from scalp_models.evaluate import plot_confusion_matrix
from scalp_models.hub_loading import NOVELTY_FILE
from scalp_models.lite0_features import Lite0Features, PooledFeatures
from scalp_models.metrics import classification_metrics
from scalp_models.modeling import create_model, fold_grayscale
from scalp_models.novelty import (
    NoveltyFeatures,
    NoveltyUnavailableError,
    fit_novelty,
    novelty_features,
    read_novelty,
    write_novelty,
)
from scalp_models.onnx_backend import check_export, torch_to_onnx
from scalp_models.onnx_graph import INPUT_NAME, create_session
from scalp_models.processing import create_image_processor, pixel_values
from synthetic.examples import render_symptom_examples

log = logging.getLogger(__name__)

# 2: a model folder holds confusion_matrix.png and no README.md (hub_upload renders every card),
# so caches built by version 1 are rebuilt.
# 3: heads fitted on floored feature scales (``scale_floor``), so caches of steep heads are rebuilt.
DEMO_VERSION = "3"
DEMO_INPUT_SIZE = 224
STAMP_FILE = "demo_stamp.json"
NOTICE = (
    "Demo model trained only on synthetic (computer-generated) scalp images. "
    "Not trained on real photos; not for diagnosis; not a medical device."
)


@dataclass(frozen=True)
class DemoConfig:
    """How the demo models are built; its hash goes into the cache stamp."""

    base: str = help_field("Backbone: 'lite0' (pretrained, frozen) or 'tiny' (random, frozen; tests only).", default="lite0")
    input_size: int = help_field("Square model input size of every demo model.", default=DEMO_INPUT_SIZE)
    render_size: tuple[int, int] = help_field("Size (w, h) the synthetic photos are drawn at.", default=(320, 240))
    n_train: int = help_field("Generated training images per symptom and class.", default=40)
    n_calib: int = help_field("Generated calibration images per symptom and class.", default=12)
    n_test: int = help_field("Generated test images per symptom and class.", default=12)
    label_scheme: int = help_field("Label scheme (3 or 4).", default=3)
    seed: int = help_field("Seed of every random draw.", default=1234)
    c: float = help_field("Inverse L2 strength of the logistic-regression head.", default=1.0)
    scale_floor: float = help_field(
        "Each feature is scaled by max(its std, scale_floor × the median std) before the head is fitted; "
        "0 is plain standardisation.", default=1.0)

    def __post_init__(self):
        if self.base not in ("lite0", "tiny"):
            raise ValueError(f"demo base must be 'lite0' or 'tiny', got {self.base!r}")
        if self.input_size < 32:
            raise ValueError(f"input_size must be >= 32, got {self.input_size}")
        if min(self.n_train, self.n_calib, self.n_test) < 2:
            raise ValueError("n_train, n_calib and n_test must be >= 2 per class")
        if self.label_scheme not in (3, 4):
            raise ValueError(f"label_scheme must be 3 or 4, got {self.label_scheme}")
        if not 0 <= self.scale_floor <= 10:
            raise ValueError(f"scale_floor must be in [0, 10], got {self.scale_floor}")

    def fingerprint(self) -> str:
        payload = json.dumps({"version": DEMO_VERSION, **asdict(self)}, sort_keys=True, default=list)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- building


def _feature_runner(model, input_size: int):
    """A function ``pixels (N, 3, s, s) → features`` for the frozen backbone.

    ONNX Runtime runs this backbone about 3× faster than eager PyTorch on CPU (most of a demo
    build is this forward pass); the export is checked against PyTorch and any failure falls
    back to PyTorch, so the features are the same either way (max |Δ| ~1e-5).
    """
    pooled = PooledFeatures(model.base_model).eval()
    try:
        with tempfile.TemporaryDirectory(prefix="scalp-demo-onnx-") as tmp:
            path = Path(tmp) / "backbone.onnx"
            torch_to_onnx(pooled, input_size, path, output_name="features")
            session = create_session(path, threads=max(1, torch.get_num_threads()))
        check_export(pooled, path, input_size, session=session, name="the demo backbone")

        def run_onnx(pixels):
            return session.run(None, {INPUT_NAME: pixels.numpy()})[0]

        return run_onnx
    except Exception as err:  # exporter/runtime missing or failing: eager PyTorch gives the same features
        log.info("demo features through PyTorch (ONNX Runtime unavailable: %s)", err)

        def run_torch(pixels):
            with torch.inference_mode():
                return pooled(pixels).float().numpy()

        return run_torch


def _features(run, processor, images, spec, batch_size: int = 8) -> np.ndarray:
    """Pooled backbone features (what the classifier sees) of ``images``; ``run`` from ``_feature_runner``.

    8 at a time: ONNX Runtime's activation arena grows to the largest batch it ran and never shrinks;
    the build's peak RSS was 1.78 GB at 32 a batch and 1.16 GB at 8, in the same CPU time."""
    feats = []
    for start in range(0, len(images), batch_size):
        chunk = [to_model_input(im, spec) for im in images[start : start + batch_size]]
        feats.append(run(pixel_values(chunk, processor)).reshape(len(chunk), -1))
    return np.concatenate(feats)


DEMO_SPLITS = ("train", "calib", "test")


def fit_head(x: np.ndarray, y: np.ndarray, c: float, scale_floor: float) -> tuple[np.ndarray, np.ndarray]:
    """A logistic-regression head on pooled features ``x``: (weight (classes, features), bias).

    Each feature is centred and divided by ``max(std, scale_floor × median std)`` before the fit, and
    that scaling is folded back into the weights. Plain standardisation (``scale_floor=0``) blows up
    features that barely vary on the few generated pictures: their weights reached 1018 (after the
    temperature), and a JPEG re-save or int8 rounding of such a feature swung probabilities by up to
    0.79 and 0.99. Floored, the largest weight is about 1 and the generated test macro-F1 is as good
    or better.
    """
    # scikit-learn is heavy and only fits the heads: the app importing this module for a fresh
    # cache never loads it.
    from sklearn.linear_model import LogisticRegression

    mean, std = x.mean(axis=0), x.std(axis=0)
    floor = scale_floor * float(np.median(std))
    scale = np.maximum(std, floor) if floor > 0 else np.where(std > 0, std, 1.0)
    head = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y)
    # Fold the scaling into the linear layer: w' = w / s, b' = b − Σ w·m / s.
    weight = head.coef_ / scale[None, :]
    bias = head.intercept_ - (head.coef_ * (mean / scale)[None, :]).sum(axis=1)
    return weight, bias


def render_demo_splits(spec: SymptomSpec, config: DemoConfig) -> dict[str, tuple[list[Image.Image], list[int]]]:
    """The generated (colour images, class labels) of one symptom's train, calib and test splits."""
    # One seed per (symptom, split) so symptoms and splits never share images.
    sym_index = [s.key for s in SYMPTOMS].index(spec.key)
    sizes = {"train": config.n_train, "calib": config.n_calib, "test": config.n_test}
    splits = {}
    for split_no, split in enumerate(DEMO_SPLITS):
        images, labels, _ = render_symptom_examples(
            spec, sizes[split], config.seed + 100 * sym_index + split_no, config.render_size, config.label_scheme,
            keep_colour=True,
        )
        splits[split] = (images, labels)
    return splits


def build_demo_model(spec: SymptomSpec, out_dir: Path, config: DemoConfig, splits: dict | None = None) -> dict:
    """Build, calibrate, evaluate and save one demo model; returns its test metrics.

    ``splits``: ``render_demo_splits(spec, config)`` when the caller has it already."""
    torch.manual_seed(config.seed)
    scheme = config.label_scheme
    names = list(class_names(scheme))
    model = create_model(spec, config.base, label_scheme=scheme, image_size=config.input_size)
    model.eval()
    if spec.grayscale:
        fold_grayscale(model)  # exact for gray inputs; makes colour inputs luminance-only
    processor = create_image_processor(spec, config.base, image_size=config.input_size)
    run = _feature_runner(model, config.input_size)
    splits = splits or render_demo_splits(spec, config)
    data = {
        split: (_features(run, processor, images, spec), np.asarray(labels))
        for split, (images, labels) in splits.items()
    }

    x_train, y_train = data["train"]
    weight, bias = fit_head(x_train, y_train, config.c, config.scale_floor)
    linear = classifier_layer(model)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight, dtype=linear.weight.dtype))
        linear.bias.copy_(torch.tensor(bias, dtype=linear.bias.dtype))

    def logits_of(x):
        return x @ weight.T + bias

    fit = fit_temperature(logits_of(data["calib"][0]), data["calib"][1])
    temperature = fold_temperature(model, fit.temperature)
    model.config.scalp = {
        **model.config.scalp,
        "synthetic_training_data": True,
        "notice": NOTICE,
        "demo_version": DEMO_VERSION,
        "demo_fingerprint": config.fingerprint(),
    }
    test_logits = logits_of(data["test"][0]) / temperature
    metrics = classification_metrics(
        test_logits, data["test"][1], names, train_labels=y_train, temperature=temperature, split="test"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    report = {
        "symptom": spec.key,
        "label_scheme": scheme,
        "class_names": names,
        "seed_accuracy_pct": spec.seed_accuracy_pct,
        "synthetic_training_data": True,
        "notice": NOTICE,
        "protocols": {"synthetic": metrics},
    }
    (out_dir / "eval_report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    (out_dir / "training_config.json").write_text(
        json.dumps({"demo_config": asdict(config), "calibration": fit.to_dict()}, ensure_ascii=False, indent=2, default=list),
        encoding="utf-8",
    )
    plot_confusion_matrix(
        metrics["confusion_matrix"], names, out_dir / "confusion_matrix.png",
        title=f"{spec.display_name} · synthetic · test",
    )
    return metrics


def build_demo_models(out: str | Path, config: DemoConfig = DemoConfig(), quiet: bool = False) -> dict:
    """Build all six demo models into ``out/<key>/``, each with the set's ``novelty.json``;
    returns per-key test metrics and timing."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    start, cpu_start = time.perf_counter(), time.process_time()
    # The domain check reads ImageNet Lite0 features whatever the demo's base, in a session of its
    # own with the build's threads (the app's shared extractor runs single photos on one thread).
    extractor = Lite0Features(threads=max(1, torch.get_num_threads()))
    novelty = {split: [] for split in DEMO_SPLITS}
    for spec in SYMPTOMS:
        t0 = time.perf_counter()
        splits = render_demo_splits(spec, config)
        metrics = build_demo_model(spec, out / spec.key, config, splits)
        results[spec.key] = {
            "macro_f1": metrics["macro_f1"],
            "accuracy": metrics["accuracy"],
            "majority_baseline_macro_f1": metrics["majority_baseline_macro_f1"],
            "seconds": round(time.perf_counter() - t0, 1),
        }
        if not quiet:
            print(f"{spec.key}: synthetic test macro-F1 {metrics['macro_f1']:.3f} "
                  f"(majority {metrics['majority_baseline_macro_f1']:.3f}) in {results[spec.key]['seconds']} s")
        for split, (images, _) in splits.items():
            novelty[split].append(novelty_features(images, extractor))
    # Fitted on all six models' generated training pictures, threshold on their calibration pictures.
    train, calib, test = (NoveltyFeatures.concatenate(novelty[split]) for split in DEMO_SPLITS)
    fit = fit_novelty(train, calib, test=test, synthetic_training_data=True, training_images=(
        f"the demo models' {len(train.lite0)} generated training pictures (synthetic.render at "
        f"{config.render_size[0]}×{config.render_size[1]}); held out: {len(calib.lite0)} generated "
        f"calibration pictures; rate measured on {len(test.lite0)} generated test pictures"))
    for spec in SYMPTOMS:
        write_novelty(out / spec.key, fit)
    stamp = {"version": DEMO_VERSION, "fingerprint": config.fingerprint(), "config": asdict(config),
             "results": results, "seconds": round(time.perf_counter() - start, 1),
             "novelty": {key: fit.about[key] for key in ("n_train", "n_test", "heldout_in_domain_rate")},
             # CPU seconds of this process (all threads): a contention-free figure on a busy machine.
             "cpu_seconds": round(time.process_time() - cpu_start, 1)}
    (out / STAMP_FILE).write_text(json.dumps(stamp, ensure_ascii=False, indent=2, default=list), encoding="utf-8")
    return stamp


def build_demo_models_from_json(out: str, config: dict) -> None:
    """:func:`build_demo_models` with JSON arguments, as :func:`ensure_demo_models`' child process runs it."""
    build_demo_models(out, DemoConfig(**{**config, "render_size": tuple(config["render_size"])}), quiet=True)


def default_cache_dir() -> Path:
    return cache_dir() / "demo-models"


def _is_fresh(folder: Path, config: DemoConfig) -> bool:
    try:
        stamp = json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    if stamp.get("fingerprint") != config.fingerprint():
        return False
    if not all((folder / s.key / "config.json").is_file() and (folder / s.key / "model.safetensors").is_file()
               for s in SYMPTOMS):
        return False
    try:  # a cache from before the domain check, or from another version of it, is rebuilt
        for spec in SYMPTOMS:
            read_novelty(folder / spec.key)
    except NoveltyUnavailableError:
        return False
    return True


def ensure_demo_models(cache_dir: str | Path | None = None, config: DemoConfig = DemoConfig()) -> Path:
    """The folder of the six cached demo models, built first if missing or stale."""
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    if _is_fresh(folder, config):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and swap in, so a crash or a concurrent reader never sees half a cache.
    tmp = Path(tempfile.mkdtemp(prefix=".demo-build-", dir=folder.parent))
    try:
        # In a child process: the build's ~1 GB of torch heap goes back to the system when it ends,
        # instead of staying in the app that serves next (see scalp_core.isolated).
        log.info("building the demo models in %s (once per cache; a few minutes)", folder)
        run_isolated(build_demo_models_from_json, {"out": str(tmp), "config": asdict(config)})
        if _is_fresh(folder, config):  # another process finished first
            return folder
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scalp_models demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="Output folder (default: the demo cache, built only if stale).")
    parser.add_argument("--base", choices=("lite0", "tiny"), default="lite0", help=DemoConfig.__dataclass_fields__["base"].metadata["help"])
    parser.add_argument("--force", action="store_true", help="Rebuild even when the folder is up to date.")
    args = parser.parse_args(argv)
    config = DemoConfig(base=args.base)
    start = time.perf_counter()
    if args.out is None:
        folder = default_cache_dir()
        if args.force and folder.exists():
            shutil.rmtree(folder)
        folder = ensure_demo_models(folder, config)
    else:
        folder = args.out
        if args.force or not _is_fresh(folder, config):
            build_demo_models(folder, config)
    stamp = json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
    print(f"demo models in {folder} (built in {stamp['seconds']} s wall, {stamp.get('cpu_seconds')} s CPU; "
          f"this run {time.perf_counter() - start:.1f} s)")
    for key, r in stamp["results"].items():
        print(f"  {key}: macro-F1 {r['macro_f1']:.3f} vs majority {r['majority_baseline_macro_f1']:.3f}")
    novelty = stamp["novelty"]
    print(f"  domain check ({NOVELTY_FILE} in each folder): {novelty['heldout_in_domain_rate']:.1%} of "
          f"{novelty['n_test']} held-out generated pictures in domain")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
