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

The explanations and notes are templates in ``data/product_texts.yaml``.

    >>> from recommendation.demo import demo_catalog
    >>> recommend(demo_catalog(), ["지성"], ["샴푸"]).shape[0]
    3
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .catalog import tag_catalog
from .ingredients import load_ingredients, load_type_ingredients, lookup
from .scalp_type import healthy_type, join_type_labels, type_label, type_order
from .survey import CATEGORY_KEYS, category_info, resolve_category
from .texts import LANGS, phrase

SCORES = ("bayesian", "seed")
PRODUCT_TEXTS = "product_texts.yaml"


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
    """Top ``top_k`` per category among products matching any of ``types``.

    Columns: ``category, rank, product_name, brand_name, star, review_count,
    score, bayesian_score, matched_types, matched_ingredients, explanation_ko,
    explanation_en, flags_ko, flags_en, product_link, img_link`` (+ the catalog's
    others). ``attrs``: ``candidates`` (category → matching count),
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
        ["score", "review_count", "bayesian_score"] if score == "seed" else ["score", "review_count", "star"]
    )
    out, candidates, shortfalls = [], {}, {}
    notes: dict[str, list[str]] = {lang: [] for lang in LANGS}
    no_data: dict[str, int] = {}
    for cat in dict.fromkeys(wanted):
        pool = df[(df["category"] == cat) & (df["matched_types"].map(len) > 0)]
        unknown = int(((df["category"] == cat) & ~df["has_ingredients"].astype(bool)).sum()) if len(df) else 0
        candidates[cat] = len(pool)
        top = pool.sort_values(sort_cols, ascending=False, kind="mergesort").head(top_k).copy()
        top["rank"] = range(1, len(top) + 1)
        for lang in LANGS:
            top[f"explanation_{lang}"] = [
                _explain(r["matched"], r["matched_types"], r["has_ingredients"], lang)
                for _, r in top.iterrows()
            ]
            notes[lang].extend(_category_notes(types, cat, len(pool), top_k, unknown, lang))
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
