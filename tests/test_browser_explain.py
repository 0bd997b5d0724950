"""The "왜 이렇게 판단했나요? (Why?)" heatmaps in a real browser (Debian Chromium through Playwright).

Uploads a generated scalp photo, opens the result tab and presses "Why?": the heatmaps of exactly the
symptoms the diagnosis put at severity ≥ 1 appear as inline images (or the note that there are none);
then a symptom picked in the dropdown gets its own heatmap. Nothing of it is written to Gradio's file
cache. Screenshots go to ``test-artifacts/``. Skips with a reason when ``/usr/bin/chromium`` or Playwright
is absent (the fixtures of ``test_browser``).
"""

from __future__ import annotations

import uuid

import pytest
from test_browser import ARTIFACTS, app_url, browser  # noqa: F401 (pytest fixtures)

pytestmark = pytest.mark.browser


@pytest.mark.slow
def test_why_shows_heatmaps_over_the_photo(browser, app_url, tmp_path):  # noqa: F811
    from app_server import cache_files, scalp_photo
    from playwright.sync_api import expect

    import app
    from scalp_core.symptoms import SYMPTOMS
    from ui.views import symptom_title

    ARTIFACTS.mkdir(exist_ok=True)
    # the upload waits for the photo check, which loads (and exports its ONNX model) on a fresh cache
    assert app.SERVICE.wait_photo_check(timeout=180), "the photo check did not load within 3 minutes"
    photo = scalp_photo(tmp_path / f"scalp-{uuid.uuid4().hex}.jpg", {"dandruff": 3, "hair_loss": 2}, seed=3)
    before = set(cache_files())

    page = browser.new_page(viewport={"width": 1280, "height": 1100}, locale="ko-KR")
    page.goto(app_url)
    page.wait_for_selector("text=이미지 업로드 시 참고사항", timeout=60_000)
    page.locator("input[type=file]").first.set_input_files(str(photo))
    page.get_by_text("이미지가 성공적으로 업로드되었습니다").wait_for(timeout=90_000)
    page.get_by_role("tab", name="③ 진단 결과 · Diagnosis").click()
    panel = page.locator("#scalp-why-panel")
    panel.get_by_text("왜 이렇게 판단했나요?").wait_for(timeout=30_000)  # the hint before any click
    # what the page shows: the severity table's rows (symptom, severity, probability, note)
    rows = page.locator("table", has_text="중증도").first.locator("tbody tr").all_inner_texts()
    titles = {symptom_title(spec.key, "ko"): spec.key for spec in SYMPTOMS}
    expected = sorted(titles[row.split("\t")[0].strip()] for row in rows if row.split("\t")[1].strip() != "양호")
    assert len(rows) == 6

    # every symptom at severity ≥ 1 (the dropdown's default)
    page.get_by_role("button", name="🔍 왜 이렇게 판단했나요? (Why?)").click()
    if expected:
        panel.locator("figure.scalp-why").first.wait_for(timeout=60_000)
        shown = sorted(panel.locator("figure.scalp-why").evaluate_all("els => els.map(e => e.dataset.symptom)"))
        assert shown == expected
        panel.get_by_text("Grad-CAM").wait_for()  # how to read it
    else:
        panel.get_by_text("경증 이상으로 판단된 증상이 없습니다").wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "browser_explain_1_auto.png"), full_page=True)

    # one picked symptom
    page.locator("#scalp-why-symptom input").click()
    page.get_by_role("option", name="모낭사이홍반 (Interfollicular erythema)", exact=True).click()
    page.get_by_role("button", name="🔍 왜 이렇게 판단했나요? (Why?)").click()
    expect(panel.locator("figure.scalp-why")).to_have_count(1, timeout=60_000)
    figure = panel.locator("figure.scalp-why[data-symptom=interfollicular_erythema]")
    assert figure.count() == 1
    source = figure.locator("img").get_attribute("src")
    assert source.startswith("data:image/jpeg;base64,"), "the overlay must be inline, not a served file"
    assert figure.locator("img").evaluate("img => img.naturalWidth") == 480  # the preview's size
    assert "모낭사이홍반 (Interfollicular erythema): " in figure.inner_text()
    page.screenshot(path=str(ARTIFACTS / "browser_explain_2_picked.png"), full_page=True)

    new_files = set(cache_files()) - before
    assert not [f for f in new_files if f.name == photo.name or "explain" in str(f) or f.suffix == ".jpg"], new_files

    # a new photo forgets the heatmaps
    page.get_by_role("tab", name="① 사진 업로드 · Photo").click()
    other = scalp_photo(tmp_path / f"scalp-{uuid.uuid4().hex}.jpg", {"excess_sebum": 3}, seed=4)
    page.locator("input[type=file]").first.set_input_files(str(other))
    page.get_by_role("tab", name="③ 진단 결과 · Diagnosis").click()
    panel.locator("figure.scalp-why").first.wait_for(state="detached", timeout=60_000)
    page.close()
