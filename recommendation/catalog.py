"""Load, validate, de-duplicate and tag a product catalog.

A catalog has the seed crawl's columns ``product_link, img_link, product_name,
star, review_count, ingredient, brand_name`` plus ``category`` (a Q3 option or
a known alias from ``data/categories.yaml``). Other schemas load through a
column mapping (``columns={"their name": "our name"}`` or a preset name from
``COLUMN_PRESETS``). Bad rows never crash the load: each problem becomes a
``CatalogWarning`` naming the row (1 = first data row under the header) and the
problem, and the row is either repaired (and says how) or dropped.

Decisions:
- star "4,8" and "4.8/5": read as 4.8 with a note; outside 0–5 or not a number: row
  dropped (``catalog_fields`` reads stars, review counts and links).
- review_count "1,234": read as 1234; "1.2K" or "1,2 rb": read as 1200, with a note;
  negative, fractional or not a number: row dropped; empty: 0 with a warning.
- a ``javascript:``, ``vbscript:`` or ``data:`` product or image link: removed, with a warning.
- missing product name: row dropped. Missing category: ``default_category`` if
  given, else row dropped. Unknown category: row dropped, message lists the options.
- a coarse source category ("mask", "hair serum", a search label): the product's
  name, then its claims (a ``claim`` or ``claims`` column), may refine it, with a note
  ("Real Mary Purifying Scalp Scaler" under "mask" is a 두피팩/스케일러; see ``product_category``).
- missing ingredient list: kept, ``has_ingredients`` False, never tagged.
- ingredient list with no separators ("aqua glycerin biotin …"): kept, read word
  by word (see ``ingredient_lists``), with a note.
- duplicates (same link, or same normalised brand + name in the same category): later rows dropped.
- a catalog whose columns look like a known export loaded without its preset: a note
  names the preset to use (``--preset sociolla``).

A Hub dataset id loads through ``datasets.load_dataset``; ``revision`` (a commit sha, branch or
tag) pins which version of the catalog is loaded, so a later push to the dataset cannot change
what a deployed app recommends.

Run ``python -m recommendation.catalog PATH [--preset sociolla]`` to validate a file, or
``python -m recommendation.catalog OWNER/NAME --revision SHA`` for a pinned Hub dataset.
"""

from __future__ import annotations

import argparse
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from .catalog_fields import is_missing, parse_review_count, parse_star, unsafe_link
from .ingredient_lists import has_ingredient_data, is_unseparated_list
from .ingredients import regulatory_flags, tag_types
from .product_category import infer_category, product_rinse_off
from .survey import CATEGORY_KEYS, resolve_category

CATALOG_COLUMNS = (
    "product_link",
    "img_link",
    "product_name",
    "star",
    "review_count",
    "ingredient",
    "brand_name",
    "category",
)

# Column mappings for the reference catalogs (source column → our column).
COLUMN_PRESETS: dict[str, dict[str, str]] = {
    "seed": {},
    "sociolla": {  # karinaamaha/haircare-recommender product_info.csv
        "product_URL": "product_link",
        "img_URL": "img_link",
        "rating": "star",
        "total_reviews": "review_count",
        "ingredients": "ingredient",
        "brand": "brand_name",
    },
    "sociolla_schema": {  # the same rows mapped onto our fields; the source's own category is finer to refine
        "name": "product_name",
        "brand": "brand_name",
        "category_src": "category",
        "ingredients": "ingredient",
        "rating": "star",
    },
    "oliveyoung_names": {"name": "product_name", "label": "category", "img": "img_link"},
}
# Columns that hold a product's own description, read to refine a coarse category.
CLAIM_COLUMNS = ("claim", "claims")
LINK_COLUMNS = ("product_link", "img_link")


class CatalogError(ValueError):
    """The catalog as a whole cannot be loaded (missing file, bad Hub id, missing columns)."""


@dataclass(frozen=True)
class CatalogWarning:
    row: int | None  # 1-based data row; None for a catalog-wide note
    column: str
    problem: str
    action: str  # "dropped", "repaired", "kept"

    def __str__(self) -> str:
        where = f"Catalog row {self.row}" if self.row is not None else "Catalog"
        return f"{where}: {self.problem} ({self.action})"


class LoadedCatalog(NamedTuple):
    df: pd.DataFrame
    warnings: list[CatalogWarning]


def recognised_preset(columns) -> str | None:
    """The ``COLUMN_PRESETS`` name whose source columns are all in ``columns`` (the largest such), else None."""
    present = set(columns)
    fits = [
        (len(mapping), name)
        for name, mapping in COLUMN_PRESETS.items()
        if mapping and set(mapping) <= present
    ]
    return max(fits)[1] if fits else None


def _preset_hint(raw: pd.DataFrame) -> str:
    preset = recognised_preset(raw.columns)
    if preset is None:
        return ""
    return f"; its columns look like the {preset!r} export: load it with columns={preset!r} (CLI: --preset {preset})"


def _dedupe_key(brand, name, category: str) -> str:
    text = unicodedata.normalize("NFKC", f"{'' if is_missing(brand) else brand}|{name}").casefold()
    return re.sub(r"[\s\W_]+", "", text) + "|" + category


def _claims(record: dict) -> str | None:
    texts = [str(record[c]) for c in CLAIM_COLUMNS if not is_missing(record.get(c))]
    return " ".join(texts) or None


def _read_source(source, split: str, revision: str | None = None) -> pd.DataFrame:
    if revision is not None and (isinstance(source, pd.DataFrame) or Path(str(source)).expanduser().exists()):
        raise CatalogError(f"revision {revision!r} pins a Hub dataset; the catalog {source!r} is not one")
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(str(source)).expanduser()
    suffix = path.suffix.lower()
    if path.exists():
        if suffix in (".csv", ".tsv", ".txt"):
            return pd.read_csv(
                path, dtype=str, keep_default_na=False, na_values=[""], sep="\t" if suffix == ".tsv" else ","
            )
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        raise CatalogError(f"catalog {path}: unsupported file type {suffix!r}; use .csv or .parquet")
    if (
        suffix in (".csv", ".tsv", ".parquet", ".pq")
        or "\\" in str(source)
        or str(source).startswith((".", "/", "~"))
    ):
        raise CatalogError(f"catalog file {path} does not exist; check the path")
    if not re.fullmatch(r"[\w.\-]+/[\w.\-]+", str(source)):
        raise CatalogError(
            f"catalog source {source!r} is neither an existing CSV/Parquet file nor a Hub dataset id like 'owner/name'"
        )
    try:
        import datasets

        ds = datasets.load_dataset(str(source), split=split, revision=revision)
    except Exception as exc:  # network, auth, missing repo or revision: all end the same way for the user
        at = f", revision {revision!r}" if revision is not None else ""
        raise CatalogError(
            f"could not load Hub dataset {source!r} (split {split!r}{at}): {type(exc).__name__}: {exc}. "
            "Check the id, the revision and your network/HF_TOKEN, or pass a local CSV/Parquet file."
        ) from exc
    return ds.to_pandas()


def load_catalog(
    source,
    columns: Mapping[str, str] | str | None = None,
    default_category: str | None = None,
    split: str = "train",
    revision: str | None = None,
) -> LoadedCatalog:
    """Load a catalog from a CSV/Parquet path, a Hub dataset id or a DataFrame; validate and tag it.

    ``revision`` (Hub dataset ids only): the commit sha, branch or tag to load instead of ``main``.

    Returns ``(df, warnings)``. ``df`` has the catalog columns plus ``source_row``,
    ``has_ingredients``, ``types`` (tuple of scalp types), ``matched`` (type →
    tuple of ingredient names as written, counted at an effective level only),
    ``rinse_off`` (the product's own kind: a dry shampoo is leave-on, a shampoo bar
    rinse-off) and ``flags_ko``/``flags_en``.
    """
    if isinstance(columns, str):
        if columns not in COLUMN_PRESETS:
            raise CatalogError(f"unknown column preset {columns!r}; choose one of {sorted(COLUMN_PRESETS)}")
        columns = COLUMN_PRESETS[columns]
    if default_category is not None and resolve_category(default_category) is None:
        raise CatalogError(f"default_category {default_category!r} is not one of {list(CATEGORY_KEYS)}")
    raw = _read_source(source, split, revision)
    hint = "" if columns else _preset_hint(raw)
    if columns:
        missing = [c for c in columns if c not in raw.columns]
        if missing:
            raise CatalogError(
                f"column mapping names columns the catalog lacks: {missing}; it has {list(raw.columns)}"
            )
        raw = raw.drop(columns=[v for v in columns.values() if v in raw.columns and v not in columns])
        raw = raw.rename(columns=dict(columns))
    warnings: list[CatalogWarning] = []
    if "product_name" not in raw.columns:
        raise CatalogError(
            f"catalog has no product_name column (it has {list(raw.columns)}); "
            "pass columns={'their name': 'product_name'}" + hint
        )
    if hint:
        warnings.append(CatalogWarning(None, "columns", "loaded without a column preset" + hint, "kept"))
    for col in CATALOG_COLUMNS:
        if col not in raw.columns:
            if col == "category" and default_category:
                note = f"no category column; every product is {resolve_category(default_category)!r}"
            elif col == "ingredient":
                note = "no ingredient column; no product is tagged from ingredients"
            elif col == "star":
                note = "no star column; all products are unrated"
            elif col == "review_count":
                note = "no review_count column; all counts are 0"
            elif col == "category":
                raise CatalogError(
                    "catalog has no category column; map one with columns={...: 'category'} "
                    f"or pass default_category (one of {list(CATEGORY_KEYS)})" + hint
                )
            else:
                note = f"no {col} column"
            warnings.append(CatalogWarning(None, col, note, "kept"))
            raw[col] = None

    absent = {w.column for w in warnings if w.row is None and w.column != "columns"}
    rows = []
    seen_links: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for pos, record in enumerate(raw.to_dict("records"), start=1):

        def warn(column: str, problem: str, action: str, pos: int = pos) -> None:
            warnings.append(CatalogWarning(pos, column, problem, action))

        name = record.get("product_name")
        if is_missing(name):
            warn("product_name", "missing product name", "dropped")
            continue
        name = str(name).strip()
        cat_raw = record.get("category")
        if is_missing(cat_raw):
            if default_category:
                category = resolve_category(default_category)  # the caller's word: not refined
            else:
                warn("category", f"missing category for {name!r}", "dropped")
                continue
        else:
            category = resolve_category(str(cat_raw))
            if category is None:
                warn(
                    "category",
                    f"unknown category {cat_raw!r} for {name!r}; expected one of "
                    f"{list(CATEGORY_KEYS)} or an English alias such as shampoo, conditioner, hair oil",
                    "dropped",
                )
                continue
        claims = _claims(record)
        refined = None if is_missing(cat_raw) else infer_category(str(cat_raw), name, claims)
        if refined is not None and refined != category:
            said_by = "name says" if infer_category(str(cat_raw), name) == refined else "claims say"
            warn(
                "category",
                f"category {str(cat_raw).strip()!r} of {name!r} is coarse; its {said_by} {refined!r}",
                "repaired",
            )
            category = refined
        star, problem, drop = parse_star(record.get("star"))
        if drop:
            warn("star", problem, "dropped")
            continue
        if problem and not (star is None and "star" in absent):
            warn("star", problem, "repaired" if star is not None else "kept")
        reviews, problem, drop = parse_review_count(record.get("review_count"))
        if drop:
            warn("review_count", problem, "dropped")
            continue
        if problem and "review_count" not in absent:
            warn("review_count", problem, "repaired")
        links = {}
        for column in LINK_COLUMNS:
            value = None if is_missing(record.get(column)) else str(record[column]).strip()
            scheme = unsafe_link(value) if value else None
            if scheme:
                shown = value if len(value) <= 40 else value[:37] + "..."
                warn(
                    column,
                    f"{column} {shown!r} of {name!r} is a {scheme} link, not a web address; removed",
                    "repaired",
                )
                value = None
            links[column] = value
        link = links["product_link"]
        key = _dedupe_key(record.get("brand_name"), name, category)
        if link and link in seen_links:
            warn("product_link", f"duplicate of row {seen_links[link]} (same link)", "dropped")
            continue
        if key in seen_names:
            warn(
                "product_name",
                f"duplicate of row {seen_names[key]} (same brand, name and category)",
                "dropped",
            )
            continue
        if link:
            seen_links[link] = pos
        seen_names[key] = pos
        ingredient = record.get("ingredient")
        has_ingredients = has_ingredient_data(ingredient)
        if not has_ingredients and "ingredient" not in absent:
            warn("ingredient", f"no ingredient list for {name!r}; not tagged from ingredients", "kept")
        elif has_ingredients and is_unseparated_list(ingredient):
            warn(
                "ingredient",
                f"ingredient list for {name!r} has no separators; known names were matched word by word",
                "kept",
            )
        out = dict(record)
        out.update(
            product_name=name,
            category=category,
            star=star,
            review_count=reviews,
            product_link=link,
            img_link=links["img_link"],
            ingredient=str(ingredient).strip() if has_ingredients else None,
            has_ingredients=has_ingredients,
            source_row=pos,
        )
        rows.append(out)
    df = pd.DataFrame(rows, columns=None if rows else [*CATALOG_COLUMNS, "has_ingredients", "source_row"])
    return LoadedCatalog(tag_catalog(df), warnings)


def tag_catalog(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``types``, ``matched``, ``rinse_off``, ``flags_ko``/``flags_en`` from each row's ingredient list."""
    df = df.copy()
    if "has_ingredients" not in df.columns:
        df["has_ingredients"] = [
            has_ingredient_data(t) for t in df.get("ingredient", pd.Series([None] * len(df)))
        ]
    types, matched, rinse, flags_ko, flags_en = [], [], [], [], []
    for record in df.to_dict("records"):
        text = record.get("ingredient") if record.get("has_ingredients") else None
        tagged = tag_types(text) if text else {}
        rinse_off = (
            product_rinse_off(record["category"], str(record.get("product_name") or ""), _claims(record))
            if record.get("category") in CATEGORY_KEYS
            else None
        )
        flags = regulatory_flags(text, rinse_off=rinse_off) if text else []
        types.append(tuple(tagged))
        matched.append({t: tuple(m.raw for m in tm.ingredients) for t, tm in tagged.items()})
        rinse.append(rinse_off)
        flags_ko.append(tuple(f.message("ko") for f in flags))
        flags_en.append(tuple(f.message("en") for f in flags))
    df["types"], df["matched"], df["rinse_off"] = types, matched, rinse
    df["flags_ko"], df["flags_en"] = flags_ko, flags_en
    return df


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Validate and tag a product catalog; print its warnings.")
    parser.add_argument("source", help="CSV/Parquet path or Hub dataset id")
    parser.add_argument("--preset", choices=sorted(COLUMN_PRESETS), help="column mapping for a known schema")
    parser.add_argument("--default-category", help="category for rows without one")
    parser.add_argument("--revision", help="commit sha, branch or tag of a Hub dataset (default: main)")
    args = parser.parse_args(argv)
    try:
        df, warnings = load_catalog(
            args.source, columns=args.preset, default_category=args.default_category, revision=args.revision
        )
    except CatalogError as exc:
        parser.error(str(exc))  # exits with status 2 and the message, not a traceback
    for w in warnings:
        print(w)
    print(f"{len(df)} products kept, {len(warnings)} warnings")
    print(df.groupby("category").size().to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
