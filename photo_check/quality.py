"""Stage 2 of the upload photo check: is a scalp photo usable, or should it be retaken?

Each retake reason (blurred, too dark, too bright, colour cast, too small) is one
image metric compared with one threshold. The metrics are cheap numpy/scipy
statistics of a downscaled copy; the thresholds are *fitted* (see
:func:`fit_thresholds`) on good generated scalp photos versus controlled degradations
of them (:func:`degrade`), never guessed. The rule table (reason → metric, direction,
messages) lives in ``messages.yaml`` beside this file.

    >>> from photo_check.quality import quality_metrics
    >>> quality_metrics(image)          # {"min_side": 480, "sharpness": ..., ...}

Fitting and evaluation run through ``python -m photo_check fit`` and
``bench/photo_check_eval.py``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from scalp_core.images import to_rgb

# Metrics are measured on a copy whose longer side is at most this, so they do not
# depend on the camera's resolution (a 4000 px phone photo and a 640 px microscope
# frame of the same field should grade the same) and stay fast.
WORK_LONG_SIDE = 320

DEGRADATION_KINDS = ("blurred", "too_dark", "too_bright", "colour_cast", "too_small")

# Strong colour casts as per-channel (R, G, B) gains: what a wrong white balance or a
# coloured lamp does. Natural microscope white-balance drift is much smaller (see
# ``mild_variation``).
STRONG_CASTS: tuple[tuple[float, float, float], ...] = (
    (1.45, 0.95, 0.70),  # red/orange (the one that fakes 모낭사이홍반)
    (0.70, 0.95, 1.45),  # blue
    (0.80, 1.35, 0.80),  # green
    (1.30, 0.75, 1.30),  # magenta
    (1.30, 1.20, 0.55),  # yellow
    (0.65, 1.20, 1.30),  # cyan
)


def working_copy(image: Image.Image, long_side: int = WORK_LONG_SIDE) -> np.ndarray:
    """Float32 RGB array in [0, 1], downscaled (never upscaled) to ``long_side``."""
    rgb = to_rgb(image)
    scale = long_side / max(rgb.size)
    if scale < 1.0:
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.float32) * (1.0 / 255.0)


def quality_metrics(image: Image.Image, work: np.ndarray | None = None) -> dict[str, float]:
    """The raw per-image metrics the retake rules read (plain floats, JSON-ready).

    - ``min_side``: the shorter side in pixels of ``image`` (``PhotoChecker.check`` puts the upload's own
      there when the app passes the size the photo had before it was shrunk).
    - ``luma_mean``: mean Rec.601 luma, 0..255.
    - ``clipped_fraction``: share of pixels with luma ≥ 250 (blown highlights).
    - ``sharpness``: log10 of the fine-detail energy (image minus a σ=1 blur) over the
      coarser detail energy (image minus a σ=4 blur). Dividing by the coarse detail
      makes it independent of exposure and contrast; blur removes fine detail first.
    - ``log_rg``/``log_bg``: log(R/G) and log(B/G) of the mean colour of the mid-tones
      (no clipped highlights, no black). A white-balance error or a coloured lamp
      multiplies the channels, which is a pure shift in these coordinates.
    """
    if work is None:
        work = working_copy(image)
    luma = work @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    fine = luma - ndimage.gaussian_filter(luma, 1.0)
    coarse = luma - ndimage.gaussian_filter(luma, 4.0)
    sharpness = float(np.log10((fine.std() + 1e-5) / (coarse.std() + 1e-4)))
    flat = work.reshape(-1, 3)
    mid = (luma.ravel() > 0.08) & (luma.ravel() < 0.97)
    weights = (mid if mid.sum() >= 50 else np.ones_like(mid)).astype(np.float64)
    mean_rgb = (weights @ flat) / weights.sum()  # a product, not flat[mid].mean(0): 15x faster, float64 sums
    log_rg, log_bg = np.log((mean_rgb[[0, 2]] + 1e-3) / (mean_rgb[1] + 1e-3))
    return {
        "min_side": float(min(image.size)),
        "luma_mean": float(luma.mean() * 255.0),
        "clipped_fraction": float((luma >= 250 / 255).mean()),
        "sharpness": sharpness,
        "log_rg": float(log_rg),
        "log_bg": float(log_bg),
    }


def fit_cast_model(good: Sequence[Mapping[str, float]]) -> dict:
    """Centre and inverse covariance of good photos' (log R/G, log B/G)."""
    xy = np.array([[m["log_rg"], m["log_bg"]] for m in good], dtype=np.float64)
    cov = np.cov(xy.T) + np.eye(2) * 1e-6
    return {"centre": xy.mean(axis=0).tolist(), "inv_cov": np.linalg.inv(cov).tolist()}


def cast_distance(metrics: Mapping[str, float], cast_model: Mapping) -> float:
    """Mahalanobis distance of the mean colour from good scalp photos' colours.

    Scalp skin is naturally reddish/beige, or cool under a microscope's LED, so the
    distance is measured from the fitted spread of good photos, not from neutral grey.
    """
    v = np.array([metrics["log_rg"], metrics["log_bg"]]) - np.asarray(cast_model["centre"])
    return float(np.sqrt(max(v @ np.asarray(cast_model["inv_cov"]) @ v, 0.0)))


# ---------------------------------------------------------------- degradations


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def apply_gains(image: Image.Image, gains: Sequence[float]) -> Image.Image:
    """Multiply R, G, B by ``gains`` (a white-balance change or an exposure change)."""
    arr = np.asarray(to_rgb(image), dtype=np.float32) * np.asarray(gains, dtype=np.float32)
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), mode="RGB")


def mild_variation(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A still-usable variant: the drift between real microscopes, cameras and users.

    Exposure ×0.75–1.3, white balance (colour temperature σ 10 %, green–magenta tint
    σ 5 %: microscope LEDs are often cool, webcams warm), slight softness, JPEG
    compression and a rescale.
    """
    image = to_rgb(image)
    if rng.random() < 0.7:
        scale = float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
        size = (max(8, round(image.width * scale)), max(8, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR)
    exposure = float(np.exp(rng.uniform(np.log(0.75), np.log(1.3))))
    # White balance drifts mostly along the colour-temperature axis (bluish LED ↔ warm
    # lamp: R and B move in opposite directions), much less along the green–magenta tint.
    temperature = rng.normal(0.0, 0.10)
    tint = rng.normal(0.0, 0.05)
    log_gains = np.array([temperature, tint, -temperature]) + rng.normal(0.0, 0.03, 3)
    image = apply_gains(image, exposure * np.exp(log_gains - log_gains.mean()))
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.2, 0.8))))
    if rng.random() < 0.6:
        image = _jpeg(image, int(rng.integers(65, 96)))
    return image


def degrade(image: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    """A controlled degradation that should make the photo a retake, for ``kind``.

    ``blurred``: Gaussian blur σ 2.5–6 px (at 640×480); ``too_dark``: exposure ×0.3;
    ``too_bright``: exposure ×2.5; ``colour_cast``: one of :data:`STRONG_CASTS`;
    ``too_small``: downscaled to 120 px wide.
    """
    image = to_rgb(image)
    if kind == "blurred":
        radius = float(rng.uniform(2.5, 6.0)) * image.width / 640
        return image.filter(ImageFilter.GaussianBlur(radius))
    if kind == "too_dark":
        return apply_gains(image, (0.3, 0.3, 0.3))
    if kind == "too_bright":
        return apply_gains(image, (2.5, 2.5, 2.5))
    if kind == "colour_cast":
        gains = STRONG_CASTS[int(rng.integers(len(STRONG_CASTS)))]
        return apply_gains(image, gains)
    if kind == "too_small":
        height = max(1, round(image.height * 120 / image.width))
        return image.resize((120, height), Image.Resampling.BILINEAR)
    raise ValueError(f"unknown degradation {kind!r}; expected one of {DEGRADATION_KINDS}")


# ---------------------------------------------------------------- threshold fitting


def fit_threshold(good: np.ndarray, bad: np.ndarray, direction: str, min_precision: float = 0.9) -> dict:
    """The cut on one metric that best separates good photos from retakes.

    ``direction`` is ``"below"`` (retake when metric < threshold) or ``"above"``.
    Every midpoint between sorted values is a candidate; the one with the highest
    balanced accuracy among those whose retake precision is ≥ ``min_precision`` wins,
    and among equally good cuts the one in the middle of the widest gap (max margin).
    Returns the threshold plus its fitting-set recall, specificity and precision.
    """
    good = np.asarray(good, dtype=np.float64)
    bad = np.asarray(bad, dtype=np.float64)
    if good.size == 0 or bad.size == 0:
        raise ValueError("fit_threshold needs both good and degraded examples")
    if direction not in ("below", "above"):
        raise ValueError(f"direction must be 'below' or 'above', got {direction!r}")
    sign = 1.0 if direction == "above" else -1.0
    g, b = sign * good, sign * bad  # now "retake when value > cut"
    values = np.unique(np.concatenate([g, b]))
    cuts = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    tpr = (b[None, :] > cuts[:, None]).mean(axis=1)
    fpr = (g[None, :] > cuts[:, None]).mean(axis=1)
    n_bad_flag = tpr * b.size
    n_good_flag = fpr * g.size
    precision = np.where(n_bad_flag + n_good_flag > 0, n_bad_flag / np.maximum(n_bad_flag + n_good_flag, 1e-12), 1.0)
    balanced = (tpr + 1.0 - fpr) / 2.0
    score = np.where(precision >= min_precision, balanced, balanced - 1.0)
    best = np.flatnonzero(score >= score.max() - 1e-12)
    # Among equally good cuts take the one in the widest gap between observed values
    # (max margin); a cut outside all values (flag all / flag none) is the last resort.
    gaps = np.zeros(len(cuts))
    gaps[1:-1] = values[1:] - values[:-1]
    i = int(best[np.argmax(gaps[best])])
    cut = float(cuts[i])
    return {
        "threshold": sign * cut,
        "direction": direction,
        "fit_recall": float(tpr[i]),
        "fit_specificity": float(1.0 - fpr[i]),
        "fit_precision": float(precision[i]),
        "fit_balanced_accuracy": float(balanced[i]),
        "n_good": int(good.size),
        "n_bad": int(bad.size),
    }


def metric_value(metrics: Mapping[str, float], name: str, cast_model: Mapping | None = None) -> float:
    """One rule's metric; ``cast_distance`` is derived from the fitted colour model."""
    if name == "cast_distance":
        if cast_model is None:
            raise ValueError("cast_distance needs the fitted colour model (centre and inv_cov)")
        return cast_distance(metrics, cast_model)
    return float(metrics[name])


def retake_reasons(metrics: Mapping[str, float], rules: Mapping[str, Mapping], thresholds: Mapping[str, Mapping],
                   cast_model: Mapping | None = None) -> list[str]:
    """Reason codes whose fitted threshold the photo crosses, in the rule table's order.

    A too-small photo is judged on size alone: its other metrics, measured on a few
    dozen pixels, mean little.
    """
    reasons = []
    for reason, rule in rules.items():
        fitted = thresholds[reason]
        value = metric_value(metrics, rule["metric"], cast_model)
        crossed = value < fitted["threshold"] if fitted["direction"] == "below" else value > fitted["threshold"]
        if crossed:
            reasons.append(reason)
    if "too_small" in reasons:
        return ["too_small"]
    return reasons
