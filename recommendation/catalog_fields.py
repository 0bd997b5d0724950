"""Reading one catalog cell: a star rating, a review count, a link.

Each parser returns the value it read and, when the cell needed care, a message that says
what was done, in the words ``catalog.load_catalog`` puts into its ``CatalogWarning``s.

Decisions:
- star "4,8" (a decimal comma, common in Korean/European exports) and "4.8/5" (out of five)
  are read as 4.8 with a note; outside 0–5 or not a number: the row is dropped.
- review_count "1,234" is read as 1234 (a thousands separator, which a European export could
  mean as a decimal point); "1.2K", "1,2 rb" (Indonesian *ribu*), "3만" and the like as the
  rounded whole count they abbreviate, with a note. Negative, fractional or not a number: dropped.
- a link whose scheme runs code or embeds data (``javascript:``, ``vbscript:``, ``data:``) is
  removed, with a note; any other link is kept as written (the UI shows only http(s) links).

    >>> parse_review_count("1,2 rb")
    (1200, "review_count '1,2 rb' is an abbreviated count; read as 1200", False)
"""

from __future__ import annotations

import math
import re

# Abbreviations of a review count: "1.2K", "1,2 rb" (ribu), "2 jt" (juta), "3만", "1.5천".
_COUNT_UNITS = {
    "k": 1_000,
    "rb": 1_000,
    "ribu": 1_000,
    "천": 1_000,
    "만": 10_000,
    "m": 1_000_000,
    "jt": 1_000_000,
}
_ABBREVIATED_COUNT = re.compile(r"(\d+(?:[.,]\d+)?)\s*(" + "|".join(_COUNT_UNITS) + r")\.?", re.IGNORECASE)
_OUT_OF_FIVE = re.compile(r"(\d+(?:[.,]\d+)?)\s*/\s*5(?:[.,]0+)?")
# Browsers ignore tabs, newlines and leading control characters and spaces in a URL's scheme.
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]+")
UNSAFE_SCHEMES = ("javascript:", "vbscript:", "data:")


def is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def parse_star(raw) -> tuple[float | None, str | None, bool]:
    """(value, problem, drop). value None with no problem means 'no rating'."""
    if is_missing(raw):
        return None, "no star rating; ranked as the catalog mean", False
    text = str(raw).strip()
    notes = []
    out_of_five = _OUT_OF_FIVE.fullmatch(text)
    if out_of_five:
        text = out_of_five.group(1)
        notes.append("is out of 5")
    if re.fullmatch(r"\d+,\d+", text):
        text = text.replace(",", ".")
        notes.append("uses a decimal comma")
    try:
        value = float(text)
    except ValueError:
        return None, f"star {raw!r} is not a number (expected 0–5)", True
    if not 0 <= value <= 5 or math.isnan(value):
        return None, f"star {raw!r} is outside 0–5", True
    note = f"star {str(raw).strip()!r} {' and '.join(notes)}; read as {text}" if notes else None
    return value, note, False


def parse_review_count(raw) -> tuple[int | None, str | None, bool]:
    """(value, problem, drop) for a review count."""
    if is_missing(raw):
        return 0, "no review count; read as 0", False
    text = str(raw).strip().replace(" ", "")
    note = None
    abbreviated = _ABBREVIATED_COUNT.fullmatch(str(raw).strip())
    if abbreviated:
        number, unit = abbreviated.groups()
        # With a unit the separator can only be a decimal point: "1,2 rb" is 1.2 thousand.
        value = round(float(number.replace(",", ".")) * _COUNT_UNITS[unit.lower()])
        return value, f"review_count {raw!r} is an abbreviated count; read as {value}", False
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+", text):
        text = text.replace(",", "")  # thousands separator
        note = f"review_count {raw!r} has a thousands separator; read as {text}"
    try:
        value = float(text)
    except ValueError:
        return None, f"review_count {raw!r} is not a number", True
    if value < 0:
        return None, f"review_count {raw!r} is negative", True
    if math.isnan(value) or math.isinf(value) or value != int(value):
        return None, f"review_count {raw!r} is not a whole number", True
    return int(value), note, False


def unsafe_link(link: str) -> str | None:
    """The scheme when ``link`` runs code or embeds data (``javascript:``, ``data:``…), else None."""
    compact = _IGNORED_IN_SCHEME.sub("", link).casefold()
    return next((scheme for scheme in UNSAFE_SCHEMES if compact.startswith(scheme)), None)
