"""The UI's event handlers: upload, "Diagnose anyway", survey answers, the guide tab, the language.

Each handler takes the visitor's :class:`ui.session.Session` and returns a new one plus what
:func:`ui.render.render_all` shows for it. The photo check runs before every diagnosis: a photo it
flags ("retake" or "not_scalp") is NOT diagnosed until the user presses "그래도 진단하기 / Diagnose
anyway"; until then a copy no larger than the models need (:data:`PENDING_MAX_SIDE`) waits in the
session's memory (never on disk), and a diagnosis made that way carries a low-confidence banner in the
result tab. A photo the check could not look at (it is unavailable) is diagnosed, marked unchecked and
low-confidence. Uploaded files are read once through ``ui.uploads`` and deleted at once.
"""

from __future__ import annotations

import gradio as gr
from PIL import Image

from ui import explain_view, render, views
from ui.errors import safe_endpoint
from ui.i18n import lang_code, t
from ui.image_input import MAX_FILE_MB, MAX_PIXELS, ImageInputError, load_image
from ui.service import ModelsNotReady, PhotoCheckUnavailable, ScalpService
from ui.session import Session
from ui.uploads import UploadStore

PENDING_MAX_SIDE = 640  # a flagged photo waits at the size the models need (640×480 like the training data)


def upload_label(lang: str) -> str:
    return t("upload_label", lang, max_mb=MAX_FILE_MB, max_mp=MAX_PIXELS // 1_000_000)


def client_key(request: gr.Request | None) -> str:
    """Who is asking, for the OpenAI rate limit: the client's address (one key for in-process calls)."""
    client = getattr(request, "client", None)
    return str(getattr(client, "host", None) or "local")


def shrunk(image: Image.Image, max_side: int) -> Image.Image:
    if max(image.size) <= max_side:
        return image
    small = image.copy()
    small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return small


class UiEvents:
    """The handlers ``app.py`` wires to the components, over one service and one upload store."""

    def __init__(self, service: ScalpService, uploads: UploadStore):
        self.service = service
        self.uploads = uploads

    def render_all(self, session: Session | None, lang_value) -> list:
        return render.render_all(session or Session(), lang_value, self.service)

    @safe_endpoint
    def on_upload(self, upload, session: Session | None, lang_value, progress=gr.Progress()):  # noqa: B008
        """A new photo (Gradio's upload payload; the file is read once and deleted at once)."""
        lang = lang_code(lang_value)
        session = self.take_photo(session or Session(), upload, lang, progress)
        if session.upload_error:
            code, values = session.upload_error
            gr.Warning(t(f"err_{code}", lang, **values))
        return [session, None, *self.render_all(session, lang_value)]

    def take_photo(self, session: Session, upload, lang: str, progress) -> Session:
        """``session`` after the uploaded photo ``upload`` (read once, deleted at once): refused
        (``upload_error``), waiting for "Diagnose anyway", or diagnosed. Also each photo of a check-up."""
        try:
            loaded = load_image(self.uploads.claim(upload))
        except ImageInputError as exc:
            return session.with_upload_error(exc.code, exc.values)
        image = loaded.image
        try:
            check = self.service.check_photo(image, original_size=loaded.original_size)
        except PhotoCheckUnavailable:
            check = None  # diagnosed below, marked unchecked; the status line says why
        flagged = views.photo_flagged(check)
        # Both "retake" and "not_scalp" wait for the user's explicit "Diagnose anyway": probabilities shown
        # next to a retake warning still read as a result (the seed saw 모낭사이홍반 misread from a colour
        # cast), and a retaken photo is one click away. Insisting then marks the result low-confidence.
        session = session.with_photo(views.thumbnail_jpeg(image), check,
                                     pending=shrunk(image, PENDING_MAX_SIDE) if flagged else None)
        if not flagged:
            session = self._diagnose(session, image, lang, progress, low_confidence=check is None)
        return session

    @safe_endpoint
    def on_insist(self, session: Session | None, lang_value, progress=gr.Progress()):  # noqa: B008
        """The "그래도 진단하기 / Diagnose anyway" button: diagnose the flagged photo, marked low-confidence.

        The survey answers in the session are kept (as on every other event)."""
        session = self.diagnose_pending(session or Session(), lang_code(lang_value), progress)
        return [session, *self.render_all(session, lang_value)]

    def diagnose_pending(self, session: Session, lang: str, progress) -> Session:
        """``session`` with its flagged photo diagnosed, marked low-confidence (the user insisted)."""
        session = session.with_diagnosis_error(None)
        if session.waiting_for_insist:
            session = self._diagnose(session, session.pending, lang, progress, low_confidence=True)
        return session

    def _diagnose(self, session: Session, image, lang: str, progress, low_confidence: bool) -> Session:
        """``session`` with the diagnosis of ``image``, or with the reason there is none yet."""
        if self.service.model_status != "ready":
            progress(0.5, desc=t("model_loading", lang))
        try:
            diagnosis, domain = self.service.diagnose_image(image)
        except ModelsNotReady:
            failed = self.service.model_status == "failed"
            return session.with_diagnosis_error(
                t("model_failed", lang, error=self.service.model_error) if failed else t("err_models_not_ready", lang))
        session = session.with_diagnosis(diagnosis, low_confidence=low_confidence, domain=domain)
        return session.with_served_views(explain_view.served_views(self.service, image))  # for "Why?"

    @safe_endpoint
    def on_survey(self, q1, q2, q3, session: Session | None, lang_value):
        session = (session or Session()).with_answers(q1, q2, q3)
        return [session, *self.render_all(session, lang_value)]

    @safe_endpoint
    def on_guide(self, session: Session | None, lang_value, request: gr.Request = None):
        """Write (or reuse) the care guide for the current type; OpenAI when configured, else built-in texts.

        With an OpenAI key the built-in guide is shown at once and replaced when OpenAI answers (or
        stays, with its notice, when it fails, runs out of time or the rate limit is reached): nobody
        stares at a spinner for the whole ``SCALP_OPENAI_TIMEOUT`` when the API is slow or silent.
        """
        lang = lang_code(lang_value)
        session = session or Session()
        if session.guide_key is not None:
            key = (*session.guide_key, lang)
            if key not in session.guides:
                if self.service.openai_configured:
                    interim = self.service.builtin_guide(session.scalp_type, lang).to_markdown()
                    shown = session.with_guide(key, interim + "\n\n" + t("guide_ai_pending", lang))
                    yield shown, render.guide(shown, lang)
                guide, limited = self.service.care_guide(session.scalp_type, lang, client=client_key(request))
                text = guide.to_markdown() + ("\n\n" + t("guide_rate_limited", lang) if limited else "")
                session = session.with_guide(key, text)
        yield session, render.guide(session, lang)

    @safe_endpoint
    def on_language(self, session: Session | None, lang_value):
        lang = lang_code(lang_value)
        q1, q2, q3 = render.survey_choices(lang)
        return [
            gr.update(value=t("photo_guide_md", lang)),
            gr.update(label=upload_label(lang)),
            gr.update(value=t("survey_intro", lang)),
            gr.update(choices=q1, label=t("q1_label", lang)),
            gr.update(choices=q2, label=t("q2_label", lang)),
            gr.update(choices=q3, label=t("q3_label", lang)),
            gr.update(value=render.banner_html(self.service, lang)),
            gr.update(value=t("reference_title", lang)),
            self.on_model_status(lang_value)[0],
            *self.render_all(session, lang_value),
        ]

    def on_model_status(self, lang_value=None):
        """(the status line, the polling timer on or off)."""
        text, polling = render.model_status(self.service, lang_code(lang_value))
        return text, gr.Timer(active=polling)
