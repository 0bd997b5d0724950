"""A product's category and rinse-off kind, refined from its own name and claims.

A catalog's category column is often coarser than the survey's seven categories: Sociolla
files scalp scalers and scalp packs under "mask" and tonics under "hair serum"; Olive Young's
search labels hold whatever the search found. For a source category listed as coarse in
``data/categories.yaml`` (``coarse_sources``), the ordered ``infer_from_name`` rules there
look for words in the product's name, then in its claims, and the first that fits gives the
category (words matched as ``name_words`` describes). The same file's ``kinds`` say whether a product of a mixed category (shampoo bar or
dry shampoo) is rinsed off. The catalog loader (``catalog.load_catalog``) calls both.

    >>> infer_category("mask", "Real Mary Purifying Scalp Scaler Sea Salt")
    '두피팩/스케일러'
    >>> product_rinse_off("샴푸바/드라이샴푸", "Fresh Dry Shampoo Spray")
    False
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from .name_words import Words, fold
from .survey import category_info, resolve_category
from .texts import read_yaml

CATEGORIES = "categories.yaml"


@dataclass(frozen=True)
class NameRule:
    category: str
    words: Words
    unless: Words

    def fits(self, folded: str) -> bool:
        return self.words.found_in(folded) and not self.unless.found_in(folded)


@dataclass(frozen=True)
class Kind:
    name: str
    rinse_off: bool
    words: Words


@cache
def _table() -> dict:
    return read_yaml(CATEGORIES)


@cache
def coarse_sources() -> frozenset[str]:
    return frozenset(fold(s) for s in _table().get("coarse_sources", ()))


@cache
def name_rules() -> tuple[NameRule, ...]:
    rules = []
    for i, raw in enumerate(_table().get("infer_from_name", ()), start=1):
        category = resolve_category(raw["category"])
        if category is None:
            raise ValueError(
                f"{CATEGORIES}: infer_from_name rule {i} names unknown category {raw['category']!r}"
            )
        rules.append(NameRule(category, Words.of(raw["words"]), Words.of(raw.get("unless"))))
    return tuple(rules)


@cache
def kinds(category: str) -> tuple[Kind, ...]:
    entry = next((c for c in _table()["categories"] if c["key"] == category), {})
    return tuple(Kind(k["name"], bool(k["rinse_off"]), Words.of(k["words"])) for k in entry.get("kinds", ()))


def _texts(name: str, claims: str | None) -> list[str]:
    return [fold(name)] + ([fold(claims)] if claims else [])


def infer_category(source: str, name: str, claims: str | None = None) -> str | None:
    """The category that the product's name (then claims) gives when ``source`` is coarse, else None.

    None also when no rule fits; the caller keeps the category the source label resolves to.
    """
    if fold(source) not in coarse_sources():
        return None
    for text in _texts(name, claims):
        for rule in name_rules():
            if rule.fits(text):
                return rule.category
    return None


def product_rinse_off(category: str, name: str, claims: str | None = None) -> bool:
    """Whether the product is washed off: its kind's, when its category lists kinds, else the category's."""
    for text in _texts(name, claims):
        for kind in kinds(category):
            if kind.words.found_in(text):
                return kind.rinse_off
    return category_info(category).rinse_off
