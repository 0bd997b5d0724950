"""The "왜 이렇게 판단했나요? / Why?" panel of the result tab and the ``/explain`` API endpoint.

Both show Grad-CAM heatmaps (``scalp_models.explain``), computed only when asked for, in the
"models" concurrency group.

- **The panel.** When a photo is diagnosed, the session keeps the photo as each model saw it
  (``ServedViews``: one uint8 square per distinct input size, in memory, dropped with the session or
  the next photo) instead of the photo. "Why?" explains the class the diagnosis showed, for every
  symptom at severity ≥ 1 or for the symptom picked in the dropdown, and blends each heatmap over
  the session's small JPEG preview. The overlays are inline JPEG data URIs: nothing is written to
  disk or to Gradio's file cache. In a four-region check-up each photo keeps its own views: "Why?"
  explains each symptom at severity ≥ 1 on its worst region, or a picked symptom on every region.
- **``/explain``** (``image``, ``symptom``) answers ``{"symptom", "predicted", "label", "heatmap",
  "raw", ...}``. ``heatmap`` is a PNG of the overlay (the photo at 480 px at most with the heatmap
  over it), written straight into Gradio's cache folder under an unguessable name (so Gradio serves
  it without copying it) and deleted :data:`HEATMAP_TTL_S` seconds later by :class:`HeatmapFiles`;
  ``gradio_client`` downloads it within the call. ``raw`` is the heatmap grid itself (at most 32×32
  values in [0, 1]) and holds nothing of the photo.

A photo unlike the models' training photos (the domain check) gets a warning next to the heatmaps:
the models' answers, and so where they looked, mean little there.
"""

from __future__ import annotations

import base64
import io
import logging
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from gradio import FileData
from PIL import Image

from scalp_core.symptoms import SYMPTOMS, get_symptom, severity_name, split_label
from scalp_models.diagnosis import DEFAULT_UNCERTAIN_BELOW, is_uncertain
from ui.errors import public_error, safe_endpoint, user_error
from ui.i18n import both, lang_code, t
from ui.image_input import ImageInputError, load_image
from ui.regions import region_label
from ui.service import ModelsNotReady, ScalpService
from ui.session import Session
from ui.uploads import UploadStore
from ui.views import domain_message, esc, symptom_title

log = logging.getLogger("scalp_app")

AUTO = "auto"  # the dropdown's "every symptom at severity ≥ 1"
HEATMAP_TTL_S = 60.0  # an /explain heatmap file is deleted this long after it was written
OVERLAY_JPEG_QUALITY = 85
MODEL_WAIT_S = 60


# ----------------------------------------------------------------------------- files for the API


class HeatmapFiles:
    """The ``/explain`` overlay PNGs: written into Gradio's cache folder, deleted after ``ttl_s``.

    The folder name carries 128 random bits, so only the caller who got the answer can fetch the
    file; a daemon thread (started with the first file) deletes each file and its folder when due
    and drops it from the serving Blocks' temp-file sets (:meth:`serve_from`)."""

    def __init__(self, ttl_s: float = HEATMAP_TTL_S, root: str | Path | None = None, clock=time.monotonic):
        self.ttl_s = ttl_s
        self._root = Path(root) if root else None
        self._clock = clock
        self._due: list[tuple[float, Path]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._blocks = None

    def serve_from(self, blocks) -> None:
        """The Blocks that serves the files: deleted files are dropped from its temp-file sets too."""
        self._blocks = blocks

    @property
    def root(self) -> Path:
        from gradio.utils import get_upload_folder  # the folder Gradio serves its cache from

        return self._root or Path(get_upload_folder())

    def write(self, image: Image.Image) -> Path:
        folder = self.root / f"scalp-explain-{secrets.token_hex(16)}"
        folder.mkdir(parents=True, mode=0o700)
        path = folder / "heatmap.png"
        image.save(path, format="PNG")
        with self._lock:
            self._due.append((self._clock() + self.ttl_s, path))
            if self._thread is None:
                self._thread = threading.Thread(target=self._sweep_forever, name="heatmap-files", daemon=True)
                self._thread.start()
        return path

    @property
    def pending(self) -> list[Path]:
        with self._lock:
            return [path for _, path in self._due]

    def sweep(self, now: float | None = None) -> int:
        """Delete every file that is due; returns how many."""
        now = self._clock() if now is None else now
        with self._lock:
            due = [path for deadline, path in self._due if deadline <= now]
            self._due = [(deadline, path) for deadline, path in self._due if deadline > now]
        for path in due:
            shutil.rmtree(path.parent, ignore_errors=True)
            for temp_files in getattr(self._blocks, "temp_file_sets", ()):
                temp_files.discard(str(path))
        return len(due)

    def _sweep_forever(self) -> None:
        while True:
            time.sleep(max(0.2, min(5.0, self.ttl_s / 4)))
            try:
                self.sweep()
            except Exception:  # a failed deletion is retried by Gradio's delete_cache; keep sweeping
                log.exception("deleting heatmap files failed")


# ----------------------------------------------------------------------------- the panel


@dataclass(frozen=True)
class Shown:
    """One heatmap in the panel: the class explained and the overlay as JPEG bytes (memory only)."""

    symptom: str
    target: int
    probability: float
    uncertain: bool
    out_of_domain: bool  # the photo is unlike the models' training photos
    jpeg: bytes
    region: str | None = None  # the check-up region of the photo, or None for a single photo


@dataclass(frozen=True)
class WhyPanel:
    symptom: gr.Dropdown
    button: gr.Button
    panel: gr.HTML


def symptom_choices(lang: str) -> list[tuple[str, str]]:
    return [(t("explain_auto_choice", lang), AUTO)] + [(symptom_title(s.key, lang), s.key) for s in SYMPTOMS]


def build_why_panel(lang: str) -> WhyPanel:
    """The result tab's "Why?" row: symptom dropdown, button, and the heatmaps (call inside a Blocks)."""
    gr.Markdown(t("explain_title", lang))
    with gr.Row():
        symptom = gr.Dropdown(symptom_choices(lang), value=AUTO, label=t("explain_pick_label", lang), scale=2,
                              elem_id="scalp-why-symptom")
        button = gr.Button(t("explain_button", lang), variant="secondary", scale=1, elem_id="scalp-why-button")
    panel = gr.HTML(panel_html(Session(), lang), elem_id="scalp-why-panel")
    return WhyPanel(symptom, button, panel)


def served_views(service: ScalpService, image: Image.Image):
    """The photo as each loaded model saw it (``ServedViews``), or None when that cannot be made
    (then "Why?" says it is unavailable; the diagnosis itself is never held up by it)."""
    try:
        from scalp_models.explain import ServedViews  # torch: loaded by then, with the models

        return ServedViews.of(image, service.symptom_models(timeout=0))
    except Exception:
        log.exception("could not keep the served views for explanations")
        return None


def _data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def has_result(session: Session) -> bool:
    """A diagnosed single photo, or a check-up with at least one diagnosed region."""
    return session.diagnosis is not None or session.overall is not None


def panel_html(session: Session, lang: str) -> str:
    """What the "Why?" panel shows for ``session`` (an HTML string; every text escaped)."""
    if not has_result(session):
        return f"<p>{esc(t('explain_need_diagnosis', lang))}</p>"
    parts = []
    note = session.explain_note
    if note:
        parts.append(f"<p>❗ {esc(t(f'explain_note_{note}', lang))}</p>")
    if not session.explanations:
        if not note:
            parts.append(f"<p>{esc(t('explain_hint', lang))}</p>")
        return "".join(parts)
    parts.insert(0, f"<p>{esc(t('explain_reading', lang))}</p>")
    if any(shown.out_of_domain for shown in session.explanations):
        parts.append(f'<div class="scalp-banner">{esc(t("explain_out_of_domain", lang))}</div>')
    figures = []
    for shown in session.explanations:
        caption = t("explain_caption", lang, symptom=symptom_title(shown.symptom, lang),
                    severity=severity_name(shown.target, lang=lang), probability=f"{shown.probability:.0%}")
        if shown.region:
            caption = f"{region_label(shown.region, lang)} · {caption}"
        if shown.uncertain:
            caption += " · " + t("uncertain", lang)
        figures.append(
            f'<figure class="scalp-why" data-symptom="{esc(shown.symptom)}" data-region="{esc(shown.region or "")}"'
            f' style="margin:0;width:320px">'
            f'<img alt="{esc(caption)}" src="{_data_uri(shown.jpeg)}" style="width:100%;border-radius:6px"/>'
            f'<figcaption style="font-size:13px">{esc(caption)}</figcaption></figure>')
    parts.append('<div style="display:flex;flex-wrap:wrap;gap:12px">' + "".join(figures) + "</div>")
    return "".join(parts)


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=OVERLAY_JPEG_QUALITY)
    return buf.getvalue()


def why_targets(session: Session, choice) -> list[tuple[str | None, Session, str]]:
    """``(region code or None, the photo's session, symptom key)`` to explain for the dropdown's ``choice``."""
    picked = None if choice in (None, "", AUTO) else get_symptom(str(choice)).key
    if session.region_photos:
        photos = {p.code: p.photo for p in session.region_photos if p.diagnosis is not None}
        if picked:
            return [(code, photo, picked) for code, photo in photos.items()]
        overall = session.overall or ()
        return [(s.worst_region, photos[s.worst_region], s.symptom) for s in overall
                if int(s.predicted) >= 1 and s.worst_region in photos]
    if picked:
        return [(None, session, picked)]
    return [(None, session, result.symptom) for result in session.diagnosis if int(result.predicted) >= 1]


# ----------------------------------------------------------------------------- handlers


class ExplainHandlers:
    """The panel's event handler and the ``/explain`` endpoint over one service and one upload store."""

    def __init__(self, service: ScalpService, uploads: UploadStore, heatmaps: HeatmapFiles | None = None):
        self.service = service
        self.uploads = uploads
        self.heatmaps = heatmaps or HeatmapFiles()

    @safe_endpoint
    def on_why(self, session: Session | None, choice, lang_value):
        """The "Why?" button: heatmaps for the picked symptom, or for every symptom at severity ≥ 1 (in a
        check-up: each symptom on its worst region; a picked symptom on every diagnosed region)."""
        lang = lang_code(lang_value)
        session = session or Session()
        if not has_result(session):
            return [session, panel_html(session, lang)]
        targets = why_targets(session, choice)
        usable = [(code, photo, key) for code, photo, key in targets
                  if photo.served_views is not None and photo.preview and photo.diagnosis is not None]
        note = None if usable else ("none_at_severity" if not targets else "unavailable")
        if usable:
            try:
                models = self.service.symptom_models(timeout=MODEL_WAIT_S)
            except ModelsNotReady:
                usable, note = [], "models_not_ready"
        shown = tuple(self._shown(photo, key, models[key], code) for code, photo, key in usable)
        session = session.with_explanations(shown, note)
        return [session, panel_html(session, lang)]

    @staticmethod
    def _shown(photo: Session, key: str, model_and_processor, region: str | None) -> Shown:
        from scalp_models.explain import explain, is_grayscale_model, overlay

        model, processor = model_and_processor
        result = photo.diagnosis[key]
        target = int(result.predicted)  # the class the user was shown (the diagnoser's answer)
        pixels = photo.served_views.pixels(key, model, processor)
        explanation = explain(model, processor, pixels, target=target, symptom=key)
        picture = overlay(Image.open(io.BytesIO(photo.preview)), explanation.cam, gray=is_grayscale_model(model))
        out_of_domain = getattr(photo.domain, "in_domain", None) is False
        return Shown(key, target, float(result.probabilities[target]), bool(result.uncertain), out_of_domain,
                     _jpeg(picture), region)

    @safe_endpoint
    def explain(self, image: FileData, symptom: str) -> dict:
        """Grad-CAM heatmap of the class one symptom model predicts for a photo.

        ``symptom``: a symptom key (``fine_scale``, ``excess_sebum``, ``interfollicular_erythema``,
        ``follicular_erythema_pustule``, ``dandruff``, ``hair_loss``). Returns ``symptom``, ``predicted``
        (class index 0 양호 / 1 경증·중등도 / 2 중증), ``label``, ``probabilities``, ``uncertain``,
        ``heatmap`` (a PNG of the heatmap over the photo; deleted from the server a minute after the
        call), ``raw`` (the heatmap grid, at most 32×32 values in [0, 1], rows top to bottom),
        ``grid``, ``input_size``, ``in_domain`` and ``domain_check`` (with a Korean and an English message).
        """
        try:  # first: the upload is read and deleted even when the symptom is refused
            loaded = load_image(self.uploads.claim(image))
        except ImageInputError as exc:
            raise user_error(str(exc)) from None
        key = self._symptom_key(symptom)
        try:
            models = self.service.symptom_models(timeout=MODEL_WAIT_S)
            thresholds = self.service.diagnoser(timeout=0).thresholds
        except ModelsNotReady as exc:
            raise user_error(f"{both('err_models_not_ready')} ({exc})") from None
        from scalp_models.explain import explain, is_grayscale_model, overlay

        model, processor = models[key]
        explanation = explain(model, processor, loaded.image, symptom=key)
        domain = self.service.domain_of(loaded.image)
        path = self.heatmaps.write(overlay(loaded.image, explanation.cam, gray=is_grayscale_model(model)))
        label = model.config.id2label[explanation.predicted]
        confidence = explanation.probabilities[explanation.predicted]
        out_of_domain = domain.in_domain is False
        messages = {lang: t("explain_out_of_domain", lang) if out_of_domain else domain_message(domain, lang)
                    for lang in ("ko", "en")}
        return {
            "symptom": key,
            "predicted": explanation.predicted,
            "label": label,
            "severity_ko": split_label(label)[0],
            "severity_en": split_label(label)[1],
            "probabilities": list(explanation.probabilities),
            "uncertain": is_uncertain(confidence, thresholds.get(key, DEFAULT_UNCERTAIN_BELOW)) or out_of_domain,
            "heatmap": FileData(path=str(path), orig_name="heatmap.png", mime_type="image/png").model_dump(),
            "raw": explanation.raw(),
            "grid": list(explanation.cam.shape),
            "input_size": explanation.input_size,
            "in_domain": domain.in_domain,
            "domain_check": {**domain.to_dict(), "message_ko": messages["ko"], "message_en": messages["en"]},
            "heatmap_deleted_after_s": self.heatmaps.ttl_s,
        }

    @staticmethod
    def _symptom_key(symptom) -> str:
        if not isinstance(symptom, str) or not symptom.strip():
            raise user_error(both("explain_bad_symptom", symptom=repr(symptom), keys=", ".join(s.key for s in SYMPTOMS)))
        try:
            return get_symptom(symptom).key
        except KeyError:
            raise user_error(both("explain_bad_symptom", symptom=public_error(repr(symptom))[:80],
                                  keys=", ".join(s.key for s in SYMPTOMS))) from None
