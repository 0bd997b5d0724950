"""The four-region check-up: region codes and their defaults, the overall result, the note, the session,
the UI handlers in-process, and ``/diagnose_regions`` over real HTTP through ``gradio_client``
against the app served on 127.0.0.1 with tiny models (``tests/app_server.py``).
"""

from __future__ import annotations

import math
import os
import re
import uuid
from pathlib import Path

import pytest
from app_server import as_upload, running_app, scalp_photo
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from recommendation.scalp_type import determine_scalp_type
from scalp_core.symptoms import SYMPTOM_KEYS, SYMPTOMS, class_names, get_symptom, severity_name, split_label
from scalp_models.diagnosis import Diagnosis, SymptomResult
from ui.i18n import t
from ui.regions import (
    MAX_REGIONS,
    REGION_CODES,
    RegionInputError,
    RegionPhoto,
    aggregate,
    checked_regions,
    default_regions,
    region_from_filename,
    region_label,
    relabel,
)
from ui.session import Session

HEALTHY = (0.8, 0.15, 0.05)
README = Path(__file__).resolve().parents[1] / "README.md"


def _answer(key: str, probabilities, uncertain: bool = False) -> SymptomResult:
    spec, labels = get_symptom(key), class_names(3)
    predicted = max(range(3), key=lambda i: probabilities[i])
    ko, en = split_label(labels[predicted])
    return SymptomResult(symptom=key, ko=spec.ko, en=spec.en, labels=labels, probabilities=tuple(probabilities),
                         predicted=predicted, label=labels[predicted], severity_ko=ko, severity_en=en,
                         confidence=probabilities[predicted], uncertain=uncertain, uncertain_below=0.6)


def _diagnosis(**answers) -> Diagnosis:
    """Six answers: ``hair_loss=((0.2, 0.7, 0.1), False)``; the symptoms not named are healthy and certain."""
    return Diagnosis(tuple(_answer(s.key, *answers.get(s.key, (HEALTHY, False))) for s in SYMPTOMS))


# ---- region codes -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "code"), [
    ("0013_A2LEBJJDE00060O_1606550825417_3_TH.jpg", "TH"),
    ("8781_A2LEBJJDE000906_539800941_5_RH.JPG", "RH"),
    ("/tmp/gradio/abc/my_scalp_BH.png", "BH"),
    ("left-lh.jpeg", "LH"),
    ("photo.jpg", None),
    ("THumb.jpg", None),
    ("both.jpg", None),
    ("", None),
    (None, None),
])
def test_region_code_from_file_name(name, code):
    assert region_from_filename(name) == code


def test_default_regions_take_the_named_code_once_then_the_first_free_one():
    assert default_regions(["a_BH.jpg", "b.jpg", "c_TH.jpg"]) == ["BH", "LH", "TH"]
    assert default_regions(["x_TH.jpg", "y_TH.jpg"]) == ["TH", "LH"], "a second TH takes the first free region"
    assert default_regions([None, None, None, None]) == list(REGION_CODES)
    with pytest.raises(RegionInputError) as err:
        default_regions(["a.jpg"] * 5)
    assert err.value.code == "too_many"


def test_relabel_swaps_so_no_two_photos_share_a_region():
    assert relabel(["TH", "BH"], 0, "BH") == ["BH", "TH"]
    assert relabel(["TH", "BH"], 1, "LH") == ["TH", "LH"]
    with pytest.raises(RegionInputError):
        relabel(["TH"], 0, "XX")


@pytest.mark.parametrize(("regions", "n_files", "code"), [
    ([], 0, "no_photos"),
    (["TH", "LH", "RH", "BH", "TH"], 5, "too_many"),
    (["TH"], 2, "count_mismatch"),
    (["TH", "XX"], 2, "unknown"),
    (["TH", "th"], 2, "duplicate"),
])
def test_checked_regions_refuses_bad_calls_with_a_message_in_both_languages(regions, n_files, code):
    with pytest.raises(RegionInputError) as err:
        checked_regions(regions, n_files)
    assert err.value.code == code
    ko, en = (t(f"regions_err_{code}", lang, **err.value.values) for lang in ("ko", "en"))
    assert ko != en and "{" not in ko + en


def test_checked_regions_upper_cases_good_codes():
    assert checked_regions(["th", " BH "], 2) == ["TH", "BH"]
    assert checked_regions("TH, bh", 2) == ["TH", "BH"]


def test_region_labels_carry_the_code_and_the_korean_name():
    assert region_label("TH", "ko") == "TH 정수리"
    assert region_label("BH", "en") == "BH occipital (후두부)"
    assert [region_label(c, "ko").split()[1] for c in REGION_CODES] == ["정수리", "좌측두", "우측두", "후두부"]


# ---- the overall result --------------------------------------------------------------------------------
def test_overall_is_the_worst_region_with_averaged_probabilities():
    overall = aggregate({
        "TH": _diagnosis(hair_loss=((0.2, 0.7, 0.1), False)),
        "BH": _diagnosis(hair_loss=((0.6, 0.3, 0.1), False), dandruff=((0.1, 0.2, 0.7), False)),
    })
    assert overall.regions == ("TH", "BH")
    hair = overall["hair_loss"]
    assert hair.predicted == 1 and hair.worst_region == "TH" and not hair.uncertain
    assert hair.probabilities == pytest.approx((0.4, 0.5, 0.1))
    assert hair.per_region == {"TH": 1, "BH": 0}
    dandruff = overall["dandruff"]
    assert dandruff.predicted == 2 and dandruff.worst_region == "BH"
    assert dandruff.probabilities == pytest.approx(((0.8 + 0.1) / 2, (0.15 + 0.2) / 2, (0.05 + 0.7) / 2))
    assert dandruff.to_dict()["mean_predicted"] == 0, "the average can be milder than the worst region"
    assert overall.severities["hair_loss"] == 1 and overall.worst_regions == {"hair_loss": "TH", "dandruff": "BH"}
    entry = overall.to_dict()["hair_loss"]
    assert entry["worst_region_ko"] == "정수리" and entry["label"] == class_names(3)[1]
    assert math.isclose(sum(entry["probabilities"]), 1.0)


def test_an_uncertain_worst_region_marks_the_overall_answer_uncertain():
    overall = aggregate({
        "TH": _diagnosis(hair_loss=((0.5, 0.3, 0.2), False)),
        "LH": _diagnosis(hair_loss=((0.3, 0.25, 0.45), True)),
    })
    hair = overall["hair_loss"]
    assert hair.predicted == 2 and hair.worst_region == "LH", "an uncertain answer still counts"
    assert hair.uncertain and hair.uncertain_regions == ("LH",)


def test_at_the_same_severity_a_certain_region_is_named_and_the_answer_is_certain():
    overall = aggregate({
        "TH": _diagnosis(excess_sebum=((0.1, 0.45, 0.45001), True)),
        "RH": _diagnosis(excess_sebum=((0.1, 0.2, 0.7), False)),
        "BH": _diagnosis(excess_sebum=((0.1, 0.1, 0.8), False)),
    })
    sebum = overall["excess_sebum"]
    assert sebum.predicted == 2 and sebum.worst_region == "BH", "certain first, then the more probable"
    assert not sebum.uncertain and sebum.uncertain_regions == ("TH",)


def test_no_diagnosed_region_gives_no_overall_result():
    assert aggregate({}) is None
    assert aggregate({"TH": None}) is None


# ---- the note ---------------------------------------------------------------------------------------------
def test_the_note_names_where_each_symptom_is_worst():
    result = determine_scalp_type({"hair_loss": 1, "dandruff": 1, "excess_sebum": 2}, None, scheme=3,
                                  worst_regions={"hair_loss": "TH", "dandruff": "BH", "excess_sebum": "LH"})
    mild = severity_name(1, lang="ko")
    assert result.main_finding_ko == f"피지과다: 좌측두에서 {severity_name(2, lang='ko')}"
    assert f"탈모: 정수리에서 {mild}" in result.note_ko and f"비듬: 후두부에서 {mild}" in result.note_ko
    assert "in the crown region" in result.note_en and "in the left temporal region" in result.note_en
    single = determine_scalp_type({"hair_loss": 1, "dandruff": 1, "excess_sebum": 2}, None, scheme=3)
    assert single.types == result.types
    assert "에서" not in single.note_ko and single.note_ko.splitlines()[1:] == result.note_ko.splitlines()[2:]
    with pytest.raises(ValueError, match="region"):
        determine_scalp_type({"hair_loss": 1}, None, scheme=3, worst_regions={"hair_loss": "XX"})


# ---- the session -----------------------------------------------------------------------------------------
def _photo_session(diagnosis, low_confidence=False) -> Session:
    return Session().with_photo(b"jpeg", {"verdict": "ok"}, None).with_diagnosis(diagnosis, low_confidence=low_confidence)


def test_session_keeps_the_regions_and_types_from_the_overall_result():
    th = RegionPhoto("TH", _photo_session(_diagnosis(hair_loss=((0.2, 0.7, 0.1), False))))
    bh = RegionPhoto("BH", _photo_session(_diagnosis(dandruff=((0.1, 0.1, 0.8), False)), low_confidence=True))
    session = Session().with_answers("건성", [], []).with_region_photos((th, bh))
    assert set(session.regions) == {"TH", "BH"} and session.diagnosis is None
    assert session.overall["dandruff"].worst_region == "BH"
    assert session.scalp_type.main_findings == ("dandruff",)
    assert "후두부에서" in session.scalp_type.note_ko and "정수리에서" in session.scalp_type.note_ko
    session = session.with_guide(("x",), "guide")
    relabelled = session.with_region_photos((RegionPhoto("LH", th.photo), bh), keep_guides=True)
    assert relabelled.guides and relabelled.overall["hair_loss"].worst_region == "LH"
    single = session.with_photo(b"jpeg", None, None)
    assert single.region_photos == () and single.overall is None and single.scalp_type is None


def test_result_tab_shows_the_region_table_and_marks_what_is_uncertain_or_missing():
    from ui import render

    th = RegionPhoto("TH", _photo_session(_diagnosis(hair_loss=((0.2, 0.35, 0.45), True))))
    waiting = RegionPhoto("RH", Session().with_photo(b"jpeg", {"verdict": "not_scalp", "low_confidence": True},
                                                      pending=object()))
    refused = RegionPhoto("BH", Session().with_upload_error("not_image", {}))
    session = Session().with_region_photos((th, waiting, refused))
    header, labels, table, note = render.result(session, "ko")
    assert "TH 정수리" in header and "부위별 검진" in header
    assert "| 증상 | TH 정수리 | 전체" in table and "⚠️" in table
    assert "RH 우측두" in table and "그래도 진단하기" in table and "이미지 파일이 아닙니다" in table
    assert "탈모: 정수리에서 중증" in note
    assert labels[[s.key for s in SYMPTOMS].index("hair_loss")] == pytest.approx(
        dict(zip(class_names(3), (0.2, 0.35, 0.45))))
    english = render.result(session, "en")
    assert "TH crown (정수리)" in english[2] and "in the crown region" in english[3]


# ---- the UI handlers, in-process (real uploads, photo check and tiny models) -----------------------------
@pytest.fixture(scope="module")
def ui_app():
    import app

    running_app()
    assert app.SERVICE.wait_photo_check(timeout=180), "the photo check did not load within 3 minutes"
    return app


def _upload(tmp_path, name, severities=None, image=None):
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    path = folder / name
    if image is None:
        scalp_photo(path, severities or {"excess_sebum": 3})
    else:
        image.save(path)
    return {"path": as_upload(path), "orig_name": name}


def test_ui_checkup_defaults_regions_from_names_waits_for_a_flagged_photo_and_relabels(ui_app, tmp_path):
    from PIL import Image
    from skimage import data

    from ui.regions_tab import RegionEvents

    handlers = RegionEvents(ui_app.EVENTS)
    files = [_upload(tmp_path, "a.jpg", {"hair_loss": 3}), _upload(tmp_path, "scalp_BH.jpg", {"dandruff": 3}),
             _upload(tmp_path, "face.png", image=Image.fromarray(data.astronaut()))]
    outputs = handlers.on_upload(files, Session().with_answers("지성", [], ["샴푸"]), "한국어")
    session = outputs[0]
    assert [p.code for p in session.region_photos] == ["TH", "BH", "LH"]
    assert not any(os.path.exists(f["path"]) for f in files), "every upload is deleted at once"
    face = session.region_photos[2].photo
    assert face.waiting_for_insist and face.diagnosis is None
    assert session.overall.regions == ("TH", "BH") and session.scalp_type is not None
    status, slots = outputs[2], outputs[3:3 + 5 * MAX_REGIONS]
    assert "TH 정수리" in status and "BH 후두부" in status
    assert slots[5 * 2 + 4]["visible"] is True, "the face photo's own Diagnose anyway button"
    assert slots[5 * 3]["visible"] is False, "the fourth slot stays hidden"

    outputs = handlers.on_insist(2, session, "한국어")
    session = outputs[0]
    assert session.region_photos[2].photo.low_confidence and session.overall.regions == ("TH", "LH", "BH")
    assert "낮은 신뢰도" in outputs[2 + 5 * MAX_REGIONS + 3], "the result header names the low-confidence region"

    outputs = handlers.on_region(0, "BH", session, "한국어")
    assert [p.code for p in outputs[0].region_photos] == ["BH", "TH", "LH"], "choosing a taken region swaps"
    assert outputs[0].answers == ("지성", (), ("샴푸",))


def test_ui_checkup_refuses_more_than_four_photos_and_deletes_them(ui_app, tmp_path):
    from ui.regions_tab import RegionEvents

    files = [_upload(tmp_path, f"p{i}.jpg") for i in range(5)]
    outputs = RegionEvents(ui_app.EVENTS).on_upload(files, Session(), "English")
    assert outputs[0].region_photos == () and "at most 4" in outputs[2]
    assert not any(os.path.exists(f["path"]) for f in files)


# ---- /diagnose_regions over HTTP ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client():
    return Client(running_app().url, verbose=False)


def test_diagnose_regions_returns_each_region_and_the_overall_result(client, tmp_path):
    th = scalp_photo(tmp_path / "crown.jpg", {"hair_loss": 3}, seed=1)
    bh = scalp_photo(tmp_path / "back.jpg", {"dandruff": 3}, seed=2)
    out = client.predict([handle_file(str(th)), handle_file(str(bh))], ["TH", "BH"], "지성", [], ["샴푸"],
                         api_name="/diagnose_regions")
    assert list(out["regions"]) == ["TH", "BH"] and out["diagnosed_regions"] == ["TH", "BH"]
    assert out["failed_regions"] == []
    for answer in out["regions"].values():  # each region is a /diagnose answer
        assert set(answer["symptoms"]) == set(SYMPTOM_KEYS) and "photo_check" in answer and "scalp_type" in answer
    assert set(out["overall"]) == set(SYMPTOM_KEYS)
    for key, entry in out["overall"].items():
        per_region = [out["regions"][c]["symptoms"][key] for c in ("TH", "BH")]
        mean = [sum(r["probabilities"][i] for r in per_region) / 2 for i in range(3)]
        assert entry["probabilities"] == pytest.approx(mean)
        assert entry["predicted"] == max(r["predicted"] for r in per_region)
        assert out["regions"][entry["worst_region"]]["symptoms"][key]["predicted"] == entry["predicted"]
        assert entry["uncertain_regions"] == [c for c in ("TH", "BH") if out["regions"][c]["symptoms"][key]["uncertain"]]
    scalp_type = out["scalp_type"]
    assert scalp_type["types"] and scalp_type["note_ko"] and scalp_type["note_en"]
    assert scalp_type["main_findings"], "the tiny models (seed 0) see symptoms in these photos"
    for key in scalp_type["main_findings"]:
        entry = out["overall"][key]
        assert f"{get_symptom(key).ko}: {entry['worst_region_ko']}에서 {entry['severity_ko']}" in scalp_type["note_ko"]
    assert out["survey"]["categories"] == ["샴푸"]


@pytest.mark.parametrize(("regions", "n_photos", "pattern"), [
    (["TH", "TH"], 2, "중복.*Duplicate"),
    (["TH", "XY"], 2, "알 수 없는 부위 코드.*Unknown region"),
    (["TH"], 2, "2장인데 부위 코드는 1개.*2 photo"),
    (["TH", "LH", "RH", "BH", "TH"], 5, "최대 4장.*at most 4"),
    ([], 0, "부위별 사진이 없습니다.*No photos"),
])
def test_diagnose_regions_refuses_bad_codes_and_counts(client, tmp_path, regions, n_photos, pattern):
    names = [f"bad-call-{uuid.uuid4().hex}.jpg" for _ in range(n_photos)]
    files = [handle_file(str(scalp_photo(tmp_path / name))) for name in names]
    with pytest.raises(AppError, match=pattern):
        client.predict(files, regions, "지성", [], [], api_name="/diagnose_regions")
    leftovers = [p for d in running_app().upload_dirs if d.exists() for n in names for p in d.rglob(n)]
    assert leftovers == [], "refused calls delete their uploads too"


def test_a_bad_photo_fails_only_its_region(client, tmp_path):
    good = scalp_photo(tmp_path / "good.jpg", {"excess_sebum": 3})
    bad = tmp_path / "bad.jpg"
    bad.write_text("this is not a photo")
    out = client.predict([handle_file(str(good)), handle_file(str(bad))], ["TH", "LH"], "", [], [],
                         api_name="/diagnose_regions")
    assert out["failed_regions"] == ["LH"] and out["diagnosed_regions"] == ["TH"]
    assert out["regions"]["LH"]["error_code"] == "not_image"
    assert "이미지 파일이 아닙니다" in out["regions"]["LH"]["error"]
    assert {e["worst_region"] for e in out["overall"].values()} == {"TH"}
    with pytest.raises(AppError, match="어느 부위의 사진도.*LH"):
        client.predict([handle_file(str(bad))], ["LH"], "", [], [], api_name="/diagnose_regions")


def test_readme_regions_example(tmp_path, capsys):
    """The README's /diagnose_regions example, run as written there (only the URL and the photos are given)."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- regions example -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "README.md lacks the /diagnose_regions example (marked <!-- regions example -->)"
    crown = scalp_photo(tmp_path / "crown_TH.jpg", {"hair_loss": 3}, seed=3)
    back = scalp_photo(tmp_path / "back_BH.jpg", {"dandruff": 2}, seed=4)
    exec(compile(match.group(1), "README.md /diagnose_regions example", "exec"),  # noqa: S102 (our own README)
         {"url": running_app().url, "crown": crown, "back": back})
    out = capsys.readouterr().out
    assert "hair_loss" in out and "worst at" in out and "두피 타입" in out


def test_ui_checkup_follows_the_language(ui_app, tmp_path):
    from ui.regions_tab import RegionEvents

    handlers = RegionEvents(ui_app.EVENTS)
    session = handlers.on_upload([_upload(tmp_path, "x_RH.jpg")], Session(), "English")[0]
    mode, guide, upload, status, *slots = handlers.on_language(session, "English")
    assert [label for label, _ in mode["choices"]] == ["One photo", "Check-up of up to four regions"]
    assert "Region check-up" in guide and "one per region" in upload["label"]
    assert "RH right temporal (우측두)" in status
    assert slots[2]["value"] == "RH" and ("RH right temporal (우측두)", "RH") in slots[2]["choices"]
    single_box, box, *_ = handlers.on_mode("regions", session, "English")
    assert single_box["visible"] is False and box["visible"] is True
