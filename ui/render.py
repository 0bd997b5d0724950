"""What every tab shows for a :class:`ui.session.Session`, in the chosen language.

``render_all`` returns the values of the components listed in ``app.py``'s ``rendered`` list, in
that order; every UI event ends with it, so a change in one tab (a new photo, a survey answer, the
language) is reflected in all of them. Texts come from ``ui/strings.yaml``; HTML is built by
``ui.views``, which escapes everything that comes from a catalog, a model or a user.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

import gradio as gr

from recommendation.scalp_type import type_label
from recommendation.survey import load_categories, scalp_type_options, survey_summary
from scalp_core.symptoms import SYMPTOMS, severity_name
from synthetic.render import reference_image
from ui import explain_view, history, regions_view, views
from ui.errors import public_error
from ui.i18n import lang_code, t
from ui.resources import Unavailable
from ui.service import ScalpService
from ui.session import Session

log = logging.getLogger("scalp_app")

REFERENCE_GRADE = 3  # the illustrations show each symptom at 중증
REFERENCE_SIZE = (320, 240)

_reference_lock = threading.Lock()
_reference_paths: tuple[tuple[str, str], ...] | None = None


def reference_pictures() -> tuple[tuple[str, str], ...]:
    """(path, symptom key) of a generated illustration (never an AI Hub photo) of each symptom at 중증,
    drawn and saved once per process."""
    global _reference_paths
    with _reference_lock:
        if _reference_paths is None:
            folder = Path(tempfile.mkdtemp(prefix="scalp-reference-"))
            paths = []
            for i, spec in enumerate(SYMPTOMS):
                path = folder / f"reference_{spec.key}.png"
                reference_image(spec.key, REFERENCE_GRADE, seed=1000 + i, size=REFERENCE_SIZE).save(path)
                paths.append((str(path), spec.key))
            _reference_paths = tuple(paths)
        return _reference_paths


def reference_gallery(lang: str) -> list[tuple[str, str]]:
    return [
        (path, t("reference_caption", lang, symptom=views.symptom_title(key, lang),
                 grade=severity_name(2, lang=lang)))
        for path, key in reference_pictures()
    ]


def banner_html(service: ScalpService, lang: str) -> str:
    parts = [f'<div class="scalp-notice">{views.esc(t("medical_notice", lang))}</div>']
    if service.uses_synthetic_models:
        parts.append(f'<div class="scalp-banner">{views.esc(t("demo_banner", lang))}</div>')
    if service.catalog_is_demo:
        parts.append(f'<div class="scalp-notice">{views.esc(t("demo_catalog_banner", lang))}</div>')
    return "".join(parts)


def model_status(service: ScalpService, lang: str) -> tuple[str, bool]:
    """(the status lines, whether to keep polling); starts (or retries, when due) the background loads.

    Polling goes on while anything is loading or waiting for a retry, so a recovery shows up by itself."""
    service.start()
    if service.model_status == "ready":
        lines = [t("model_ready", lang)]
    elif service.model_status == "failed":
        lines = [t("model_retrying", lang, error=service.model_error, seconds=round(service.model_retry_in_s or 0))]
    else:
        lines = [t("model_loading", lang)]
    if service.photo_check_status == "failed":
        lines.append(t("photo_check_failed_status", lang, error=service.photo_check_error))
    if service.catalog_status == "failed":
        lines.append(t("catalog_failed_status", lang, error=service.catalog_error))
    settled = service.model_status == "ready" and service.photo_check_status == "ready" and (
        service.catalog_status in ("idle", "ready"))
    return "\n\n".join(lines), not settled


def upload_status(session: Session, lang: str) -> str:
    parts = []
    if session.upload_error:
        code, values = session.upload_error
        parts.append("❗ " + t(f"err_{code}", lang, **values))
    elif session.preview:
        parts.append(t("upload_ok", lang))
    if session.preview:
        parts.append(views.photo_check_markdown(session.photo_check, lang))
        if session.waiting_for_insist:
            parts.append(t("photo_check_insist_hint", lang))
        elif session.diagnosis is not None and session.low_confidence and session.photo_check is not None:
            parts.append(t("photo_check_insisted", lang))
    if session.diagnosis_error:
        parts.append("❗ " + session.diagnosis_error)
    return "\n\n".join(parts) or t("upload_none", lang)


def survey_echo(session: Session, lang: str) -> str:
    if session.survey_error:
        return "❗ " + t("survey_error", lang, error=session.survey_error)
    if session.survey is None:
        return t("survey_incomplete", lang)
    return f"**{t('survey_success', lang)}**\n\n- {survey_summary(session.survey, lang)}\n{t('survey_next_hint', lang)}"


def result(session: Session, lang: str) -> tuple[str, list, str, str]:
    """(header Markdown, the six ``gr.Label`` values, the severity table, the analysis note)."""
    if session.region_photos:  # a four-region check-up: the overall result (ui.regions_view)
        header, labels, table = regions_view.result_parts(session, lang)
        return header, labels, table, analysis_note(session, lang) if session.scalp_type else ""
    diagnosis, scalp_type = session.diagnosis, session.scalp_type
    if diagnosis is None or scalp_type is None:
        if session.preview and views.photo_flagged(session.photo_check) and not session.diagnosis_error:
            message = t("result_not_diagnosed", lang)
        else:
            message = session.diagnosis_error or t("result_need_photo", lang)
        return t("result_intro", lang) + "\n\n" + message, [None] * len(SYMPTOMS), "", ""
    labels = [views.label_value(result) for result in diagnosis]
    header = t("result_intro", lang)
    if session.low_confidence:
        header += "\n\n" + views.low_confidence_banner(session.photo_check, lang)
    if views.domain_message(session.domain, lang):
        header += "\n\n" + views.domain_message(session.domain, lang)
    return header, labels, views.severity_table(diagnosis, lang), analysis_note(session, lang)


def analysis_note(session: Session, lang: str) -> str:
    """The 상태분석 노트 of the session's scalp type (a single photo's, or a check-up's overall one)."""
    scalp_type = session.scalp_type
    types = ", ".join(type_label(x, lang) for x in scalp_type.types)
    note = [t("note_title", lang), t("scalp_type_line", lang, types=types),
            t("main_finding_line", lang,
              finding=scalp_type.main_finding_ko if lang == "ko" else scalp_type.main_finding_en),
            scalp_type.note(lang)]
    if session.survey is None:
        note.append(t("type_needs_survey", lang))
    note.extend(history.note_lines(session, lang))  # "compare with last time" (ui.history_tab)
    note.append(t("note_next_hint", lang))
    return "\n\n".join(note)


def products(session: Session, lang: str, service: ScalpService) -> str:
    if session.scalp_type is None:
        return f"<p>{views.esc(t('result_need_photo', lang))}</p>"
    if session.survey is None or not session.survey.categories:
        return f"<p>{views.esc(t('products_need_categories', lang))}</p>"
    try:
        sections = service.product_sections(session.scalp_type.types, session.survey.categories)
    except Unavailable as exc:  # the catalog could not be loaded (yet): say so; it is retried
        return f"<p>❗ {views.esc(t('catalog_failed_status', lang, error=exc.error or exc))}</p>"
    except Exception as exc:  # a broken catalog must not break the other steps
        log.exception("recommendation failed")
        return f"<p>❗ {views.esc(public_error(exc))}</p>"
    return views.products_section_html(sections, lang)


def guide(session: Session, lang: str) -> str:
    if session.guide_key is None:
        return t("guide_need_result", lang)
    text = session.guides.get((*session.guide_key, lang))
    return t("guide_title", lang) + "\n\n" + (text if text else t("guide_loading", lang))


def render_all(session: Session, lang_value, service: ScalpService) -> list:
    """The values of ``app.py``'s ``rendered`` components, in order."""
    lang = lang_code(lang_value)
    header, labels, table, note = result(session, lang)
    preview = views.preview_html(session.preview, lang)
    return [
        upload_status(session, lang),
        preview,
        survey_echo(session, lang),
        header,
        regions_view.previews_html(session, lang) if session.region_photos else preview,
        *[gr.update(value=v) for v in labels],
        table,
        note,
        reference_gallery(lang),
        guide(session, lang),
        products(session, lang, service),
        # "그래도 진단하기 / Diagnose anyway": only while a flagged photo waits undiagnosed
        gr.update(visible=session.waiting_for_insist, value=t("btn_insist", lang)),
        explain_view.panel_html(session, lang),  # the result tab's "Why?" heatmaps
    ]


def survey_choices(lang: str) -> tuple[list, list, list]:
    """The (label, key) choices of Q1..Q3; keys are language independent, labels follow the language."""
    q1 = [(o["ko"] if lang == "ko" else o["en"], o["key"]) for o in scalp_type_options()]
    q2 = [(s.ko if lang == "ko" else f"{s.en} ({s.ko})", s.key) for s in SYMPTOMS]
    q3 = [(c.key if lang == "ko" else f"{c.en} ({c.key})", c.key) for c in load_categories()]
    return q1, q2, q3
