"""What the result tab shows for a four-region check-up (``ui.regions``): the photos, the per-region table
of the six severities with the overall column, and the header's banners.

``ui.render.result`` calls :func:`result_parts` when the session holds a check-up; the note under the
table is the single photo's note built from the overall result (``ui.render.analysis_note``). Every
value that could come from a user is escaped (``ui.views``). Pure functions of a ``ui.session.Session``::

    header, labels, table = result_parts(session, "ko")
"""

from __future__ import annotations

import base64

from scalp_core.symptoms import SYMPTOMS, severity_name
from ui import views
from ui.i18n import t
from ui.regions import REGION_CODES, RegionPhoto, region_label

THUMB_CSS = "max-width:160px;border-radius:6px;border:1px solid #ccc"


def region_choices(lang: str) -> list[tuple[str, str]]:
    """The (label, code) choices of a region dropdown: "TH 정수리", ... in ``REGION_CODES`` order."""
    return [(region_label(code, lang), code) for code in REGION_CODES]


def thumbnail_html(photo: RegionPhoto, lang: str) -> str:
    """One region's photo preview (inline JPEG, never a file) captioned with its region."""
    label = views.esc(region_label(photo.code, lang))
    jpeg = getattr(photo.photo, "preview", None)
    if not jpeg:
        return f"<div><b>{label}</b></div>"
    src = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
    return (f'<figure style="margin:0 8px 8px 0"><img alt="{label}" src="{src}" style="{THUMB_CSS}"/>'
            f"<figcaption><b>{label}</b></figcaption></figure>")


def previews_html(session, lang: str) -> str:
    """Every photo of the check-up, side by side, in region order."""
    photos = sorted(session.region_photos, key=lambda p: REGION_CODES.index(p.code))
    figures = "".join(thumbnail_html(photo, lang) for photo in photos)
    return f'<div class="scalp-preview" style="display:flex;flex-wrap:wrap">{figures}</div>'


def not_diagnosed_reason(photo: RegionPhoto, lang: str) -> str | None:
    """Why a region has no diagnosis (a refused file, a flagged photo waiting, the models), or None."""
    state = photo.photo
    if state.diagnosis is not None:
        return None
    if state.upload_error:
        code, values = state.upload_error
        return t(f"err_{code}", lang, **values)
    if state.diagnosis_error:
        return state.diagnosis_error
    if state.waiting_for_insist:
        return t("regions_waiting", lang)
    return t("result_need_photo", lang)


def _cell(answer, lang: str) -> str:
    mark = " ⚠️" if answer.uncertain else ""
    return f"{severity_name(answer.predicted, lang=lang)} {float(answer.probabilities[answer.predicted]):.0%}{mark}"


def region_table(session, lang: str) -> str:
    """Markdown: one row per symptom, one column per diagnosed region, then the overall column; under it
    the legend and every region that was not diagnosed, with the reason."""
    overall, regions = session.overall, session.regions
    lines = [t("regions_table_title", lang)]
    if overall is not None:
        codes = list(overall.regions)
        head = [t("regions_symptom_col", lang), *(region_label(c, lang) for c in codes), t("regions_overall_col", lang)]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for spec in SYMPTOMS:
            entry = overall[spec.key]
            cells = [views.symptom_title(spec.key, lang)]
            cells += [_cell(regions[c].diagnosis[spec.key], lang) for c in codes]
            mark = " ⚠️" if entry.uncertain else ""
            cells.append(f"**{entry.severity(lang)}**{mark} · {region_label(entry.worst_region, lang)} · "
                         f"{entry.probabilities[entry.predicted]:.0%}")
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", t("regions_legend", lang)]
    missing = [(photo, not_diagnosed_reason(photo, lang)) for photo in session.region_photos]
    lines += [""] + [t("regions_not_diagnosed", lang, region=region_label(p.code, lang), reason=reason)
                     for p, reason in missing if reason]
    return "\n".join(lines).rstrip()


def _banners(session, lang: str) -> list[str]:
    """Low-confidence regions (flagged or unchecked photos diagnosed anyway) and domain-check messages."""
    diagnosed = [p for p in session.region_photos if p.diagnosis is not None]
    out = []
    low = [region_label(p.code, lang) for p in diagnosed if p.photo.low_confidence]
    if low:
        out.append(t("regions_low_conf", lang, regions=", ".join(low)))
    by_message: dict[str, list[str]] = {}
    for photo in diagnosed:
        message = views.domain_message(photo.photo.domain, lang)
        if message:
            by_message.setdefault(message, []).append(region_label(photo.code, lang))
    out += [t("regions_domain", lang, region=", ".join(codes), message=message) for message, codes in by_message.items()]
    return out


def result_parts(session, lang: str) -> tuple[str, list, str]:
    """(header Markdown, the six ``gr.Label`` values of the averaged probabilities, the region table)."""
    overall = session.overall
    header = [t("result_intro", lang)]
    if overall is None:
        header.append(t("regions_result_none", lang))
        return "\n\n".join(header), [None] * len(SYMPTOMS), region_table(session, lang)
    header.append(t("regions_result_intro", lang, regions=", ".join(region_label(c, lang) for c in overall.regions)))
    header += _banners(session, lang)
    labels = [views.label_value(overall[spec.key]) for spec in SYMPTOMS]
    return "\n\n".join(header), labels, region_table(session, lang)
