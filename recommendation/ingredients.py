"""Which scalp types a product's ingredients suit, and which of them are banned or restricted.

``data/type_ingredients.csv`` says which ingredients suit which scalp type, how
(``role``: core, supporting or weak) and why; an active counts only where it is
plausibly at an effective level (its place in the list relative to the 1% line, or
a stated amount: ``effective_level``). ``data/regulated_ingredients.csv`` flags
banned, medicine-only or rinse-off-only ingredients. The list itself is read by
``ingredient_lists`` (splitting, spelling variants, whole-name aliases).

    >>> sorted(tag_types("Water, Biotin, Parfum"))
    ['탈모성']

Run ``python -m recommendation.ingredients "살리실산, 판테놀"`` to see what a list matches.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from functools import cache

from .effective_level import active_levels, at_effective_level, level_markers, one_percent_line
from .ingredient_lists import IngredientMatch, load_ingredients, match_ingredients
from .texts import DATA_DIR

# What an ingredient is to a type (type_ingredients.csv ``role``): ``core``, an active that products
# for the type are made around; ``supporting``, one that helps but is common elsewhere (cleansing
# agents, ferments); ``weak``, one in nearly every product, reported but never tagging a product alone.
ROLES = ("core", "supporting", "weak")


@dataclass(frozen=True)
class TypeIngredient:
    type: str
    ingredient: str
    role: str  # one of ROLES
    why_ko: str
    why_en: str
    source: str

    @property
    def weak(self) -> bool:
        return self.role == "weak"


@cache
def load_type_ingredients() -> tuple[TypeIngredient, ...]:
    """``type_ingredients.csv``, checked against the alias table and the effective-level rules."""
    known = load_ingredients()
    unknown = sorted((level_markers() | set(active_levels())) - set(known))
    if unknown:
        raise ValueError(
            f"level_markers.csv / active_levels.csv name keys missing from ingredient_aliases.csv: {unknown}"
        )
    rows = []
    with open(DATA_DIR / "type_ingredients.csv", encoding="utf-8", newline="") as f:
        for line_no, row in enumerate(csv.DictReader(f), start=2):
            if row["ingredient"] not in known:
                raise ValueError(
                    f"type_ingredients.csv line {line_no}: ingredient {row['ingredient']!r} is not a key of "
                    "ingredient_aliases.csv; add it there first"
                )
            if row["ingredient"] not in active_levels():
                raise ValueError(
                    f"type_ingredients.csv line {line_no}: ingredient {row['ingredient']!r} has no row in "
                    "active_levels.csv; say there whether it still works below the 1% line"
                )
            role = row["role"].strip()
            if role not in ROLES:
                raise ValueError(f"type_ingredients.csv line {line_no}: role {role!r} is not one of {ROLES}")
            rows.append(
                TypeIngredient(
                    row["type"], row["ingredient"], role, row["why_ko"], row["why_en"], row["source"]
                )
            )
    return tuple(rows)


def effective_ingredients(scalp_type: str) -> list[TypeIngredient]:
    return [r for r in load_type_ingredients() if r.type == scalp_type]


@dataclass(frozen=True)
class TypeMatch:
    """Why a product suits one scalp type."""

    type: str
    ingredients: tuple[IngredientMatch, ...]
    reasons: tuple[TypeIngredient, ...]


def tag_types(text: str | None) -> dict[str, TypeMatch]:
    """Scalp types a product suits, judged from its ingredient list.

    A type is tagged when the list holds at least one of its non-weak effective
    ingredients at an effective level (``effective_level``: not below the 1% line
    unless it works there, or a stated amount high enough); weak ones (glycerin,
    amino acids, lactic acid: in nearly every product) are reported alongside but
    never tag a product on their own. An empty or missing list tags nothing.

    >>> sorted(tag_types("Water, Sodium Laureth Sulfate, Parfum, Salicylic Acid"))
    []
    >>> sorted(tag_types("Water, Salicylic Acid 2%, Parfum"))
    ['민감성', '비듬성', '지루성', '지성', '탈모성']
    """
    found = match_ingredients(text)
    line = one_percent_line([(m.position, m.key) for m in found])
    matches = {m.key: m for m in found if at_effective_level(m.key, m.position, m.percent, line)}
    result: dict[str, TypeMatch] = {}
    by_type: dict[str, list[TypeIngredient]] = {}
    for row in load_type_ingredients():
        if row.ingredient in matches:
            by_type.setdefault(row.type, []).append(row)
    for scalp_type, rows in by_type.items():
        if any(not r.weak for r in rows):
            result[scalp_type] = TypeMatch(
                scalp_type, tuple(matches[r.ingredient] for r in rows), tuple(rows)
            )
    return result


@dataclass(frozen=True)
class RegulatoryFlag:
    ingredient: str
    status: str  # banned | drug | rinse_off_only
    reason_ko: str
    reason_en: str
    raw: str

    def message(self, lang: str = "ko") -> str:
        name = load_ingredients()[self.ingredient].display(lang)
        return f"⚠️ {name}: {self.reason_ko if lang == 'ko' else self.reason_en}"


@cache
def load_regulated() -> dict[str, dict[str, str]]:
    known = load_ingredients()
    with open(DATA_DIR / "regulated_ingredients.csv", encoding="utf-8", newline="") as f:
        rows = {r["ingredient"]: r for r in csv.DictReader(f)}
    for key in rows:
        if key not in known:
            raise ValueError(f"regulated_ingredients.csv: {key!r} is not a key of ingredient_aliases.csv")
    return rows


def regulatory_flags(text: str | None, rinse_off: bool | None = None) -> list[RegulatoryFlag]:
    """Banned, medicine-only or restricted ingredients in the list.

    ``rinse_off_only`` ingredients are flagged only when the product is known to
    be leave-on (``rinse_off is False``); pass ``None`` when unknown to flag them anyway.
    """
    regulated = load_regulated()
    flags = []
    for m in match_ingredients(text):
        row = regulated.get(m.key)
        if row is None or (row["status"] == "rinse_off_only" and rinse_off is True):
            continue
        flags.append(RegulatoryFlag(m.key, row["status"], row["reason_ko"], row["reason_en"], m.raw))
    return flags


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Show what an ingredient list matches.")
    parser.add_argument("text", help="ingredient list, e.g. '정제수, 살리실산, 판테놀'")
    args = parser.parse_args(argv)
    for m in match_ingredients(args.text):
        print(f"{m.raw!r} -> {m.key}")
    for scalp_type, tm in tag_types(args.text).items():
        print(f"suits {scalp_type}: {', '.join(i.key for i in tm.ingredients)}")
    for flag in regulatory_flags(args.text):
        print(flag.message())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
