"""Formatting helpers of the app: Markdown and HTML built from plain dicts and DataFrames.

Every text that comes from a catalog, a model or a user is HTML-escaped here (catalog rows
are scraped data and may hold markup); links are kept only when they are http(s) URLs.
Pure functions without Gradio, so they are easy to test::

    python -c "from ui.views import product_cards_html; print(product_cards_html([], 'ko'))"
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from PIL import Image

from recommendation.demo_images import image_dir
from scalp_core.symptoms import SYMPTOMS, severity_name
from ui.i18n import load_strings, t

CARD_CSS = """
.scalp-cards {display:flex; flex-wrap:wrap; gap:12px; margin:6px 0 18px 0;}
.scalp-card {width:220px; border:1px solid #ddd; border-radius:10px; padding:10px; background:#fff; color:#222;}
.scalp-card img {width:100%; height:160px; object-fit:contain; background:#f6f6f6; border-radius:6px;}
.scalp-card .brand {font-size:12px; color:#666; margin-top:6px;}
.scalp-card .name {font-weight:600; font-size:14px; margin:2px 0 4px 0;}
.scalp-card .stars {color:#e8a200; font-size:14px;}
.scalp-card .matched {font-size:12px; margin-top:4px;}
.scalp-card .why {font-size:12px; color:#555;}
.scalp-card .flagged {font-size:12px; color:#b00020; margin-top:4px;}
.scalp-card a.shop {display:inline-block; margin-top:6px; font-size:13px;}
.scalp-noimg {width:100%; height:160px; background:#eee; border-radius:6px; display:flex; align-items:center;
  justify-content:center; color:#888; font-size:12px;}
.scalp-banner {padding:8px 12px; border-radius:8px; background:#fff4d6; color:#5a4300; font-weight:600;}
.scalp-notice {padding:6px 12px; border-radius:8px; background:#eef3ff; color:#1d2f5a; font-size:13px;}
.scalp-preview img {max-width:320px; border-radius:8px; border:1px solid #ccc;}
"""


def esc(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def safe_url(value) -> str | None:
    """The URL, escaped, if it is an absolute http(s) URL; otherwise None (no javascript: links)."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return html.escape(url, quote=True)
    return None


def _local_image_dirs() -> list[Path]:
    """Folders whose images may be inlined into cards (the demo catalog's rendered pictures only)."""
    return [image_dir().resolve()]


@lru_cache(maxsize=256)
def _inline_image(path: str) -> str | None:
    p = Path(path).resolve()
    if p.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp") or not p.is_file():
        return None
    if not any(p.is_relative_to(d) for d in _local_image_dirs()) or p.stat().st_size > 512 * 1024:
        return None  # a catalog row must never make the app read (and publish) arbitrary local files
    mime = "image/png" if p.suffix.lower() == ".png" else "image/webp" if p.suffix.lower() == ".webp" else "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(p.read_bytes()).decode("ascii")


def image_src(value) -> str | None:
    """A card's image source: an http(s) URL, or a demo-catalog picture inlined as a data URI."""
    url = safe_url(value)
    if url or not isinstance(value, str) or not value.strip():
        return url
    return _inline_image(value.strip())


def preview_html(jpeg_bytes: bytes | None, lang: str) -> str:
    """The user's photo as an inline data URI: the preview is never written to Gradio's file cache."""
    if not jpeg_bytes:
        return f"<p>{esc(t('upload_none', lang))}</p>"
    b64 = base64.b64encode(jpeg_bytes).decode("ascii")
    alt = esc(t("your_photo", lang))
    return f'<div class="scalp-preview"><p><b>{alt}</b></p><img alt="{alt}" src="data:image/jpeg;base64,{b64}"/></div>'


def thumbnail_jpeg(image: Image.Image, max_side: int = 480) -> bytes:
    thumb = image.copy()
    thumb.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    thumb.save(buf, format="JPEG", quality=85)  # no EXIF is carried over
    return buf.getvalue()


def photo_check_markdown(check: Mapping | None, lang: str) -> str:
    lines = [t("photo_check_title", lang)]
    if check is None:
        lines.append(t("photo_check_unavailable", lang))
        return "\n\n".join(lines)
    verdict = check.get("verdict", "ok")
    lines.append(t(f"photo_check_{verdict}", lang) if verdict in ("ok", "retake", "not_scalp") else str(verdict))
    messages = check.get("messages_en" if lang == "en" else "messages_ko") or []
    lines.extend(f"- {esc(m)}" for m in messages)
    if check.get("low_confidence"):
        lines.append(t("photo_check_low_conf", lang))
    return "\n".join(lines)


def photo_flagged(check: Mapping | None) -> bool:
    """True when the photo check says a diagnosis of this photo would be low-confidence (retake / not_scalp)."""
    return bool(check and check.get("low_confidence"))


def reason_names(check: Mapping, lang: str) -> str:
    """'흐림, 너무 어두움' from the check's retake reasons (the reason code when no short name is listed)."""
    table = load_strings()
    names = [t(f"photo_reason_{r}", lang) if f"photo_reason_{r}" in table else str(r)
             for r in check.get("reasons") or []]
    return ", ".join(esc(n) for n in names)


def domain_message(domain, lang: str) -> str | None:
    """What to tell the user about the domain check of a diagnosed photo (None: nothing to say)."""
    if domain is None or domain.in_domain is True:
        return None
    if domain.in_domain is None:
        return t("domain_unchecked", lang)
    return t("domain_out_demo" if domain.synthetic_training_data else "domain_out", lang)


def low_confidence_banner(check: Mapping | None, lang: str) -> str:
    """The result tab's Markdown banner for a diagnosis the user insisted on after a photo-check warning."""
    if check is None:
        return t("result_low_conf_unchecked", lang)
    if check.get("verdict") == "not_scalp":
        return t("result_low_conf_not_scalp", lang)
    return t("result_low_conf_retake", lang, reasons=reason_names(check or {}, lang))


def label_value(result) -> dict[str, float]:
    """A ``gr.Label`` value of one symptom's ``SymptomResult``: class name → calibrated probability."""
    return {str(k): float(v) for k, v in zip(result.labels, result.probabilities)}


def symptom_title(key: str, lang: str) -> str:
    spec = next(s for s in SYMPTOMS if s.key == key)
    return f"{spec.ko} ({spec.en})" if lang == "ko" else f"{spec.en} ({spec.ko})"


def severity_table(diagnosis, lang: str) -> str:
    """The result tab's Markdown table of a ``Diagnosis``: severity, its probability, the uncertain flag."""
    rows = [t("severity_table_head", lang)]
    for spec in SYMPTOMS:
        result = diagnosis[spec.key]
        cls = int(result.predicted)
        p = float(result.probabilities[cls])
        note = t("uncertain", lang) if result.uncertain else ""
        rows.append(f"| {symptom_title(spec.key, lang)} | {severity_name(cls, lang=lang)} | {p:.0%} | {note} |")
    return "\n".join(rows)


def _product_card(row: Mapping, lang: str) -> str:
    img = image_src(row.get("img_link"))
    name = esc(row.get("product_name"))
    image_html = f'<img src="{img}" alt="{name}" loading="lazy" referrerpolicy="no-referrer"/>' if img else (
        '<div class="scalp-noimg">no image</div>'
    )
    star = row.get("star")
    try:
        star_f = float(star)
        stars = "★" * int(round(star_f)) + "☆" * (5 - int(round(star_f)))
        star_text = f"{stars} {star_f:.1f}"
    except (TypeError, ValueError):
        star_text = ""
    try:
        reviews = t("card_reviews", lang, n=f"{int(row.get('review_count')):,}")
    except (TypeError, ValueError):
        reviews = ""
    matched = row.get("matched_ingredients")
    if isinstance(matched, str):
        matched = [m for m in matched.split(",") if m.strip()]
    matched_html = ""
    if matched is not None and len(matched):
        matched_html = f'<div class="matched"><b>{esc(t("card_matched", lang))}:</b> {esc(", ".join(map(str, matched)))}</div>'
    why = row.get("explanation_en" if lang == "en" else "explanation_ko", row.get("explanation"))
    why_html = f'<div class="why">{esc(why)}</div>' if why else ""
    flagged = row.get("flags_en" if lang == "en" else "flags_ko")
    if isinstance(flagged, str):
        flagged = [f for f in flagged.split(",") if f.strip()]
    flagged_html = ""
    if flagged is not None and len(flagged):
        flagged_html = f'<div class="flagged">⚠ {esc(t("card_flagged", lang))}: {esc(", ".join(map(str, flagged)))}</div>'
    link = safe_url(row.get("product_link"))
    shop = (
        f'<a class="shop" href="{link}" target="_blank" rel="noopener noreferrer nofollow">{esc(t("card_shop", lang))}</a>'
        if link else ""
    )
    return (
        f'<div class="scalp-card">{image_html}<div class="brand">{esc(row.get("brand_name"))}</div>'
        f'<div class="name">{name}</div><div class="stars">{star_text} · {esc(reviews)}</div>'
        f"{matched_html}{why_html}{flagged_html}{shop}</div>"
    )


def product_cards_html(rows: Iterable[Mapping], lang: str) -> str:
    cards = "".join(_product_card(r, lang) for r in rows)
    return f'<div class="scalp-cards">{cards}</div>'


def products_section_html(sections: list[dict], lang: str) -> str:
    """``sections``: per category ``{"category", "types", "total", "rows"}`` → headers (Markdown-ish HTML) + cards."""
    parts = []
    for sec in sections:
        cat = esc(sec["category"])
        types = esc(", ".join(sec["types"]))
        if sec["rows"]:
            header = t("products_header", lang, types=types, category=cat, total=sec["total"], shown=len(sec["rows"]))
        else:
            header = t("products_none", lang, category=cat)
        # The header is our own text with escaped values; ** → <b>.
        parts.append("<p>" + _bold(header) + "</p>" + product_cards_html(sec["rows"], lang))
    return "".join(parts)


def _bold(text: str) -> str:
    out, bold = [], False
    for i, chunk in enumerate(text.split("**")):
        if i:
            out.append("</b>" if bold else "<b>")
            bold = not bold
        out.append(chunk)
    if bold:
        out.append("</b>")
    return "".join(out)
