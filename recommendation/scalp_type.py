"""Symptom severities + survey → scalp type(s), the rule that fired and the analysis note.

Interprets ``data/scalp_type_rules.yaml`` (seed pages 2-2 c, d). With ``m`` the
highest severity over the six symptoms (missing symptoms count as 0 양호):

1. ``all_normal``: m == 0 → 양호.
2. ``all_equal``: all six equal m > 0 → the survey's Q1 type (건성/지성); with no
   survey, both.
3. ``single_highest``: exactly one symptom at m → that symptom's single type.
   For 모낭사이홍반 the survey's type is used unless the image *leans* the other
   way: the image leans 지성 when 피지과다 is higher than both 미세각질 and 비듬,
   건성 when max(미세각질, 비듬) is higher than 피지과다, and is neutral when they
   are equal. A leaning image overrides a contradicting survey (the seed's
   "상반될 시 모델링 결과 우선"); a neutral image keeps the survey; with neither,
   the base table's 지성.
4. ``tie_union``: two or more symptoms at m → the union of their base-table types.

Severities are AI Hub grades 0..3 (``scheme=4``) or 3-class indices 0..2
(``scheme=3``: 0 양호, 1 경증·중등도, 2 중증); the rules only compare order, so
both give the same types, and names come from ``scalp_core.symptoms``. The analysis
note's sentences are templates in ``data/analysis_note.yaml``; this module only picks
the ones that apply and fills them. A four-region check-up (``ui.regions``) passes the
severities of its overall result and ``worst_regions`` (symptom key → the AI Hub location
code where it is worst), and the note then names the region, e.g. "탈모: 정수리에서
경증·중등도"; without ``worst_regions`` the note is the single photo's.

    >>> r = determine_scalp_type({"excess_sebum": 3, "dandruff": 1})
    >>> r.types, r.rule, r.main_finding_ko
    (('지성',), 'single_highest', '피지과다: 중증')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache

from scalp_core.symptoms import SYMPTOMS, get_symptom, severity_name

from .survey import Survey, scalp_type_label, scalp_type_options
from .texts import phrase, read_yaml, region_name, symptom_in_sentence, symptom_name

RULES = ("all_normal", "all_equal", "single_highest", "tie_union")
NOTE_TEXTS = "analysis_note.yaml"


@cache
def load_rules() -> dict:
    rules = read_yaml("scalp_type_rules.yaml")
    type_keys = [t["key"] for t in rules["types"]]
    keys = {s.key for s in SYMPTOMS}
    for section in ("base_table", "single_highest"):
        if set(rules[section]) != keys:
            raise ValueError(
                f"scalp_type_rules.yaml: {section} must name exactly the six symptoms {sorted(keys)}"
            )
    for sym, types in rules["base_table"].items():
        for t in types:
            if t not in type_keys:
                raise ValueError(f"scalp_type_rules.yaml: base_table.{sym} names unknown type {t!r}")
    survey_choices = {t["key"] for t in rules["types"] if t.get("survey_choice")}
    q1_keys = {o["key"] for o in scalp_type_options()}
    if survey_choices != q1_keys:
        raise ValueError(
            f"scalp_type_rules.yaml: the types marked survey_choice {sorted(survey_choices)} must be "
            f"the options of survey.yaml's q1_scalp_type {sorted(q1_keys)}"
        )
    lean = rules["image_lean"]
    if set(lean["signs"]) != survey_choices or lean["default"] not in survey_choices:
        raise ValueError(
            f"scalp_type_rules.yaml: image_lean.signs and image_lean.default must name the survey_choice "
            f"types {sorted(survey_choices)}"
        )
    for t, signs in lean["signs"].items():
        if not signs or set(signs) - keys:
            raise ValueError(
                f"scalp_type_rules.yaml: image_lean.signs.{t} must list symptoms of {sorted(keys)}"
            )
    return rules


def type_order() -> list[str]:
    return [t["key"] for t in load_rules()["types"]]


def survey_types() -> tuple[str, ...]:
    """The types survey question 1 can name (``survey_choice`` in the rules), in display order."""
    return tuple(t["key"] for t in load_rules()["types"] if t.get("survey_choice"))


def healthy_type() -> str:
    """The type of a scalp whose six symptoms are all 양호."""
    return load_rules()["all_normal"]


def type_label(scalp_type: str, lang: str = "ko") -> str:
    if lang == "ko":
        return scalp_type
    for t in load_rules()["types"]:
        if t["key"] == scalp_type:
            return t["en"]
    return scalp_type


def join_type_labels(types, lang: str = "ko") -> str:
    """The types' labels joined, e.g. "건성, 지성" / "dry, oily"."""
    return ", ".join(type_label(t, lang) for t in types)


@dataclass(frozen=True)
class ScalpTypeResult:
    """What ``determine_scalp_type`` decided and why."""

    types: tuple[str, ...]
    rule: str
    severities: Mapping[str, int]
    scheme: int
    main_findings: tuple[str, ...]  # symptom keys at the highest severity (empty when all 양호)
    survey_type: str | None
    image_type: str | None  # the type the image points to when it contradicts the survey
    survey_agrees: bool | None
    note_ko: str
    note_en: str
    unconfirmed_symptoms: tuple[str, ...] = ()  # chosen in the survey, 양호 in the image
    unreported_symptoms: tuple[str, ...] = ()  # seen in the image, not chosen in the survey
    main_finding_ko: str = ""
    main_finding_en: str = ""
    worst_regions: Mapping[str, str] = field(default_factory=dict)  # symptom → region code (check-up only)

    def note(self, lang: str = "ko") -> str:
        return self.note_ko if lang == "ko" else self.note_en


def _normalise_severities(severities: Mapping[str, int], scheme: int) -> dict[str, int]:
    if scheme not in (3, 4):
        raise ValueError(f"scheme must be 3 (3-class indices 0..2) or 4 (AI Hub grades 0..3), got {scheme!r}")
    top = 2 if scheme == 3 else 3
    levels = {s.key: 0 for s in SYMPTOMS}
    for name, value in severities.items():
        try:
            key = get_symptom(str(name)).key
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        try:
            if isinstance(value, bool):  # True == 1 in Python, but it is no severity
                raise TypeError
            level = int(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"severity of {name!r} must be an integer 0..{top}, got {value!r}") from None
        if level != value or not 0 <= level <= top:
            raise ValueError(
                f"severity of {name!r} must be an integer 0..{top} (scheme {scheme}), got {value!r}"
            )
        levels[key] = level
    return levels


def _checked_regions(worst_regions: Mapping[str, str]) -> dict[str, str]:
    """Symptom key → region code; a ValueError names an unknown symptom or region code."""
    regions = {}
    for name, code in worst_regions.items():
        try:
            key = get_symptom(str(name)).key
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        region_name(str(code), "ko")  # ValueError for an unknown code
        regions[key] = str(code)
    return regions


def _image_lean(levels: Mapping[str, int]) -> str | None:
    """The survey type whose signs are strictly the most severe in the image, else None (neutral)."""
    signs = load_rules()["image_lean"]["signs"]
    strength = {t: max(levels[k] for k in keys) for t, keys in signs.items()}
    strongest = max(strength.values())
    leaders = [t for t, level in strength.items() if level == strongest]
    return leaders[0] if len(leaders) == 1 else None


def _ordered(types) -> tuple[str, ...]:
    wanted = set(types)
    return tuple(t for t in type_order() if t in wanted)


def _finding(key: str, level: int, scheme: int, lang: str, regions: Mapping[str, str]) -> str:
    """One symptom and its severity, e.g. "피지과다: 중증", or "탈모: 정수리에서 경증·중등도" with its region."""
    values = {"symptom": symptom_name(key, lang), "severity": severity_name(level, scheme=scheme, lang=lang)}
    if key in regions:
        return phrase(NOTE_TEXTS, "main_finding_region", lang, region=region_name(regions[key], lang), **values)
    return phrase(NOTE_TEXTS, "main_finding", lang, **values)


def _main_finding(at_top: tuple[str, ...], top: int, scheme: int, lang: str,
                  regions: Mapping[str, str] | None = None) -> str:
    """Every symptom at the highest severity, e.g. "피지과다: 중증" / "Excess sebum: severe"."""
    if not at_top:
        return phrase(NOTE_TEXTS, "main_finding_all_normal", lang)
    return ", ".join(_finding(k, top, scheme, lang, regions or {}) for k in at_top)


def determine_scalp_type(
    severities: Mapping[str, int], survey: Survey | None = None, scheme: int = 4,
    worst_regions: Mapping[str, str] | None = None,
) -> ScalpTypeResult:
    """Apply the rules; see the module docstring for their order and the 모낭사이홍반 case.

    ``worst_regions`` (a four-region check-up): symptom key → the region code where it is worst; the
    note then names it. It does not change the type."""
    rules = load_rules()
    levels = _normalise_severities(severities, scheme)
    regions = _checked_regions(worst_regions or {})
    top = max(levels.values())
    at_top = tuple(k for k in levels if levels[k] == top) if top > 0 else ()
    survey_type = survey.scalp_type if survey else None
    image_type = None

    if top == 0:
        rule, types = "all_normal", (rules["all_normal"],)
    elif len(at_top) == len(levels):
        rule = "all_equal"
        types = (survey_type,) if survey_type else _ordered(rules["all_equal_without_survey"])
    elif len(at_top) == 1:
        rule = "single_highest"
        target = rules["single_highest"][at_top[0]]
        if target == "survey":
            lean = _image_lean(levels)
            if lean and survey_type and lean != survey_type:
                image_type = lean
            target = lean or survey_type or rules["image_lean"]["default"]
        types = (target,)
    else:
        rule = "tie_union"
        types = _ordered(t for k in at_top for t in rules["base_table"][k])

    # The survey only speaks about its own types (건성 vs 지성): it agrees when its type was
    # chosen, disagrees when the image chose another of them, and is not judged otherwise.
    survey_agrees = None
    if survey_type:
        image_survey_types = [t for t in types if t in survey_types()]
        if survey_type in types:
            survey_agrees = True
        elif image_survey_types:
            survey_agrees = False
            image_type = image_type or image_survey_types[0]

    chosen = set(survey.symptoms) if survey else set()
    unconfirmed = tuple(k for k in levels if k in chosen and levels[k] == 0)
    unreported = tuple(k for k in levels if levels[k] > 0 and k not in chosen) if survey else ()

    result = ScalpTypeResult(
        types=types,
        rule=rule,
        severities=levels,
        scheme=scheme,
        main_findings=at_top,
        survey_type=survey_type,
        image_type=image_type,
        survey_agrees=survey_agrees,
        note_ko="",
        note_en="",
        unconfirmed_symptoms=unconfirmed,
        unreported_symptoms=unreported,
        main_finding_ko=_main_finding(at_top, top, scheme, "ko", regions),
        main_finding_en=_main_finding(at_top, top, scheme, "en", regions),
        worst_regions=regions,
    )
    return replace(result, note_ko=_note(result, "ko"), note_en=_note(result, "en"))


def _note(result: ScalpTypeResult, lang: str) -> str:
    """The seed-style 상태분석 노트, one sentence per line; the wording is ``data/analysis_note.yaml``."""
    lines = []

    def say(key: str, **values) -> None:
        lines.append(phrase(NOTE_TEXTS, key, lang, **values))

    if result.survey_type:
        survey_type = scalp_type_label(result.survey_type, lang)
        if result.survey_agrees is False:
            shown = result.image_type or result.types[0]
            say("survey_disagrees", survey_type=survey_type, image_type=type_label(shown, lang))
        elif result.survey_type in result.types and result.rule != "all_equal":
            say("survey_agrees", survey_type=survey_type)
    if result.rule == "all_normal":
        say("all_normal")
    else:
        say("finding", finding=result.main_finding_ko if lang == "ko" else result.main_finding_en)
    others = [k for k in result.severities
              if k in result.worst_regions and k not in result.main_findings and result.severities[k] > 0]
    if others:  # a check-up: where each of the other symptoms seen is worst
        say("other_findings_by_region", findings=", ".join(
            _finding(k, result.severities[k], result.scheme, lang, result.worst_regions) for k in others))
    if result.rule in ("all_equal", "tie_union"):
        say(result.rule)
    for key in result.unconfirmed_symptoms:
        say("symptom_not_seen", symptom=symptom_in_sentence(key, lang))
    for key in result.unreported_symptoms:
        symptom = symptom_in_sentence(key, lang)
        severity = severity_name(result.severities[key], scheme=result.scheme, lang=lang)
        both = phrase(NOTE_TEXTS, "symptom_with_severity", lang, symptom=symptom, severity=severity)
        say("symptom_not_chosen", symptom=symptom, severity=severity, symptom_with_severity=both)
    say("scalp_type", types=join_type_labels(result.types, lang))
    return "\n".join(lines)
