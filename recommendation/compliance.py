"""Medical and efficacy claims in scalp-care texts (built-in texts and OpenAI answers), found and removed.

The rules are data (``data/claims.yaml``), written from the claim categories of the MFDS
화장품 표시·광고 가이드라인: hair loss, regrowth and thickening; cure, treatment and prevention;
named diseases; antibacterial and sterilising; anti-inflammatory; regeneration; drug-like wording
and doctor endorsements, in Korean and English. Phrases that only registered functional cosmetics
may use ("탈모 증상 완화") pass only where the sentence names that registration (기능성화장품).
Texts are checked sentence by sentence, each sentence normalised first so spacing, particles and
separators cannot hide a claim ("탈 모 치 료", "탈·모"); an offending sentence is removed and the rest
kept, and a list marker ("1.") goes with its sentence, never left standing alone.

    >>> find_violations("이 샴푸는 탈모를 예방합니다. 두피를 깨끗이 씻으세요.")[0].sentence
    '이 샴푸는 탈모를 예방합니다.'
    >>> is_compliant("피부과 전문의의 치료를 받으세요.")
    True

Run ``python -m recommendation.compliance "text"`` to check a text.
"""

from __future__ import annotations

import argparse
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from .texts import read_yaml

RULES_FILE = "claims.yaml"

# A list marker at the start of a line: "1.", "2)", "-", "*", "•".
LIST_MARKER = re.compile(r"^[ \t]*(?:\d{1,2}[.)]|[-*•])(?:[ \t]+|$)")
# A sentence ends at . ! ? 。 followed by a space (or the end): "0.5%", "탈.모" and "e.g." do not end one.
_SENTENCE_END = re.compile(r"(?<=[.!?。])[\"'”’)\]]*\s+")
_ABBREVIATIONS = re.compile(r"\b(e\.g|i\.e|vs|approx|etc)\.(?=\s+[a-z0-9])", re.IGNORECASE)
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060\ufeff]")
_HANGUL = "가-힣"
# Separators inside a Hangul word ("탈·모", "탈-모", "탈.모") and spaced-out syllables or letters.
_INNER_SEPARATOR = re.compile(rf"(?<=[{_HANGUL}])[·・\-_.*/~'\"`]+(?=[{_HANGUL}])")
_SPACED_SYLLABLES = re.compile(rf"(?<![{_HANGUL}])[{_HANGUL}](?:[ \t]+[{_HANGUL}](?![{_HANGUL}]))+")
_SPACED_LETTERS = re.compile(r"(?<![a-z])[a-z](?:(?: |[.\-*_·] ?)[a-z](?![a-z])){2,}")
_TERM = re.compile(r"\{([a-z_]+)\}")
_WORD = re.compile(rf"[{_HANGUL}a-zA-Z]")


@dataclass(frozen=True)
class Violation:
    sentence: str
    matched: str
    reason: str
    category: str = ""


@dataclass(frozen=True)
class _Claim:
    category: str
    reason: str
    weak: bool  # not a claim in a sentence that refers to a doctor or to a functional-cosmetic registration
    patterns: tuple[re.Pattern, ...]


@dataclass(frozen=True)
class _Rules:
    claims: tuple[_Claim, ...]
    allowed: tuple[re.Pattern, ...]
    exempt: tuple[re.Pattern, ...]
    functional_only: tuple[re.Pattern, ...]
    functional_context: re.Pattern
    functional_reason: str


def _compile(pattern: str, terms: dict[str, str]) -> re.Pattern:
    def term(m: re.Match) -> str:
        if m.group(1) not in terms:
            raise ValueError(f"{RULES_FILE}: pattern {pattern!r} names an unknown term {{{m.group(1)}}}")
        return terms[m.group(1)]

    expanded = _TERM.sub(term, pattern)
    try:
        return re.compile(expanded, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(
            f"{RULES_FILE}: pattern {pattern!r} is not a valid regular expression: {exc}"
        ) from None


def _both_languages(entry: dict, terms: dict[str, str]) -> tuple[re.Pattern, ...]:
    return tuple(_compile(p, terms) for lang in ("ko", "en") for p in entry.get(lang) or [])


@cache
def _rules() -> _Rules:
    raw = read_yaml(RULES_FILE)
    terms = raw.get("terms", {})
    claims = tuple(
        _Claim(c["category"], c["reason"], bool(c.get("weak", False)), _both_languages(c, terms))
        for c in raw["claims"]
    )
    exempt = tuple(p for entry in raw["exempt_when"].values() for p in _both_languages(entry, terms))
    functional = raw["functional_only"]
    return _Rules(
        claims=claims,
        allowed=_both_languages(raw["allowed"], terms),
        exempt=exempt,
        functional_only=_both_languages(functional, terms),
        functional_context=_compile(functional["context"], terms),
        functional_reason=functional["reason"],
    )


def normalise(sentence: str) -> str:
    """``sentence`` as the rules see it: NFKC, lower case, no invisible characters, no separators
    inside a Hangul word, spaced-out syllables and letters joined ("탈 모 치 료" → "탈모치료"), one space
    between words."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", sentence)).lower()
    text = _INNER_SEPARATOR.sub("", text)
    text = _SPACED_SYLLABLES.sub(lambda m: re.sub(r"[ \t]+", "", m.group(0)), text)
    text = _SPACED_LETTERS.sub(lambda m: re.sub(r"[ .\-*_·]", "", m.group(0)), text)
    return re.sub(r"\s+", " ", text).strip()


def has_words(text: str) -> bool:
    """Whether ``text`` holds any letter: a lone "1." or "3)" does not."""
    return bool(_WORD.search(text))


def split_marker(line: str) -> tuple[str, str]:
    """(list marker or "", the rest) of one line: "1. 감습니다." → ("1.", "감습니다.")."""
    m = LIST_MARKER.match(line)
    return (m.group(0).strip(), line[m.end() :]) if m else ("", line)


def _line_sentences(line: str) -> list[str]:
    protected = _ABBREVIATIONS.sub(lambda m: m.group(0).replace(".", "\x00"), line)
    return [s.strip().replace("\x00", ".") for s in _SENTENCE_END.split(protected) if s.strip()]


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, line by line, without their list markers."""
    return [s for line in text.splitlines() for s in _line_sentences(split_marker(line)[1])]


def classify(sentence: str, functional_cosmetic: bool = False) -> Violation | None:
    """The first rule ``sentence`` breaks, or None."""
    rules = _rules()
    text = normalise(sentence)
    for allowed in rules.allowed:
        text = allowed.sub(lambda m: " " * len(m.group(0)), text)
    exempt = any(p.search(text) for p in rules.exempt)
    for claim in rules.claims:
        if claim.weak and exempt:
            continue
        for pattern in claim.patterns:
            m = pattern.search(text)
            if m:
                return Violation(sentence, m.group(0).strip(), claim.reason, claim.category)
    if not functional_cosmetic and not rules.functional_context.search(text):
        for pattern in rules.functional_only:
            m = pattern.search(text)
            if m:
                return Violation(sentence, m.group(0).strip(), rules.functional_reason, "functional_only")
    return None


def find_violations(text: str, functional_cosmetic: bool = False) -> list[Violation]:
    """Every sentence of ``text`` that breaks a rule, with the matched words and the reason."""
    return [v for s in sentences(text) if (v := classify(s, functional_cosmetic)) is not None]


def is_compliant(text: str, functional_cosmetic: bool = False) -> bool:
    return not find_violations(text, functional_cosmetic)


def remove_violations(text: str, functional_cosmetic: bool = False) -> tuple[str, list[Violation]]:
    """``text`` without its offending sentences, and what was removed.

    Lines are kept as lines; a line whose sentences were all removed goes with its list marker,
    and no number or marker is left standing alone."""
    violations = find_violations(text, functional_cosmetic)
    if not violations:
        return text, []
    bad = {v.sentence for v in violations}
    kept_lines = []
    for line in text.splitlines():
        marker, rest = split_marker(line)
        kept = [s for s in _line_sentences(rest) if s not in bad and has_words(s)]
        if kept:
            kept_lines.append(" ".join(([marker] if marker else []) + kept))
    return "\n".join(kept_lines), violations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a text against the MFDS claims rules.")
    parser.add_argument("text")
    parser.add_argument(
        "--functional", action="store_true", help="the product is a registered functional cosmetic"
    )
    args = parser.parse_args(argv)
    violations = find_violations(args.text, args.functional)
    for v in violations:
        print(f"✗ {v.sentence}  [{v.matched}: {v.reason}]")
    print("OK" if not violations else f"{len(violations)} violation(s)")
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
