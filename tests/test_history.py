"""The private history: entries from real diagnoses (the tiny models of ``tests/app_server.py``),
validation of what a (possibly tampered) browser sends back, "compare with last time", export.

The handlers are called in-process on the running app's service; the browser round trip (localStorage,
reload, plot, download, delete) is ``tests/test_browser_history.py``.
"""

from __future__ import annotations

import csv
import io
import json
import uuid

import gradio as gr
import pytest

from scalp_core.symptoms import SYMPTOM_KEYS
from ui import history
from ui.history import MAX_ENTRIES, validate_entry, validate_history
from ui.session import Session

CLOCK = "2025-05-01T09:30:00+09:00"


def _entry(date="2025-04-01T08:00:00+09:00", levels=None, regions=(), types=("지성",)):
    levels = levels or {}
    symptoms = {}
    for key in SYMPTOM_KEYS:
        level = levels.get(key, 0)
        probabilities = [0.1, 0.1, 0.1]
        probabilities[level] = 0.8
        symptoms[key] = {"severity": level, "probabilities": probabilities}
    return {"v": 1, "date": date, "regions": list(regions), "scalp_type": list(types), "symptoms": symptoms}


@pytest.fixture(scope="module")
def ui_app():
    from app_server import running_app

    import app

    running_app()
    return app


@pytest.fixture
def diagnosed(ui_app, tmp_path):
    """A session holding a real diagnosis of a generated scalp photo (survey answered)."""
    from app_server import as_upload, scalp_photo

    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    photo = scalp_photo(folder / "scalp.jpg", {"dandruff": 3, "excess_sebum": 2})
    session = Session().with_answers("지성", ["비듬"], ["샴푸"])
    state = ui_app.EVENTS.on_upload(as_upload(photo), session, "한국어")[0]
    assert state.diagnosis is not None, state.diagnosis_error
    return state


# ---- validation --------------------------------------------------------------------------------
def test_valid_entries_pass_and_come_back_sorted_by_date():
    later, earlier = _entry("2025-05-02T10:00:00+09:00"), _entry("2025-05-01T10:00:00+00:00", regions=["TH", "LH"])
    loaded = validate_history([later, earlier])
    assert loaded.dropped == 0
    assert [e["date"] for e in loaded.entries] == [earlier["date"], later["date"]]
    assert loaded.entries[0]["regions"] == ["TH", "LH"]
    assert validate_history(None).entries == () and validate_history(None).dropped == 0


@pytest.mark.parametrize("tamper", [
    lambda e: e.update(date="<script>alert(1)</script>"),
    lambda e: e.update(date="2025-05-01T09:30:00+09:00" + " " * 50),
    lambda e: e.update(v=2),
    lambda e: e.update(regions=["TH", "TH"]),
    lambda e: e.update(regions=["<img src=x onerror=alert(1)>"]),
    lambda e: e.update(regions="TH"),
    lambda e: e.update(scalp_type=["<b>지성</b>"]),
    lambda e: e.update(scalp_type=["지성"] * 5),
    lambda e: e["symptoms"].pop("dandruff"),
    lambda e: e["symptoms"].update(extra={"severity": 0, "probabilities": [1, 0, 0]}),
    lambda e: e["symptoms"]["dandruff"].update(severity=3),
    lambda e: e["symptoms"]["dandruff"].update(severity=True),
    lambda e: e["symptoms"]["dandruff"].update(severity="1"),
    lambda e: e["symptoms"]["dandruff"].update(probabilities=[0.5, 0.5, 0.5]),
    lambda e: e["symptoms"]["dandruff"].update(probabilities=[float("nan"), 0.5, 0.5]),
    lambda e: e["symptoms"]["dandruff"].update(probabilities=[1.5, -0.5, 0.0]),
    lambda e: e["symptoms"]["dandruff"].update(probabilities=["0.8", 0.1, 0.1]),
    lambda e: e["symptoms"]["dandruff"].update(probabilities=[0.8, 0.2]),
    lambda e: e.update(symptoms=[]),
])
def test_a_tampered_entry_is_dropped_and_the_others_kept(tamper):
    bad = _entry()
    tamper(bad)
    assert validate_entry(bad) is None
    loaded = validate_history([_entry("2025-01-01T00:00:00+00:00"), bad, "not an entry", None])
    assert len(loaded.entries) == 1 and loaded.dropped == 3


def test_extra_fields_are_not_carried_over():
    entry = _entry()
    entry["photo"] = "data:image/jpeg;base64,AAAA"
    entry["symptoms"]["hair_loss"]["note"] = "<script>"
    clean = validate_entry(entry)
    assert "photo" not in clean and set(clean["symptoms"]["hair_loss"]) == {"severity", "probabilities"}


def test_not_a_list_and_too_many_entries():
    assert validate_history({"entries": []}).dropped == 1
    assert validate_history("[]").dropped == 1
    many = [_entry(f"2025-01-01T00:00:{i % 60:02d}+00:00") for i in range(MAX_ENTRIES + 40)]
    loaded = validate_history(many)
    assert len(loaded.entries) == MAX_ENTRIES and loaded.dropped == 40
    assert len(history.appended(loaded, _entry("2026-01-01T00:00:00+00:00"))) == MAX_ENTRIES
    # the stored size is bounded: every entry is rebuilt from whitelisted values
    assert len(json.dumps(list(loaded.entries), ensure_ascii=False)) < MAX_ENTRIES * 1000


# ---- compare with last time ---------------------------------------------------------------------
def test_compare_lines_name_the_changed_symptoms_in_both_languages():
    previous = validate_entry(_entry(levels={"dandruff": 1, "hair_loss": 2}))
    current = history.Snapshot(subject=object(), regions=(), types=("지성",),
                               symptoms={k: ((0, (0.8, 0.1, 0.1)) if k != "hair_loss" else (2, (0.1, 0.1, 0.8)))
                                         for k in SYMPTOM_KEYS})
    ko = history.compare_lines(previous, current, "ko")
    assert ko[0] == "**지난번 기록(2025-04-01 08:00)과 비교**"
    assert ko[1:] == ["- 비듬: 지난번 경증·중등도 → 이번 양호"]
    en = history.compare_lines(previous, current, "en")
    assert en[1:] == ["- Dandruff: last time mild–moderate → now normal"]
    same = history.compare_lines(validate_entry(_entry(levels={"hair_loss": 2})), current, "ko")
    assert same[1:] == ["여섯 증상 모두 지난번과 같습니다."]
    assert history.compare_lines(None, current, "ko") == []


# ---- the handlers on a real diagnosis -----------------------------------------------------------
def test_consent_saves_one_entry_per_result_and_the_note_compares(ui_app, diagnosed):
    ui = ui_app.HISTORY
    previous = _entry(levels={key: 1 for key in SYMPTOM_KEYS})
    session, stored, note, saved, status, _plot, table = ui.on_record(diagnosed, [previous], True, "all", "한국어",
                                                                     CLOCK)
    assert isinstance(stored, list) and len(stored) == 2 and saved.startswith("💾")
    entry = stored[-1]
    assert validate_entry(entry) == entry, "what is saved passes the validation it will meet on the way back"
    assert entry["date"] == CLOCK and entry["regions"] == []
    assert entry["scalp_type"] == list(diagnosed.scalp_type.types)
    for result in diagnosed.diagnosis:
        assert entry["symptoms"][result.symptom]["severity"] == result.predicted
        assert entry["symptoms"][result.symptom]["probabilities"] == pytest.approx(result.probabilities, abs=1e-4)
    assert "photo" not in json.dumps(entry) and "preview" not in json.dumps(entry)
    assert "지난번 기록(2025-04-01 08:00)과 비교" in note
    assert "저장된 기록: 2건" in status and len(table) == 2

    # the same result again (e.g. the consent box toggled): nothing new is stored
    again = ui.on_record(session, stored, True, "all", "한국어", CLOCK)
    assert again[1] == gr.skip() and again[3] == gr.skip()


def test_without_consent_nothing_is_stored_but_the_note_still_compares(ui_app, diagnosed):
    previous = _entry(levels={"dandruff": 2})
    session, stored, note, *_ = ui_app.HISTORY.on_record(diagnosed, [previous], False, "all", "한국어", CLOCK)
    assert stored == gr.skip(), "with consent off the browser's storage is left untouched"
    assert "지난번 기록" in note
    # ticking the box afterwards stores this very result
    _, stored, *_ = ui_app.HISTORY.on_record(session, [previous], True, "all", "한국어", CLOCK)
    assert isinstance(stored, list) and len(stored) == 2


def test_a_tampered_history_is_reported_and_escaped(ui_app, diagnosed):
    bad = _entry()
    bad["date"] = "<img src=x onerror=alert(1)>"
    status, _plot, table = ui_app.HISTORY.on_show([bad, {"v": 1}, _entry()], "all", "한국어")
    assert "2건은 건너뛰었습니다" in status
    assert len(table) == 1 and "<img" not in table.to_csv()
    # and saving on top of it writes back only the valid entries
    _, stored, *_ = ui_app.HISTORY.on_record(diagnosed, [bad, _entry()], True, "all", "한국어", CLOCK)
    assert len(stored) == 2 and all(validate_entry(e) == e for e in stored)


def test_a_check_up_entry_records_its_regions(ui_app, diagnosed):
    from ui.regions import RegionPhoto

    photo = Session(preview=diagnosed.preview, diagnosis=diagnosed.diagnosis)
    session = diagnosed.with_new_checkup((RegionPhoto("LH", photo), RegionPhoto("TH", photo)))
    snapshot = history.snapshot_of(session)
    assert snapshot.regions == ("TH", "LH") and snapshot.subject is session.checkup
    session, stored, *_ = ui_app.HISTORY.on_record(session, None, True, "all", "English", CLOCK)
    assert stored[-1]["regions"] == ["TH", "LH"]
    assert history.regions_text(stored[-1]["regions"], "ko") == "TH 정수리, LH 좌측두"

    # the same check-up relabelled (LH → BH): its entry is updated in place, not saved twice
    relabelled = session.with_region_photos((RegionPhoto("BH", photo), RegionPhoto("TH", photo)), keep_guides=True)
    assert relabelled.checkup is session.checkup
    relabelled, again, _, line, *_ = ui_app.HISTORY.on_record(relabelled, stored, True, "all", "English",
                                                              "2025-05-01T10:00:00+09:00")
    assert len(again) == 1 and again[0]["regions"] == ["TH", "BH"] and again[0]["date"] == CLOCK
    assert "updated" in line
    # a second check-up is a new visit
    second = relabelled.with_new_checkup((RegionPhoto("TH", photo),))
    _, third, *_ = ui_app.HISTORY.on_record(second, again, True, "all", "English", "2025-05-02T10:00:00+09:00")
    assert [e["regions"] for e in third] == [["TH", "BH"], ["TH"]]


# ---- export ------------------------------------------------------------------------------------
def test_export_json_and_csv_hold_every_entry():
    entries = validate_history([_entry(levels={"dandruff": 2}, regions=["BH"]), _entry("2025-06-01T00:00:00Z")]).entries
    document = json.loads(history.export_json(entries))
    assert document["format"] == "scalp-care-history" and document["entries"] == list(entries)
    text = history.export_csv(entries)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 2 and rows[0]["regions"] == "BH" and rows[0]["dandruff_severity"] == "2"
    assert float(rows[0]["dandruff_p2"]) == 0.8 and rows[1]["scalp_type"] == "지성"
    assert list(rows[0]) == history.csv_headers()


def test_the_language_switch_relabels_the_history(ui_app):
    outputs = ui_app.HISTORY.on_language([_entry()], "dandruff", "English")
    assert outputs[0]["label"] == "Save my results in this browser (optional)"
    assert outputs[1]["value"] == "📄 Download my report (PDF)"
    status, plot, table = outputs[-3:]
    assert status.startswith("Saved results: 1") and list(table.columns)[:3] == ["Date", "Region(s)", "Scalp type"]
    assert list(plot["value"]["symptom"]) == ["Dandruff"] and plot["y_title"].startswith("Severity score")
