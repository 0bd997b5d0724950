"""The downloadable one-page report (PDF): photo thumbnail(s), date, the six severities, the scalp type and
note, the care guide, the product picks and the not-a-medical-device notice.

The PDF is written in memory by fpdf2 (pure Python) with Noto Sans KR from the ``pylopdf-fonts-ko``
package (SIL Open Font License 1.1, installed from PyPI with ``requirements.txt``: a Hugging Face Space
has no Korean system font). fpdf2 embeds a subset of the font with a ToUnicode map, so the text can be
searched and copied. Nothing is written to disk: the UI hands the bytes to the browser
(``ui.history_tab``). Build one from plain values::

    from ui.report import ReportData, build_report_pdf
    pdf_bytes = build_report_pdf(ReportData(lang="ko", date="2025-05-01 09:30", ...))

or from a session with :func:`report_data`.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from functools import cache

from fpdf import FPDF
from PIL import Image

from recommendation.scalp_type import join_type_labels
from scalp_core.symptoms import SYMPTOMS, severity_name
from ui.errors import public_error
from ui.history import display_date, regions_text, symptom_name
from ui.i18n import t
from ui.regions import region_label
from ui.session import ANSWER_SCHEME

log = logging.getLogger("scalp_app")

FONT_FAMILY = "NotoSansKR"
PAGE_MARGIN_MM = 14
THUMB_MAX_MM = 44  # a thumbnail's longer side; four regions fit side by side
PRODUCTS_PER_CATEGORY = 3
GUIDE_MAX_LINES = 40
TEXT_COLOR = (34, 34, 34)
MUTED_COLOR = (100, 100, 100)
ACCENT_COLOR = (29, 47, 90)


@cache
def font_path() -> str:
    """Noto Sans KR (OTF) shipped by the ``pylopdf-fonts-ko`` package."""
    import pylopdf_fonts_ko

    return str(pylopdf_fonts_ko.sans_path())


@cache
def _font_chars() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(font_path(), lazy=True) as font:
        return frozenset(font["cmap"].getBestCmap())


def printable(text: str) -> str:
    """``text`` without the characters the font lacks (emoji, variation selectors), spaces tidied."""
    chars = _font_chars()
    kept = "".join(c for c in str(text) if c in "\n\t " or ord(c) in chars)
    return "\n".join(" ".join(line.split()) for line in kept.split("\n")).strip()


def markdown_lines(markdown: str) -> list[tuple[str, str]]:
    """(kind, text) per line of the app's Markdown (guide texts): ``head`` for headings, else ``text``;
    the markup (``###``, ``**``, ``>``) is dropped because the report sets plain text."""
    lines = []
    for raw in markdown.splitlines():
        line = raw.strip()
        if not line:
            continue
        kind = "head" if line.startswith("#") else "text"
        line = re.sub(r"^(#+|>)\s*", "", line).replace("**", "").replace("__", "")
        line = printable(line)
        if line:
            lines.append((kind, line))
    return lines


@dataclass(frozen=True)
class SeverityRow:
    symptom: str
    severity: str
    probability: float
    uncertain: bool = False
    worst_region: str = ""


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, already in the report's language."""

    lang: str
    date: str
    photos: tuple[tuple[str, bytes], ...]  # (caption, JPEG bytes)
    rows: tuple[SeverityRow, ...]
    scalp_type: str
    note: str = ""
    regions: str = ""
    guide_markdown: str = ""
    products: tuple[str, ...] = ()
    products_note: str = ""
    banners: tuple[str, ...] = ()  # demo-model banner and the like
    notice: str = field(default="")


# ---- from a session --------------------------------------------------------------------------------
def _severity_rows(session, lang: str) -> tuple[SeverityRow, ...]:
    overall = getattr(session, "overall", None)
    rows = []
    for spec in SYMPTOMS:
        if overall is not None and getattr(session, "region_photos", ()):
            item = overall[spec.key]
            level, probability = int(item.predicted), float(max(item.probabilities))
            worst = region_label(item.worst_region, lang) if level > 0 else ""
            rows.append(SeverityRow(symptom_name(spec.key, lang), severity_name(level, scheme=ANSWER_SCHEME, lang=lang),
                                    probability, bool(item.uncertain), worst))
        else:
            result = session.diagnosis[spec.key]
            level = int(result.predicted)
            rows.append(SeverityRow(symptom_name(spec.key, lang), severity_name(level, scheme=ANSWER_SCHEME, lang=lang),
                                    float(result.probabilities[level]), bool(result.uncertain)))
    return tuple(rows)


def _photos(session, lang: str) -> tuple[tuple[str, bytes], ...]:
    photos = []
    for region in getattr(session, "region_photos", ()) or ():
        preview = getattr(region.photo, "preview", None)
        if preview:
            photos.append((region_label(region.code, lang), preview))
    if not photos and session.preview:
        photos.append((t("your_photo", lang), session.preview))
    return tuple(photos)


def _products(session, lang: str, service) -> tuple[tuple[str, ...], str]:
    if session.survey is None or not session.survey.categories:
        return (), t("report_no_products", lang)
    try:
        sections = service.product_sections(session.scalp_type.types, session.survey.categories,
                                            top_k=PRODUCTS_PER_CATEGORY)
    except Exception as exc:  # the catalog is down: the report still has everything else
        log.exception("report without products")
        return (), t("catalog_failed_status", lang, error=public_error(exc))
    lines = []
    for section in sections:
        for row in section["rows"]:
            star = row.get("star")
            star_text = f" ★{float(star):.1f}" if isinstance(star, (int, float)) else ""
            matched = row.get("matched_ingredients")
            matched = ", ".join(map(str, matched)) if matched is not None and len(matched) else ""
            line = f"[{section['category']}] {row.get('brand_name') or ''} — {row.get('product_name') or ''}{star_text}"
            lines.append(line + (f" · {t('card_matched', lang)}: {matched}" if matched else ""))
    return tuple(lines), "" if lines else t("products_none", lang, category=", ".join(session.survey.categories))


def report_data(session, lang: str, service, date: str) -> ReportData | None:
    """The report of the session's current result in ``lang`` (None before a diagnosis); ``date`` is ISO."""
    if session.scalp_type is None:
        return None
    scalp_type = session.scalp_type
    guide = session.guides.get((*session.guide_key, lang)) or service.builtin_guide(scalp_type, lang).to_markdown()
    products, products_note = _products(session, lang, service)
    overall = getattr(session, "overall", None)
    regions = overall.regions if overall is not None and getattr(session, "region_photos", ()) else ()
    banners = (t("demo_banner", lang),) if service.uses_synthetic_models else ()
    return ReportData(
        lang=lang, date=display_date(date), photos=_photos(session, lang), rows=_severity_rows(session, lang),
        scalp_type=join_type_labels(scalp_type.types, lang), note=scalp_type.note(lang),
        regions=regions_text(regions, lang) if regions else "", guide_markdown=guide, products=products, products_note=products_note,
        banners=banners, notice=t("medical_notice", lang))


# ---- the PDF ---------------------------------------------------------------------------------------
class _Page:
    """One A4 page with the Korean font and a few layout helpers (fpdf2 works in millimetres)."""

    def __init__(self):
        self.pdf = FPDF(format="A4", unit="mm")
        self.pdf.set_auto_page_break(False)  # one page: what does not fit is cut, with a note
        self.pdf.set_margins(PAGE_MARGIN_MM, PAGE_MARGIN_MM, PAGE_MARGIN_MM)
        self.pdf.add_page()
        self.pdf.add_font(FONT_FAMILY, "", font_path())
        self.pdf.set_text_color(*TEXT_COLOR)

    @property
    def width(self) -> float:
        return self.pdf.epw

    def text(self, text: str, size: float = 9.5, color=TEXT_COLOR, gap: float = 0.8) -> None:
        self.pdf.set_font(FONT_FAMILY, size=size)
        self.pdf.set_text_color(*color)
        self.pdf.multi_cell(self.width, size * 0.45, printable(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(gap)

    def height_of(self, text: str, size: float) -> float:
        self.pdf.set_font(FONT_FAMILY, size=size)
        return self.pdf.multi_cell(self.width, size * 0.45, printable(text), align="L", dry_run=True, output="HEIGHT")

    def heading(self, text: str) -> None:
        self.pdf.ln(1.5)
        self.text(text, size=12, color=ACCENT_COLOR, gap=0.6)


def _photos_block(page: _Page, photos) -> None:
    pdf, x, top, tallest = page.pdf, PAGE_MARGIN_MM, page.pdf.get_y(), 0.0
    for caption, jpeg in photos[:4]:
        with Image.open(io.BytesIO(jpeg)) as image:
            w_px, h_px = image.size
        scale = THUMB_MAX_MM / max(w_px, h_px)
        w, h = w_px * scale, h_px * scale
        pdf.image(io.BytesIO(jpeg), x=x, y=top, w=w, h=h)
        pdf.set_xy(x, top + h + 0.8)
        pdf.set_font(FONT_FAMILY, size=8)
        pdf.set_text_color(*MUTED_COLOR)
        pdf.cell(w, 3.5, printable(caption))
        tallest = max(tallest, h + 5)
        x += w + 4
    pdf.set_xy(PAGE_MARGIN_MM, top + tallest + 1)


def _severity_table(page: _Page, data: ReportData) -> None:
    lang = data.lang
    with_regions = any(row.worst_region for row in data.rows)
    headers = [t("report_col_symptom", lang), t("report_col_severity", lang), t("report_col_probability", lang)]
    widths = (40, 42, 24) + ((40,) if with_regions else ())
    if with_regions:
        headers.append(t("report_col_worst", lang))
    page.pdf.set_font(FONT_FAMILY, size=9)
    page.pdf.set_text_color(*TEXT_COLOR)
    with page.pdf.table(col_widths=widths, width=sum(widths), align="LEFT", line_height=5,
                        first_row_as_headings=False) as table:
        table.row([printable(h) for h in headers])
        for row in data.rows:
            severity = row.severity + (f" ({t('report_uncertain', lang)})" if row.uncertain else "")
            cells = [row.symptom, severity, f"{row.probability:.0%}"] + ([row.worst_region] if with_regions else [])
            table.row([printable(c) for c in cells])
    page.pdf.ln(1.5)


def build_report_pdf(data: ReportData) -> bytes:
    """The one-page PDF of ``data``."""
    lang, page = data.lang, _Page()
    pdf = page.pdf
    page.text(t("report_title", lang), size=17, color=ACCENT_COLOR, gap=0.4)
    page.text(t("report_date", lang, date=data.date) + (f" · {data.regions}" if data.regions else ""), size=9,
              color=MUTED_COLOR, gap=1.5)
    for banner in data.banners:
        page.text(banner, size=8.5, color=(120, 80, 0), gap=0.8)
    if data.photos:
        _photos_block(page, data.photos)
    page.heading(t("report_severities", lang))
    _severity_table(page, data)
    page.text(t("report_scalp_type", lang, types=data.scalp_type), size=10.5, gap=0.5)
    if data.note:
        page.text(data.note, size=8.5, color=MUTED_COLOR, gap=0.5)

    # What must fit below the guide: the products and, at the foot of the page, the notice.
    notice_text = f"{t('report_notice_title', lang)} — {data.notice}"
    notice_h = page.height_of(notice_text, 8.5) + 4
    product_lines = list(data.products) or [data.products_note]
    products_h = 9 + sum(page.height_of(line, 8.5) + 0.3 for line in product_lines)
    foot = pdf.h - PAGE_MARGIN_MM - notice_h
    guide_bottom = foot - products_h

    page.heading(t("report_guide", lang))
    for i, (kind, line) in enumerate(markdown_lines(data.guide_markdown)):
        size = 9.5 if kind == "head" else 8.5
        if i >= GUIDE_MAX_LINES or pdf.get_y() + page.height_of(line, size) > guide_bottom - 5:
            page.text(t("report_truncated", lang), size=8, color=MUTED_COLOR)
            break
        page.text(line, size=size, color=ACCENT_COLOR if kind == "head" else TEXT_COLOR, gap=0.3)

    page.heading(t("report_products", lang))
    for line in product_lines:
        if pdf.get_y() + page.height_of(line, 8.5) > foot:
            break
        page.text(line, size=8.5, gap=0.3)

    pdf.set_draw_color(*ACCENT_COLOR)
    pdf.line(PAGE_MARGIN_MM, foot + 1, pdf.w - PAGE_MARGIN_MM, foot + 1)
    pdf.set_xy(PAGE_MARGIN_MM, foot + 2.5)
    page.text(notice_text, size=8.5, color=ACCENT_COLOR)
    return bytes(pdf.output())


def report_file_name(lang: str, date: str) -> str:
    """``두피리포트_2025-05-01.pdf`` / ``scalp-report_2025-05-01.pdf``."""
    return f"{t('report_file_name', lang)}_{date[:10] or 'today'}.pdf"
