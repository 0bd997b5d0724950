"""Survey, scalp type, care guide and product recommendation: the app's stable facade.

Everything the app needs is importable from ``recommendation``; the tables the
rules come from live in ``recommendation/data/`` (YAML/CSV, editable by
non-programmers). Nothing heavy happens at import time and nothing here touches
the network except ``care_guide`` (OpenAI, with a key) and ``load_catalog`` on a
Hub dataset id.

Facade (stable API)::

    from recommendation import (Survey, survey_summary, determine_scalp_type, care_guide,
                                load_catalog, recommend, demo_catalog)

    survey = Survey.from_answers(q1, q2, q3)      # Korean or English option texts (or short keys);
                                                  # ValueError names the bad option and the allowed ones
    survey_summary(survey, lang="ko")             # "당신의 두피가 🌟 건성 타입의 👤 탈모, … 선택하셨습니다."
    result = determine_scalp_type(severities, survey, scheme=4)
        # severities: {symptom key/Korean/English name: AI Hub grade 0..3}; scheme=3 for 3-class indices 0..2
        # result.types (tuple of 건성/지성/지루성/비듬성/탈모성/양호), result.rule
        # ("all_normal" | "all_equal" | "single_highest" | "tie_union"), result.note_ko / note_en,
        # result.main_finding_ko ("피지과다: 중증"), survey_agrees, unconfirmed/unreported symptoms
    guide = care_guide(result, lang="ko")         # CareGuide: cause / features / care_steps, .sections
        # {"원인","특징","관리방안"}, .source "openai" | "fallback", .disclaimer, .to_markdown()
    df, warnings = load_catalog(source, columns=None, default_category=None)
        # CSV / Parquet path, Hub dataset id or DataFrame; columns = mapping or a COLUMN_PRESETS name
        # ("sociolla", "sociolla_schema", "oliveyoung_names"); warnings: list[CatalogWarning]
    recs = recommend(df, result.types, survey.categories, top_k=3, score="bayesian")  # or score="seed"
        # one row per product: category, rank, names, star, review_count, score, matched_types,
        # matched_ingredients, explanation_ko/en, flags_ko/en, links; recs.attrs["notes_ko"/"notes_en"]
    demo = demo_catalog()                         # the illustrative catalog (attrs["notice_ko"/"notice_en"])

Environment: ``OPENAI_API_KEY`` (no key → built-in texts), ``OPENAI_BASE_URL``,
``SCALP_OPENAI_MODEL`` (default gpt-4o-mini), ``SCALP_OPENAI_TIMEOUT`` (total
seconds for the OpenAI attempt, default 8), ``SCALP_DEMO_IMAGE_DIR``.
"""

from __future__ import annotations

import importlib

# Names are resolved lazily (PEP 562) so ``python -m recommendation.<module>`` runs
# cleanly and importing the package stays cheap.
# The care_guide function shares its name with its module, so it is imported eagerly
# (a submodule import would otherwise shadow it); the module is light (openai loads on first use).
from .care_guide import CareGuide, CareGuideConfig, care_guide, clear_cache, fallback_guide

_EXPORTS = {
    "catalog": (
        "COLUMN_PRESETS",
        "CatalogError",
        "CatalogWarning",
        "LoadedCatalog",
        "load_catalog",
        "tag_catalog",
    ),
    "compliance": ("find_violations", "is_compliant"),
    "demo": ("DEMO_NOTICE_EN", "DEMO_NOTICE_KO", "demo_catalog"),
    "ingredients": (
        "match_ingredients",
        "normalize_name",
        "regulatory_flags",
        "split_ingredients",
        "tag_types",
    ),
    "ranking": ("recommend",),
    "scalp_type": ("ScalpTypeResult", "determine_scalp_type"),
    "survey": ("CATEGORY_KEYS", "Survey", "option_labels", "question_titles", "survey_summary"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = [  # noqa: RUF022 -- grouped by module, like _EXPORTS
    "CareGuide",
    "CareGuideConfig",
    "care_guide",
    "clear_cache",
    "fallback_guide",
    "COLUMN_PRESETS",
    "CatalogError",
    "CatalogWarning",
    "LoadedCatalog",
    "load_catalog",
    "tag_catalog",
    "find_violations",
    "is_compliant",
    "DEMO_NOTICE_EN",
    "DEMO_NOTICE_KO",
    "demo_catalog",
    "match_ingredients",
    "normalize_name",
    "regulatory_flags",
    "split_ingredients",
    "tag_types",
    "recommend",
    "ScalpTypeResult",
    "determine_scalp_type",
    "CATEGORY_KEYS",
    "Survey",
    "option_labels",
    "question_titles",
    "survey_summary",
]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'recommendation' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
