"""Whether an active in an ingredient list is plausibly at a level where it does something.

An INCI / 전성분 list names ingredients in falling order of amount down to 1%; below that
the order is free. Ingredients that are always at or under 1% (fragrance, the common
preservatives: ``data/level_markers.csv``) therefore mark where that "1% line" lies:
everything after the first of them is at most about 1%. ``data/active_levels.csv`` says,
for every ingredient that can tag a scalp type, whether it still works below that line
(biotin at 0.06%, zinc pyrithione at up to 1%) or only above it (salicylic acid, which
below the line is a preservative; clays and cleansing agents, which work in bulk). An
amount written in the list ("Salicylic Acid 2%") overrides the position: it counts when
it reaches the row's ``min_percent``. A list with no marker gives no line, and every
active in it counts, as before.

    >>> at_effective_level("salicylic_acid", position=9, percent=None, line=5)
    False

The rules are read by ``recommendation.ingredients.tag_types``; edit the CSVs, not code.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

from .texts import DATA_DIR

MARKERS_CSV = "level_markers.csv"
ACTIVES_CSV = "active_levels.csv"


@dataclass(frozen=True)
class ActiveLevel:
    """One row of ``active_levels.csv``."""

    ingredient: str
    counts_below_line: bool
    min_percent: float | None  # a stated amount counts from here; None: any stated amount
    why: str


def _read(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@cache
def level_markers() -> frozenset[str]:
    """Ingredient keys that are never above 1% of a product: the first one in a list marks the 1% line."""
    return frozenset(row["ingredient"].strip() for row in _read(MARKERS_CSV))


def _flag(value: str, line_no: int) -> bool:
    text = value.strip().lower()
    if text not in ("true", "false"):
        raise ValueError(
            f"{ACTIVES_CSV} line {line_no}: counts_below_line must be true or false, got {value!r}"
        )
    return text == "true"


@cache
def active_levels() -> dict[str, ActiveLevel]:
    """Ingredient key → its level rule. An active that counts only above the line needs a ``min_percent``."""
    rules: dict[str, ActiveLevel] = {}
    for line_no, row in enumerate(_read(ACTIVES_CSV), start=2):
        key = row["ingredient"].strip()
        if not key or key in rules:
            raise ValueError(f"{ACTIVES_CSV} line {line_no}: empty or repeated ingredient {key!r}")
        below = _flag(row["counts_below_line"], line_no)
        raw_min = (row["min_percent"] or "").strip()
        try:
            min_percent = float(raw_min) if raw_min else None
        except ValueError:
            raise ValueError(
                f"{ACTIVES_CSV} line {line_no}: min_percent {raw_min!r} is not a number"
            ) from None
        if not below and min_percent is None:
            raise ValueError(
                f"{ACTIVES_CSV} line {line_no}: {key!r} counts only above the 1% line, so it needs a min_percent "
                "(the stated amount from which it counts anyway)"
            )
        rules[key] = ActiveLevel(key, below, min_percent, row["why"])
    return rules


def one_percent_line(keys_in_order: list[tuple[int, str]]) -> int | None:
    """Position of the first 1% marker among ``(position, ingredient key)`` pairs; None when there is none."""
    positions = [pos for pos, key in keys_in_order if key in level_markers()]
    return min(positions) if positions else None


def at_effective_level(ingredient: str, position: int, percent: float | None, line: int | None) -> bool:
    """Whether ``ingredient`` at ``position`` (with a stated ``percent``, if any) counts, given the 1% ``line``.

    Ingredients without a rule in ``active_levels.csv`` always count.
    """
    rule = active_levels().get(ingredient)
    if rule is None:
        return True
    if percent is not None:
        return rule.min_percent is None or percent >= rule.min_percent
    return rule.counts_below_line or line is None or position < line
