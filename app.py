"""두피 진단 · 두피케어 추천: the Gradio app (upload → survey → diagnosis → care guide → products) and its API.

Run it locally, with the built-in demo models and demo catalog (no network needed)::

    python app.py                       # http://127.0.0.1:7860
    gradio app.py                       # the same, with auto-reload
    python app.py --models me --models-revision v1 --catalog products.parquet --port 7861

Flags and environment variables are listed in ``ui/config.py`` (``SCALP_MODELS``, ``SCALP_CATALOG``,
``OPENAI_API_KEY``, ``SCALP_OPENAI_MODEL``, ``GRADIO_SERVER_NAME``/``PORT``; on a Hugging Face
Space ``SPACE_ID`` is set and the environment is read the same way).

Named API endpoints (``gradio_client``): ``/check_photo``, ``/survey_summary``, ``/diagnose``,
``/care_guide``, ``/recommend``; see the README for an example. The six models load in a
background thread started at launch; until they are ready the page shows "모델 준비 중".
Uploaded photos are decoded by ``ui.image_input`` and the upload temp file is deleted at once;
the session keeps only a small JPEG preview (no EXIF) in memory, forgotten when the tab closes.

The photo check runs before every diagnosis in the UI. A photo it flags ("retake" or
"not_scalp") is NOT diagnosed until the user presses "그래도 진단하기 / Diagnose anyway"; until
then the decoded photo waits in the session's memory (never on disk), and a diagnosis made that
way carries a low-confidence banner in the result tab. ``/diagnose`` always diagnoses (an API
caller has insisted by calling it) and adds ``photo_check`` and ``low_confidence`` to its JSON.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from functools import cache
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from scalp_core.symptoms import SYMPTOMS, severity_name  # noqa: E402
from ui import views  # noqa: E402
from ui.config import AppConfig, parse_config  # noqa: E402
from ui.i18n import LANGUAGE_CHOICES, both, lang_code, t  # noqa: E402
from ui.image_input import MAX_FILE_MB, MAX_PIXELS, ImageInputError, delete_upload, load_image  # noqa: E402
from ui.service import ModelsNotReady, ScalpService, rec, severities_from_diagnosis  # noqa: E402

log = logging.getLogger("scalp_app")

SERVICE = ScalpService(AppConfig.from_env())
MODEL_WAIT_S = 170  # an upload waits this long for the first-run demo model build
UPLOAD_TYPES = [".jpg", ".jpeg", ".png", ".webp", ".gif"]  # GIF: first frame
PRODUCT_FIELDS = ("category", "rank", "product_name", "brand_name", "star", "review_count", "score", "types",
                  "matched_types", "matched_ingredients", "explanation_ko", "explanation_en", "flags_ko", "flags_en",
                  "product_link", "img_link")


# ---------------------------------------------------------------------------------------------
# survey options (keys are language independent; labels follow the language radio)
# ---------------------------------------------------------------------------------------------
def survey_choices(lang: str) -> tuple[list, list, list]:
    from recommendation.survey import load_categories, scalp_type_options

    q1 = [(o["ko"] if lang == "ko" else o["en"], o["key"]) for o in scalp_type_options()]
    q2 = [(s.ko if lang == "ko" else f"{s.en} ({s.ko})", s.key) for s in SYMPTOMS]
    q3 = [(c.key if lang == "ko" else f"{c.en} ({c.key})", c.key) for c in load_categories()]
    return q1, q2, q3


def parse_survey(q1, q2, q3):
    """``Survey`` or None when Q1 is unanswered; ValueError (clear message) on an unknown option."""
    from recommendation.survey import Survey

    if not q1:
        if q2 or q3:
            Survey.from_answers("건성", q2 or [], q3 or [])  # still validate the other answers
        return None
    return Survey.from_answers(q1, q2 or [], q3 or [])


# ---------------------------------------------------------------------------------------------
# the flow, shared by the UI and the API
# ---------------------------------------------------------------------------------------------
def decode_upload(path):
    """Decode an uploaded file safely (``ui.image_input.LoadedImage``), then delete the temp file."""
    try:
        return load_image(path)
    finally:
        delete_upload(path)


def input_info(loaded) -> dict:
    """What was done to the photo (sizes and conversions only; never a name or a path)."""
    return {"size": list(loaded.image.size), "original_size": list(loaded.original_size),
            "converted_from": loaded.converted_from, "rotated": loaded.rotated, "frames": loaded.frames,
            "downscaled": loaded.downscaled}


def scalp_type_for(diagnosis: dict | None, survey):
    from recommendation.scalp_type import determine_scalp_type

    if diagnosis is None:
        return None
    return determine_scalp_type(severities_from_diagnosis(diagnosis), survey, scheme=3)


def type_result_dict(result, lang: str = "ko") -> dict | None:
    from recommendation.scalp_type import type_label

    if result is None:
        return None
    return {
        "types": list(result.types),
        "types_en": [type_label(x, "en") for x in result.types],
        "rule": result.rule,
        "main_findings": list(result.main_findings),
        "main_finding_ko": result.main_finding_ko,
        "main_finding_en": result.main_finding_en,
        "survey_type": result.survey_type,
        "survey_agrees": result.survey_agrees,
        "note_ko": result.note_ko,
        "note_en": result.note_en,
    }


def product_sections(types, categories, top_k: int = 3) -> list[dict]:
    """Per chosen category: the top products for the given types (plain dicts for the cards / the API)."""
    df = SERVICE.catalog()
    sections = []
    for category in categories:
        recs = rec("recommend")(df, list(types), [category], top_k=top_k)
        total = int(recs.attrs.get("candidates", {}).get(category, len(recs))) if hasattr(recs, "attrs") else len(recs)
        rows = [_jsonable({c: r.get(c) for c in PRODUCT_FIELDS if c in r}) for r in recs.to_dict(orient="records")]
        sections.append({"category": category, "types": list(types), "total": total, "rows": rows})
    return sections


def _jsonable(value):
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def care_guide_markdown(result, lang: str) -> str:
    config = rec("CareGuideConfig")(model=SERVICE.config.openai_model) if SERVICE.config.openai_model else None
    guide = rec("care_guide")(result, lang=lang, config=config)
    if hasattr(guide, "to_markdown"):
        return guide.to_markdown()
    if hasattr(guide, "markdown"):
        return guide.markdown
    return str(guide)


# ---------------------------------------------------------------------------------------------
# session state and rendering
# ---------------------------------------------------------------------------------------------
def new_session() -> dict:
    return {
        "preview": None,  # small JPEG bytes of the user's photo (no EXIF), never a file
        "upload_error": None,  # (code, values) of the last refused upload
        "photo_check": None,
        "pending": None,  # decoded photo flagged by the check, in memory until "Diagnose anyway" or a new upload
        "diagnosis": None,
        "low_confidence": False,  # the diagnosis was made on a flagged photo because the user insisted
        "diagnosis_error": None,
        "q": (None, [], []),
        "survey_error": None,
        "guides": {},
    }


def _survey_of(state):
    try:
        return parse_survey(*state["q"]), None
    except ValueError as exc:
        return None, str(exc)


@cache
def reference_pictures() -> tuple[tuple[str, str], ...]:
    """Generated illustrations (never AI Hub photos) of each symptom at 중증, saved once per process."""
    import numpy as np

    from synthetic.render import render_scalp

    folder = Path(tempfile.mkdtemp(prefix="scalp-reference-"))
    out = []
    for i, spec in enumerate(SYMPTOMS):
        image = render_scalp({spec.key: 3}, np.random.default_rng(1000 + i), size=(320, 240))
        path = folder / f"reference_{spec.key}.png"
        image.save(path)
        out.append((str(path), spec.key))
    return tuple(out)


def reference_gallery(lang: str):
    return [
        (path, t("reference_caption", lang, symptom=views.symptom_title(key, lang), grade=severity_name(2, lang=lang)))
        for path, key in reference_pictures()
    ]


def render_upload_status(state, lang):
    parts = []
    if state["upload_error"]:
        code, values = state["upload_error"]
        parts.append("❗ " + t(f"err_{code}", lang, **values))
    elif state["preview"]:
        parts.append(t("upload_ok", lang))
    if state["preview"]:
        parts.append(views.photo_check_markdown(state["photo_check"], lang))
        if state.get("pending") is not None and state["diagnosis"] is None:
            parts.append(t("photo_check_insist_hint", lang))
        elif state["diagnosis"] is not None and state.get("low_confidence"):
            parts.append(t("photo_check_insisted", lang))
    if state["diagnosis_error"]:
        parts.append("❗ " + state["diagnosis_error"])
    return "\n\n".join(parts) or t("upload_none", lang)


def render_summary(state, lang):
    from recommendation.survey import survey_summary

    survey, error = _survey_of(state)
    if error:
        return "❗ " + t("survey_error", lang, error=error)
    if survey is None:
        return t("survey_incomplete", lang)
    return f"**{t('survey_success', lang)}**\n\n- {survey_summary(survey, lang)}\n{t('survey_next_hint', lang)}"


def render_result(state, lang):
    """(header markdown, six label values, severity table, note)."""
    diag = state["diagnosis"]
    empty_labels = [None] * len(SYMPTOMS)
    if diag is None:
        if state["preview"] and views.photo_flagged(state["photo_check"]) and not state["diagnosis_error"]:
            msg = t("result_not_diagnosed", lang)
        else:
            msg = state["diagnosis_error"] or t("result_need_photo", lang)
        return t("result_intro", lang) + "\n\n" + msg, empty_labels, "", ""
    labels = [views.label_value(diag["symptoms"][s.key]) for s in SYMPTOMS]
    survey, _ = _survey_of(state)
    result = scalp_type_for(diag, survey)
    from recommendation.scalp_type import type_label

    types = ", ".join(type_label(x, lang) for x in result.types)
    note = [t("note_title", lang), t("scalp_type_line", lang, types=types),
            t("main_finding_line", lang, finding=result.main_finding_ko if lang == "ko" else result.main_finding_en),
            result.note(lang)]
    if survey is None:
        note.append(t("type_needs_survey", lang))
    note.append(t("note_next_hint", lang))
    header = t("result_intro", lang)
    if state.get("low_confidence"):
        header += "\n\n" + views.low_confidence_banner(state["photo_check"], lang)
    return header, labels, views.severity_table(diag, lang), "\n\n".join(note)


def render_products(state, lang):
    diag = state["diagnosis"]
    survey, _ = _survey_of(state)
    if diag is None:
        return f"<p>{views.esc(t('result_need_photo', lang))}</p>"
    if survey is None or not survey.categories:
        return f"<p>{views.esc(t('products_need_categories', lang))}</p>"
    result = scalp_type_for(diag, survey)
    try:
        sections = product_sections(result.types, survey.categories)
    except Exception as exc:  # a broken catalog must not break the other steps
        log.exception("recommendation failed")
        return f"<p>❗ {views.esc(exc)}</p>"
    return views.products_section_html(sections, lang)


def render_guide(state, lang):
    diag = state["diagnosis"]
    if diag is None:
        return t("guide_need_result", lang)
    survey, _ = _survey_of(state)
    result = scalp_type_for(diag, survey)
    key = (result.types, result.main_findings, lang)
    text = state["guides"].get(key)
    return t("guide_title", lang) + "\n\n" + (text if text else t("guide_loading", lang))


def render_all(state, lang_value):
    lang = lang_code(lang_value)
    header, labels, table, note = render_result(state, lang)
    preview = views.preview_html(state["preview"], lang)
    return [
        render_upload_status(state, lang),
        preview,
        render_summary(state, lang),
        header,
        preview,
        *[gr.update(value=v) for v in labels],
        table,
        note,
        reference_gallery(lang),
        render_guide(state, lang),
        render_products(state, lang),
        # "그래도 진단하기 / Diagnose anyway": only while a flagged photo waits undiagnosed
        gr.update(visible=state.get("pending") is not None and state["diagnosis"] is None,
                  value=t("btn_insist", lang)),
    ]


# ---------------------------------------------------------------------------------------------
# UI event handlers
# ---------------------------------------------------------------------------------------------
def on_upload(path, state, lang_value, progress=gr.Progress()):
    lang = lang_code(lang_value)
    state = dict(state or new_session())
    state.update(upload_error=None, diagnosis_error=None)
    try:
        image = decode_upload(path).image
    except ImageInputError as exc:
        state["upload_error"] = (exc.code, exc.values)
        gr.Warning(exc.message(lang))
        return [state, None, *render_all(state, lang_value)]
    state.update(preview=views.thumbnail_jpeg(image), photo_check=None, pending=None, diagnosis=None,
                 low_confidence=False, guides={})
    state["photo_check"] = SERVICE.check_photo(image)
    if views.photo_flagged(state["photo_check"]):
        # Both "retake" and "not_scalp" wait for the user's explicit "Diagnose anyway": probabilities shown
        # next to a retake warning still read as a result (the seed saw 모낭사이홍반 misread from a colour
        # cast), and a retaken photo is one click away. Insisting then marks the result low-confidence.
        state["pending"] = image
    else:  # ok, or the check is unavailable (the status says it was skipped)
        _diagnose_into(state, image, lang, progress, low_confidence=False)
    del image
    return [state, None, *render_all(state, lang_value)]


def _diagnose_into(state, image, lang, progress, low_confidence: bool) -> None:
    """Diagnose ``image`` into the session ``state`` (a models-not-ready error is kept for the status)."""
    if SERVICE.model_status != "ready":
        progress(0.5, desc=t("model_loading", lang))
    try:
        state["diagnosis"] = SERVICE.diagnose_image(image, timeout=MODEL_WAIT_S)
    except ModelsNotReady as exc:
        state["diagnosis_error"] = t("model_failed", lang, error=exc) if SERVICE.model_status == "failed" else (
            t("err_models_not_ready", lang))
        return
    state.update(low_confidence=low_confidence, pending=None, guides={})


def on_insist(state, lang_value, progress=gr.Progress()):
    """The "그래도 진단하기 / Diagnose anyway" button: diagnose the flagged photo, marked low-confidence.

    The survey answers in the session are kept (as on every other event)."""
    lang = lang_code(lang_value)
    state = dict(state or new_session())
    state["diagnosis_error"] = None
    if state.get("pending") is not None and state["diagnosis"] is None:
        _diagnose_into(state, state["pending"], lang, progress, low_confidence=True)
    return [state, *render_all(state, lang_value)]


def on_survey(q1, q2, q3, state, lang_value):
    state = dict(state or new_session())
    state["q"] = (q1, list(q2 or []), list(q3 or []))
    return [state, *render_all(state, lang_value)]


def on_guide(state, lang_value):
    """Write (or reuse) the care guide for the current type; OpenAI when configured, else built-in texts.

    With an OpenAI key the built-in guide is shown at once and replaced when OpenAI answers (or
    stays, with its notice, when it fails or runs out of time): nobody stares at a spinner for the
    whole ``SCALP_OPENAI_TIMEOUT`` when the API is slow or silent.
    """
    lang = lang_code(lang_value)
    state = dict(state or new_session())
    if state["diagnosis"] is not None:
        survey, _ = _survey_of(state)
        result = scalp_type_for(state["diagnosis"], survey)
        key = (result.types, result.main_findings, lang)
        if key not in state["guides"]:
            if os.environ.get("OPENAI_API_KEY"):
                interim = rec("fallback_guide")(result, lang).to_markdown() + "\n\n" + t("guide_ai_pending", lang)
                yield {**state, "guides": {**state["guides"], key: interim}}, render_guide(
                    {**state, "guides": {**state["guides"], key: interim}}, lang)
            state["guides"] = {**state["guides"], key: care_guide_markdown(result, lang)}
    yield state, render_guide(state, lang)


def on_language(state, lang_value):
    lang = lang_code(lang_value)
    q1, q2, q3 = survey_choices(lang)
    return [
        gr.update(value=t("photo_guide_md", lang)),
        gr.update(label=t("upload_label", lang, max_mb=MAX_FILE_MB, max_mp=MAX_PIXELS // 1_000_000)),
        gr.update(value=t("survey_intro", lang)),
        gr.update(choices=q1, label=t("q1_label", lang)),
        gr.update(choices=q2, label=t("q2_label", lang)),
        gr.update(choices=q3, label=t("q3_label", lang)),
        gr.update(value=banner_html(lang)),
        gr.update(value=t("reference_title", lang)),
        model_status_markdown(lang_value)[0],
        *render_all(state or new_session(), lang_value),
    ]


def banner_html(lang: str) -> str:
    parts = [f'<div class="scalp-notice">{views.esc(t("medical_notice", lang))}</div>']
    if SERVICE.uses_synthetic_models:
        parts.append(f'<div class="scalp-banner">{views.esc(t("demo_banner", lang))}</div>')
    if SERVICE.catalog_is_demo:
        parts.append(f'<div class="scalp-notice">{views.esc(t("demo_catalog_banner", lang))}</div>')
    return "".join(parts)


def model_status_markdown(lang_value=None):
    lang = lang_code(lang_value)
    status = SERVICE.model_status
    if status == "ready":
        return t("model_ready", lang), gr.Timer(active=False)
    if status == "failed":
        return t("model_failed", lang, error=SERVICE.model_error), gr.Timer(active=False)
    SERVICE.start()
    return t("model_loading", lang), gr.Timer(active=True)


# ---------------------------------------------------------------------------------------------
# API endpoint functions (plain inputs; errors are gr.Error with a Korean / English message)
# ---------------------------------------------------------------------------------------------
def _api_image(path):
    if path is None:
        raise gr.Error(both("err_no_image"), print_exception=False)
    try:
        return decode_upload(path)
    except ImageInputError as exc:
        raise gr.Error(str(exc), print_exception=False) from None


def _api_survey(q1, q2, q3):
    try:
        return parse_survey(q1 or None, q2 or [], q3 or [])
    except ValueError as exc:
        raise gr.Error(f"{t('survey_error', 'ko', error=exc)} / {t('survey_error', 'en', error=exc)}",
                       print_exception=False) from None


def api_check_photo(image_path):
    """Photo check of one upload: verdict ok / retake / not_scalp, reasons and messages (ko, en)."""
    loaded = _api_image(image_path)
    image = loaded.image
    try:
        check = SERVICE.check_photo(image, strict=True)
    except Exception as exc:
        raise gr.Error(f"사진 확인을 할 수 없습니다 / The photo check failed: {type(exc).__name__}: {exc}",
                       print_exception=False) from None
    return _jsonable({"photo_check": check, "input": input_info(loaded)})


def api_survey_summary(q1, q2, q3, lang):
    """The survey's echo line, e.g. '당신의 두피가 🌟 건성 타입의 👤 탈모 증상이 있다고 선택하셨습니다.'"""
    from recommendation.survey import survey_summary

    survey = _api_survey(q1, q2, q3)
    if survey is None:
        raise gr.Error(f"{t('survey_incomplete', 'ko')} / {t('survey_incomplete', 'en')}", print_exception=False)
    return survey_summary(survey, lang_code(lang))


def api_diagnose(image_path, q1, q2, q3):
    """Six symptoms: calibrated probabilities, severity, uncertain flag; plus scalp type(s) and the note.

    Also ``photo_check``: the ``/check_photo`` result of the same photo (``verdict`` ok / retake /
    not_scalp, ``reasons``, ``messages_ko``/``messages_en``, ``low_confidence``, ...), or null while
    the check is still being prepared at start-up or when it is unavailable; and ``low_confidence``:
    true when the check flagged the photo, i.e. this diagnosis should be treated as unreliable.
    The check runs only once loaded (about 70–90 ms per photo), so /diagnose never waits for it.
    """
    survey = _api_survey(q1, q2, q3)
    loaded = _api_image(image_path)
    try:
        diagnosis = SERVICE.diagnose_image(loaded.image, timeout=MODEL_WAIT_S)
    except ModelsNotReady as exc:
        raise gr.Error(f"{both('err_models_not_ready')} ({exc})", print_exception=False) from None
    result = scalp_type_for(diagnosis, survey)
    out = dict(diagnosis)
    out["scalp_type"] = type_result_dict(result)
    out["survey"] = None if survey is None else {
        "scalp_type": survey.scalp_type, "symptoms": list(survey.symptoms), "categories": list(survey.categories)}
    out["demo_models"] = SERVICE.uses_synthetic_models
    out["input"] = input_info(loaded)
    check = SERVICE.check_photo_if_ready(loaded.image)
    out["photo_check"] = check
    out["low_confidence"] = views.photo_flagged(check)
    return _jsonable(out)


def api_care_guide(diagnosis, q1, lang):
    """Care guide (원인 / 특징 / 관리방안 + disclaimer) for a /diagnose result (or a {symptom: class} map)."""
    if not isinstance(diagnosis, dict):
        raise gr.Error("diagnosis must be the JSON returned by /diagnose or a {symptom key: class 0..2} map",
                       print_exception=False)
    survey = _api_survey(q1, [], [])
    try:
        result = scalp_type_for(diagnosis, survey)
    except (KeyError, ValueError) as exc:
        raise gr.Error(f"diagnosis: {exc}", print_exception=False) from None
    return care_guide_markdown(result, lang_code(lang))


def api_recommend(types, categories, top_k):
    """Top products per category for the given scalp type(s), with the matched ingredients."""
    from recommendation.scalp_type import type_order
    from recommendation.survey import resolve_category

    types = list(types or [])
    unknown = [x for x in types if x not in type_order()]
    if unknown or not types:
        raise gr.Error(f"types: unknown or missing {unknown}; choose from {type_order()}", print_exception=False)
    resolved = []
    for c in categories or []:
        key = resolve_category(c)
        if key is None:
            raise gr.Error(f"categories: unknown {c!r}; choose from {[x[1] for x in survey_choices('ko')[2]]}",
                           print_exception=False)
        resolved.append(key)
    if not resolved:
        raise gr.Error("categories: choose at least one product category", print_exception=False)
    k = int(top_k or 3)
    if not 1 <= k <= 20:
        raise gr.Error(f"top_k must be 1..20, got {top_k}", print_exception=False)
    return _jsonable(product_sections(types, resolved, top_k=k))


# ---------------------------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------------------------
def build_demo() -> gr.Blocks:
    lang0 = "ko"
    q1c, q2c, q3c = survey_choices(lang0)
    with gr.Blocks(title=t("app_title", lang0), delete_cache=(600, 3600)) as demo:
        state = gr.State(new_session(), time_to_live=SERVICE.config.session_ttl_s)
        with gr.Row():
            gr.Markdown(f"# {t('app_title', lang0)}\n{t('app_subtitle', lang0)}")
            lang = gr.Radio([c[0] for c in LANGUAGE_CHOICES], value="한국어", label=t("language_label", lang0),
                            scale=0, min_width=200)
        banner = gr.HTML(banner_html(lang0))
        model_status = gr.Markdown(t("model_loading", lang0))
        timer = gr.Timer(2.0)

        with gr.Tabs(selected="upload") as tabs:
            with gr.Tab(f"{t('tab_upload', 'ko')} · {t('tab_upload', 'en')[2:]}", id="upload"):
                photo_guide = gr.Markdown(t("photo_guide_md", lang0))
                upload = gr.File(label=t("upload_label", lang0, max_mb=MAX_FILE_MB, max_mp=MAX_PIXELS // 1_000_000),
                                 file_types=UPLOAD_TYPES, type="filepath", file_count="single")
                upload_status = gr.Markdown(t("upload_none", lang0))
                insist = gr.Button(t("btn_insist", lang0), variant="secondary", visible=False)
                upload_preview = gr.HTML()
                with gr.Row():
                    next1 = gr.Button(t("btn_next", lang0), variant="primary")
            with gr.Tab(f"{t('tab_survey', 'ko')} · {t('tab_survey', 'en')[2:]}", id="survey"):
                survey_intro = gr.Markdown(t("survey_intro", lang0))
                q1 = gr.Dropdown(q1c, value=None, label=t("q1_label", lang0))
                q2 = gr.Dropdown(q2c, value=[], multiselect=True, label=t("q2_label", lang0))
                q3 = gr.Dropdown(q3c, value=[], multiselect=True, label=t("q3_label", lang0))
                submit = gr.Button(t("btn_submit", lang0), variant="primary")
                summary = gr.Markdown(t("survey_incomplete", lang0))
                with gr.Row():
                    prev2 = gr.Button(t("btn_prev", lang0))
                    next2 = gr.Button(t("btn_next", lang0), variant="primary")
            with gr.Tab(f"{t('tab_result', 'ko')} · {t('tab_result', 'en')[2:]}", id="result"):
                result_header = gr.Markdown(t("result_intro", lang0))
                with gr.Row():
                    result_preview = gr.HTML()
                    severity_md = gr.Markdown()
                label_boxes = []
                for row in range(2):
                    with gr.Row():
                        for spec in SYMPTOMS[row * 3:(row + 1) * 3]:
                            label_boxes.append(gr.Label(label=f"{spec.ko} ({spec.en})", num_top_classes=3))
                note_md = gr.Markdown()
                reference_title = gr.Markdown(t("reference_title", lang0))
                gallery = gr.Gallery(label="illustrations", show_label=False, columns=6, height=230,
                                     allow_preview=True)
                with gr.Row():
                    home3 = gr.Button(t("btn_home", lang0))
                    prev3 = gr.Button(t("btn_prev", lang0))
                    next3 = gr.Button(t("btn_next", lang0), variant="primary")
            with gr.Tab(f"{t('tab_guide', 'ko')} · {t('tab_guide', 'en')[2:]}", id="guide") as guide_tab:
                guide_md = gr.Markdown(t("guide_need_result", lang0))
                with gr.Row():
                    home4 = gr.Button(t("btn_home", lang0))
                    prev4 = gr.Button(t("btn_prev", lang0))
                    next4 = gr.Button(t("btn_next", lang0), variant="primary")
            with gr.Tab(f"{t('tab_products', 'ko')} · {t('tab_products', 'en')[2:]}", id="products"):
                gr.Markdown(t("products_title", lang0))
                products_html = gr.HTML()
                with gr.Row():
                    home5 = gr.Button(t("btn_home", lang0))
                    prev5 = gr.Button(t("btn_prev", lang0))

        rendered = [upload_status, upload_preview, summary, result_header, result_preview, *label_boxes,
                    severity_md, note_md, gallery, guide_md, products_html, insist]

        # ---- UI events (private endpoints: they carry the session state)
        upload.upload(on_upload, [upload, state, lang], [state, upload, *rendered],
                      api_name="ui_upload", api_visibility="private")
        insist.click(on_insist, [state, lang], [state, *rendered], api_name="ui_insist", api_visibility="private")
        for i, comp in enumerate((q1, q2, q3)):
            comp.change(on_survey, [q1, q2, q3, state, lang], [state, *rendered],
                        api_name=f"ui_survey_change_{i + 1}", api_visibility="private")
        submit.click(on_survey, [q1, q2, q3, state, lang], [state, *rendered],
                     api_name="ui_survey_submit", api_visibility="private")
        lang.change(on_language, [state, lang],
                    [photo_guide, upload, survey_intro, q1, q2, q3, banner, reference_title, model_status, *rendered],
                    api_name="ui_language", api_visibility="private")
        timer.tick(model_status_markdown, [lang], [model_status, timer],
                   api_name="ui_model_status", api_visibility="private")
        demo.load(model_status_markdown, [lang], [model_status, timer],
                  api_name="ui_model_status_load", api_visibility="private")
        demo.load(lambda s, lv: render_all(s or new_session(), lv), [state, lang], rendered,
                  api_name="ui_render", api_visibility="private")
        guide_tab.select(on_guide, [state, lang], [state, guide_md],
                         api_name="ui_guide_tab", api_visibility="private")

        def goto(tab_id):
            return lambda: gr.Tabs(selected=tab_id)

        nav = [(next1, "survey"), (prev2, "upload"), (next2, "result"), (home3, "upload"), (prev3, "survey"),
               (home4, "upload"), (prev4, "result"), (next4, "products"), (home5, "upload"), (prev5, "guide")]
        for button, target in nav:
            button.click(goto(target), None, tabs, api_name=f"ui_nav_{target}_{button._id}",
                         api_visibility="private")
        next3.click(goto("guide"), None, tabs, api_name="ui_nav_guide", api_visibility="private").then(
            on_guide, [state, lang], [state, guide_md], api_name="ui_guide", api_visibility="private")

        # ---- API endpoints with plain inputs (hidden components; see the README example)
        with gr.Column(visible=False):
            api_image = gr.File(label="image", type="filepath")
            api_q1 = gr.Textbox(label="q1_scalp_type")
            api_q2 = gr.Dropdown([c[1] for c in q2c], label="q2_symptoms", multiselect=True, allow_custom_value=True)
            api_q3 = gr.Dropdown([c[1] for c in q3c], label="q3_products", multiselect=True, allow_custom_value=True)
            api_lang = gr.Textbox(value="ko", label="lang")
            api_diag_in = gr.JSON(label="diagnosis")
            api_types = gr.Dropdown(_type_choices(), label="types", multiselect=True, allow_custom_value=True)
            api_topk = gr.Number(value=3, precision=0, label="top_k")
            api_json = gr.JSON(label="result")
            api_text = gr.Textbox(label="text")
            api_button = gr.Button("api")
        api_button.click(api_check_photo, [api_image], api_json, api_name="check_photo")
        api_button.click(api_survey_summary, [api_q1, api_q2, api_q3, api_lang], api_text, api_name="survey_summary")
        api_button.click(api_diagnose, [api_image, api_q1, api_q2, api_q3], api_json, api_name="diagnose")
        api_button.click(api_care_guide, [api_diag_in, api_q1, api_lang], api_text, api_name="care_guide")
        api_button.click(api_recommend, [api_types, api_q3, api_topk], api_json, api_name="recommend")
    return demo


def _type_choices() -> list[str]:
    from recommendation.scalp_type import type_order

    return type_order()


demo = build_demo()


def launch(config: AppConfig, **overrides):
    """Start loading the models in the background, then serve.

    Returns ``(app, local_url, share_url)`` when ``prevent_thread_lock=True`` is passed,
    otherwise blocks until the server stops.
    """
    SERVICE.reconfigure(config)
    SERVICE.start()
    block = not overrides.pop("prevent_thread_lock", False)
    kwargs = dict(
        server_name=config.host,
        server_port=config.port,
        share=config.share,
        max_file_size=f"{MAX_FILE_MB}mb",
        css=views.CARD_CSS,
        footer_links=["api"],
        prevent_thread_lock=True,
    )
    kwargs.update(overrides)
    try:
        result = demo.launch(**kwargs)
    except Exception as exc:
        if not kwargs.get("share"):
            raise
        print(f"Could not open a Gradio share link ({type(exc).__name__}: {exc}).", flush=True)
        kwargs["share"] = False
        result = demo.launch(**kwargs)
    if config.share and not getattr(demo, "share_url", None):
        # Offline or blocked tunnel: Gradio gives no URL; the app keeps serving locally.
        print(f"공유 링크를 열 수 없습니다 / No share link could be opened; serving locally only at "
              f"{getattr(demo, 'local_url', '')}", flush=True)
    if block:
        demo.block_thread()
    return result


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = parse_config(argv)
    launch(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
