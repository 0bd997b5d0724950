"""The upload photo check the app runs before a diagnosis (the seed's two-stage flow).

Stage 1 asks "is this a scalp close-up at all?" (``photo_check.category``); a face,
a room or a product photo gets ``verdict="not_scalp"`` with a message saying what to
upload instead. Stage 2 asks "is it usable?" (``photo_check.quality``); a blurred,
too dark, too bright, colour-cast or too small photo gets ``verdict="retake"`` with
the reasons and the upload guide's tips in Korean and English. The app may still run
the diagnosis after a warning; it should then mark it ``low_confidence``.

    >>> from photo_check import check_photo
    >>> result = check_photo(PIL.Image.open("scalp.jpg"))
    >>> result.verdict, result.reasons, result.messages_ko

    python -m photo_check check IMAGE

The fitted check ships with the code (``photo_check/fitted/photo_check.json``, or the file
named by ``$SCALP_PHOTO_CHECK``); :func:`load_checker` reads it and never fits, so an app
installed from ``requirements.txt`` alone has the full check at once. A file it cannot use
raises :class:`PhotoCheckUnavailable`, which says why and how to refit.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from photo_check.category import LITE0_DIM, CategoryModel, category_features, stats_copy
from photo_check.fit import (
    FITTED_FILE_NAME,
    FitConfig,
    fit,
    fitted_path,
    fitted_problems,
    load_rules,
    save_fitted,
    version_problem,
)
from photo_check.quality import cast_distance, quality_metrics, retake_reasons, working_copy
from scalp_core.images import to_rgb

VERDICTS = ("ok", "retake", "not_scalp")


@dataclass
class PhotoCheck:
    """The result of checking one upload."""

    is_scalp: bool
    scalp_score: float
    usable: bool
    reasons: list[str]
    messages_ko: list[str]
    messages_en: list[str]
    verdict: str
    metrics: dict = field(default_factory=dict)

    @property
    def low_confidence(self) -> bool:
        """A diagnosis run on this photo anyway should be marked low-confidence."""
        return self.verdict != "ok"

    def to_dict(self) -> dict:
        return {**asdict(self), "low_confidence": self.low_confidence}


class PhotoChecker:
    """A fitted photo check (see ``photo_check.fit``) ready to grade images."""

    def __init__(self, fitted: dict, rules: dict | None = None):
        self.rules = rules or load_rules()
        problems = fitted_problems(fitted, self.rules)
        if problems:
            raise ValueError("this fitted photo check cannot be used: " + "; ".join(problems) + ". Refit it with "
                             "`python -m photo_check fit --out DIR`.")
        self.fitted = fitted
        self.category = CategoryModel.from_dict(fitted["category"])
        self.thresholds = fitted["thresholds"]
        self.cast_model = fitted["cast_model"]

    def check(self, image: Image.Image, lite0: np.ndarray | None = None,
              original_size: tuple[int, int] | None = None) -> PhotoCheck:
        """Grade one image (any PIL mode, any size). ``lite0``: its (1, 1280) Lite0 features when the
        caller already has them (the domain check computes the same ones), saving the forward.
        ``original_size``: the uploaded file's size when ``image`` is a shrunk copy of it (the app keeps 800
        px at most), so that "too small" judges the upload's resolution, not the copy's."""
        if not isinstance(image, Image.Image):
            raise TypeError(f"check_photo expects a PIL.Image.Image, got {type(image).__name__}; "
                            "open files with PIL.Image.open(path) first")
        if image.width < 1 or image.height < 1:
            raise ValueError("the image is empty (0 pixels)")
        rgb = to_rgb(image)
        metrics = quality_metrics(rgb, working_copy(rgb))
        if original_size is not None:
            metrics["min_side"] = float(min(original_size))
        if lite0 is not None and self.category.uses_lite0:
            stats = category_features([rgb], False, works=[stats_copy(rgb)])
            features = np.concatenate([stats, np.asarray(lite0, np.float64).reshape(1, LITE0_DIM)], axis=1)
        else:
            features = category_features([rgb], self.category.uses_lite0, works=[stats_copy(rgb)])
        score = float(self.category.score(features)[0])
        is_scalp = score >= self.category.threshold
        quality_reasons = retake_reasons(metrics, self.rules["reasons"], self.thresholds, self.cast_model)
        metrics["cast_distance"] = cast_distance(metrics, self.cast_model)
        if not is_scalp:
            verdict, reasons = "not_scalp", ["not_scalp"]
            ko, en = [self.rules["not_scalp"]["ko"]], [self.rules["not_scalp"]["en"]]
        elif quality_reasons:
            verdict, reasons = "retake", quality_reasons
            ko = [self.rules["reasons"][r]["ko"] for r in reasons]
            en = [self.rules["reasons"][r]["en"] for r in reasons]
        else:
            verdict, reasons = "ok", []
            ko, en = [self.rules["ok"]["ko"]], [self.rules["ok"]["en"]]
        metrics["quality_reasons"] = quality_reasons  # what stage 2 would say even when stage 1 rejects
        return PhotoCheck(is_scalp=is_scalp, scalp_score=score, usable=not quality_reasons and is_scalp,
                          reasons=reasons, messages_ko=ko, messages_en=en, verdict=verdict, metrics=metrics)

    __call__ = check


PHOTO_CHECK_ENV = "SCALP_PHOTO_CHECK"
SHIPPED_FITTED = Path(__file__).resolve().parent / "fitted" / FITTED_FILE_NAME
UNAVAILABLE_REASONS = ("missing", "corrupt", "stale", "lite0_unavailable")


class PhotoCheckUnavailable(RuntimeError):
    """The fitted photo check cannot be used here, and the app must say so instead of skipping it.

    ``reason`` is one of :data:`UNAVAILABLE_REASONS`; ``detail`` says exactly what is wrong (English,
    no local path); ``message_ko``/``message_en`` (from ``messages.yaml``) say it to a person with
    the fix, and ``str(err)`` is both. ``path`` is the file that was tried (for logs only).
    """

    def __init__(self, reason: str, detail: str, path: Path | None = None):
        if reason not in UNAVAILABLE_REASONS:
            raise ValueError(f"reason must be one of {UNAVAILABLE_REASONS}, got {reason!r}")
        self.reason, self.detail, self.path = reason, detail, path
        texts = load_rules()["unavailable"]
        what = texts["reasons"][reason]
        fix = texts[what["fix"]]
        self.message_en = texts["en"].format(what=f"{what['en']} ({detail})", fix=fix["en"])
        self.message_ko = texts["ko"].format(what=what["ko"], fix=fix["ko"])
        super().__init__(f"{self.message_en} / {self.message_ko}")


_cache: dict[str, PhotoChecker] = {}
_lock = threading.Lock()


def read_fitted(path: Path) -> dict:
    """The fitted file at ``path`` when this code can use it; else :class:`PhotoCheckUnavailable`
    with reason ``missing``, ``corrupt`` or ``stale``."""
    try:
        fitted = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PhotoCheckUnavailable("missing", "there is no such file", path) from None
    except OSError as err:  # a folder, no permission...: its strerror names no path
        raise PhotoCheckUnavailable("corrupt", f"it cannot be read ({err.strerror or type(err).__name__})",
                                    path) from err
    except ValueError as err:  # truncated, not JSON, not UTF-8
        raise PhotoCheckUnavailable("corrupt", f"it is not valid JSON ({type(err).__name__}: {err})", path) from err
    problems = fitted_problems(fitted)
    if problems:
        reason = "stale" if isinstance(fitted, dict) and version_problem(fitted) else "corrupt"
        raise PhotoCheckUnavailable(reason, "; ".join(problems), path)
    return fitted


def require_lite0_features(path: Path | None = None) -> None:
    """Load the Lite0 feature extractor and run it once; :class:`PhotoCheckUnavailable` if it cannot."""
    try:
        from scalp_models.lite0_features import lite0_features  # heavy (torch, transformers)

        features = lite0_features().extract([Image.new("RGB", (64, 64), (128, 100, 90))])
        if features.shape != (1, LITE0_DIM) or not np.isfinite(features).all():
            raise ValueError(f"the extractor gave {features.shape} features, expected (1, {LITE0_DIM}) finite")
    except Exception as err:  # noqa: BLE001 - missing weights packages, a failed conversion...: all mean "cannot"
        # An ImportError says which package is missing; other messages may hold local cache paths.
        what = f"{type(err).__name__}: {err}" if isinstance(err, (ImportError, ValueError)) else type(err).__name__
        raise PhotoCheckUnavailable("lite0_unavailable", what, path) from err


def _shipped_target() -> Path:
    env = os.environ.get(PHOTO_CHECK_ENV)
    return fitted_path(env) if env else SHIPPED_FITTED


def load_checker(path: str | Path | None = None, config: FitConfig | None = None) -> PhotoChecker:
    """The fitted photo check, cached per file.

    ``path=None`` (the app): the file named by ``$SCALP_PHOTO_CHECK`` (a ``.json`` file or its
    folder), else the one shipped with the code, ``photo_check/fitted/photo_check.json``. It is
    never fitted here: a file that cannot be used (missing, corrupt, other versions, Lite0
    features that cannot be computed) raises :class:`PhotoCheckUnavailable`.

    ``path`` given (a developer's folder or ``.json`` file): when no usable file is there it
    is fitted now with ``config`` (default :class:`FitConfig`, about a minute, needs
    scikit-image) and written there, replacing a stale or corrupt one with a warning.
    """
    explicit = path is not None
    target = fitted_path(path) if explicit else _shipped_target()
    key = str(target.resolve())
    with _lock:
        if key in _cache:
            return _cache[key]
        try:
            fitted = read_fitted(target)
        except PhotoCheckUnavailable as err:
            if not explicit:
                raise
            if err.reason != "missing":
                warnings.warn(f"the fitted photo check {target} is stale or corrupt ({err.detail}); "
                              "refitting it now (about a minute)", RuntimeWarning, stacklevel=2)
            fitted = fit(config or FitConfig())
            try:
                save_fitted(fitted, target)
            except OSError as write_err:
                warnings.warn(f"cannot write the fitted photo check to {target} ({write_err}); "
                              "using it from memory", RuntimeWarning, stacklevel=2)
        if fitted["category"]["uses_lite0"]:
            require_lite0_features(target)
        checker = PhotoChecker(fitted)
        _cache[key] = checker
        return checker


def check_photo(image: Image.Image, checker: PhotoChecker | None = None) -> PhotoCheck:
    """Check one upload with ``checker`` (default: :func:`load_checker`)."""
    return (checker or load_checker()).check(image)


def check_file(path: str | Path, checker: PhotoChecker | None = None) -> PhotoCheck:
    """Open ``path`` and check it; a clear error when it is not an image."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such image file: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            image = im.copy()
    except Exception as err:  # noqa: BLE001 - PIL raises several types for non-images
        raise ValueError(f"{path} is not an image PIL can read ({err}); upload a JPEG or PNG photo") from err
    return check_photo(image, checker)
