"""The app's back end without any UI: the models, the photo check, the catalog and the care guide.

The UI (``ui.events``, ``ui.render``) and the API (``ui.api``) reach the project's packages through
this module: ``scalp_models`` (``ScalpDiagnoser``), ``photo_check`` (the shipped, fitted check) and
``recommendation`` (catalog, ranking, care guide). Each of the three loads in the background
(``ui.resources.Resource``): importing ``app`` stays fast, the page shows "모델 준비 중" until the models
are ready, and a failed load is shown, remembered and retried with backoff::

    from ui.config import AppConfig
from ui.errors import public_error
    from ui.service import ScalpService
    service = ScalpService(AppConfig(models="demo"))
    service.start()                    # returns at once; loading runs in threads
    diagnosis, domain = service.diagnose_image(pil_image, timeout=180)   # Diagnosis, DomainCheck
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image

from recommendation.care_guide import CareGuideConfig, care_guide, fallback_guide
from recommendation.catalog import load_catalog
from recommendation.demo import demo_catalog
from recommendation.ranking import recommend
from scalp_core.recent import RecentByIdentity
from scalp_core.symptoms import SYMPTOMS
from scalp_models.diagnosis import Diagnosis
from scalp_models.hub_loading import download_model_snapshots, read_pins
from ui.config import AppConfig
from ui.errors import public_error
from ui.limits import RateLimiter
from ui.resources import Resource, Unavailable

log = logging.getLogger("scalp_app")

MODEL_WAIT_S = 170  # a request waits this long for the first-run demo model build
PHOTO_CHECK_WAIT_S = 60  # a diagnosis waits this long for the photo check to load (it takes seconds)
CATALOG_WAIT_S = 60
# What a product card and the /recommend API show of a recommended row.
PRODUCT_FIELDS = ("category", "rank", "product_name", "brand_name", "star", "review_count", "score", "types",
                  "matched_types", "picked_for", "matched_ingredients", "explanation_ko", "explanation_en", "flags_ko", "flags_en",
                  "product_link", "img_link")

# transformers' lazy modules are not safe to import from two threads at once (a concurrent
# `from transformers import EfficientNetConfig` failed with ImportError), so the loaders import the
# model code under one lock before they run side by side.
_MODEL_CODE_LOCK = threading.Lock()


def _import_model_code() -> None:
    with _MODEL_CODE_LOCK:  # torch and transformers: heavy, imported in the loader threads only
        import photo_check.check  # noqa: F401
        import scalp_models.diagnoser  # noqa: F401
        import scalp_models.novelty  # noqa: F401


@dataclass(frozen=True)
class DomainCheck:
    """Is the photo like the ones the models learned from (``scalp_models.novelty``)?

    ``in_domain`` is None when the model set carries no domain check (``reason`` says why)."""

    in_domain: bool | None
    score: float | None
    synthetic_training_data: bool
    reason: str | None = None

    def to_dict(self) -> dict:
        return {"in_domain": self.in_domain, "score": self.score,
                "synthetic_training_data": self.synthetic_training_data, "reason": self.reason}


def marked_uncertain(diagnosis):
    """``diagnosis`` with all six answers marked uncertain (the photo is unlike the training photos)."""
    return Diagnosis(tuple(replace(result, uncertain=True) for result in diagnosis))


class ModelsNotReady(RuntimeError):
    """The models are still loading (or failed to load); the message says which."""


class PhotoCheckUnavailable(RuntimeError):
    """The photo check is still loading or could not be loaded; the message says why."""


class ScalpService:
    """Holds the configuration, the lazily loaded models, photo check and catalog, and the guide."""

    def __init__(self, config: AppConfig):
        self.config = config
        self._models = Resource("the models", self._load_models)
        self._checker = Resource("the photo check", self._load_checker)
        self._catalog = Resource("the product catalog", self._load_catalog)
        self._synthetic = False
        self._novelty = None
        self._novelty_error: str | None = None
        self._lite0_recent = RecentByIdentity(8)  # decoded photo → its Lite0 features
        self.guide_limit = RateLimiter(per_client=config.openai_per_client_per_minute,
                                       overall=config.openai_per_minute)

    # ---- configuration -------------------------------------------------------------
    def reconfigure(self, config: AppConfig) -> None:
        """Swap the configuration before anything is loaded (``python app.py --models ...``)."""
        if self._models.status != "idle" and (config.models, config.models_revision) != (
                self.config.models, self.config.models_revision):
            raise RuntimeError("the models are already loading; reconfigure before start()")
        self.config = config
        self._catalog.reset()
        self.guide_limit = RateLimiter(per_client=config.openai_per_client_per_minute,
                                       overall=config.openai_per_minute)

    def start(self) -> None:
        """Start loading the models and the photo check in daemon threads (no-op when loaded or loading)."""
        self._models.start()
        self._checker.start()

    # ---- models ----------------------------------------------------------------------
    def _load_models(self):
        _import_model_code()
        from scalp_models.diagnoser import ScalpDiagnoser  # imported above, under the lock

        revision = self.models_revision()
        diagnoser = ScalpDiagnoser.from_source(self.config.models, revision=revision,
                                               backend=self.config.backend,
                                               num_threads=self.config.threads_per_diagnosis)
        self._synthetic = self.config.uses_demo_models or _trained_on_synthetic(diagnoser)
        from scalp_models.cache_files import stale_hint  # after the loads above marked their exports used

        if hint := stale_hint():
            log.info(hint)
        if self.config.backend == "int8":  # the photo and domain checks' Lite0 pass too, once checked
            self._start_lite0_int8()
        from scalp_models.novelty import NoveltyUnavailableError  # heavy (torch): loader thread only

        try:
            self._novelty, self._novelty_error = self._load_novelty(revision), None
        except NoveltyUnavailableError as exc:  # an older model set: said in every answer, not hidden
            self._novelty, self._novelty_error = None, public_error(str(exc))
            log.warning("no domain check for these models: %s", self._novelty_error)
        return diagnoser

    @staticmethod
    def _start_lite0_int8() -> None:
        from scalp_models.lite0_features import lite0_features  # heavy (torch): loader thread only

        try:
            lite0_features().start_int8()
        except Exception as exc:  # noqa: BLE001 - weights missing: the checks say so themselves when used
            log.warning("Lite0 features int8 not started (%s: %s)", type(exc).__name__, exc)

    def _load_novelty(self, revision):
        """The model set's domain check: ``novelty.json`` beside the models (demo, folder or Hub snapshots)."""
        from scalp_models.demo import ensure_demo_models  # heavy (torch): loader thread only
        from scalp_models.novelty import NoveltyScorer

        source = self.config.models
        if self.config.uses_demo_models:
            return NoveltyScorer.from_folder(ensure_demo_models())
        if Path(source).expanduser().is_dir():
            return NoveltyScorer.from_folder(Path(source).expanduser())
        return NoveltyScorer.from_model_folders(download_model_snapshots(source, revision))

    def domain_of(self, image: Image.Image) -> DomainCheck:
        """Whether ``image`` is like the photos the loaded models learned from (call after the models loaded)."""
        if self._novelty is None:
            return DomainCheck(None, None, self.uses_synthetic_models, self._novelty_error or "no domain check")
        result = self._novelty.score([image], lite0=self.lite0_of(image))[0]
        synthetic = self.uses_synthetic_models or self._novelty.synthetic_training_data
        return DomainCheck(bool(result.in_domain), round(float(result.score), 4), synthetic)

    def models_revision(self) -> str | dict | None:
        """The Hub revision of the six repos: one tag/commit, or the per-repo pins of a ``--pins`` JSON file."""
        revision = self.config.models_revision
        if revision and revision.endswith(".json"):
            return read_pins(Path(revision).expanduser(), namespace=self.config.models)  # PinsError: clear
        return revision

    @property
    def model_status(self) -> str:
        """idle | loading | ready | failed (a failed load is retried when asked after its backoff)."""
        return self._models.status

    @property
    def model_error(self) -> str | None:
        return self._models.error

    @property
    def model_retry_in_s(self) -> float | None:
        return self._models.retry_in_s

    @property
    def uses_synthetic_models(self) -> bool:
        return self.config.uses_demo_models or self._synthetic

    @property
    def load_seconds(self) -> float | None:
        return self._models.load_seconds

    def diagnoser(self, timeout: float | None = None):
        """The loaded ``ScalpDiagnoser``; waits up to ``timeout`` seconds, else raises ModelsNotReady."""
        try:
            return self._models.get(timeout)
        except Unavailable as exc:
            raise ModelsNotReady(str(exc)) from None

    def symptom_models(self, timeout: float | None = None) -> dict:
        """``{symptom key: (PyTorch model, image processor)}`` of the loaded models, for the "Why?"
        heatmaps (``scalp_models.explain``): the diagnoser serves through ONNX Runtime but keeps these."""
        diagnoser = self.diagnoser(timeout)
        return {spec.key: diagnoser.model_for(spec.key) for spec in diagnoser.specs}

    def diagnose_image(self, image: Image.Image, timeout: float | None = MODEL_WAIT_S):
        """``(Diagnosis, DomainCheck)`` of one decoded photo: per symptom the calibrated probabilities, the
        predicted class, its label and the uncertain flag, all six marked uncertain when the photo is unlike
        the models' training photos (a confident answer there would be unfounded)."""
        diagnosis = self.diagnoser(timeout).diagnose(image)
        domain = self.domain_of(image)
        return (marked_uncertain(diagnosis) if domain.in_domain is False else diagnosis), domain

    # ---- photo check -----------------------------------------------------------------
    def _load_checker(self):
        _import_model_code()
        from photo_check.check import load_checker  # imported above, under the lock

        return load_checker()

    @property
    def photo_check_status(self) -> str:
        return self._checker.status

    @property
    def photo_check_error(self) -> str | None:
        return self._checker.error

    @property
    def photo_check_ready(self) -> bool:
        return self._checker.status == "ready"

    def wait_photo_check(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the photo check; True when it is ready."""
        try:
            self._checker.get(timeout)
            return True
        except Unavailable:
            return False

    def check_photo(self, image: Image.Image, timeout: float | None = PHOTO_CHECK_WAIT_S,
                    original_size: tuple[int, int] | None = None) -> dict:
        """The photo check's verdict of one decoded photo (``PhotoCheck.to_dict()``); PhotoCheckUnavailable
        while it cannot be loaded (the message says why; the load is retried with backoff).
        ``original_size``: the upload's size before ``ui.image_input`` shrank it."""
        try:
            checker = self._checker.get(timeout)
        except Unavailable as exc:
            raise PhotoCheckUnavailable(exc.error or str(exc)) from None
        lite0 = self.lite0_of(image) if checker.category.uses_lite0 else None
        return checker.check(image, lite0=lite0, original_size=original_size).to_dict()

    def lite0_of(self, image: Image.Image):
        """The photo's (1, 1280) Lite0 features, computed once per decoded photo: the domain check and the
        photo check's stage 1 read the same ones (``/diagnose`` runs both on one photo)."""
        features = self._lite0_recent.get(image)
        if features is None:
            from scalp_models.lite0_features import lite0_features  # loaded by the model loaders already

            features = lite0_features().extract([image])
            self._lite0_recent.put(image, features)
        return features

    # ---- catalog -----------------------------------------------------------------------
    def _load_catalog(self):
        if self.config.catalog is None:
            return demo_catalog()
        loaded, notes = load_catalog(self.config.catalog, revision=self.config.catalog_revision)
        for note in notes[:20]:  # row problems go to the log, not the UI
            log.warning("%s", note)
        return loaded

    def catalog(self, timeout: float | None = CATALOG_WAIT_S):
        """The product catalog (loaded once, in the background; a failure is retried with backoff)."""
        return self._catalog.get(timeout)

    @property
    def catalog_status(self) -> str:
        return self._catalog.status

    @property
    def catalog_error(self) -> str | None:
        return self._catalog.error

    @property
    def catalog_is_demo(self) -> bool:
        return self.config.catalog is None

    def product_sections(self, types, categories, top_k: int = 3) -> list[dict]:
        """Per chosen category: the top products for ``types`` as plain dicts (the cards and the API)."""
        catalog = self.catalog()
        sections = []
        for category in categories:
            recs = recommend(catalog, list(types), [category], top_k=top_k)
            total = int(recs.attrs.get("candidates", {}).get(category, len(recs)))
            rows = [{c: r.get(c) for c in PRODUCT_FIELDS if c in r} for r in recs.to_dict(orient="records")]
            sections.append({"category": category, "types": list(types), "total": total, "rows": rows})
        return sections

    # ---- care guide ----------------------------------------------------------------------
    def _guide_config(self) -> CareGuideConfig:
        return CareGuideConfig(model=self.config.openai_model) if self.config.openai_model else CareGuideConfig()

    @property
    def openai_configured(self) -> bool:
        """Whether a guide may come from OpenAI (``OPENAI_API_KEY`` is set)."""
        return bool(self._guide_config().resolved()[1])

    def builtin_guide(self, result, lang: str):
        return fallback_guide(result, lang)

    def care_guide(self, result, lang: str, client: str = "local"):
        """The care guide of a ``ScalpTypeResult``: OpenAI when configured and within the rate limits for
        ``client`` and overall, else the built-in texts; returns ``(CareGuide, rate_limited)``."""
        if self.openai_configured and not self.guide_limit.allow(client):
            return fallback_guide(result, lang, error="rate limited"), True
        return care_guide(result, lang=lang, config=self._guide_config()), False


def _trained_on_synthetic(diagnoser) -> bool:
    """True when any model's ``config.scalp`` says it was trained on synthetic images."""
    try:
        return any(
            bool((getattr(diagnoser.model_for(spec.key)[0].config, "scalp", None) or {}).get("synthetic_training_data"))
            for spec in SYMPTOMS
        )
    except Exception:  # an unusual model object: do not guess "real"
        return True
