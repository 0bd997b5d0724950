"""End to end through ``gradio_client`` against ``app.demo`` served on 127.0.0.1 (tiny models).

Checks the named API endpoints a developer uses: /check_photo, /survey_summary, /diagnose,
/care_guide, /recommend; that the README's client example runs as written; that uploads
are deleted; and the formatting helpers' escaping.
"""

from __future__ import annotations

import math
import uuid

import pytest

pytest.importorskip("gradio_client")

from app_server import running_app, scalp_photo  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from scalp_core.symptoms import SYMPTOM_KEYS  # noqa: E402


@pytest.fixture(scope="module")
def server():
    return running_app()


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url, verbose=False)


@pytest.fixture()
def photo(tmp_path):
    return scalp_photo(tmp_path / f"scalp-{uuid.uuid4().hex}.jpg", {"excess_sebum": 3, "fine_scale": 1})


def test_named_endpoints_are_listed(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/check_photo", "/survey_summary", "/diagnose", "/care_guide", "/recommend"} <= names
    assert not any(n.startswith("/ui_") for n in names), "UI events carry session state and stay private"


def test_diagnose_returns_six_calibrated_symptoms_and_a_type(client, photo):
    out = client.predict(handle_file(str(photo)), "지성", ["피지과다"], ["샴푸", "헤어토닉/두피토닉"],
                         api_name="/diagnose")
    assert set(out["symptoms"]) == set(SYMPTOM_KEYS)
    for key, entry in out["symptoms"].items():
        assert len(entry["probabilities"]) == len(entry["labels"]) == 3
        assert math.isclose(sum(entry["probabilities"]), 1.0, abs_tol=1e-5), key
        assert entry["predicted"] == max(range(3), key=lambda i: entry["probabilities"][i])
        assert entry["label"] == entry["labels"][entry["predicted"]]
        assert isinstance(entry["uncertain"], bool)
    scalp_type = out["scalp_type"]
    assert scalp_type["types"] and scalp_type["rule"] in {"all_normal", "all_equal", "single_highest", "tie_union"}
    assert scalp_type["note_ko"] and scalp_type["note_en"]
    assert out["survey"]["categories"] == ["샴푸", "헤어토닉/두피토닉"]


def test_recommend_matches_the_diagnosed_type_and_the_chosen_categories(client, photo):
    diag = client.predict(handle_file(str(photo)), "건성", [], ["샴푸"], api_name="/diagnose")
    types = diag["scalp_type"]["types"]
    sections = client.predict(types, ["샴푸", "헤어오일/헤어세럼"], 3, api_name="/recommend")
    assert [s["category"] for s in sections] == ["샴푸", "헤어오일/헤어세럼"]
    n_products = 0
    for section in sections:
        assert section["types"] == types
        assert len(section["rows"]) <= 3
        for row in section["rows"]:
            n_products += 1
            assert row["category"] == section["category"]
            if "양호" not in types:  # for 양호 every product with ingredients qualifies
                assert set(row["matched_types"]) & set(types)
                assert set(row["types"]) & set(types)
    assert n_products > 0, "the demo catalog has products for every category"


def test_recommend_rejects_unknown_types_and_categories(client):
    with pytest.raises(AppError, match="types"):
        client.predict(["슈퍼지성"], ["샴푸"], 3, api_name="/recommend")
    with pytest.raises(AppError, match="categories"):
        client.predict(["지성"], ["자동차"], 3, api_name="/recommend")


def test_survey_summary_and_bad_options(client):
    line = client.predict("(건성)두피에 건조함이나 당김을 느낍니다.", ["탈모", "모낭사이홍반"], ["샴푸"], "ko",
                          api_name="/survey_summary")
    assert line == "당신의 두피가 🌟 건성 타입의 👤 탈모, 모낭사이홍반 증상이 있다고 선택하셨습니다."
    assert "dry" in client.predict("건성", ["hair loss"], [], "en", api_name="/survey_summary")
    with pytest.raises(AppError, match="Q1"):
        client.predict("복합성", [], [], "ko", api_name="/survey_summary")
    with pytest.raises(AppError, match="Q2"):
        client.predict("지성", ["여드름"], [], "ko", api_name="/survey_summary")
    with pytest.raises(AppError, match="Q3"):
        client.predict("지성", [], ["치약"], "ko", api_name="/survey_summary")


def test_check_photo(client, photo):
    out = client.predict(handle_file(str(photo)), api_name="/check_photo")
    assert out["input"]["size"] == [640, 480]
    assert out["photo_check"]["verdict"] in {"ok", "retake", "not_scalp"}
    assert out["photo_check"]["messages_ko"] and out["photo_check"]["messages_en"]


def test_care_guide_from_a_diagnosis(client, photo):
    diag = client.predict(handle_file(str(photo)), "지성", [], [], api_name="/diagnose")
    guide_ko = client.predict(diag, "지성", "ko", api_name="/care_guide")
    assert "원인" in guide_ko and "관리방안" in guide_ko and "진단" in guide_ko  # disclaimer
    guide_en = client.predict({"excess_sebum": 2}, "", "en", api_name="/care_guide")
    assert "Cause" in guide_en
    with pytest.raises(AppError, match="diagnosis"):
        client.predict({"excess_sebum": 7}, "", "ko", api_name="/care_guide")


def test_uploaded_file_is_deleted_after_the_request(client, server, tmp_path):
    name = f"private-{uuid.uuid4().hex}.jpg"
    photo = scalp_photo(tmp_path / name)
    client.predict(handle_file(str(photo)), "지성", [], [], api_name="/diagnose")
    refused = tmp_path / f"refused-{uuid.uuid4().hex}.jpg"
    refused.write_text("not a photo")
    with pytest.raises(AppError):
        client.predict(handle_file(str(refused)), "지성", [], [], api_name="/diagnose")
    leftovers = [p for d in server.upload_dirs if d.exists() for n in (name, refused.name) for p in d.rglob(n)]
    assert leftovers == []


def test_readme_client_example(server, tmp_path):
    """The README's gradio_client example, verbatim apart from the URL and the photo path."""
    photo = scalp_photo(tmp_path / "my_scalp.jpg")
    url = server.url
    # --- README snippet start
    from gradio_client import Client, handle_file

    client = Client(url)  # e.g. "http://127.0.0.1:7860/" or a Space id
    result = client.predict(handle_file(str(photo)), "지성", ["피지과다"], ["샴푸"], api_name="/diagnose")
    for key, s in result["symptoms"].items():
        print(key, s["label"], [round(p, 3) for p in s["probabilities"]], "uncertain" if s["uncertain"] else "")
    print(result["scalp_type"]["types"], result["scalp_type"]["note_ko"])
    products = client.predict(result["scalp_type"]["types"], ["샴푸"], 3, api_name="/recommend")
    for row in products[0]["rows"]:
        print(row["brand_name"], row["product_name"], row["star"], row["matched_ingredients"])
    # --- README snippet end
    assert products[0]["category"] == "샴푸"


def test_cards_escape_catalog_text():
    from ui.views import product_cards_html

    row = {"product_name": "<script>alert(1)</script>", "brand_name": 'A"B', "star": 4.5, "review_count": 10,
           "matched_ingredients": ["<b>x</b>"], "product_link": "javascript:alert(1)", "img_link": "/etc/passwd"}
    html = product_cards_html([row], "ko")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html and "/etc/passwd" not in html and "<b>x</b>" not in html


def test_every_ui_text_has_korean_and_english():
    from ui.i18n import load_strings, t

    table = load_strings()
    assert all(set(entry) >= {"ko", "en"} and entry["ko"] and entry["en"] for entry in table.values())
    assert "의료 진단이 아닙니다" in t("medical_notice", "ko")
    assert t("demo_banner", "ko") == "🧪 데모 모델: 합성 이미지로 학습, 실제 진단용 아님"
    assert "화이트밸런스" in t("photo_guide_md", "ko") and "white balance" in t("photo_guide_md", "en")


def test_config_flags_override_environment(monkeypatch):
    from ui.config import parse_config

    monkeypatch.setenv("SCALP_MODELS", "someone")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    monkeypatch.setenv("SPACE_ID", "me/space")
    config = parse_config([])
    assert (config.models, config.port, config.host) == ("someone", 7999, "0.0.0.0")
    config = parse_config(["--models", "demo", "--port", "7001", "--host", "127.0.0.1", "--share"])
    assert (config.models, config.port, config.host, config.share) == ("demo", 7001, "127.0.0.1", True)
    assert config.uses_demo_models
    with pytest.raises(ValueError, match="port"):
        parse_config(["--port", "70000"])


@pytest.fixture(scope="module")
def photo_check_loaded(server):
    """/diagnose runs the photo check only once it is loaded (it never waits for it): wait here."""
    import app

    assert app.SERVICE.wait_photo_check(timeout=180), "the photo check did not load within 3 minutes"


def _non_scalp_photo(path):
    """scikit-image's astronaut portrait: a face, not a scalp close-up."""
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()).save(path, format="PNG")
    return path


def test_diagnose_marks_a_non_scalp_photo_low_confidence(client, photo_check_loaded, tmp_path):
    out = client.predict(handle_file(str(_non_scalp_photo(tmp_path / "astronaut.png"))), "지성", [], [],
                         api_name="/diagnose")
    assert set(out["symptoms"]) == set(SYMPTOM_KEYS), "the API still diagnoses (the caller insisted)"
    assert out["low_confidence"] is True
    assert out["photo_check"]["verdict"] == "not_scalp" and out["photo_check"]["low_confidence"] is True
    assert out["photo_check"]["messages_ko"] and out["photo_check"]["messages_en"]


def test_diagnose_of_a_good_scalp_photo_is_not_low_confidence(client, photo_check_loaded, photo):
    out = client.predict(handle_file(str(photo)), "지성", ["피지과다"], ["샴푸"], api_name="/diagnose")
    assert out["low_confidence"] is False
    assert out["photo_check"]["verdict"] == "ok"
    assert {"symptoms", "scalp_type", "survey", "demo_models", "input"} <= set(out), "existing keys are kept"
