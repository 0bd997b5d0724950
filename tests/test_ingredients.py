"""Ingredient lists (normaliser, alias table, whole-name matching), type tagging, effective levels and
regulatory flags."""

from __future__ import annotations

import csv

import pytest

from recommendation.effective_level import active_levels, level_markers, one_percent_line
from recommendation.ingredient_lists import (
    alias_index,
    is_unseparated_list,
    load_ingredients,
    lookup,
    match_ingredients,
    normalize_name,
    split_ingredients,
    stated_percent,
)
from recommendation.ingredients import load_type_ingredients, regulatory_flags, tag_types
from recommendation.texts import DATA_DIR


def keys(text):
    return [m.key for m in match_ingredients(text)]


@pytest.mark.parametrize(
    "a, b",
    [
        ("Melaleuca Alternifolia (Tea Tree) Leaf Oil", "melaleuca alternifolia leaf oil"),
        ("엘-멘톨 0.3%", "엘멘톨"),
        ("Salicylic  Acid", "SALICYLIC ACID"),
        ("자이언트켈프 발효여과물", "자이언트켈프발효여과물"),
        ("징크피리치온액(50%)", "징크피리치온액"),
        ("ｓａｌｉｃｙｌｉｃ acid", "salicylic acid"),  # full-width letters
    ],
)
def test_normalizer(a, b):
    assert normalize_name(a) == normalize_name(b)


@pytest.mark.parametrize(
    "names, key",
    [
        (["살리실릭애씨드", "살리실산", "Salicylic Acid", "살리살릭애씨드"], "salicylic_acid"),
        (["덱스판테놀", "Panthenol", "D-Panthenol", "Dexpanthenol", "판테놀"], "panthenol"),
        (["징크피리치온", "Zinc Pyrithione", "징크피리치온액(50%)"], "zinc_pyrithione"),
        (["피록톤올아민", "Piroctone Olamine"], "piroctone_olamine"),
        (["나이아신아마이드", "Niacinamide", "니아신아마이드"], "niacinamide"),
        (["비오틴", "바이오틴", "Biotin"], "biotin"),
        (["엘-멘톨", "멘톨", "Menthol", "L-Menthol"], "menthol"),
        (["티트리", "Melaleuca Alternifolia (Tea Tree) Leaf Oil", "티트리잎오일"], "tea_tree_oil"),
        (["Aqua/Water/Eau", "Water", "정제수", "Aqua"], "water"),
        (["소듐PCA", "소뮴PCA", "Sodium PCA"], "sodium_pca"),
        (["히알루론산", "Sodium Hyaluronate"], "hyaluronic_acid"),
    ],
)
def test_aliases(names, key):
    for name in names:
        assert keys(name) == [key], name


def test_every_seed_and_reference_name_is_known():
    # The seed slide's names (as the OCR wrote them) and the reference actives, in our alias table.
    seed = [
        "카올린",
        "락토바실러스",
        "락틱애씨드",
        "다이소듐라우레스설포석시네이트",
        "비오틴",
        "케토코나졸",
        "화산재",
        "자이언트켈프 발효여과물",
        "살리살릭애씨드",
        "카페인",
        "시클로피록스",
        "옥수수전분",
        "글리세린",
        "밴조익애씨드",
        "유황",
        "아미노산",
        "세르타코나졸",
        "알킬폴리글루코사이트",
        "소듐PCA",
        "판테놀",
        "살리실산",
        "소듐C14-16올레핀설포네이트",
        "소뮴C14-16올레핀설포네이트",  # the OCR spelling of the same name
        "히알루론산",
        "비사볼올",
        "니아신아마이드",
        "스쿠알란",
        "소듐메칠코코일타우레이트",
        "세라마이드",
        "마데카소사이드",
        "살리실릭애씨드",
        "클레이",
    ]
    missing = [n for n in seed if not keys(n)]
    assert not missing


@pytest.mark.shared
def test_reference_tables_are_covered(shared_reference):
    index = alias_index()
    missing = []
    for name in ("mfds_hairloss_functional_actives.csv", "scalp_ingredient_concern_map.csv"):
        with open(shared_reference / "ingredients" / name, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                aliases = [a for a in row["aliases_ko"].split("|") if a]
                for cell in (row["ingredient_ko"], *aliases, *row["inci_en"].split(" / ")):
                    if normalize_name(cell) not in index:
                        missing.append(cell)
    assert not missing


SEED_TABLE = "sung-hwan-new__DeepLearningModel_ScalpDiagnosis_Service/deeproot_ingredients_by_scalp_type.csv"
SEED_TYPE = {"비듬": "비듬성", "탈모": "탈모성"}  # the seed's column names → our type keys
LEFT_OUT = {("민감성", "benzoic_acid")}  # a preservative; see its note in ingredient_aliases.csv


@pytest.mark.shared
def test_seed_table_is_covered_by_our_tables(shared_reference):
    # Read the seed's 대한화장품협회 table in place: every ingredient is known, and every
    # row whose column was read with certainty is a (type, ingredient) pair of type_ingredients.csv.
    ours = {(r.type, r.ingredient) for r in load_type_ingredients()}
    with open(shared_reference / SEED_TABLE, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 30
    unknown = [r["ingredient"] for r in rows if lookup(r["ingredient"]) is None]
    assert not unknown
    missing = []
    for r in rows:
        if r["scalp_type"].startswith("?"):  # the seed's column for this cell is uncertain
            continue
        pair = (SEED_TYPE.get(r["scalp_type"], r["scalp_type"]), lookup(r["ingredient"]))
        if pair not in ours and pair not in LEFT_OUT:
            missing.append(pair)
    assert not missing


@pytest.mark.parametrize(
    "text, absent",
    [
        ("Menthyl Lactate, Water", "menthol"),
        ("Benzyl Salicylate, Methyl Salicylate", "salicylic_acid"),
        ("Sodium Salicylate", "salicylic_acid"),
        ("Hydroxyethyl Urea", "urea"),
        ("Zinc Oxide, Sodium Pyrithione", "zinc_pyrithione"),
        ("Salicylic Acid Ester Blend", "salicylic_acid"),
    ],
)
def test_no_substring_false_positives(text, absent):
    assert absent not in keys(text)


def test_separators_and_slash_names():
    text = "정제수ㆍ살리실산·엘-멘톨(0.3%); Caprylic/Capric Triglyceride / Biotin | Niacinamide\nPanthenol"
    assert keys(text) == [
        "water",
        "salicylic_acid",
        "menthol",
        "caprylic_capric_triglyceride",
        "biotin",
        "niacinamide",
        "panthenol",
    ]
    assert split_ingredients("Aqua/Water/Eau, Glycerin") == ["Aqua/Water/Eau", "Glycerin"]
    assert split_ingredients("Dimethicone/Dimethiconol, Biotin") == ["Dimethicone", "Dimethiconol", "Biotin"]
    assert split_ingredients("메칠클로로이소치아졸리논/메칠이소치아졸리논혼합물(3:1), 향료")[0].startswith(
        "메칠클로로"
    )
    assert split_ingredients(None) == [] and split_ingredients(float("nan")) == []


def test_type_tagging_and_weak_ingredients():
    assert set(tag_types("Water, Zinc Pyrithione")) == {"비듬성", "탈모성", "지루성"}
    assert tag_types("Water, Glycerin, Amino Acids") == {}  # weak ingredients alone tag nothing
    dry = tag_types("Water, Glycerin, Ceramide NP")["건성"]
    assert [m.key for m in dry.ingredients] == ["glycerin", "ceramide"]
    assert tag_types("") == {} and tag_types(None) == {}


def test_regulatory_flags():
    flags = regulatory_flags("Water, Finasteride, Pyrrolidinyl Diaminopyrimidine Oxide")
    assert [f.status for f in flags] == ["banned", "banned"]
    assert "2017" in flags[0].reason_ko
    assert regulatory_flags("Zinc Pyrithione", rinse_off=True) == []
    leave_on = regulatory_flags("Zinc Pyrithione", rinse_off=False)
    assert leave_on[0].status == "rinse_off_only" and "1.0%" in leave_on[0].message("ko")
    assert regulatory_flags("Ketoconazole")[0].status == "drug"


def test_alias_table_has_no_conflicts_and_type_table_uses_known_keys():
    assert len(load_ingredients()) >= 50
    alias_index()  # raises on a name claimed by two keys
    with open(DATA_DIR / "type_ingredients.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    types = {r["type"] for r in rows}
    assert types == {"지성", "건성", "민감성", "비듬성", "탈모성", "지루성"}
    assert all(r["ingredient"] in load_ingredients() for r in rows)


def test_lists_without_separators_are_read_word_by_word():
    text = (
        "aqua isopropyl alcohol peg40 hydrogenated castor oil piroctone olamine sodium salicylate "
        "dpanthenol diazolidinyl urea capryloyl salicylic acid menthyl lactate citric acid"
    )
    assert keys(text) == [
        "water",
        "piroctone_olamine",
        "sodium_salicylate",
        "panthenol",
        "diazolidinyl_urea",  # compound names win over their tails (urea, salicylic acid, menthol)
        "capryloyl_salicylic_acid",
        "menthyl_lactate",
    ]
    assert [m.raw for m in match_ingredients(text)][1] == "piroctone olamine"  # as written
    assert set(tag_types(text)) >= {"비듬성", "지루성"}
    # prose is never read word by word: a sentence may name what a product is free of
    assert keys("Formulated without menthol. Gentle and mild on the scalp every single day") == []
    assert keys("Diazolidinyl Urea, Capryloyl Salicylic Acid") == [
        "diazolidinyl_urea",
        "capryloyl_salicylic_acid",
    ]


def test_wide_gaps_and_dash_lists_separate_names():
    wide = "aqua          hydrolyzed silk          biotin"  # a column-aligned export
    assert split_ingredients(wide) == ["aqua", "hydrolyzed silk", "biotin"]
    assert keys("caprate - c13-15 alkane - zinc pyrithione - biotin") == ["zinc_pyrithione", "biotin"]
    assert keys("Menthol – cooling and fresh") == ["menthol"]  # one dash: a description


def test_marketing_style_lists():
    assert keys("> Biotin & Hydrolyzed Keratin") == ["biotin"]
    assert keys("Piroctone Olamine: helps with flakes\nMenthol – cooling") == ["piroctone_olamine", "menthol"]
    assert keys("ginger + caffeine+ arginine") == ["caffeine"]
    assert split_ingredients("1,2-Hexanediol, Glycerin") == ["1,2-Hexanediol", "Glycerin"]
    assert keys("6-(1-피롤리디닐)-2,4-피리미딘디아민-3-옥사이드") == ["pyrrolidinyl_diaminopyrimidine_oxide"]


@pytest.mark.parametrize(
    "written, key",
    [
        ("소뮴C14-16올레핀설포네이트", "sodium_c14_16_olefin_sulfonate"),  # the seed slide's OCR spelling
        ("소듐씨14-16올레핀설포네이트", "sodium_c14_16_olefin_sulfonate"),
        ("다이소뮴라우레스설포석시네이트", "disodium_laureth_sulfosuccinate"),
        ("소듐메칠코코일타우레이트", "sodium_methyl_cocoyl_taurate"),
        ("메칠파라벤", "methylparaben"),  # the older 메칠 spelling
        ("에칠헥실글리세린", "ethylhexylglycerin"),
        ("나이아신아미드", "niacinamide"),
        ("살리실릭애시드", "salicylic_acid"),
        ("벤질알콜", "benzyl_alcohol"),
        ("Sulphur", "sulfur"),
    ],
)
def test_spelling_variants(written, key):
    assert keys(written) == [key]


@pytest.mark.parametrize(
    "name",
    [
        "Ceramide NP",
        "Ceramide AP",
        "Ceramide EOP",
        "Ceramide NG",
        "Ceramide AG",
        "Ceramide NS",
        "Ceramide 3",
        "Ceramide NP (Ceramide 3)",
        "세라마이드엔피",
        "세라마이드엔지",
        "세라마이드에이지",
        "세라마이드 NP",
    ],
)
def test_every_ceramide_class_is_a_ceramide(name):
    assert keys(name) == ["ceramide"]


@pytest.mark.parametrize(
    "name",
    [
        "Tea Tree Oil",
        "Tea Tree Leaf Oil",
        "Tea Tree Essential Oil",
        "Tea Tree (Leaf) Oil",
        "Teatree Oil",
        "Melaleuca Alternifolia (Tea Tree) Leaf Oil",
        "Melaleuca Alternifolia Leaf Oil",
        "Melaleuca Alternifolia Oil",
        "Melaleuca Alternifolia (Tea Tree) Essential Oil",
        "티트리오일",
        "티트리 에센셜 오일",
        "티트리잎 오일",
    ],
)
def test_tea_tree_oil_variants(name):
    assert keys(name) == ["tea_tree_oil"]


def test_squalene_is_not_squalane():
    assert keys("Squalene") == keys("스쿠알렌") == ["squalene"]
    assert keys("Squalane") == keys("스쿠알란") == ["squalane"]
    assert "squalene" not in {r.ingredient for r in load_type_ingredients()}


def test_squalane_suits_seborrheic_scalps_as_in_the_seed():
    # The seed's slide 15 puts 스쿠알란 in its 6th column (지루성) as well as under 건성.
    pairs = {(r.type, r.ingredient) for r in load_type_ingredients()}
    assert {("지루성", "squalane"), ("건성", "squalane")} <= pairs


@pytest.mark.parametrize(
    "raw, percent",
    [
        ("Salicylic Acid 2%", 2.0),
        ("엘-멘톨(0.3%)", 0.3),
        ("Piroctone Olamine 0,5 %", 0.5),
        ("징크피리치온액(50%)", None),  # a 50% raw material: part of the name, not an amount
        ("Zinc Pyrithione (50% Aqueous Suspension)", None),
        ("Biotin", None),
    ],
)
def test_stated_percent(raw, percent):
    assert stated_percent(raw) == percent


def test_an_active_counts_only_at_an_effective_level():
    # Salicylic acid after the 1% line (parfum, preservatives) is a preservative: it tags nothing.
    preservative = (
        "Water, Sodium Laureth Sulfate, Cocamidopropyl Betaine, Parfum, Phenoxyethanol, Salicylic Acid"
    )
    assert tag_types(preservative) == {}
    assert [m.key for m in match_ingredients(preservative)][-1] == "salicylic_acid"  # still matched as a name
    # Above the line, or at a stated amount of 1% or more, it counts for its five types.
    five = {"지성", "지루성", "비듬성", "탈모성", "민감성"}
    assert set(tag_types("Water, Sodium Laureth Sulfate, Salicylic Acid, Parfum, Phenoxyethanol")) == five
    assert set(tag_types("Water, Parfum, Phenoxyethanol, Salicylic Acid 2%")) == five
    assert tag_types("Water, Salicylic Acid (0.5%), Parfum") == {}
    # Actives that work below 1% count after the line: piroctone olamine, biotin, menthol.
    low_dose = tag_types("Water, Sodium Laureth Sulfate, Parfum, Piroctone Olamine, Biotin, Menthol")
    assert set(low_dose) == {"비듬성", "지루성", "탈모성"}
    assert [m.key for m in low_dose["탈모성"].ingredients] == ["biotin", "menthol"]
    # No marker in the list (a short "key ingredients" list): the line is unknown and everything counts.
    assert "지성" in tag_types("Salicylic Acid, Niacinamide")
    # A list read word by word has a line too.
    scanned = (
        "aqua sodium laureth sulfate cocamidopropyl betaine glycerin parfum phenoxyethanol salicylic acid"
    )
    assert is_unseparated_list(scanned) and tag_types(scanned) == {}


def test_level_tables_cover_every_type_ingredient():
    levels = active_levels()
    assert {r.ingredient for r in load_type_ingredients()} <= set(levels)
    assert level_markers() <= set(load_ingredients())
    assert {"fragrance", "phenoxyethanol", "sodium_benzoate", "methylparaben"} <= level_markers()
    assert not levels["salicylic_acid"].counts_below_line and levels["salicylic_acid"].min_percent == 1
    assert levels["zinc_pyrithione"].counts_below_line
    assert {r.role for r in load_type_ingredients()} == {"core", "supporting", "weak"}


@pytest.mark.shared
def test_salicylic_acid_at_preservative_level_tags_nothing_on_real_data(shared_reference):
    from recommendation.catalog import load_catalog

    df, _ = load_catalog(
        shared_reference / "products/karinaamaha__haircare-recommender/sociolla_hair_products_250.csv",
        columns="sociolla",
    )
    late, counted = [], []
    for name, text, matched in zip(df["product_name"], df["ingredient"], df["matched"]):
        found = match_ingredients(text)
        line = one_percent_line([(m.position, m.key) for m in found])
        salicylic = [m for m in found if m.key == "salicylic_acid"]
        if salicylic and line is not None and salicylic[0].position > line:
            late.append(name)
            if any("salicylic" in raw.lower() for raws in matched.values() for raw in raws):
                counted.append(name)
    assert len(late) >= 8  # most Sociolla products with salicylic acid list it after the preservatives
    assert not counted
