"""Stage 1 of the upload photo check: is this picture a scalp close-up at all?

A logistic regression (scikit-learn, stored as plain JSON coefficients) reads two
kinds of features:

- simple image statistics that describe a microscope scalp close-up whatever the
  renderer: colour moments in CIE Lab, saturation, edge density, local orientation
  coherence (hair shafts are long oriented strokes), thin dark strokes (black
  top-hat), flat-area share, luma entropy;
- the pooled 1280-d ImageNet features of the real pretrained EfficientNet-Lite0
  (``scalp_models.lite0_features``, through ONNX Runtime), which know what hair, skin,
  faces, rooms and products look like from real photos, so the decision does not
  rest on our renderer's look.

Positives are generated scalp close-ups (``synthetic.render``) under wide camera
augmentations (:func:`scalp_view`); negatives are package photos and procedural
scenes (``synthetic.scenes``). Fitting lives in ``photo_check.fit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from photo_check.quality import apply_gains
from scalp_core.images import to_rgb

STAT_NAMES = (
    "L_mean", "L_std", "a_mean", "a_std", "b_mean", "b_std", "chroma_mean",
    "sat_mean", "sat_std", "sat_p90",
    "edge_density", "grad_mean", "flat_fraction", "coherence_mean", "coherent_fraction",
    "tophat_mean", "stroke_fraction", "dark_fraction", "bright_fraction", "luma_entropy",
    "hue_spread",
)

LITE0_DIM = 1280  # pooled features of EfficientNet-Lite0 (scalp_models.lite0_features)


def _lab(rgb: np.ndarray) -> np.ndarray:
    c = np.clip(rgb.astype(np.float32), 0.0, 1.0)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], np.float32)
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883], np.float32)
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


STATS_LONG_SIDE = 160  # statistics at 160 px: hair strokes are then 1–3 px wide


def stats_copy(image: Image.Image) -> np.ndarray:
    """Float RGB in [0, 1] resized (up or down) so the longer side is :data:`STATS_LONG_SIDE`."""
    rgb = to_rgb(image)
    scale = STATS_LONG_SIDE / max(rgb.size)
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    return np.asarray(rgb.resize(size, Image.Resampling.BILINEAR), dtype=np.float32) * (1.0 / 255.0)


def image_statistics(work: np.ndarray) -> np.ndarray:
    """The :data:`STAT_NAMES` features of a :func:`stats_copy` (float RGB in [0, 1])."""
    lab = _lab(work).reshape(-1, 3)
    L, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    r, g, b_ = work[..., 0], work[..., 1], work[..., 2]  # channel by channel: max(axis=2) is ~25x slower
    mx, mn = np.maximum(np.maximum(r, g), b_), np.minimum(np.minimum(r, g), b_)
    sat = ((mx - mn) / np.maximum(mx, 1e-3)).ravel()
    luma = work @ np.array([0.299, 0.587, 0.114], np.float32)
    gy, gx = np.gradient(ndimage.gaussian_filter(luma, 0.7))
    grad = np.hypot(gx, gy) / (luma.std() + 0.02)  # contrast-normalised
    # Structure tensor coherence at a hair-sized scale: ~1 along a stroke, ~0 in texture.
    jxx = ndimage.gaussian_filter(gx * gx, 2.0)
    jyy = ndimage.gaussian_filter(gy * gy, 2.0)
    jxy = ndimage.gaussian_filter(gx * gy, 2.0)
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / (jxx + jyy + 1e-6)
    energetic = (jxx + jyy) > np.percentile(jxx + jyy, 50)
    tophat = ndimage.grey_closing(luma, size=(5, 5)) - luma  # thin dark strokes on a lighter ground
    hist, _ = np.histogram(luma, bins=32, range=(0.0, 1.0))
    p = hist / max(hist.sum(), 1)
    entropy = float(-(p[p > 0] * np.log2(p[p > 0])).sum())
    hue = np.arctan2(b, a)
    chroma = np.hypot(a, b)
    coloured = chroma > 8
    hue_spread = float(1.0 - np.hypot(np.cos(hue[coloured]).mean(), np.sin(hue[coloured]).mean())) if coloured.sum() > 10 else 0.0
    return np.array([
        L.mean(), L.std(), a.mean(), a.std(), b.mean(), b.std(), chroma.mean(),
        sat.mean(), sat.std(), np.percentile(sat, 90),
        (grad > 1.0).mean(), grad.mean(), (grad < 0.1).mean(),
        coherence[energetic].mean() if energetic.any() else 0.0, (coherence > 0.6).mean(),
        tophat.mean() / (luma.std() + 0.02), (tophat > 0.08).mean(), (luma < 0.15).mean(), (luma > 0.9).mean(), entropy,
        hue_spread,
    ], dtype=np.float64)


@dataclass
class CategoryModel:
    """Logistic regression on standardised features, as plain numbers (JSON-ready)."""

    feature_names: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float = 0.5
    uses_lite0: bool = False
    info: dict = field(default_factory=dict)

    def score(self, features: np.ndarray) -> np.ndarray:
        """P(scalp close-up) for rows of features."""
        z = (np.atleast_2d(features) - self.mean) / self.scale
        logit = z @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))

    def to_dict(self) -> dict:
        return {
            "feature_names": list(self.feature_names), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
            "coef": self.coef.tolist(), "intercept": float(self.intercept), "threshold": float(self.threshold),
            "uses_lite0": bool(self.uses_lite0), "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict) -> CategoryModel:
        return cls(list(d["feature_names"]), np.asarray(d["mean"], float), np.asarray(d["scale"], float),
                   np.asarray(d["coef"], float), float(d["intercept"]), float(d.get("threshold", 0.5)),
                   bool(d.get("uses_lite0", False)), dict(d.get("info", {})))


def feature_names(uses_lite0: bool) -> list[str]:
    return list(STAT_NAMES) + ([f"lite0_{i}" for i in range(LITE0_DIM)] if uses_lite0 else [])


def category_features(images: list[Image.Image], uses_lite0: bool, works: list[np.ndarray] | None = None) -> np.ndarray:
    """Feature rows for ``images`` in :func:`feature_names` order."""
    if works is None:
        works = [stats_copy(im) for im in images]
    stats = np.stack([image_statistics(w) for w in works])
    if not uses_lite0:
        return stats
    from scalp_models.lite0_features import lite0_features  # heavy (torch): only a Lite0 check loads it

    extractor = lite0_features()
    # One image per call: on CPU a batch is no faster per image, and single calls keep memory flat.
    deep = np.concatenate([extractor.extract([im]) for im in images])
    return np.concatenate([stats, deep], axis=1)


def scalp_view(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A generated scalp close-up as different devices and hands would shoot it.

    Wide on purpose, so stage 1 learns "scalp close-up" and not "our renderer":
    crops and zoom, rotation by 90°/flips, exposure ×0.45–1.9, white balance within
    about ±30 % (cool microscope LEDs to warm lamps), desaturation, blur up to σ 2,
    noise and JPEG. Quality problems are stage 2's business, not a reason to say
    "this is not a scalp".
    """
    image = to_rgb(image)
    w, h = image.size
    frac = float(rng.uniform(0.55, 1.0))
    cw, ch = int(w * frac), int(h * frac)
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    image = image.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    exposure = float(np.exp(rng.uniform(np.log(0.45), np.log(1.9))))
    wb = np.exp(rng.normal(0.0, 0.15, 3))
    image = apply_gains(image, exposure * wb / np.exp(np.log(wb).mean()))
    if rng.random() < 0.3:  # paler, less saturated skin
        grey = image.convert("L").convert("RGB")
        image = Image.blend(image, grey, float(rng.uniform(0.2, 0.6)))
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 2.0))))
    if rng.random() < 0.4:
        arr = np.asarray(image, np.int16) + rng.normal(0, rng.uniform(2, 8), (h, w, 1)).astype(np.int16)
        image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB")
    return image
