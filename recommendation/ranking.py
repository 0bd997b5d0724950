"""Top-k products per chosen category for the diagnosed scalp type(s), with explanations.

Only products tagged (from their ingredients) with at least one diagnosed type
are ranked; for 양호 (healthy) every product with an ingredient list qualifies.
When a category has fewer than ``top_k`` matching products the result says so
in ``df.attrs["notes_ko"/"notes_en"]`` and ``df.attrs["shortfalls"]``; it never
pads with non-matching products. Products without ingredient data are never
matched; the notes say how many a category had (``df.attrs["no_ingredient_data"]``).

Scores:
- ``"bayesian"`` (default): (v·R + m·C) / (v + m), R = the product's star,
  v = its review count, C = mean star of the catalog's rated products, m = the
  median review count of the catalog's reviewed products (or ``m=`` given).
  Unrated products score C. A 5.0 with 3 reviews no longer beats a 4.8 with 3,000.
- ``"seed"``: the seed's order, stars first, then review count.

Fit: products are ordered for a type by ``score + FIT_WEIGHT × fit``. ``fit`` says how
specifically the product suits that type:
- its matched actives: each counts its role's weight (``ROLE_WEIGHTS``: a core active 1,
  a supporting one such as a cleansing agent a quarter, a weak one nothing) divided by the
  number of types it suits in ``type_ingredients.csv``, so biotin (탈모성 only) counts 1
  for 탈모성, panthenol (건성, 민감성, 탈모성) a third, and piroctone olamine (비듬성,
  지루성) more than the mild cleanser disodium laureth sulfosuccinate;
- its name (``data/concern_words.yaml``): +1 when it names this type's concern ("Anti
  Dandruff Shampoo" for 비듬성), −1 when it names only other types' ("Hair Fall Tonic"
  for 지성); names never make a product a candidate, its ingredients do.
For 양호 the fit is 1 / (1 + the number of types the product is tagged with), less 1
when its name names any type: a healthy scalp needs no actives, so plainer products
come first. A product that suits several types is thus not the first pick for all of them.

Several types (a tie): each type gets its own share of the ``top_k``, taken in turns
(round-robin, in the order given) from its own ranking; in the first round a type that
an earlier pick already suits passes its turn to the next. ``top_k`` is a hard limit (the
API promises it): with at least as many places as tied types, every tied type that has a
matching product appears; with fewer, the types given first get the places.

The explanations and notes are templates in ``data/product_texts.yaml``.

    >>> from recommendation.demo import demo_catalog
    >>> recommend(demo_catalog(), ["지성"], ["샴푸"]).shape[0]
    3
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cache

import pandas as pd

from .catalog import tag_catalog
from .ingredient_lists import load_ingredients, lookup
from .ingredients import load_type_ingredients
from .name_words import Words, fold
from .scalp_type import healthy_type, join_type_labels, type_label, type_order
from .survey import CATEGORY_KEYS, category_info, resolve_category
from .texts import LANGS, phrase, read_yaml

SCORES = ("bayesian", "seed")
PRODUCT_TEXTS = "product_texts.yaml"
CONCERN_WORDS = "concern_words.yaml"
# Stars one fully type-specific active is worth in the order: enough for a product made for the
# type to pass a generic one rated half a star higher, not enough to lift a poorly rated one.
FIT_WEIGHT = 0.5
ROLE_WEIGHTS = {"core": 1.0, "supporting": 0.25, "weak": 0.0}


def bayesian_prior(df: pd.DataFrame, m: float | None = None) -> tuple[float, float]:
    """(C, m) for the Bayesian average: catalog mean star and review-count weight."""
    stars = pd.to_numeric(df["star"], errors="coerce")
    reviews = pd.to_numeric(df["review_count"], errors="coerce").fillna(0)
    rated = stars.notna()
    c = float(stars[rated].mean()) if rated.any() else 0.0
    if m is None:
        positive = reviews[rated & (reviews > 0)]
        m = float(positive.median()) if len(positive) else 1.0
    if m <= 0:
        raise ValueError(f"m must be positive, got {m}")
    return c, float(m)


def add_scores(df: pd.DataFrame, score: str = "bayesian", m: float | None = None) -> pd.DataFrame:
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    df = df.copy()
    stars = pd.to_numeric(df["star"], errors="coerce")
    reviews = pd.to_numeric(df["review_count"], errors="coerce").fillna(0).clip(lower=0)
    c, m = bayesian_prior(df, m)
    df["bayesian_score"] = ((reviews * stars.fillna(c) + m * c) / (reviews + m)).round(4)
    df["score"] = df["bayesian_score"] if score == "bayesian" else stars.fillna(-1.0)
    return df


@cache
def _types_per_ingredient() -> Counter:
    return Counter(r.ingredient for r in load_type_ingredients() if not r.weak)


@cache
def _role_weights() -> dict[tuple[str, str], float]:
    return {(r.type, r.ingredient): ROLE_WEIGHTS[r.role] for r in load_type_ingredients()}


@cache
def _concern_words() -> dict[str, tuple[Words, Words]]:
    table = read_yaml(CONCERN_WORDS)
    unknown = set(table) - set(type_order())
    if unknown:
        raise ValueError(
            f"{CONCERN_WORDS}: unknown scalp types {sorted(unknown)}; expected some of {type_order()}"
        )
    return {t: (Words.of(entry["words"]), Words.of(entry.get("unless"))) for t, entry in table.items()}


@cache
def named_types(name: str) -> tuple[str, ...]:
    """The scalp types whose concern a product name names ("Anti Dandruff Shampoo" → 비듬성)."""
    folded = fold(name)
    return tuple(
        t
        for t, (words, unless) in _concern_words().items()
        if words.found_in(folded) and not unless.found_in(folded)
    )


def type_fit(matched: dict, product_types: Iterable[str], name: str, scalp_type: str) -> float:
    """How specifically a product suits ``scalp_type``: its actives and its name (see the module docstring)."""
    named = named_types(name)
    if scalp_type == healthy_type():
        return round(1 / (1 + len(tuple(product_types))) - (1 if named else 0), 4)
    keys = {lookup(raw) for raw in matched.get(scalp_type, ())}
    spread = _types_per_ingredient()
    actives = sum(_role_weights().get((scalp_type, k), 0.0) / spread[k] for k in keys if k in spread)
    return round(actives + (0 if not named else 1 if scalp_type in named else -1), 4)


def _pick(ranked: dict[str, pd.DataFrame], top_k: int) -> list[tuple[object, str]]:
    """(row index, the type it was picked for) in order: round-robin over ``ranked``'s types
    (each ranking holds the rows that suit that type, best first), at most ``top_k`` of them."""
    types = list(ranked)
    picked: list[tuple[object, str]] = []
    covered: set[str] = set()
    queues = {t: list(ranked[t].index) for t in types}

    def take(t: str) -> None:
        taken = {idx for idx, _ in picked}
        while queues[t]:
            idx = queues[t].pop(0)
            if idx not in taken:
                picked.append((idx, t))
                covered.update(ranked[t].at[idx, "matched_types"])
                return

    first_round = True
    while len(picked) < top_k and any(queues.values()):
        for t in types:
            if len(picked) >= top_k:
                break
            if first_round and t in covered:
                continue  # an earlier pick suits this type too: its turn goes to a type still missing
            take(t)
        first_round = False
    return picked


def _why(ing_key: str, scalp_type: str, lang: str) -> str:
    for row in load_type_ingredients():
        if row.type == scalp_type and row.ingredient == ing_key:
            return row.why_ko if lang == "ko" else row.why_en
    return ""


def _explain(matched: dict, types: Iterable[str], has_ingredients: bool, lang: str) -> str:
    """Why a product is recommended: per matched type, its ingredients and what each does."""
    if not has_ingredients:
        return phrase(PRODUCT_TEXTS, "explanation.no_ingredient_data", lang)
    known = load_ingredients()
    parts = []
    for t in types:
        if t == healthy_type():
            parts.append(phrase(PRODUCT_TEXTS, "explanation.healthy", lang))
            continue
        if t not in matched:
            continue
        items = []
        for raw in matched[t]:
            key = lookup(raw)
            name = known[key].display(lang) if key else raw
            items.append(
                phrase(PRODUCT_TEXTS, "explanation.ingredient", lang, name=name, why=_why(key, t, lang))
            )
        parts.append(
            phrase(
                PRODUCT_TEXTS,
                "explanation.suits_type",
                lang,
                type=type_label(t, lang),
                ingredients=", ".join(items),
            )
        )
    return " / ".join(parts)


def _category_notes(
    types: list[str], category: str, matching: int, top_k: int, unknown: int, lang: str
) -> list[str]:
    """The notes above one category: how many products match, and how many lack an ingredient list."""
    values = {
        "types": join_type_labels(types, lang),
        "category": category if lang == "ko" else category_info(category).en,
        "top_k": top_k,
    }
    if not matching:
        notes = [phrase(PRODUCT_TEXTS, "notes.none_match", lang, **values)]
    elif matching < top_k:
        notes = [phrase(PRODUCT_TEXTS, "notes.few_match", lang, count=matching, **values)]
    else:
        notes = [phrase(PRODUCT_TEXTS, "notes.top_k", lang, count=matching, **values)]
    if unknown:
        notes.append(phrase(PRODUCT_TEXTS, "notes.no_ingredient_data", lang, count=unknown, **values))
    return notes


def recommend(
    catalog_df: pd.DataFrame,
    types: Iterable[str],
    categories: Iterable[str],
    top_k: int = 3,
    score: str = "bayesian",
    m: float | None = None,
) -> pd.DataFrame:
    """Top ``top_k`` per category among products matching any of ``types`` (shared in turns when tied).

    Columns: ``category, rank, product_name, brand_name, star, review_count,
    score, bayesian_score, matched_types, matched_ingredients, explanation_ko,
    explanation_en, flags_ko, flags_en, product_link, img_link, picked_for, fit``
    (+ ``rank_score`` and the catalog's others); ``picked_for`` is the type whose
    share the product fills and ``fit`` its fit for that type.
    ``attrs``: ``candidates`` (category → matching count),
    ``shortfalls`` (category → count when below top_k), ``no_ingredient_data``
    (category → products left out for lack of an ingredient list, when any),
    ``notes_ko``/``notes_en``.
    """
    types = list(dict.fromkeys(types))
    known_types = set(type_order())
    for t in types:
        if t not in known_types:
            raise ValueError(f"unknown scalp type {t!r}; expected one of {sorted(known_types)}")
    if not types:
        raise ValueError("recommend needs at least one scalp type")
    wanted = []
    for c in categories:
        key = resolve_category(c)
        if key is None:
            raise ValueError(f"unknown category {c!r}; expected one of {list(CATEGORY_KEYS)}")
        wanted.append(key)
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    df = catalog_df if "types" in catalog_df.columns else tag_catalog(catalog_df)
    df = add_scores(df, score, m)

    healthy = healthy_type()

    def matching_types(row) -> tuple[str, ...]:
        hits = [t for t in types if t in row["types"]]
        if healthy in types and row["has_ingredients"]:
            hits.append(healthy)
        return tuple(hits)

    df["matched_types"] = df.apply(matching_types, axis=1) if len(df) else pd.Series(dtype=object)
    df["matched_ingredients"] = [
        tuple(dict.fromkeys(i for t in mt if t != healthy for i in matched.get(t, ())))
        for mt, matched in zip(df["matched_types"], df["matched"])
    ]
    sort_cols = (
        ["rank_score", "score", "review_count", "bayesian_score"]
        if score == "seed"
        else ["rank_score", "score", "review_count", "star"]
    )
    out, candidates, shortfalls = [], {}, {}
    notes: dict[str, list[str]] = {lang: [] for lang in LANGS}
    no_data: dict[str, int] = {}
    for cat in dict.fromkeys(wanted):
        pool = df[(df["category"] == cat) & (df["matched_types"].map(len) > 0).astype(bool)]
        unknown = int(((df["category"] == cat) & ~df["has_ingredients"].astype(bool)).sum()) if len(df) else 0
        candidates[cat] = len(pool)
        ranked = {}
        for t in types:
            mine = pool[pool["matched_types"].map(lambda mt, t=t: t in mt).astype(bool)].copy()
            mine["fit"] = [
                type_fit(m, pt, str(n), t)
                for m, pt, n in zip(mine["matched"], mine["types"], mine["product_name"])
            ]
            mine["rank_score"] = mine["score"] + FIT_WEIGHT * mine["fit"]
            ranked[t] = mine.sort_values(sort_cols, ascending=False, kind="mergesort")
        picks = _pick(ranked, top_k)
        top = pd.concat(
            [ranked[t].loc[[idx]].assign(picked_for=t) for idx, t in picks]
            or [ranked[types[0]].head(0).assign(picked_for=[])]
        )
        top["rank"] = range(1, len(top) + 1)
        for lang in LANGS:
            top[f"explanation_{lang}"] = [
                _explain(r["matched"], r["matched_types"], r["has_ingredients"], lang)
                for _, r in top.iterrows()
            ]
            notes[lang].extend(_category_notes(types, cat, len(pool), max(top_k, len(top)), unknown, lang))
        out.append(top)
        if len(pool) < top_k:
            shortfalls[cat] = len(pool)
        if unknown:
            no_data[cat] = unknown
    result = pd.concat(out, ignore_index=True) if out else df.head(0).assign(rank=[])
    lead = [
        "category",
        "rank",
        "product_name",
        "brand_name",
        "star",
        "review_count",
        "score",
        "bayesian_score",
        "matched_types",
        "matched_ingredients",
        "explanation_ko",
        "explanation_en",
        "flags_ko",
        "flags_en",
        "product_link",
        "img_link",
        "picked_for",
        "fit",
    ]
    lead = [c for c in lead if c in result.columns]
    result = result[lead + [c for c in result.columns if c not in lead]]
    result.attrs.update(
        candidates=candidates,
        shortfalls=shortfalls,
        no_ingredient_data=no_data,
        notes_ko=notes["ko"],
        notes_en=notes["en"],
    )
    return result
