"""The package's YAML tables and the ko/en sentence templates in them, filled with grammar that fits.

Wording lives in ``data/*.yaml`` as entries ``{ko: "...", en: "..."}`` with
``{placeholders}``, so a translator edits text, not code. A placeholder may name
the particle or article that follows its word, and :func:`fill` writes the one
that fits the word's last sound:

- ``{finding:(으)로}`` → "중증으로" / "중등도로" (:func:`with_direction_particle`);
- ``{symptom:이(가)}`` → "비듬(경증)이" / "피지과다(중증)가" (:func:`with_subject_particle`);
- ``{scalp_type:a/an}`` → "an oily" / "a dry" (:func:`with_indefinite_article`).

    >>> fill("두피 이미지 분석 결과 당신은 {finding:(으)로} 판단됩니다.", finding="피지과다: 중증")
    '두피 이미지 분석 결과 당신은 피지과다: 중증으로 판단됩니다.'
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

import yaml

from scalp_core.aihub_names import LOCATION_NAMES
from scalp_core.symptoms import get_symptom, split_label

DATA_DIR = Path(__file__).resolve().parent / "data"
LANGS = ("ko", "en")

_HANGUL_FIRST, _HANGUL_LAST = "가", "힣"
_FINAL_CONSONANTS = 28  # each Hangul syllable block = initial × vowel × 28 finals (0 = none)
_FINAL_RIEUL = 8  # ㄹ, which takes 로 as if there were no final consonant


@cache
def read_yaml(name: str) -> dict:
    """``data/<name>`` parsed (cached: callers must not change what it returns)."""
    with open(DATA_DIR / name, encoding="utf-8") as f:
        return yaml.safe_load(f)


def symptom_name(key: str, lang: str) -> str:
    """A symptom's name as a heading or list item: "피지과다" / "Excess sebum"."""
    spec = get_symptom(key)
    return spec.ko if lang == "ko" else spec.en


def region_name(code: str, lang: str) -> str:
    """A head region's name from its AI Hub location code (``TH``/``LH``/``RH``/``BH``): "정수리" / "crown"."""
    try:
        ko, en = split_label(LOCATION_NAMES[code])
    except KeyError:
        raise ValueError(f"unknown region code {code!r}; use one of {list(LOCATION_NAMES)}") from None
    return en if lang == "en" else ko


def symptom_in_sentence(key: str, lang: str) -> str:
    """A symptom's name inside running text: "피지과다" / "excess sebum"."""
    return symptom_name(key, lang) if lang == "ko" else symptom_name(key, lang).lower()


def _last_syllable(word: str) -> str:
    """The last Hangul syllable of ``word``, ignoring a trailing "(…)" such as a severity; "" if none."""
    head = word.rsplit("(", 1)[0].rstrip() if word.endswith(")") else word
    return next((ch for ch in reversed(head) if _HANGUL_FIRST <= ch <= _HANGUL_LAST), "")


def _final_consonant(word: str) -> int:
    """Index of the final consonant (받침) of ``word``'s last syllable; 0 when it has none."""
    last = _last_syllable(word)
    return (ord(last) - ord(_HANGUL_FIRST)) % _FINAL_CONSONANTS if last else 0


def with_direction_particle(word: str) -> str:
    """``word`` + 으로 after a final consonant, else 로 (a final ㄹ also takes 로): "중증으로", "중등도로"."""
    final = _final_consonant(word)
    return f"{word}{'으로' if final and final != _FINAL_RIEUL else '로'}"


def with_subject_particle(word: str) -> str:
    """``word`` + 이 after a final consonant, else 가: "비듬(경증)이", "피지과다(중증)가"."""
    return f"{word}{'이' if _final_consonant(word) else '가'}"


def with_indefinite_article(word: str) -> str:
    """``word`` after the English article that fits its first letter: "an oily", "a dry"."""
    return f"an {word}" if word[:1].lower() in "aeiou" else f"a {word}"


# Format specs a template may put after a placeholder's name, e.g. {finding:(으)로}.
GRAMMAR_SPECS = {
    "(으)로": with_direction_particle,
    "이(가)": with_subject_particle,
    "a/an": with_indefinite_article,
}


class _GrammarFormatter(string.Formatter):
    def format_field(self, value, format_spec: str) -> str:
        attach = GRAMMAR_SPECS.get(format_spec)
        return attach(str(value)) if attach else super().format_field(value, format_spec)


_FORMATTER = _GrammarFormatter()


def fill(template: str, **values) -> str:
    """``template.format(**values)``, where a spec of :data:`GRAMMAR_SPECS` attaches its particle or article."""
    return _FORMATTER.format(template, **values)


def phrase(table: str, key: str, lang: str, **values) -> str:
    """Entry ``key`` (dotted for a nested one, e.g. ``"notes.top_k"``) of ``data/<table>`` in ``lang``, filled."""
    if lang not in LANGS:
        raise ValueError(f"lang must be 'ko' or 'en', got {lang!r}")
    entry = read_yaml(table)
    for part in key.split("."):
        entry = entry[part]
    return fill(entry[lang], **values)
