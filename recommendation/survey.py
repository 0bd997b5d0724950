"""The three-question survey (seed page 2): scalp type, symptoms, wanted products.

Options come from ``data/survey.yaml`` (Q1 wording, summary templates),
``scalp_core/symptoms.csv`` (Q2) and ``data/categories.yaml`` (Q3). Answers may be
given as the Korean or English option text, or as the short key, e.g.

    >>> s = Survey.from_answers("(건성)두피에 건조함이나 당김을 느낍니다.", ["탈모", "모낭사이홍반"], ["샴푸"])
    >>> survey_summary(s)
    '당신의 두피가 🌟 건성 타입의 👤 탈모, 모낭사이홍반 증상이 있다고 선택하셨습니다.'

An unknown option raises ``ValueError`` naming it and listing the allowed ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from scalp_core.symptoms import SYMPTOMS, get_symptom

from .texts import phrase, read_yaml, symptom_in_sentence, symptom_name

SURVEY_TEXTS = "survey.yaml"


@dataclass(frozen=True)
class Category:
    key: str
    en: str
    rinse_off: bool
    aliases: tuple[str, ...]


@cache
def load_categories() -> tuple[Category, ...]:
    raw = read_yaml("categories.yaml")["categories"]
    return tuple(Category(c["key"], c["en"], bool(c["rinse_off"]), tuple(c.get("aliases", ()))) for c in raw)


CATEGORY_KEYS: tuple[str, ...] = tuple(c.key for c in load_categories())


def _fold(text: str) -> str:
    return " ".join(str(text).replace("\u00a0", " ").split()).casefold()


@cache
def _category_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for c in load_categories():
        for name in (c.key, c.en, f"{c.key} ({c.en})", *c.aliases):
            lookup[_fold(name)] = c.key
    return lookup


def resolve_category(name: str) -> str | None:
    """The Q3 category key for a category name (Korean, English or a known alias), else None."""
    return _category_lookup().get(_fold(name))


def category_info(key: str) -> Category:
    for c in load_categories():
        if c.key == key:
            return c
    raise KeyError(f"unknown category {key!r}; expected one of {', '.join(CATEGORY_KEYS)}")


def scalp_type_options() -> list[dict]:
    return list(read_yaml(SURVEY_TEXTS)["q1_scalp_type"]["options"])


def question_titles(lang: str = "ko") -> tuple[str, str, str]:
    d = read_yaml(SURVEY_TEXTS)
    return tuple(d[q][f"title_{lang}"] for q in ("q1_scalp_type", "q2_symptoms", "q3_categories"))


def option_labels(lang: str = "ko") -> dict[str, list[str]]:
    """Display labels for the three questions, for building UI widgets."""
    return {
        "q1": [o[lang] for o in scalp_type_options()],
        "q2": [symptom_name(s.key, lang) for s in SYMPTOMS],
        "q3": [c.key if lang == "ko" else c.en for c in load_categories()],
    }


def _resolve_scalp_type(answer: str) -> str:
    wanted = _fold(answer)
    for o in scalp_type_options():
        if wanted in {_fold(o[k]) for k in ("key", "ko", "en", "short_ko", "short_en")}:
            return o["key"]
    options = scalp_type_options()
    allowed = [o["ko"] for o in options] + [o["en"] for o in options]
    short = "/".join([o["key"] for o in options] + [o["short_en"] for o in options])
    raise ValueError(f"Q1 scalp type: unknown option {answer!r}; allowed: {allowed} (or {short})")


def _as_list(answers: str | Iterable[str] | None) -> list[str]:
    if answers is None:
        return []
    if isinstance(answers, str):
        return [a for a in (p.strip() for p in answers.split(",")) if a] if answers.strip() else []
    return [str(a) for a in answers]


@dataclass(frozen=True)
class Survey:
    """Validated survey answers. ``scalp_type`` is 건성 or 지성; symptoms are scalp_core keys."""

    scalp_type: str
    symptoms: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        q1_keys = [o["key"] for o in scalp_type_options()]
        if self.scalp_type not in q1_keys:
            raise ValueError(f"Survey.scalp_type must be {' or '.join(q1_keys)}, got {self.scalp_type!r}")
        for key in self.symptoms:
            try:
                get_symptom(key)
            except KeyError as exc:
                raise ValueError(f"Survey.symptoms: {exc.args[0]}") from None
        for c in self.categories:
            if c not in CATEGORY_KEYS:
                raise ValueError(f"Survey.categories: {c!r} is not one of {list(CATEGORY_KEYS)}")

    @classmethod
    def from_answers(
        cls, q1: str, q2: str | Iterable[str] | None = (), q3: str | Iterable[str] | None = ()
    ) -> Survey:
        """Build from the option texts a UI returns (Korean or English, or short keys)."""
        scalp_type = _resolve_scalp_type(q1)
        symptoms = []
        for answer in _as_list(q2):
            try:
                key = get_symptom(answer).key
            except KeyError:
                allowed = [s.ko for s in SYMPTOMS] + [s.en for s in SYMPTOMS]
                raise ValueError(f"Q2 symptoms: unknown option {answer!r}; allowed: {allowed}") from None
            if key not in symptoms:
                symptoms.append(key)
        categories = []
        for answer in _as_list(q3):
            key = resolve_category(answer)
            if key is None:
                allowed = list(CATEGORY_KEYS) + [c.en for c in load_categories()]
                raise ValueError(f"Q3 products: unknown option {answer!r}; allowed: {allowed}")
            if key not in categories:
                categories.append(key)
        # The user's order is kept, as the seed's summary does.
        return cls(scalp_type, tuple(symptoms), tuple(categories))


def scalp_type_label(scalp_type: str, lang: str = "ko") -> str:
    for o in scalp_type_options():
        if o["key"] == scalp_type:
            return o["short_ko"] if lang == "ko" else o["short_en"]
    return scalp_type


def survey_summary(survey: Survey, lang: str = "ko") -> str:
    """The seed's echo line, e.g. '당신의 두피가 🌟 건성 타입의 👤 탈모, 모낭사이홍반 증상이 있다고 선택하셨습니다.'"""
    names = [symptom_in_sentence(k, lang) for k in survey.symptoms]
    return phrase(
        SURVEY_TEXTS,
        "summary" if names else "summary_no_symptoms",
        lang,
        scalp_type=scalp_type_label(survey.scalp_type, lang),
        symptoms=", ".join(names),
    )
