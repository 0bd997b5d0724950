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
both give the same types, and names come from ``scalp_core.symptoms``.

    >>> r = determine_scalp_type({"excess_sebum": 3, "dandruff": 1})
    >>> r.types, r.rule, r.main_finding_ko
    (('지성',), 'single_highest', '피지과다: 중증')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from scalp_core.symptoms import SYMPTOMS, get_symptom, severity_name

from .survey import Survey, scalp_type_label

DATA_DIR = Path(__file__).resolve().parent / "data"

RULES = ("all_normal", "all_equal", "single_highest", "tie_union")


@cache
def load_rules() -> dict:
    with open(DATA_DIR / "scalp_type_rules.yaml", encoding="utf-8") as f:
        rules = yaml.safe_load(f)
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
    return rules


def type_order() -> list[str]:
    return [t["key"] for t in load_rules()["types"]]


def type_label(scalp_type: str, lang: str = "ko") -> str:
    if lang == "ko":
        return scalp_type
    for t in load_rules()["types"]:
        if t["key"] == scalp_type:
            return t["en"]
    return scalp_type


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


def _image_lean(levels: Mapping[str, int]) -> str | None:
    lean = load_rules()["image_lean"]
    oily = max(levels[k] for k in lean["oily"])
    dry = max(levels[k] for k in lean["dry"])
    if oily > dry:
        return "지성"
    if dry > oily:
        return "건성"
    return None


def _ordered(types) -> tuple[str, ...]:
    wanted = set(types)
    return tuple(t for t in type_order() if t in wanted)


def determine_scalp_type(
    severities: Mapping[str, int], survey: Survey | None = None, scheme: int = 4
) -> ScalpTypeResult:
    """Apply the rules; see the module docstring for their order and the 모낭사이홍반 case."""
    rules = load_rules()
    levels = _normalise_severities(severities, scheme)
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

    # The survey only speaks about 건성 vs 지성: it agrees when its type was chosen,
    # disagrees when the image chose the other one, and is not judged otherwise.
    survey_agrees = None
    if survey_type:
        image_survey_types = [t for t in types if t in ("건성", "지성")]
        if survey_type in types:
            survey_agrees = True
        elif image_survey_types:
            survey_agrees = False
            image_type = image_type or image_survey_types[0]

    chosen = set(survey.symptoms) if survey else set()
    unconfirmed = tuple(k for k in levels if k in chosen and levels[k] == 0)
    unreported = tuple(k for k in levels if levels[k] > 0 and k not in chosen) if survey else ()

    def finding(lang: str) -> str:
        if not at_top:
            return "모든 증상: 양호" if lang == "ko" else "all symptoms: normal"
        sev = severity_name(top, scheme=scheme, lang=lang)
        return ", ".join(f"{get_symptom(k).ko if lang == 'ko' else get_symptom(k).en}: {sev}" for k in at_top)

    result_kwargs = {
        "types": types,
        "rule": rule,
        "severities": levels,
        "scheme": scheme,
        "main_findings": at_top,
        "survey_type": survey_type,
        "image_type": image_type,
        "survey_agrees": survey_agrees,
        "unconfirmed_symptoms": unconfirmed,
        "unreported_symptoms": unreported,
        "main_finding_ko": finding("ko"),
        "main_finding_en": finding("en"),
    }
    note_ko = _note(result_kwargs, "ko")
    note_en = _note(result_kwargs, "en")
    return ScalpTypeResult(note_ko=note_ko, note_en=note_en, **result_kwargs)


def _has_final_consonant(word: str) -> bool:
    """Whether the last Hangul syllable of ``word`` (ignoring a trailing "(…)") has a 받침."""
    head = word.rsplit("(", 1)[0].rstrip() if word.endswith(")") else word
    for ch in reversed(head):
        if "가" <= ch <= "힣":
            return (ord(ch) - 0xAC00) % 28 != 0
    return False


def _euro(word: str) -> str:
    """``word`` + 으로/로 (a final ㄹ takes 로)."""
    head = word.rsplit("(", 1)[0].rstrip() if word.endswith(")") else word
    last = next((ch for ch in reversed(head) if "가" <= ch <= "힣"), "")
    rieul = bool(last) and (ord(last) - 0xAC00) % 28 == 8
    return f"{word}{'으로' if _has_final_consonant(word) and not rieul else '로'}"


def _iga(word: str) -> str:
    return f"{word}{'이' if _has_final_consonant(word) else '가'}"


def _join_types(types, lang: str) -> str:
    return ", ".join(type_label(t, lang) for t in types)


def _sym(key: str, lang: str) -> str:
    return get_symptom(key).ko if lang == "ko" else get_symptom(key).en.lower()


def _a(word: str) -> str:
    return f"an {word}" if word[:1].lower() in "aeiou" else f"a {word}"


def _note(r: dict, lang: str) -> str:
    """The seed-style 상태분석 노트, one sentence per line."""
    lines = []
    types, survey_type, levels, scheme = r["types"], r["survey_type"], r["severities"], r["scheme"]
    ko = lang == "ko"
    if survey_type:
        s_label = scalp_type_label(survey_type, lang)
        if r["survey_agrees"] is False:
            shown = r["image_type"] or types[0]
            lines.append(
                f"설문조사에서 당신은 {s_label} 타입이라고 선택하셨습니다. 그러나 두피이미지 분석 결과 "
                f"{_join_types([shown], lang)} 타입으로 판단됩니다."
                if ko
                else f"In the survey you chose {_a(s_label)} scalp. However, the scalp image analysis points to "
                f"{_a(_join_types([shown], lang))} scalp."
            )
        elif survey_type in types and r["rule"] != "all_equal":
            lines.append(
                f"설문조사에서 선택하신 {s_label} 타입이 두피이미지 분석 결과와 일치합니다."
                if ko
                else f"The scalp image analysis agrees with the {s_label} scalp you chose in the survey."
            )
    if r["rule"] == "all_normal":
        lines.append(
            "두피 이미지 분석 결과 여섯 가지 증상이 모두 양호로 판단됩니다."
            if ko
            else "The scalp image analysis finds all six symptoms normal."
        )
    else:
        finding = r["main_finding_ko"] if ko else r["main_finding_en"]
        lines.append(
            f"두피 이미지 분석 결과 당신은 {_euro(finding)} 판단됩니다."
            if ko
            else f"The scalp image analysis finds {finding}."
        )
    if r["rule"] == "all_equal":
        lines.append(
            "여섯 가지 증상의 중증도가 모두 같아 설문조사의 두피 타입을 따랐습니다."
            if ko
            else "All six symptoms have the same severity, so the survey's scalp type decides."
        )
    elif r["rule"] == "tie_union":
        lines.append(
            "가장 높은 중증도의 증상이 여러 개여서 관련된 모든 타입을 함께 고려합니다."
            if ko
            else "Several symptoms share the highest severity, so every related type is considered."
        )
    for key in r["unconfirmed_symptoms"]:
        lines.append(
            f"설문에서 선택하신 {_sym(key, lang)} 증상은 두피 이미지에서 보이지 않았습니다."
            if ko
            else f"You chose {_sym(key, lang)} in the survey, but the image does not show it."
        )
    for key in r["unreported_symptoms"]:
        sev = severity_name(levels[key], scheme=scheme, lang=lang)
        lines.append(
            f"설문에서 선택하지 않으셨지만 두피 이미지에서 {_iga(_sym(key, lang) + f'({sev})')} 보입니다."
            if ko
            else f"You did not choose {_sym(key, lang)}, but the image shows it ({sev})."
        )
    lines.append(
        f"최종 두피 타입: {_join_types(types, lang)}" if ko else f"Scalp type: {_join_types(types, lang)}"
    )
    return "\n".join(lines)
