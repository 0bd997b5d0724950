"""Reading an ingredient list: splitting it, normalising names and matching them to known ingredients.

A product's 전성분 / INCI text is split into ingredients, each ingredient is
normalised (case, spacing, parentheses, percentages) and looked up *as a whole*
in ``data/ingredient_aliases.csv``; only whole-ingredient matches count, so
"Menthyl Lactate" is never menthol and "Benzyl Salicylate" is never salicylic
acid. A list written with no separators at all ("aqua glycerin piroctone olamine
…", seen in real scraped catalogs) is read word by word instead, taking at each
word the longest run of words that is a whole known name, so compound names in
the table ("Hydroxyethyl Urea", "Menthyl Lactate") still win over their tails.
Known spelling variants (``data/spelling_variants.csv``: the seed's OCR "소뮴" for
"소듐", the older "메칠" for "메틸") are made standard before the lookup. Each match
keeps its place in the list and any amount written beside it, for the 1% line
(``effective_level``). What the matches mean for a scalp type is ``ingredients``.

    >>> [m.key for m in match_ingredients("Aqua/Water/Eau, Zinc Pyrithione 1%, Menthyl Lactate")]
    ['water', 'zinc_pyrithione', 'menthyl_lactate']

Run ``python -m recommendation.ingredients "살리실산, 판테놀"`` to see what a list matches.
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from .texts import DATA_DIR

# Separators between ingredients. "/" is handled separately because it is also
# part of names such as "Aqua/Water/Eau" or "Caprylic/Capric Triglyceride".
# NFKC turns "ㆍ" (U+318D) into "ᆞ" (U+119E), so both are listed.
_HARD_SEPARATORS = re.compile(r"[,;|ㆍᆞ·・‧•\n\r\t，、]+")
# "A & B" and "A + B" list two ingredients in marketing-style lists.
_SOFT_SEPARATORS = re.compile(r"\s+&\s+|\s*\+\s*")
# "Panthenol: restores softness" / "Menthol – cooling": the name is the head.
_DESCRIPTION = re.compile(r"\s*(?::|：|\s[–—-]\s)")
_LEADING_JUNK = re.compile(r"^[^\w(]+")
_SPACED_SLASH = re.compile(r"\s+/\s*|\s*/\s+")
# Three or more spaces separate names in column-aligned exports ("Aqua      Glycerin").
_WIDE_GAP = re.compile(r" {3,}")
# " - " between names is a list when it occurs twice or more in one piece; a single
# one is more likely "Menthol – cooling" (a description, handled by _lookup).
_SPACED_DASH = re.compile(r"\s+[-–—]\s+")
# Word-by-word reading applies only to one long piece that reads like a list, not prose.
_MIN_SCAN_WORDS = 8
_PROSE = re.compile(r"[.!?:]\s")
_PARENS = re.compile(r"[\(\[\{（［][^\)\]\}）］]*[\)\]\}）］]")
_PERCENT = re.compile(r"\d+(?:[.,]\d+)?\s*%")
_DROP_CHARS = re.compile(r"[\s\-_'’`\".·ㆍᆞ:*]+")
# An amount written in the list: "Salicylic Acid 2%", "엘-멘톨(0.3%)".
_STATED_PERCENT = re.compile(r"(\d+(?:[.,]\d+)?)\s*%")


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


@cache
def _spelling_variants() -> tuple[re.Pattern, dict[str, str]]:
    with open(DATA_DIR / "spelling_variants.csv", encoding="utf-8", newline="") as f:
        table = {_nfkc(r["written"]).lower(): _nfkc(r["standard"]).lower() for r in csv.DictReader(f)}
    return re.compile("|".join(map(re.escape, sorted(table, key=len, reverse=True)))), table


def _standard_spelling(text: str) -> str:
    pattern, table = _spelling_variants()
    return pattern.sub(lambda m: table[m.group(0)], text)


def normalize_name(name: str, keep_slash: bool = True) -> str:
    """Normalise one ingredient name for comparison.

    NFKC, lower case, standard spelling (``data/spelling_variants.csv``), drop
    parenthesised parts ("(Tea Tree)", "(50%)"), drop percentages, then drop
    spaces, hyphens, dots and quotes. Slashes are kept unless ``keep_slash`` is false.

    >>> normalize_name("Melaleuca Alternifolia (Tea Tree) Leaf Oil")
    'melaleucaalternifolialeafoil'
    >>> normalize_name("엘-멘톨 0.3%")
    '엘멘톨'
    >>> normalize_name("소뮴C14-16올레핀설포네이트") == normalize_name("소듐C14-16올레핀설포네이트")
    True
    """
    text = _standard_spelling(_nfkc(name).lower())
    text = _PARENS.sub(" ", text)
    text = _PERCENT.sub(" ", text)
    text = _DROP_CHARS.sub("", text)
    if not keep_slash:
        text = text.replace("/", "")
    return text.strip("/")


@dataclass(frozen=True)
class Ingredient:
    """One row of ``ingredient_aliases.csv``."""

    key: str
    name_ko: str
    name_en: str
    aliases: tuple[str, ...]
    note: str

    def display(self, lang: str = "ko") -> str:
        return self.name_ko if lang == "ko" else self.name_en


@cache
def load_ingredients() -> dict[str, Ingredient]:
    table: dict[str, Ingredient] = {}
    with open(DATA_DIR / "ingredient_aliases.csv", encoding="utf-8", newline="") as f:
        for line_no, row in enumerate(csv.DictReader(f), start=2):
            key = row["key"].strip()
            if not key or key in table:
                raise ValueError(f"ingredient_aliases.csv line {line_no}: empty or repeated key {key!r}")
            aliases = tuple(a.strip() for a in (row["aliases"] or "").split("|") if a.strip())
            table[key] = Ingredient(
                key, row["name_ko"].strip(), row["name_en"].strip(), aliases, row["note"] or ""
            )
    return table


@cache
def alias_index() -> dict[str, str]:
    """Normalised name (slashes kept) → ingredient key. Raises if two keys claim one name."""
    index: dict[str, str] = {}
    for ing in load_ingredients().values():
        for name in (ing.key.replace("_", " "), ing.name_ko, ing.name_en, *ing.aliases):
            norm = normalize_name(name)
            if not norm:
                continue
            owner = index.setdefault(norm, ing.key)
            if owner != ing.key:
                raise ValueError(
                    f"ingredient_aliases.csv: name {name!r} is claimed by both {owner!r} and {ing.key!r}; "
                    "keep it under one key"
                )
    return index


def split_ingredients(text: str | None) -> list[str]:
    """Split an ingredient list into raw ingredient strings.

    Splits on ``,`` ``;`` ``|`` ``ㆍ`` ``·`` newlines, runs of three or more spaces,
    slashes with a space on either side, and spaced dashes when a piece has two or
    more. A slash inside a word ("Aqua/Water/Eau") is kept when the
    whole name is in the alias table and split otherwise.
    Commas inside parentheses ("(3:1, 50%)") or between digits ("1,2-Hexanediol") do not split.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return []
    text = _nfkc(str(text))
    # Protect separators inside parentheses by blanking them temporarily.
    protected = re.sub(r"\([^)]*\)", lambda m: m.group(0).replace(",", "\x00").replace("/", "\x01"), text)
    protected = re.sub(r"(\d),(\d)", "\\1\x00\\2", protected)  # "1,2-Hexanediol" is one name
    parts: list[str] = []
    chunks = (
        w
        for hard in _HARD_SEPARATORS.split(protected)
        for c in _SOFT_SEPARATORS.split(hard)
        for w in _WIDE_GAP.split(c)
    )
    for chunk in chunks:
        pieces = (
            p
            for slash in _SPACED_SLASH.split(chunk)
            for p in (_SPACED_DASH.split(slash) if len(_SPACED_DASH.findall(slash)) >= 2 else [slash])
        )
        for piece in pieces:
            piece = piece.replace("\x00", ",").replace("\x01", "/").strip()
            if not piece:
                continue
            if "/" in piece.split("(")[0] and normalize_name(piece) not in alias_index():
                parts.extend(p.strip() for p in piece.split("/") if p.strip())
            else:
                parts.append(piece)
    return parts


@dataclass(frozen=True)
class IngredientMatch:
    key: str
    raw: str  # the text as written in the product's list
    position: int = 0  # its place in the list (0 = first), for the 1% line
    percent: float | None = None  # an amount written beside it ("2%"), if any


@cache
def _names_holding_a_percent() -> frozenset[str]:
    """Known names whose "%" is part of the name ("징크피리치온액(50%)": a 50% raw material), not an amount."""
    return frozenset(
        _compact(name)
        for ing in load_ingredients().values()
        for name in (ing.name_ko, ing.name_en, *ing.aliases)
        if "%" in name
    )


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", _nfkc(text).casefold())


def stated_percent(raw: str) -> float | None:
    """The amount written in one list entry ("Salicylic Acid 2%" → 2.0), unless the "%" belongs to its name."""
    found = _STATED_PERCENT.findall(_nfkc(raw))
    if not found or _compact(raw) in _names_holding_a_percent():
        return None
    return float(found[-1].replace(",", "."))


def _lookup(raw: str) -> tuple[str, str] | None:
    index = alias_index()
    name = _LEADING_JUNK.sub("", raw).strip()
    for candidate in (name, _DESCRIPTION.split(name, maxsplit=1)[0].strip()):
        key = index.get(normalize_name(candidate)) or index.get(normalize_name(candidate, keep_slash=False))
        if key:
            return key, candidate
    return None


@cache
def _max_name_words() -> int:
    return max(
        len(name.split()) for ing in load_ingredients().values() for name in (ing.name_en, *ing.aliases)
    )


def _word_scan(text: str) -> list[tuple[str, str]]:
    """(key, name as written) for known names in a list with no separators, longest match first."""
    index = alias_index()
    words = list(re.finditer(r"\S+", text))
    found: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        for n in range(min(_max_name_words(), len(words) - i), 0, -1):
            raw = text[words[i].start() : words[i + n - 1].end()]
            key = index.get(normalize_name(raw)) or index.get(normalize_name(raw, keep_slash=False))
            if key:
                found.append((key, raw))
                i += n
                break
        else:
            i += 1
    return found


def is_unseparated_list(text: object) -> bool:
    """True for an ingredient list written with no separators, which is read word by word."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return False
    pieces = split_ingredients(str(text))
    return (
        len(pieces) == 1
        and len(pieces[0].split()) >= _MIN_SCAN_WORDS
        and not _PROSE.search(pieces[0])
        and _lookup(pieces[0]) is None
    )


def lookup(raw: str) -> str | None:
    """The ingredient key of one raw list entry, or None.

    Tries the whole entry, then its head before a description ("Menthol – cooling",
    "Panthenol: softness"), after dropping leading bullets ("> Biotin").
    """
    found = _lookup(raw)
    return found[0] if found else None


def match_ingredients(text: str | None) -> list[IngredientMatch]:
    """Every known ingredient in ``text``, in list order, each once (whole-name matches only).

    ``raw`` is the name as written in the list (without bullets or a trailing description);
    ``position`` its place among the list's entries (among the known names, for a list read
    word by word); ``percent`` an amount written beside it.
    """
    seen: set[str] = set()
    found = []
    pieces = split_ingredients(text)
    hits = _word_scan(pieces[0]) if is_unseparated_list(text) else [_lookup(p) for p in pieces]
    for position, hit in enumerate(hits):
        if hit and hit[0] not in seen:
            seen.add(hit[0])
            found.append(IngredientMatch(hit[0], hit[1], position, stated_percent(hit[1])))
    return found


def has_ingredient_data(text: object) -> bool:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return False
    return any(normalize_name(p) for p in split_ingredients(str(text)))
