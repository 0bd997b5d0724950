"""The app's back end without any UI: lazy model loading, the photo check, the catalog and the guide.

The UI (``ui.events``, ``ui.render``) and the API (``ui.api``) reach the project's packages through
this module: ``scalp_models`` (``ScalpDiagnoser``), ``photo_check`` (``check_photo``) and
``recommendation`` (catalog, ranking, care guide).

The six models are loaded in a background thread started at launch (or on first use), so
importing ``app`` stays fast and the UI can show "모델 준비 중" until they are ready::

    from ui.config import AppConfig
    from ui.service import ScalpService
    service = ScalpService(AppConfig(models="demo"))
    service.start()                    # returns at once; loading runs in a thread
    diagnosis = service.diagnose_image(pil_image, timeout=180)   # a scalp_models Diagnosis
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from PIL import Image

from recommendation.care_guide import CareGuideConfig, care_guide
from recommendation.catalog import load_catalog
from recommendation.demo import demo_catalog
from recommendation.ranking import recommend
from scalp_core.symptoms import SYMPTOMS
from ui.config import AppConfig

log = logging.getLogger("scalp_app")

# What a product card and the /recommend API show of a recommended row.
PRODUCT_FIELDS = ("category", "rank", "product_name", "brand_name", "star", "review_count", "score", "types",
                  "matched_types", "matched_ingredients", "explanation_ko", "explanation_en", "flags_ko", "flags_en",
                  "product_link", "img_link")


class ModelsNotReady(RuntimeError):
    """The models are still loading (or failed to load); the message says which."""


@dataclass
class _LoadState:
    status: str = "idle"  # idle | loading | ready | failed
    error: str | None = None
    started_at: float | None = None
    ready_at: float | None = None
    synthetic: bool = False
    event: threading.Event = field(default_factory=threading.Event)


class ScalpService:
    """Holds the configuration, the lazily loaded diagnoser and catalog, and the flow functions."""

    def __init__(self, config: AppConfig):
        self.config = config
        self._lock = threading.Lock()
        self._load = _LoadState()
        self._diagnoser = None
        self._catalog = None
        self._catalog_is_demo = config.catalog is None
        self._photo_check_ready = threading.Event()  # set once the fitted photo check is in memory

    # ---- configuration -------------------------------------------------------------
    def reconfigure(self, config: AppConfig) -> None:
        """Swap the configuration before the models are loaded (``python app.py --models ...``)."""
        with self._lock:
            if self._load.status in ("loading", "ready") and (
                config.models != self.config.models or config.models_revision != self.config.models_revision
            ):
                raise RuntimeError("the models are already loading; reconfigure before start()")
            self.config = config
            self._catalog = None
            self._catalog_is_demo = config.catalog is None

    # ---- models ----------------------------------------------------------------------
    def start(self) -> None:
        """Start loading the models in a daemon thread (no-op when already started)."""
        with self._lock:
            if self._load.status != "idle":
                return
            self._load.status = "loading"
            self._load.started_at = time.monotonic()
        threading.Thread(target=self._load_all, name="scalp-model-loader", daemon=True).start()

    def _load_all(self) -> None:
        # Import the model code once, in this thread, before the two loaders run side by side:
        # transformers' lazy module is not safe to import from two threads at once. A concurrent
        # `from transformers import EfficientNetConfig` failed here with ImportError, and the photo
        # check then fell back to image statistics without its Lite0 features.
        try:  # torch and transformers: heavy, so imported here and not when `app` is imported
            import scalp_models.diagnoser  # noqa: F401
            import scalp_models.lite0  # noqa: F401
        except Exception as exc:  # each loader below reports its own failure
            log.debug("pre-importing the model code failed: %s", exc)
        threading.Thread(target=self._load_photo_check, name="scalp-photo-check-loader", daemon=True).start()
        self._load_models()

    def _load_photo_check(self) -> None:
        """Fit (first run, < 1 min) or read the photo check in the background as well."""
        try:
            from photo_check.check import load_checker  # heavy (scipy, torch): loaded in this thread

            load_checker()
            self._photo_check_ready.set()
        except Exception as exc:  # check_photo() will retry and report
            log.warning("preparing the photo check failed: %s", exc)

    def _load_models(self) -> None:
        try:
            from scalp_models.diagnoser import ScalpDiagnoser  # heavy (torch): imported in the loader thread

            diagnoser = ScalpDiagnoser.from_source(self.config.models, revision=self.config.models_revision,
                                                     backend="onnx")
            synthetic = self.config.uses_demo_models or _trained_on_synthetic(diagnoser)
            with self._lock:
                self._diagnoser = diagnoser
                self._load.synthetic = synthetic
                self._load.status = "ready"
                self._load.ready_at = time.monotonic()
            log.info("models ready after %.1f s", self._load.ready_at - self._load.started_at)
        except Exception as exc:  # shown in the UI; the app keeps serving the other steps
            with self._lock:
                self._load.status = "failed"
                self._load.error = f"{type(exc).__name__}: {exc}"
            log.error("loading the models failed: %s", self._load.error)
        finally:
            self._load.event.set()

    @property
    def model_status(self) -> str:
        return self._load.status

    @property
    def model_error(self) -> str | None:
        return self._load.error

    @property
    def uses_synthetic_models(self) -> bool:
        return self.config.uses_demo_models or self._load.synthetic

    @property
    def load_seconds(self) -> float | None:
        if self._load.ready_at is None or self._load.started_at is None:
            return None
        return self._load.ready_at - self._load.started_at

    def diagnoser(self, timeout: float | None = None):
        """The loaded ``ScalpDiagnoser``; waits up to ``timeout`` seconds, else raises ModelsNotReady."""
        self.start()
        self._load.event.wait(timeout)
        if self._load.status == "ready":
            return self._diagnoser
        if self._load.status == "failed":
            raise ModelsNotReady(f"the models could not be loaded: {self._load.error}")
        raise ModelsNotReady("the models are still being prepared; try again shortly")

    # ---- per-image steps ---------------------------------------------------------------
    def check_photo(self, image: Image.Image, strict: bool = False) -> dict | None:
        """``photo_check.check_photo(image).to_dict()``; None when the check is unavailable or broke
        (the UI then says it was skipped), unless ``strict`` (the /check_photo endpoint) re-raises."""
        try:
            from photo_check.check import check_photo  # imported in the loader thread first (see _load_all)

            result = check_photo(image).to_dict()
        except Exception as exc:
            log.warning("photo check failed: %s: %s", type(exc).__name__, exc)
            if strict:
                raise
            return None
        self._photo_check_ready.set()
        return result

    @property
    def photo_check_ready(self) -> bool:
        """True once the fitted photo check is loaded (a check then costs ~70–90 ms on one CPU core)."""
        return self._photo_check_ready.is_set()

    def wait_photo_check(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the background photo-check loader; True when it is ready."""
        self.start()
        return self._photo_check_ready.wait(timeout)

    def check_photo_if_ready(self, image: Image.Image) -> dict | None:
        """Like :meth:`check_photo`, but None at once while the check is still being prepared (its first
        fit takes up to a minute), so that ``/diagnose`` never waits for it."""
        if not self.photo_check_ready:
            return None
        return self.check_photo(image)

    def diagnose_image(self, image: Image.Image, timeout: float | None = None):
        """The ``Diagnosis`` of one decoded photo: per symptom the calibrated probabilities, the predicted
        class, its label and the uncertain flag."""
        return self.diagnoser(timeout).diagnose(image)

    # ---- catalog -----------------------------------------------------------------------
    def catalog(self):
        with self._lock:
            if self._catalog is None:
                if self.config.catalog is None:
                    self._catalog = demo_catalog()
                else:
                    loaded = load_catalog(self.config.catalog)
                    # load_catalog returns (df, warnings); the warnings go to the log, not the UI
                    if isinstance(loaded, tuple):
                        loaded, notes = loaded
                        for note in notes[:20]:
                            log.warning("%s", note)
                    self._catalog = loaded
            return self._catalog

    @property
    def catalog_is_demo(self) -> bool:
        return self._catalog_is_demo

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
    def care_guide_markdown(self, result, lang: str) -> str:
        """The care guide of a ``ScalpTypeResult``: OpenAI when configured (``OPENAI_API_KEY``), else built in."""
        config = CareGuideConfig(model=self.config.openai_model) if self.config.openai_model else None
        return care_guide(result, lang=lang, config=config).to_markdown()


def _trained_on_synthetic(diagnoser) -> bool:
    """True when any model's ``config.scalp`` says it was trained on synthetic images."""
    try:
        return any(
            bool((getattr(diagnoser.model_for(spec.key)[0].config, "scalp", None) or {}).get("synthetic_training_data"))
            for spec in SYMPTOMS
        )
    except Exception:  # an unusual model object: do not guess "real"
        return True
