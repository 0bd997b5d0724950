"""Catalog loading/validation, tagging, ranking and the illustrative demo catalog."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hub_server import Repo, hub_server  # noqa: F401  (hub_server is a fixture)

from recommendation.catalog import CatalogError, load_catalog
from recommendation.catalog import main as catalog_main
from recommendation.compliance import find_violations
from recommendation.demo import DEMO_BRAND, DEMO_CSV, build_demo_rows, demo_catalog
from recommendation.demo import main as demo_main
from recommendation.demo_images import image_dir
from recommendation.ingredient_lists import lookup
from recommendation.ingredients import effective_ingredients
from recommendation.ranking import recommend
from recommendation.scalp_type import determine_scalp_type, type_order
from recommendation.survey import CATEGORY_KEYS

SOCIOLLA = "products/karinaamaha__haircare-recommender/sociolla_hair_products_250.csv"
SOCIOLLA_SCHEMA = "products/karinaamaha__haircare-recommender/sociolla_hair_products_250_schema.csv"
OLIVEYOUNG = "justdoit93__hair_loss/oliveyoung_hairloss_search_2023-06.csv"


def row(**kw):
    base = {
        "product_link": None,
        "img_link": None,
        "product_name": "P",
        "star": "4.5",
        "review_count": "10",
        "ingredient": "Water, Salicylic Acid",
        "brand_name": "B",
        "category": "샴푸",
    }
    base.update(kw)
    return base


def messages(warnings):
    return [str(w) for w in warnings]


def test_row_validation_messages():
    frame = pd.DataFrame(
        [
            row(product_name="Comma star", star="4,8"),  # 1 repaired
            row(product_name="Thousands", review_count="1,234"),  # 2 repaired
            row(product_name="Negative", review_count="-5"),  # 3 dropped
            row(product_name=None),  # 4 dropped
            row(product_name="No category", category=None),  # 5 dropped
            row(product_name="Lipstick", category="lipstick"),  # 6 dropped
            row(product_name="Star 7", star="7"),  # 7 dropped
            row(product_name="Star text", star="great"),  # 8 dropped
            row(product_name="No ingredients", ingredient=""),  # 9 kept
            row(product_name="English category", category="hair tonic"),  # 10 kept
            row(product_name="NaN reviews", review_count="nan"),  # 11 dropped (used to crash the load)
            row(product_name="Inf reviews", review_count="inf"),  # 12 dropped (used to crash the load)
            row(product_name="Decimal reviews", review_count="1.234"),  # 13 dropped
        ]
    )
    df, warnings = load_catalog(frame)
    text = messages(warnings)
    assert "Catalog row 1: star '4,8' uses a decimal comma; read as 4.8 (repaired)" in text
    assert "Catalog row 3: review_count '-5' is negative (dropped)" in text
    assert "Catalog row 4: missing product name (dropped)" in text
    assert any(t.startswith("Catalog row 5: missing category") for t in text)
    assert any(t.startswith("Catalog row 6: unknown category 'lipstick'") and "샴푸" in t for t in text)
    assert "Catalog row 7: star '7' is outside 0–5 (dropped)" in text
    assert "Catalog row 8: star 'great' is not a number (expected 0–5) (dropped)" in text
    assert any(t.startswith("Catalog row 9: no ingredient list") for t in text)
    assert "Catalog row 2: review_count '1,234' has a thousands separator; read as 1234 (repaired)" in text
    assert "Catalog row 11: review_count 'nan' is not a whole number (dropped)" in text
    assert "Catalog row 12: review_count 'inf' is not a whole number (dropped)" in text
    assert "Catalog row 13: review_count '1.234' is not a whole number (dropped)" in text
    kept = df.set_index("product_name")
    assert list(kept.index) == ["Comma star", "Thousands", "No ingredients", "English category"]
    assert kept.loc["Comma star", "star"] == 4.8 and kept.loc["Thousands", "review_count"] == 1234
    assert kept.loc["English category", "category"] == "헤어토닉/두피토닉"
    assert not kept.loc["No ingredients", "has_ingredients"]
    assert kept.loc["No ingredients", "types"] == ()
    assert "비듬성" in kept.loc["Thousands", "types"]


def test_duplicates_are_removed():
    frame = pd.DataFrame(
        [
            row(product_name="Scalp Shampoo", brand_name="Brand A", product_link="https://x/1"),
            row(product_name="scalp  shampoo", brand_name="BRAND A", product_link="https://x/2"),
            row(product_name="Other", brand_name="Brand B", product_link="https://x/1"),
            row(product_name="Scalp Shampoo", brand_name="Brand C", product_link="https://x/3"),
            # the same brand and name in another category is another product (a shampoo and its tonic
            # share a line name); duplicates are keyed by brand + name + category
            row(product_name="Scalp Shampoo", brand_name="Brand A", category="헤어토닉", product_link="https://x/4"),
        ]
    )
    df, warnings = load_catalog(frame)
    assert list(df["product_name"]) == ["Scalp Shampoo", "Scalp Shampoo", "Scalp Shampoo"]
    assert list(df["category"]) == ["샴푸", "샴푸", "헤어토닉/두피토닉"]
    assert messages(warnings) == [
        "Catalog row 2: duplicate of row 1 (same brand, name and category) (dropped)",
        "Catalog row 3: duplicate of row 1 (same link) (dropped)",
    ]


def test_abbreviated_review_counts_and_stars_out_of_five():
    frame = pd.DataFrame(
        [
            row(product_name="K", review_count="1.2K"),  # 1
            row(product_name="Ribu", review_count="1,2 rb"),  # 2 (Indonesian ribu = thousand)
            row(product_name="Man", review_count="3만"),  # 3
            row(product_name="Juta", review_count="2 jt"),  # 4
            row(product_name="Out of five", star="4.8/5"),  # 5
            row(product_name="Comma out of five", star="4,8 / 5"),  # 6
            row(product_name="Out of ten", star="9/10"),  # 7 dropped: not out of 5
            row(product_name="Bad unit", review_count="12 boxes"),  # 8 dropped
        ]
    )
    df, warnings = load_catalog(frame)
    text = messages(warnings)
    kept = df.set_index("product_name")
    assert kept["review_count"].to_dict() == {
        "K": 1200, "Ribu": 1200, "Man": 30000, "Juta": 2000000, "Out of five": 10, "Comma out of five": 10
    }
    assert kept.loc["Out of five", "star"] == kept.loc["Comma out of five", "star"] == 4.8
    assert "Catalog row 1: review_count '1.2K' is an abbreviated count; read as 1200 (repaired)" in text
    assert "Catalog row 2: review_count '1,2 rb' is an abbreviated count; read as 1200 (repaired)" in text
    assert "Catalog row 5: star '4.8/5' is out of 5; read as 4.8 (repaired)" in text
    assert "Catalog row 6: star '4,8 / 5' is out of 5 and uses a decimal comma; read as 4.8 (repaired)" in text
    assert "Catalog row 7: star '9/10' is not a number (expected 0–5) (dropped)" in text
    assert "Catalog row 8: review_count '12 boxes' is not a number (dropped)" in text


def test_script_and_data_links_are_removed_with_a_warning():
    frame = pd.DataFrame(
        [
            row(product_name="Script", product_link="javascript:alert(document.cookie)", img_link="https://x/a.png"),
            row(product_name="Hidden", product_link=" Java\tScript:alert(1)", img_link="data:image/svg+xml,<svg/onload=alert(1)>"),
            row(product_name="Fine", product_link="https://example.com/p?id=1", img_link="p.png"),
        ]
    )
    df, warnings = load_catalog(frame)
    kept = df.set_index("product_name")
    assert pd.isna(kept.loc["Script", "product_link"]) and kept.loc["Script", "img_link"] == "https://x/a.png"
    assert pd.isna(kept.loc["Hidden", "product_link"]) and pd.isna(kept.loc["Hidden", "img_link"])
    assert kept.loc["Fine", "product_link"] == "https://example.com/p?id=1" and kept.loc["Fine", "img_link"] == "p.png"
    text = messages(warnings)
    assert (
        "Catalog row 1: product_link 'javascript:alert(document.cookie)' of 'Script' is a javascript: link, "
        "not a web address; removed (repaired)"
    ) in text
    assert any(t.startswith("Catalog row 2: img_link 'data:image/svg+xml") and "a data: link" in t for t in text)
    assert sum("link" in t for t in text) == 3


def test_coarse_source_categories_are_refined_from_the_name_and_claims():
    frame = pd.DataFrame(
        [
            row(product_name="Purifying Scalp Scaler Sea Salt", category="mask"),  # 1
            row(product_name="Rosemary Balancing Scalp Pack", category="mask"),  # 2
            row(product_name="Repair Hair Mask", category="mask"),  # 3 stays a rinse-off hair mask
            row(product_name="Pomelo Hair Tonic", category="hair serum"),  # 4
            row(product_name="Calm it Down! Scalp Soothing Serum", category="hair serum"),  # 5
            row(product_name="Serum", category="hair serum", claim="Hair Tonic Serum Rambut, untuk kulit kepala"),  # 6
            row(product_name="Fresh Dry Shampoo Spray", category="shampoo"),  # 7
            row(product_name="Ginseng Tonic Shampoo", category="shampoo"),  # 8 a tonic shampoo is a shampoo
            row(product_name="그로우어스 씨솔트 테라피 두피스케일러 250g", category="샴푸"),  # 9 (an Olive Young label)
            row(product_name="Smooth Hair Serum", category="헤어오일/헤어세럼"),  # 10 our own key: never refined
            row(product_name="Scalp Tonic", category="헤어오일/헤어세럼"),  # 11 our own key: never refined
        ]
    )
    df, warnings = load_catalog(frame)
    assert list(df["category"]) == [
        "두피팩/스케일러", "두피팩/스케일러", "린스/컨디셔너", "헤어토닉/두피토닉", "헤어토닉/두피토닉",
        "헤어토닉/두피토닉", "샴푸바/드라이샴푸", "샴푸", "두피팩/스케일러", "헤어오일/헤어세럼", "헤어오일/헤어세럼",
    ]
    text = messages(warnings)
    assert (
        "Catalog row 1: category 'mask' of 'Purifying Scalp Scaler Sea Salt' is coarse; "
        "its name says '두피팩/스케일러' (repaired)"
    ) in text
    assert "Catalog row 6: category 'hair serum' of 'Serum' is coarse; its claims say '헤어토닉/두피토닉' (repaired)" in text
    assert len(text) == 7


def test_rinse_off_follows_the_product_kind():
    # Zinc pyrithione and MIT are allowed only in rinse-off products in Korea: a dry shampoo stays on
    # the scalp and must be flagged; a shampoo bar is rinsed off; a product that names neither is
    # flagged too, to be safe.
    frame = pd.DataFrame(
        [
            row(product_name="Fresh Dry Shampoo", category="샴푸바/드라이샴푸", ingredient="Butane, Zinc Pyrithione"),
            row(product_name="Solid Shampoo Bar", category="샴푸바/드라이샴푸", ingredient="Sodium Cocoyl Isethionate, Zinc Pyrithione"),
            row(product_name="Mystery", category="샴푸바/드라이샴푸", ingredient="Water, Methylisothiazolinone"),
            row(product_name="Rinse", category="샴푸", ingredient="Water, Methylchloroisothiazolinone, Methylisothiazolinone"),
            row(product_name="Mist", category="헤어워터", ingredient="Water, Methylchloroisothiazolinone, Methylisothiazolinone"),
        ]
    )
    df, _ = load_catalog(frame)
    kept = df.set_index("product_name")
    assert kept["rinse_off"].to_dict() == {
        "Fresh Dry Shampoo": False, "Solid Shampoo Bar": True, "Mystery": False, "Rinse": True, "Mist": False
    }
    assert [len(f) for f in kept["flags_en"]] == [1, 0, 1, 0, 2]
    assert "rinse-off" in kept.loc["Fresh Dry Shampoo", "flags_en"][0]


def test_a_known_raw_export_gets_its_preset_suggested(tmp_path):
    raw = pd.DataFrame(
        [{"product_URL": "https://x/1", "brand": "B", "product_name": "P", "rating": "4.5", "total_reviews": "3",
          "category": "shampoo", "img_URL": "https://x/1.png", "ingredients": "Water, Biotin"}]
    )
    _, warnings = load_catalog(raw)
    assert (
        "Catalog: loaded without a column preset; its columns look like the 'sociolla' export: "
        "load it with columns='sociolla' (CLI: --preset sociolla) (kept)"
    ) in messages(warnings)
    _, with_preset = load_catalog(raw, columns="sociolla")
    assert not any("preset" in str(w) for w in with_preset)
    names_only = pd.DataFrame([{"label": "샴푸", "name": "N", "price": 1, "img": "https://x/n.png"}])
    with pytest.raises(CatalogError, match="look like the 'oliveyoung_names' export: load it with columns='oliveyoung_names'"):
        load_catalog(names_only)


def test_csv_parquet_and_errors(tmp_path):
    frame = pd.DataFrame([row(product_name="A"), row(product_name="B", star="4,2")])
    frame.to_csv(tmp_path / "c.csv", index=False)
    frame.to_parquet(tmp_path / "c.parquet")
    a, _ = load_catalog(tmp_path / "c.csv")
    b, _ = load_catalog(str(tmp_path / "c.parquet"))
    assert list(a["star"]) == list(b["star"]) == [4.5, 4.2]
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "missing.csv")
    with pytest.raises(CatalogError, match="lacks"):
        load_catalog(frame, columns={"nope": "product_name"})
    with pytest.raises(CatalogError, match="category"):
        load_catalog(frame.drop(columns=["category"]))
    with pytest.raises(CatalogError, match="neither"):
        load_catalog("not a source")


def test_cli_reports_bad_sources_without_a_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        catalog_main([str(tmp_path / "nope.csv")])
    assert exit_info.value.code == 2
    assert "does not exist; check the path" in capsys.readouterr().err
    pd.DataFrame([row(product_name="A"), row(product_name="B", review_count="-1")]).to_csv(
        tmp_path / "c.csv", index=False
    )
    assert catalog_main([str(tmp_path / "c.csv")]) == 0
    out = capsys.readouterr().out
    assert "Catalog row 2: review_count '-1' is negative (dropped)" in out and "1 products kept" in out


def test_hub_dataset_error_path(monkeypatch):
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(CatalogError, match="could not load Hub dataset 'nobody-xyz/no-such-catalog'"):
        load_catalog("nobody-xyz/no-such-catalog")


HUB_CLIENT = r"""
import json, sys
from recommendation.catalog import load_catalog
df, warnings = load_catalog(sys.argv[1])
print("RESULT" + json.dumps({
    "names": list(df["product_name"]), "types": [sorted(t) for t in df["types"]],
    "star": [float(x) for x in df["star"]], "reviews": [int(x) for x in df["review_count"]],
    "category": list(df["category"]), "warnings": [str(w) for w in warnings]}, ensure_ascii=False))
"""


def test_hub_dataset_id_loads_over_http(hub_server, tmp_path):  # noqa: F811
    # A catalog CSV in a dataset repo on the local Hub-compatible server (tests/hub_server.py),
    # loaded by its id through `datasets` in a fresh interpreter that talks only to that server.
    frame = pd.DataFrame(
        [
            row(product_name="Hub A", star="4,8", review_count="1,234", ingredient="Water, Zinc Pyrithione",
                category="shampoo", product_link="https://x/a"),
            row(product_name="Hub B", review_count="-3", product_link="https://x/b"),
            row(product_name="Hub C", ingredient="", category="헤어워터", product_link="https://x/c"),
        ]
    )
    repo = Repo("dataset", "tester/scalp-catalog", private=False, owner="tester")
    hub_server.store.repos[("dataset", repo.repo_id)] = repo
    data = frame.to_csv(index=False).encode("utf-8")
    hub_server.store.add_commit(
        repo,
        "main",
        {"catalog.csv": hub_server.store.entry_for("catalog.csv", data)},
        "add catalog",
        "",
        "tester",
    )
    got = _run_hub_client(hub_server, tmp_path, HUB_CLIENT, repo.repo_id)
    assert got["names"] == ["Hub A", "Hub C"] and got["category"] == ["샴푸", "헤어워터"]
    assert got["star"] == [4.8, 4.5] and got["reviews"] == [1234, 10]
    assert got["types"] == [["비듬성", "지루성", "탈모성"], []]
    assert "Catalog row 2: review_count '-3' is negative (dropped)" in got["warnings"]
    assert any(w.startswith("Catalog row 3: no ingredient list") for w in got["warnings"])
    assert any(r["path"].startswith("/api/datasets/tester/scalp-catalog") for r in hub_server.store.log)
    assert not getattr(hub_server.store, "errors", [])


def _run_hub_client(hub, tmp_path, script: str, *args: str) -> dict:
    """Run ``script`` in a client subprocess that talks to the local Hub; its ``RESULT{json}`` line."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=Path(__file__).resolve().parents[1],
        env=hub.client_env(hf_home=tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))[len("RESULT"):])


HUB_REVISIONS = r"""
import json, sys
from recommendation.catalog import CatalogError, load_catalog
out = {}
for revision in json.loads(sys.argv[2]):
    try:
        out[str(revision)] = list(load_catalog(sys.argv[1], revision=revision).df["product_name"])
    except CatalogError as err:
        out[str(revision)] = str(err)
print("RESULT" + json.dumps(out, ensure_ascii=False))
"""


def test_hub_dataset_revision_pins_the_catalog(hub_server, tmp_path):  # noqa: F811
    """Two commits of a catalog dataset: the pinned one loads, main gives the newer, a bad pin is clear."""
    repo = Repo("dataset", "tester/pinned-catalog", private=False, owner="tester")
    hub_server.store.repos[("dataset", repo.repo_id)] = repo
    commits = []
    for names in (["First A", "First B"], ["Second A"]):
        frame = pd.DataFrame([row(product_name=n, product_link=f"https://x/{n}") for n in names])
        data = frame.to_csv(index=False)
        files = {"catalog.csv": hub_server.store.entry_for("catalog.csv", data.encode("utf-8"))}
        commits.append(hub_server.store.add_commit(repo, "main", files, "catalog", "", "tester").sha)
    got = _run_hub_client(hub_server, tmp_path, HUB_REVISIONS, repo.repo_id,
                          json.dumps([commits[0], None, commits[1], "v9"]))
    assert got[commits[0]] == ["First A", "First B"]
    assert got["None"] == got[commits[1]] == ["Second A"]
    assert got["v9"].startswith(
        "could not load Hub dataset 'tester/pinned-catalog' (split 'train', revision 'v9')"
    )
    fetched = {r["path"] for r in hub_server.store.log if "/resolve/" in r["path"]}
    assert any(f"/resolve/{commits[0]}/" in path for path in fetched)  # really asked for the pinned commit

    local = tmp_path / "catalog.csv"
    local.write_text(data, encoding="utf-8")
    with pytest.raises(CatalogError, match="revision 'v1' pins a Hub dataset"):
        load_catalog(local, revision="v1")


def _hand_built():
    return pd.DataFrame(
        [
            # C = catalog mean star = 4.58, m = median review count = 500
            row(product_name="Few reviews perfect", star="5.0", review_count="2"),  # bayes 4.582
            row(product_name="Many reviews", star="4.8", review_count="3000"),  # bayes 4.769
            row(product_name="Mid", star="4.9", review_count="40"),  # bayes 4.604
            row(product_name="Low", star="4.0", review_count="500"),  # bayes 4.290
            row(product_name="Not oily", star="4.2", review_count="9000", ingredient="Water, Glycerin"),
        ]
    )


def test_bayesian_and_seed_orders_differ():
    df, _ = load_catalog(_hand_built())
    seed = recommend(df, ["지성"], ["샴푸"], score="seed")
    bayes = recommend(df, ["지성"], ["샴푸"], score="bayesian")
    assert list(seed["product_name"]) == ["Few reviews perfect", "Mid", "Many reviews"]
    assert list(bayes["product_name"]) == ["Many reviews", "Mid", "Few reviews perfect"]
    assert bayes["score"].round(3).tolist() == [4.769, 4.604, 4.582]
    assert "Not oily" not in set(bayes["product_name"])  # must match a diagnosed type
    assert bayes.attrs["candidates"] == {"샴푸": 4}
    assert bayes.attrs["no_ingredient_data"] == {}


def test_products_without_ingredients_are_never_matched_and_are_counted():
    frame = _hand_built()
    frame.loc[len(frame)] = row(product_name="No list", star="5.0", review_count="99999", ingredient=None)
    df, _ = load_catalog(frame)
    for types in (["지성"], ["양호"], ["지성", "건성", "지루성", "비듬성", "탈모성", "민감성", "양호"]):
        recs = recommend(df, types, ["샴푸"], top_k=10)
        assert "No list" not in set(recs["product_name"]), types
        assert recs.attrs["no_ingredient_data"] == {"샴푸": 1}
        note = "1 Shampoo product(s) have no ingredient data, so they were not considered."
        assert note in recs.attrs["notes_en"]


def test_shortfall_is_reported_not_padded():
    df, _ = load_catalog(_hand_built())
    recs = recommend(df, ["건성"], ["샴푸", "헤어워터"])  # glycerin alone is a weak signal
    assert len(recs) == 0
    assert recs.attrs["shortfalls"] == {"샴푸": 0, "헤어워터": 0}
    partial = recommend(df, ["지성"], ["샴푸"], top_k=10)
    assert len(partial) == 4 and partial.attrs["shortfalls"] == {"샴푸": 4}
    assert "4개뿐" in partial.attrs["notes_ko"][0]


def test_explanations_in_both_languages():
    df, _ = load_catalog(_hand_built())
    top = recommend(df, ["지성", "비듬성"], ["샴푸"]).iloc[0]
    assert top["matched_ingredients"] == ("Salicylic Acid",)
    assert "살리실릭애씨드" in top["explanation_ko"] and "지성 두피에 맞는 성분" in top["explanation_ko"]
    assert "Suits oily scalps: Salicylic Acid" in top["explanation_en"]


@pytest.fixture(scope="module")
def sociolla(shared_reference):
    return load_catalog(shared_reference / SOCIOLLA, columns="sociolla")


@pytest.mark.shared
def test_real_sociolla_catalogs_load_with_row_warnings(shared_reference, sociolla):
    df, warnings = sociolla
    text = messages(warnings)
    negative = [t for t in text if "is negative (dropped)" in t]
    no_ingredients = [t for t in text if "no ingredient list" in t]
    assert len(negative) == 10 and len(no_ingredients) == 16
    assert all(t.startswith("Catalog row ") for t in negative + no_ingredients)
    assert len(df) >= 230 and set(df["category"]) <= set(CATEGORY_KEYS)
    schema_df, schema_warnings = load_catalog(shared_reference / SOCIOLLA_SCHEMA, columns="sociolla_schema")
    assert len(schema_df) == len(df)
    assert sum("is negative" in str(w) for w in schema_warnings) == 10


@pytest.mark.shared
def test_raw_sociolla_without_its_preset_is_told_which_preset_to_use(shared_reference):
    _, warnings = load_catalog(shared_reference / SOCIOLLA)
    assert any("look like the 'sociolla' export: load it with columns='sociolla'" in str(w) for w in warnings)
    with pytest.raises(CatalogError, match="no product_name column .* load it with columns='sociolla_schema'"):
        load_catalog(shared_reference / SOCIOLLA_SCHEMA)


@pytest.mark.shared
def test_antidandruff_actives_are_tagged(sociolla):
    df, warnings = sociolla
    # Found by plain text search, independently of the splitter and alias table under test.
    antidandruff = df[
        df["ingredient"].fillna("").str.contains(r"zinc\s*pyrithione|piroctone\s*olamine", case=False)
    ]
    assert len(antidandruff) >= 8
    untagged = antidandruff.loc[~antidandruff["types"].map(lambda t: "비듬성" in t), "product_name"]
    assert untagged.empty, list(untagged)  # incl. a list written with no separators at all
    assert any("'Mylea ginseng hair tonic' has no separators" in str(w) for w in warnings)
    no_ing = df[~df["has_ingredients"]]
    assert len(no_ing) == 16 and all(t == () for t in no_ing["types"])


@pytest.mark.shared
@pytest.mark.parametrize("scalp_type", ["지성", "건성", "비듬성", "탈모성", "지루성", "민감성"])
def test_recommended_ingredients_really_appear(sociolla, scalp_type):
    df, _ = sociolla
    recs = recommend(df, [scalp_type], ["샴푸", "린스/컨디셔너", "헤어오일/헤어세럼"])
    assert len(recs) > 0
    suits = {r.ingredient for r in effective_ingredients(scalp_type)}
    for _, rec in recs.iterrows():
        raw = df.loc[df["product_name"] == rec["product_name"], "ingredient"].iloc[0]
        assert rec["matched_ingredients"]
        for name in rec["matched_ingredients"]:
            # the name is written in the product's own ingredient text, as whole words ...
            words = r"\s+".join(re.escape(w) for w in name.split())
            assert re.search(rf"(?<![\w-]){words}(?![\w-])", raw, re.IGNORECASE), (rec["product_name"], name)
            # ... and is one of the type's effective ingredients
            assert lookup(name) in suits, (rec["product_name"], name)


@pytest.mark.shared
def test_banned_ingredient_is_flagged_on_real_data(sociolla):
    df, _ = sociolla
    flagged = df[df["flags_en"].map(lambda f: any("banned" in x for x in f))]
    assert len(flagged) >= 1
    assert all("pyrrolidinyl" in t.lower() for t in flagged["ingredient"])


@pytest.mark.shared
def test_oliveyoung_names_load_untagged(shared_reference):
    with pytest.raises(CatalogError, match="category"):
        load_catalog(shared_reference / OLIVEYOUNG, columns={"name": "product_name"})
    df, warnings = load_catalog(
        shared_reference / OLIVEYOUNG, columns={"name": "product_name"}, default_category="샴푸"
    )
    assert len(df) > 50 and set(df["category"]) == {"샴푸"}
    df, warnings = load_catalog(shared_reference / OLIVEYOUNG, columns="oliveyoung_names")
    # the search labels are coarse: scalers found by the "탈모 샴푸" or "탈모 트리트먼트" search are scalers
    assert {"샴푸", "헤어토닉/두피토닉", "헤어오일/헤어세럼", "린스/컨디셔너", "두피팩/스케일러"} == set(df["category"])
    scalers = df.loc[df["category"] == "두피팩/스케일러", "product_name"]
    assert scalers.str.contains("스케일러|스케일링|스크럽|팩").all() and len(scalers) >= 5
    # one search result listed under several labels is one product per category: duplicates are keyed
    # by brand + name + category, after the category is refined
    assert not df.duplicated(["product_name", "category"]).any()
    tonic = df[df["product_name"] == "닥터포헤어 폴리젠 토닉 120ml"]
    assert list(tonic["category"]) == ["헤어토닉/두피토닉"]  # listed under 헤어토닉, 에센스 and 앰플
    dropped = [w for w in warnings if "same brand, name and category" in str(w)]
    assert len(dropped) >= 15
    assert not df["has_ingredients"].any() and all(t == () for t in df["types"])
    assert "Catalog: no ingredient column; no product is tagged from ingredients (kept)" in messages(warnings)
    recs = recommend(df, ["탈모성"], ["샴푸"])
    n_shampoo = int((df["category"] == "샴푸").sum())
    assert len(recs) == 0 and recs.attrs["no_ingredient_data"] == {"샴푸": n_shampoo}
    assert f"샴푸 제품 {n_shampoo}개는 성분 정보가 없어 추천에서 제외했습니다." in recs.attrs["notes_ko"]


def test_demo_catalog_covers_every_type_and_category(tmp_path):
    df = demo_catalog(image_directory=tmp_path)
    assert (df["brand_name"] == DEMO_BRAND).all() and df["illustrative"].all()
    assert df["product_name"].str.startswith("[예시]").all()
    assert "실제 판매 제품이 아니" in df.attrs["notice_ko"]
    assert not df["flags_ko"].map(len).any()
    for scalp_type in type_order():
        recs = recommend(df, [scalp_type], CATEGORY_KEYS)
        assert recs.groupby("category").size().to_dict() == {c: 3 for c in CATEGORY_KEYS}, scalp_type
    first = tmp_path / "demo-001.png"
    assert first.exists() and df.loc[0, "img_link"] == str(first)
    bytes_before = first.read_bytes()
    first.unlink()
    demo_catalog(image_directory=tmp_path)
    assert first.read_bytes() == bytes_before  # deterministic drawing


def test_demo_cli_renders_every_illustration(tmp_path, capsys):
    assert demo_main(["--images", str(tmp_path)]) == 0
    assert f"rendered {len(build_demo_rows())} images" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{r['product_id']}.png" for r in build_demo_rows())


def test_demo_images_are_cached_in_the_project_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("SCALP_DEMO_IMAGE_DIR", raising=False)
    monkeypatch.setenv("SCALP_CACHE", str(tmp_path))
    assert image_dir() == tmp_path / "demo_images"
    monkeypatch.setenv("SCALP_DEMO_IMAGE_DIR", str(tmp_path / "elsewhere"))
    assert image_dir() == tmp_path / "elsewhere"


def test_user_facing_texts_follow_the_mfds_wording_rules():
    # Explanations, notes and regulatory flags are shown beside products, so they obey
    # the same rules as the care guide (no treat/prevent/regrowth claims).
    df = demo_catalog(render_images=False)
    flagged, _ = load_catalog(
        pd.DataFrame([row(ingredient="Water, Finasteride, Ketoconazole, Zinc Pyrithione", category="헤어토닉")])
    )
    texts = [f for flags in flagged[["flags_ko", "flags_en"]].to_numpy().ravel() for f in flags]
    assert len(texts) == 6
    for scalp_type in type_order():
        recs = recommend(df, [scalp_type], CATEGORY_KEYS)
        texts += list(recs["explanation_ko"]) + list(recs["explanation_en"])
        texts += recs.attrs["notes_ko"] + recs.attrs["notes_en"]
    assert not [(t, find_violations(t)) for t in texts if find_violations(t)]


def test_demo_csv_matches_its_recipe():
    on_disk = pd.read_csv(DEMO_CSV, dtype=str)
    rebuilt = pd.DataFrame(build_demo_rows()).astype(str)
    pd.testing.assert_frame_equal(on_disk, rebuilt)


def test_end_to_end_from_severities():
    result = determine_scalp_type({"excess_sebum": 3})
    recs = recommend(demo_catalog(render_images=False), result.types, ["샴푸"])
    assert len(recs) == 3 and all("지성" in t for t in recs["matched_types"])
