"""The private history and the report in a real browser (Debian Chromium through Playwright).

With consent: two diagnoses, a reload, and the History tab shows two entries and two points per symptom;
the export downloads JSON and CSV, the report downloads a PDF, and none of them leaves a file on the server;
deleting (after the confirmation) clears localStorage. Without consent nothing is stored in localStorage.
Skips like ``tests/test_browser.py`` when Chromium or Playwright is absent.
"""

from __future__ import annotations

import json
import uuid

import pytest
from test_browser import ARTIFACTS, app_url, browser  # noqa: F401  (pytest fixtures)

from ui.history_tab import STORAGE_KEY

pytestmark = pytest.mark.browser

CONSENT = "이 브라우저에 진단 기록 저장하기 (선택)"
SAVED = "이번 결과를 이 브라우저의 기록에 저장했습니다"
HISTORY_TAB = "⑥ 내 기록 · My history"


def _open(browser, app_url):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 1100}, locale="ko-KR", accept_downloads=True)
    page.goto(app_url)
    page.wait_for_selector("text=이미지 업로드 시 참고사항", timeout=60_000)
    return page


def _stored(page):
    return page.evaluate(f"() => localStorage.getItem({json.dumps(STORAGE_KEY)})")


def _diagnose(page, photo, wait_text: str | None = None):
    page.get_by_role("tab", name="① 사진 업로드 · Photo").click()
    page.locator("input[type=file]").first.set_input_files(str(photo))
    page.get_by_text("이미지가 성공적으로 업로드되었습니다").wait_for(timeout=90_000)
    if wait_text:
        page.get_by_text(wait_text).first.wait_for(timeout=60_000)


def _plot_points(page) -> int:
    """The data points of the trend plot (Vega draws one symbol per row in its hover layer)."""
    return page.evaluate("() => document.querySelectorAll('#history-plot svg g.mark-symbol.role-mark path').length")


def _table_rows(page) -> int:
    """Data rows of the History table (Gradio's virtual table counts its header row in aria-rowcount)."""
    return int(page.locator("#history-table [role=grid]").get_attribute("aria-rowcount")) - 1


def _download(page, button_name: str):
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name=button_name).click()
    download = info.value
    return download.suggested_filename, open(download.path(), "rb").read()


@pytest.mark.slow
def test_history_with_consent_survives_reload_exports_and_deletes(browser, app_url, tmp_path):  # noqa: F811
    from app_server import cache_files, scalp_photo

    ARTIFACTS.mkdir(exist_ok=True)
    before = set(cache_files())
    page = _open(browser, app_url)
    assert _stored(page) is None
    consent = page.get_by_label(CONSENT)
    assert not consent.is_checked(), "consent must be off by default"
    consent.check()

    first = scalp_photo(tmp_path / f"h1-{uuid.uuid4().hex}.jpg", {"dandruff": 3}, seed=1)
    second = scalp_photo(tmp_path / f"h2-{uuid.uuid4().hex}.jpg", {"hair_loss": 2}, seed=2)
    _diagnose(page, first, SAVED)
    page.wait_for_function(f"() => localStorage.getItem({json.dumps(STORAGE_KEY)}) !== null", timeout=30_000)
    stored_once = _stored(page)
    assert "두피" not in stored_once and "dandruff" not in stored_once, "Gradio's BrowserState stores it encrypted"
    _diagnose(page, second)
    page.get_by_role("tab", name="③ 진단 결과 · Diagnosis").click()
    page.get_by_text("지난번 기록").first.wait_for(timeout=60_000)  # "compare with last time" in the note
    page.wait_for_function(f"(old) => localStorage.getItem({json.dumps(STORAGE_KEY)}) !== old", arg=stored_once,
                           timeout=30_000)

    # the report: a PDF downloaded from memory
    name, pdf = _download(page, "📄 리포트 내려받기 (PDF)")
    assert name.endswith(".pdf") and pdf.startswith(b"%PDF")
    pdfium = pytest.importorskip("pypdfium2")
    text = "".join(pdfium.PdfDocument(pdf)[0].get_textpage().get_text_range().split())
    assert "두피진단리포트" in text and "비듬" in text and "의료진단이아닙니다" in text

    # a reload: the history comes back from localStorage
    page.reload()
    page.wait_for_selector("text=이미지 업로드 시 참고사항", timeout=60_000)
    page.get_by_role("tab", name=HISTORY_TAB).click()
    page.get_by_text("저장된 기록: 2건").wait_for(timeout=30_000)
    assert _table_rows(page) == 2
    page.wait_for_function("() => document.querySelectorAll('#history-plot svg g.mark-symbol.role-mark path').length >= 12",
                           timeout=30_000)
    assert _plot_points(page) == 2 * 6  # two entries × six symptoms
    page.locator("#history-symptom input").click()
    page.get_by_role("option", name="비듬", exact=True).click()
    page.wait_for_function("() => document.querySelectorAll('#history-plot svg g.mark-symbol.role-mark path').length === 2",
                           timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "browser_history_1_tab.png"), full_page=True)

    # export: JSON and CSV, both with the two entries
    name, raw = _download(page, "⬇️ JSON으로 내보내기")
    exported = json.loads(raw.decode("utf-8"))
    assert name.endswith(".json") and len(exported["entries"]) == 2
    assert set(exported["entries"][0]) == {"v", "date", "regions", "scalp_type", "symptoms"}
    name, raw = _download(page, "⬇️ CSV로 내보내기")
    lines = raw.decode("utf-8-sig").strip().splitlines()
    assert name.endswith(".csv") and len(lines) == 3 and lines[0].startswith("date,regions,scalp_type")
    new_files = [f for f in set(cache_files()) - before if f.suffix in (".pdf", ".json", ".csv")]
    assert not new_files, f"downloads must not be written on the server: {new_files}"

    # delete, after a confirmation
    page.get_by_role("button", name="🗑️ 기록 모두 지우기").click()
    page.get_by_role("button", name="취소").click()
    assert _stored(page) is not None
    page.get_by_role("button", name="🗑️ 기록 모두 지우기").click()
    page.get_by_role("button", name="네, 모두 지웁니다").click()
    page.get_by_text("기록을 모두 지웠습니다").first.wait_for(timeout=30_000)
    assert _stored(page) is None
    page.reload()
    page.wait_for_selector("text=이미지 업로드 시 참고사항", timeout=60_000)
    page.get_by_role("tab", name=HISTORY_TAB).click()
    page.get_by_text("저장된 기록이 없습니다").first.wait_for(timeout=30_000)
    assert _table_rows(page) <= 1  # Gradio may show one empty row for no data
    assert _stored(page) is None
    page.close()


@pytest.mark.slow
def test_nothing_is_stored_without_consent(browser, app_url, tmp_path):  # noqa: F811
    from app_server import scalp_photo

    page = _open(browser, app_url)
    photo = scalp_photo(tmp_path / f"n-{uuid.uuid4().hex}.jpg", {"fine_scale": 2}, seed=3)
    _diagnose(page, photo)
    page.get_by_role("tab", name="③ 진단 결과 · Diagnosis").click()
    page.get_by_text("상태분석 노트").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # the history step runs after the diagnosis
    assert _stored(page) is None
    assert not page.evaluate("() => Object.keys(localStorage)"), "nothing at all may be stored without consent"
    page.get_by_role("tab", name=HISTORY_TAB).click()
    page.get_by_text("저장된 기록이 없습니다").first.wait_for(timeout=30_000)
    page.close()
