"""The private history: entries built from a session, validated when they come back from the browser,
compared with last time, and exported as JSON or CSV.

The history lives only in the user's browser (``gr.BrowserState`` → localStorage, see
``ui.history_tab``); the server sees it only while one request runs. What comes back from the browser is
user-controlled input, so :func:`validate_history` rebuilds every entry from whitelisted values (known
region codes, symptom keys, scalp types; severities 0..2; probabilities in [0, 1] summing to 1; an ISO
date) and drops anything else: a tampered localStorage can neither crash the app nor inject markup,
and the history is capped at :data:`MAX_ENTRIES` entries of bounded size (the newest are kept). An entry::

    {"v": 1, "date": "2025-05-01T09:30:00+09:00", "regions": ["TH"], "scalp_type": ["지성"],
     "symptoms": {"fine_scale": {"severity": 1, "probabilities": [0.2, 0.7, 0.1]}, ...}}

``regions`` is empty for a single photo. Severities are class indices of the 3-class scheme
(0 양호, 1 경증·중등도, 2 중증). Pure functions, no Gradio::

    python -c "from ui.history import validate_history; print(validate_history([{'v': 1}]))"
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from recommendation.scalp_type import type_label, type_order
from scalp_core.aihub_names import LOCATION_NAMES
from scalp_core.symptoms import SYMPTOM_KEYS, SYMPTOMS, severity_name
from ui.i18n import t
from ui.regions import region_label
from ui.session import ANSWER_SCHEME

HISTORY_VERSION = 1
MAX_ENTRIES = 500  # a check-up a day for more than a year; about 350 KB in localStorage
N_CLASSES = 3  # ANSWER_SCHEME's classes
MAX_DATE_CHARS = 40
MAX_TYPES = 4
PROBABILITY_DIGITS = 4
REGION_CODES = tuple(LOCATION_NAMES)  # TH, LH, RH, BH


@dataclass(frozen=True)
class Snapshot:
    """What a history entry records of the session's current result.

    ``subject`` is the session object the result came from (the ``Diagnosis``, or the check-up's
    regions); the history tab compares it by identity to know a result was already handled."""

    subject: object
    regions: tuple[str, ...]
    symptoms: Mapping[str, tuple[int, tuple[float, ...]]]  # key → (severity 0..2, probabilities)
    types: tuple[str, ...]


@dataclass(frozen=True)
class LoadedHistory:
    """The valid entries, oldest first, and how many stored entries were unreadable and skipped."""

    entries: tuple[dict, ...]
    dropped: int = 0


def _level_and_probabilities(result) -> tuple[int, tuple[float, ...]]:
    """(severity, probabilities) of a ``SymptomResult`` or of a check-up's overall entry (object or dict)."""
    get = result.get if isinstance(result, Mapping) else lambda name, default=None: getattr(result, name, default)
    probabilities = tuple(float(p) for p in get("probabilities"))
    level = get("predicted", None)
    if level is None:
        level = get("level", None)
    if level is None:
        level = max(range(len(probabilities)), key=probabilities.__getitem__)
    return int(level), probabilities


def snapshot_of(session) -> Snapshot | None:
    """The session's current result (a check-up's overall result when there is one), or None."""
    scalp_type = getattr(session, "scalp_type", None)
    overall = getattr(session, "overall", None)  # ui.regions.RegionsOverall of a check-up
    if overall is not None and getattr(session, "region_photos", ()):
        symptoms = {key: _level_and_probabilities(overall[key]) for key in SYMPTOM_KEYS}
        codes = tuple(code for code in REGION_CODES if code in overall.regions)
        subject = session.checkup  # one check-up: relabels and later "Diagnose anyway" update its entry
    elif getattr(session, "diagnosis", None) is not None:
        symptoms = {r.symptom: _level_and_probabilities(r) for r in session.diagnosis}
        codes, subject = (), session.diagnosis
    else:
        return None
    types = tuple(scalp_type.types) if scalp_type is not None else ()
    return Snapshot(subject=subject, regions=codes, symptoms=symptoms, types=types)


def now_iso(clock: str | None = None) -> str:
    """The browser's local time when it sent a valid ISO 8601 time with an offset, else the server's UTC."""
    parsed = parse_date(clock)
    when = parsed if parsed is not None and parsed.tzinfo is not None else datetime.now(UTC)
    return when.isoformat(timespec="seconds")


def make_entry(snapshot: Snapshot, date: str) -> dict:
    return {
        "v": HISTORY_VERSION,
        "date": date,
        "regions": list(snapshot.regions),
        "scalp_type": list(snapshot.types),
        "symptoms": {key: {"severity": level,
                           "probabilities": [round(float(p), PROBABILITY_DIGITS) for p in probabilities]}
                     for key, (level, probabilities) in snapshot.symptoms.items()},
    }


# ---- validation of what the browser sends back -------------------------------------------------
def parse_date(value) -> datetime | None:
    if not isinstance(value, str) or len(value) > MAX_DATE_CHARS:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if 2000 <= parsed.year <= 2200 else None


def _probabilities(value) -> list[float] | None:
    if not isinstance(value, list) or len(value) != N_CLASSES:
        return None
    if not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in value):
        return None
    probabilities = [float(p) for p in value]
    if not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in probabilities) or abs(sum(probabilities) - 1) > 0.02:
        return None
    return [round(p, PROBABILITY_DIGITS) for p in probabilities]


def validate_entry(value) -> dict | None:
    """A clean copy of one stored entry, rebuilt from whitelisted values only; None when anything is off."""
    if not isinstance(value, Mapping) or value.get("v") != HISTORY_VERSION:
        return None
    date = value.get("date")
    if parse_date(date) is None:
        return None
    regions, types, symptoms = value.get("regions"), value.get("scalp_type"), value.get("symptoms")
    if not isinstance(regions, list) or len(regions) > len(REGION_CODES) or len(set(map(str, regions))) != len(regions):
        return None
    if not all(isinstance(code, str) and code in REGION_CODES for code in regions):
        return None
    known_types = set(type_order())
    if not isinstance(types, list) or len(types) > MAX_TYPES:
        return None
    if not all(isinstance(x, str) and x in known_types for x in types):
        return None
    if not isinstance(symptoms, Mapping) or set(symptoms) != set(SYMPTOM_KEYS):
        return None
    clean = {}
    for key in SYMPTOM_KEYS:
        item = symptoms[key]
        if not isinstance(item, Mapping):
            return None
        level, probabilities = item.get("severity"), _probabilities(item.get("probabilities"))
        if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level < N_CLASSES or probabilities is None:
            return None
        clean[key] = {"severity": level, "probabilities": probabilities}
    return {"v": HISTORY_VERSION, "date": date, "regions": list(regions), "scalp_type": list(types),
            "symptoms": clean}


def validate_history(value) -> LoadedHistory:
    """The valid entries of what the browser stored (``None``: nothing stored yet), sorted by date, the
    newest :data:`MAX_ENTRIES`; anything that is not a list of entries counts as one unreadable entry."""
    if value is None:
        return LoadedHistory(())
    if not isinstance(value, list):
        return LoadedHistory((), dropped=1)
    dropped = max(0, len(value) - MAX_ENTRIES)
    entries = []
    for item in value[-MAX_ENTRIES:]:  # never look at more than MAX_ENTRIES items
        entry = validate_entry(item)
        if entry is None:
            dropped += 1
        else:
            entries.append(entry)
    entries.sort(key=lambda e: _sort_key(e["date"]))
    return LoadedHistory(tuple(entries), dropped)


def _sort_key(date: str) -> float:
    parsed = parse_date(date)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def appended(history: LoadedHistory, entry: dict) -> list[dict]:
    """The history with ``entry`` added, capped at :data:`MAX_ENTRIES` (the oldest go first)."""
    return [*history.entries, entry][-MAX_ENTRIES:]


# ---- what the UI shows -------------------------------------------------------------------------
def display_date(date: str) -> str:
    """``2025-05-01 09:30`` in the time zone the date was recorded in (the user's own clock)."""
    parsed = parse_date(date)
    return parsed.strftime("%Y-%m-%d %H:%M") if parsed else ""


def regions_text(regions, lang: str) -> str:
    return ", ".join(region_label(code, lang) for code in regions) if regions else t("history_single_photo", lang)


def symptom_name(key: str, lang: str) -> str:
    spec = next(s for s in SYMPTOMS if s.key == key)
    return spec.ko if lang == "ko" else spec.en


def severity_score(probabilities) -> float:
    """The expected severity, 0 (양호) … 2 (중증): the trend moves before the predicted class changes."""
    return float(sum(i * p for i, p in enumerate(probabilities)))


def compare_lines(previous: Mapping | None, current: Snapshot, lang: str) -> list[str]:
    """The note's "compare with last time" lines, e.g. "비듬: 지난번 경증·중등도 → 이번 양호" (changed symptoms)."""
    if previous is None:
        return []
    lines = [t("history_compare_title", lang, date=display_date(previous["date"]))]
    for key in SYMPTOM_KEYS:
        before, after = previous["symptoms"][key]["severity"], current.symptoms[key][0]
        if before != after:
            lines.append("- " + t("history_compare_line", lang, symptom=symptom_name(key, lang),
                                  before=severity_name(before, scheme=ANSWER_SCHEME, lang=lang),
                                  after=severity_name(after, scheme=ANSWER_SCHEME, lang=lang)))
    if len(lines) == 1:
        lines.append(t("history_compare_same", lang))
    return lines


def table_rows(entries, lang: str) -> tuple[list[str], list[list]]:
    """(headers, rows) of the History tab's table: newest first, one row per entry."""
    headers = [t("history_col_date", lang), t("history_col_regions", lang), t("history_col_type", lang),
               *(symptom_name(key, lang) for key in SYMPTOM_KEYS)]
    rows = []
    for entry in reversed(entries):
        rows.append([display_date(entry["date"]), regions_text(entry["regions"], lang),
                     ", ".join(type_label(x, lang) for x in entry["scalp_type"]),
                     *(severity_name(entry["symptoms"][key]["severity"], scheme=ANSWER_SCHEME, lang=lang)
                       for key in SYMPTOM_KEYS)])
    return headers, rows


def trend_records(entries, lang: str, symptom: str | None = None) -> list[dict]:
    """One record per (entry, symptom) for the trend plot: date, symptom name, score and severity name."""
    keys = [symptom] if symptom in SYMPTOM_KEYS else list(SYMPTOM_KEYS)
    records = []
    for entry in entries:
        when = parse_date(entry["date"]).replace(tzinfo=None)  # the user's wall-clock time
        for key in keys:
            item = entry["symptoms"][key]
            records.append({
                "date": when,
                "symptom": symptom_name(key, lang),
                "score": round(severity_score(item["probabilities"]), 3),
                "severity": severity_name(item["severity"], scheme=ANSWER_SCHEME, lang=lang),
            })
    return records


# ---- export --------------------------------------------------------------------------------------
def export_json(entries) -> str:
    document = {"format": "scalp-care-history", "version": HISTORY_VERSION,
                "exported": datetime.now(UTC).isoformat(timespec="seconds"), "entries": list(entries)}
    return json.dumps(document, ensure_ascii=False, indent=1)


def csv_headers() -> list[str]:
    headers = ["date", "regions", "scalp_type"]
    for key in SYMPTOM_KEYS:
        headers += [f"{key}_severity", *(f"{key}_p{i}" for i in range(N_CLASSES))]
    return headers


def export_csv(entries) -> str:
    """One row per entry; lists are joined with ";". A BOM first, so spreadsheet programs read the Korean."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_headers())
    for entry in entries:
        row = [entry["date"], ";".join(entry["regions"]), ";".join(entry["scalp_type"])]
        for key in SYMPTOM_KEYS:
            item = entry["symptoms"][key]
            row += [item["severity"], *item["probabilities"]]
        writer.writerow(row)
    return "\ufeff" + out.getvalue()


def note_lines(session, lang: str) -> list[str]:
    """The result note's "compare with last time" lines for the session's current result (none until the
    history tab has looked at the stored history for this very result)."""
    snapshot, mark = snapshot_of(session), getattr(session, "history_note", None)
    if snapshot is None or mark is None or mark[0] is not snapshot.subject:
        return []
    lines = compare_lines(mark[1], snapshot, lang)
    return ["\n".join(lines)] if lines else []
