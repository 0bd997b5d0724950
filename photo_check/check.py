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
"""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

from photo_check.category import CategoryModel, Lite0Features, category_features, stats_copy
from photo_check.fit import (
    FitConfig,
    default_cache_dir,
    fit,
    fitted_path,
    fitted_problems,
    load_rules,
    save_fitted,
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
                             "`python -m photo_check fit --out DIR` (or delete the file: load_checker() refits it)")
        self.fitted = fitted
        self.category = CategoryModel.from_dict(fitted["category"])
        self.thresholds = fitted["thresholds"]
        self.cast_model = fitted["cast_model"]

    def check(self, image: Image.Image) -> PhotoCheck:
        """Grade one image (any PIL mode, any size)."""
        if not isinstance(image, Image.Image):
            raise TypeError(f"check_photo expects a PIL.Image.Image, got {type(image).__name__}; "
                            "open files with PIL.Image.open(path) first")
        if image.width < 1 or image.height < 1:
            raise ValueError("the image is empty (0 pixels)")
        rgb = to_rgb(image)
        metrics = quality_metrics(rgb, working_copy(rgb))
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


_cache: dict[str, PhotoChecker] = {}
_lock = threading.Lock()


def _read(path: Path) -> dict | None:
    """The fitted file at ``path`` when this code can use it; else None, with a warning saying why."""
    if not path.is_file():
        return None
    try:
        fitted = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # unreadable, truncated or not JSON
        problems = [f"it cannot be read as JSON ({type(err).__name__}: {err})"]
    else:
        problems = fitted_problems(fitted)
    if not problems:
        return fitted
    warnings.warn(f"the fitted photo check {path} is stale or corrupt ({'; '.join(problems)}); "
                  "refitting it now (about a minute)", RuntimeWarning, stacklevel=3)
    return None


def load_checker(path: str | Path | None = None, config: FitConfig | None = None) -> PhotoChecker:
    """The fitted photo check at ``path`` (a ``.json`` file or its folder), cached per path.

    ``path=None`` means ``$SCALP_CACHE/photo_check`` (or ``~/.cache/scalp-care/photo_check``).
    When no usable fitted file is there (absent, corrupt, an older format or fitted by
    other photo_check code: see ``photo_check.fit.fitted_problems``) it is fitted now
    (< 1 minute, deterministic) and written there, replacing a stale one; if that
    folder is read-only, into the default cache instead, and if that fails too the
    checker is kept in memory only.
    """
    target = fitted_path(path if path is not None else default_cache_dir())
    key = str(target.resolve())
    with _lock:
        if key in _cache:
            return _cache[key]
        fitted = _read(target)
        if fitted is not None and fitted["category"].get("uses_lite0") and not Lite0Features.available():
            warnings.warn(f"{target} uses EfficientNet-Lite0 features, which cannot be computed here "
                          f"({Lite0Features.unavailable_reason}); refitting on image statistics only",
                          RuntimeWarning, stacklevel=2)
            fitted = None
            target = default_cache_dir() / "photo_check_stats_only.json"
            fitted = _read(target)
            config = config or FitConfig(use_lite0="no")
        if fitted is None:
            fitted = fit(config or FitConfig())
            try:
                save_fitted(fitted, target)
            except OSError as err:
                try:
                    save_fitted(fitted, default_cache_dir())
                except OSError:
                    warnings.warn(f"cannot write the fitted photo check to {target} ({err}) nor to "
                                  f"{default_cache_dir()}; using it from memory (it is refitted next start)",
                                  RuntimeWarning, stacklevel=2)
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
