"""Survey, scalp type, care guide and product recommendation; import from the module that holds a name.

The rules and texts live in ``recommendation/data/`` (YAML/CSV, editable by
non-programmers); the modules only interpret them. Nothing heavy happens at
import time and nothing touches the network except ``care_guide`` (OpenAI, with a
key) and ``load_catalog`` on a Hub dataset id.

Where things are::

    from recommendation.survey import Survey, survey_summary, load_categories, resolve_category
    survey = Survey.from_answers(q1, q2, q3)      # Korean or English option texts (or short keys);
                                                  # ValueError names the bad option and the allowed ones
    survey_summary(survey, lang="ko")             # "당신의 두피가 🌟 건성 타입의 👤 탈모, … 선택하셨습니다."

    from recommendation.scalp_type import determine_scalp_type, type_label, type_order
    result = determine_scalp_type(severities, survey, scheme=4)
        # severities: {symptom key/Korean/English name: AI Hub grade 0..3}; scheme=3 for 3-class indices 0..2
        # result.types (tuple of 건성/지성/지루성/비듬성/탈모성/양호), result.rule
        # ("all_normal" | "all_equal" | "single_highest" | "tie_union"), result.note_ko / note_en,
        # result.main_finding_ko ("피지과다: 중증"), survey_agrees, unconfirmed/unreported symptoms

    from recommendation.care_guide import care_guide, CareGuideConfig, fallback_guide
    guide = care_guide(result, lang="ko")         # CareGuide: cause / features / care_steps, .sections
        # {"원인","특징","관리방안"}, .source "openai" | "fallback", .disclaimer, .to_markdown()

    from recommendation.catalog import load_catalog
    df, warnings = load_catalog(source, columns=None, default_category=None)
        # CSV / Parquet path, Hub dataset id or DataFrame; columns = mapping or a COLUMN_PRESETS name
        # ("sociolla", "sociolla_schema", "oliveyoung_names"); warnings: list[CatalogWarning]

    from recommendation.ranking import recommend
    recs = recommend(df, result.types, survey.categories, top_k=3, score="bayesian")  # or score="seed"
        # one row per product: category, rank, names, star, review_count, score, matched_types,
        # matched_ingredients, explanation_ko/en, flags_ko/en, links; recs.attrs["notes_ko"/"notes_en"]

    from recommendation.demo import demo_catalog  # the illustrative catalog (attrs["notice_ko"/"notice_en"])
    from recommendation.demo_images import image_dir  # where its drawings are cached

The other modules: ``ingredient_lists`` and ``ingredients`` (ingredient lists → names, scalp
types, regulatory flags; ``effective_level``: an active counts only above the 1% line or at a
stated amount), ``catalog_fields`` and ``product_category`` (reading a catalog's stars, reviews,
links and categories), ``name_words`` (what a product's name says it is for), ``compliance`` (the
claims filter, rules in ``data/claims.yaml``), ``llm_answer`` (an OpenAI answer reduced to plain
text per section), ``openai_chat`` (the OpenAI client, its cache and errors reduced to type and
status), ``builtin_guide`` (the merged built-in guide), ``texts`` (reading ``data/``, filling
its ko/en templates, the Korean particles).

Environment: ``OPENAI_API_KEY`` (no key → built-in texts), ``OPENAI_BASE_URL``,
``SCALP_OPENAI_MODEL`` (default gpt-4o-mini), ``SCALP_OPENAI_TIMEOUT`` (total
seconds for the OpenAI attempt, default 8), ``SCALP_DEMO_IMAGE_DIR``.
"""
