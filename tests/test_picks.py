"""Product picks: each tied type gets its share, the fit orders products per type, and real catalogs
give distinct lists per type (Sociolla, read in place from ``../shared``)."""

from __future__ import annotations

import itertools
from collections import Counter

import pandas as pd
import pytest

from recommendation.catalog import load_catalog
from recommendation.demo import demo_catalog
from recommendation.ranking import FIT_WEIGHT, named_types, recommend, type_fit
from recommendation.scalp_type import determine_scalp_type, type_order
from recommendation.survey import CATEGORY_KEYS, Survey
from scalp_core.symptoms import SYMPTOMS

SOCIOLLA = "products/karinaamaha__haircare-recommender/sociolla_hair_products_250.csv"


def product(name, ingredient, star="4.5", reviews="100", category="샴푸", brand="B"):
    return {
        "product_link": f"https://x/{name}",
        "img_link": None,
        "product_name": name,
        "star": star,
        "review_count": reviews,
        "ingredient": ingredient,
        "brand_name": brand,
        "category": category,
    }


def catalog(*rows):
    df, warnings = load_catalog(pd.DataFrame(list(rows)))
    assert not [w for w in warnings if w.action == "dropped"]
    return df


def test_each_tied_type_gets_its_own_share():
    # Pooled in one ranking, the three well-rated oily-scalp shampoos took all three places and the
    # dandruff shampoo none; taken in turns, every type has its pick.
    df = catalog(
        product("Oily 1", "Water, Kaolin, Parfum", star="4.9", reviews="900"),
        product("Oily 2", "Water, Kaolin, Parfum", star="4.9", reviews="800"),
        product("Oily 3", "Water, Kaolin, Parfum", star="4.8", reviews="700"),
        product("Dry 1", "Water, Ceramide NP, Parfum", star="4.7", reviews="600"),
        product("Dry 2", "Water, Ceramide NP, Parfum", star="4.7", reviews="500"),
        product("Dandruff 1", "Water, Sulfur, Parfum", star="4.0", reviews="50"),
    )
    recs = recommend(df, ["지성", "건성", "비듬성"], ["샴푸"])
    assert list(recs["product_name"]) == ["Oily 1", "Dry 1", "Dandruff 1"]
    assert list(recs["picked_for"]) == ["지성", "건성", "비듬성"]
    assert list(recs["rank"]) == [1, 2, 3]
    # Second round: the types take turns again, in the order given.
    more = recommend(df, ["건성", "지성", "비듬성"], ["샴푸"], top_k=5)
    assert list(more["product_name"]) == ["Dry 1", "Oily 1", "Dandruff 1", "Dry 2", "Oily 2"]


def test_top_k_is_a_hard_limit_and_enough_places_show_every_tied_type():
    df = catalog(
        product("Oily", "Water, Kaolin, Parfum", star="4.9"),
        product("Dry", "Water, Ceramide NP, Parfum", star="4.8"),
        product("Dandruff", "Water, Sulfur, Parfum", star="4.7"),
        product("Hair loss", "Water, Biotin, Parfum", star="4.0"),
    )
    tied = ["지성", "건성", "비듬성", "탈모성"]
    assert list(recommend(df, tied, ["샴푸"], top_k=4)["picked_for"]) == tied
    recs = recommend(df, tied, ["샴푸"], top_k=3)  # the API promises top_k: the types given first get the places
    assert list(recs["picked_for"]) == tied[:3]
    assert recs.attrs["shortfalls"] == {}


def test_a_pick_that_suits_several_tied_types_gives_its_turn_away():
    df = catalog(
        product("Both", "Water, Salicylic Acid, Parfum", star="4.9"),  # 지성 and 비듬성 (and more)
        product("Oily", "Water, Kaolin, Parfum", star="4.8"),
        product("Dry", "Water, Ceramide NP, Parfum", star="4.0"),
    )
    recs = recommend(df, ["비듬성", "지성", "건성"], ["샴푸"])
    # "Both" (비듬성's pick) suits 지성 too, so 지성 passes its first turn to 건성 and picks next round
    assert list(recs["product_name"]) == ["Both", "Dry", "Oily"]
    assert list(recs["picked_for"]) == ["비듬성", "건성", "지성"]
    assert recommend(df, ["비듬성", "지성", "건성", "탈모성"], ["샴푸"], top_k=2)["picked_for"].tolist() == [
        "비듬성",
        "건성",  # 지성 and 탈모성 (salicylic acid) are covered: no extra place is needed
    ]


def _reachable_type_sets() -> set[tuple[str, ...]]:
    keys = [s.key for s in SYMPTOMS]
    sets = set()
    for n in range(1, len(keys) + 1):
        for combo in itertools.combinations(keys, n):
            for survey in (None, Survey("건성"), Survey("지성")):
                sets.add(determine_scalp_type(dict.fromkeys(combo, 2), survey).types)
    return sets


def test_demo_catalog_ties_show_every_tied_type_in_every_category():
    df = demo_catalog(render_images=False)
    four = determine_scalp_type({"fine_scale": 2, "excess_sebum": 2, "dandruff": 2})
    assert four.rule == "tie_union" and len(four.types) == 4 and "비듬성" in four.types
    shampoos = recommend(df, four.types, ["샴푸"])
    assert any("비듬성" in mt for mt in shampoos["matched_types"])  # the missing 비듬성 shampoo
    for types in _reachable_type_sets():
        for category in CATEGORY_KEYS:
            recs = recommend(df, types, [category])
            covered = {t for mt in recs["matched_types"] for t in mt}
            assert set(types) <= covered, (types, category)
            assert len(recs) == 3, (types, category)  # the demo catalog never needs more than top_k


def test_names_say_what_a_product_is_for():
    assert named_types("Anti Dandruff Shampoo") == ("비듬성",)
    assert named_types("Set The Oil Free! Sensitive & Oily Care Scalp Serum") == ("지성", "민감성")
    assert named_types("Fresh Dry Shampoo") == ()  # a dry shampoo is not for a dry scalp
    assert named_types("라보에이치 탈모증상완화 샴푸") == ("탈모성",)
    assert named_types("Hair Oil") == ()  # "oil" is not "oily"


def test_fit_orders_products_within_a_type():
    df = catalog(
        # generic: panthenol suits 건성, 민감성 and 탈모성, so it counts a third for 탈모성
        product("Generic", "Water, Panthenol, Parfum", star="4.8", reviews="500"),
        # biotin suits 탈모성 only: one whole point of fit, worth FIT_WEIGHT stars
        product("Biotin", "Water, Biotin, Parfum", star="4.6", reviews="500"),
        # named for another concern: a soothing shampoo ranks lower for hair loss
        product("Soothing Shampoo", "Water, Panthenol, Parfum", star="4.9", reviews="500"),
    )
    recs = recommend(df, ["탈모성"], ["샴푸"])
    assert list(recs["product_name"]) == ["Biotin", "Generic", "Soothing Shampoo"]
    fits = dict(zip(recs["product_name"], recs["fit"]))
    assert fits == {"Biotin": 1.0, "Generic": round(1 / 3, 4), "Soothing Shampoo": round(1 / 3 - 1, 4)}
    assert list(recs["score"]) == sorted(recs["score"])  # not the rating order
    top = recs.iloc[0]
    assert top["rank_score"] == pytest.approx(top["score"] + FIT_WEIGHT * top["fit"])
    # A core active beats a supporting one (a mild cleanser) of the same type.
    assert type_fit({"비듬성": ("Piroctone Olamine",)}, ("비듬성",), "P", "비듬성") > type_fit(
        {"비듬성": ("Disodium Laureth Sulfosuccinate",)}, ("비듬성",), "P", "비듬성"
    )


def test_healthy_scalps_get_plain_products_first():
    df = catalog(
        product("Plain", "Water, Sodium Laureth Sulfate, Parfum", star="4.6", reviews="500"),
        product("Loaded", "Water, Biotin, Piroctone Olamine, Ceramide NP, Parfum", star="4.7", reviews="500"),
        product("Anti Dandruff Plain", "Water, Sodium Laureth Sulfate, Parfum", star="4.8", reviews="500"),
    )
    recs = recommend(df, ["양호"], ["샴푸"])
    assert list(recs["product_name"]) == ["Plain", "Loaded", "Anti Dandruff Plain"]
    assert "few actives" in recs.iloc[0]["explanation_en"]


@pytest.fixture(scope="module")
def sociolla(shared_reference):
    df, _ = load_catalog(shared_reference / SOCIOLLA, columns="sociolla")
    return df


@pytest.mark.shared
def test_sociolla_picks_differ_by_type(sociolla):
    # Per category: two single types' top-3 lists differ unless the catalog offers both types exactly
    # the same products (a category with one anti-dandruff conditioner cannot do better, as we never
    # pad a list with products that do not suit the type), and no product is first for more than 3
    # of the 7 types.
    types = type_order()
    assert len(types) == 7
    checked = 0
    for category in CATEGORY_KEYS:
        tops, candidates = {}, {}
        for t in types:
            everything = recommend(sociolla, [t], [category], top_k=1000)
            candidates[t] = set(everything["product_name"])
            tops[t] = list(everything["product_name"][:3])
            assert tops[t] == list(recommend(sociolla, [t], [category])["product_name"])
        for a, b in itertools.combinations(types, 2):
            if candidates[a] != candidates[b]:
                checked += 1
                assert tops[a] != tops[b], (category, a, b, tops[a])
        firsts = Counter(top[0] for top in tops.values() if top)
        assert max(firsts.values(), default=0) <= 3, (category, firsts.most_common(2))
    assert checked >= 60


@pytest.mark.shared
def test_sociolla_dandruff_and_seborrheic_shampoos_are_not_the_same_list(sociolla):
    dandruff = recommend(sociolla, ["비듬성"], ["샴푸"])
    seborrheic = recommend(sociolla, ["지루성"], ["샴푸"])
    assert list(dandruff["product_name"]) != list(seborrheic["product_name"])
    assert all(len(recs) == 3 for recs in (dandruff, seborrheic))


@pytest.mark.shared
def test_sociolla_scalers_and_tonics_find_their_categories(sociolla):
    by_name = sociolla.set_index("product_name")["category"]
    assert by_name["Real Mary Purifying Scalp Scaler Sea Salt"] == "두피팩/스케일러"
    assert by_name["ERHAIR Scalperfect BHA & Allantoin Scalp Exfoliating Gel"] == "두피팩/스케일러"
    assert by_name["Pomelo Hair Tonic"] == "헤어토닉/두피토닉"
    assert by_name["Real Grow Anti-Hair Loss Stimulating Scalp Spray"] == "헤어토닉/두피토닉"
    assert by_name["SmoothProof Deep Treatment Pack Hair Mask for Frizzy Hair"] == "린스/컨디셔너"
    assert by_name["Marula Oil Hair Serum"] == "헤어오일/헤어세럼"
