"""The four-region check-up in a real browser (Debian Chromium through Playwright, never ``playwright install``).

Switches the upload tab to the check-up, uploads two photos whose names carry AI Hub region codes
(``…_TH.jpg``, ``…_BH.jpg``), changes one photo's region in its dropdown, and checks the result tab's
per-region table and the note naming the worst region; screenshots go to ``test-artifacts/``.
Skips with a reason when ``/usr/bin/chromium`` or Playwright is absent (the fixtures of ``test_browser``).
"""

from __future__ import annotations

import re
import uuid

import pytest
from test_browser import ARTIFACTS, app_url, browser  # noqa: F401 (pytest fixtures)

pytestmark = pytest.mark.browser


@pytest.mark.slow
def test_checkup_of_two_regions_shows_the_region_table(browser, app_url, tmp_path):  # noqa: F811
    from app_server import cache_files, scalp_photo

    ARTIFACTS.mkdir(exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    crown = scalp_photo(tmp_path / "0013_A2LEBJJDE00060O_1606550825417_3_TH.jpg", {"hair_loss": 3}, seed=5)
    back = scalp_photo(tmp_path / f"scalp-{tag}_BH.jpg", {"dandruff": 3}, seed=6)
    page = browser.new_page(viewport={"width": 1280, "height": 1100}, locale="ko-KR")
    page.goto(app_url)
    page.wait_for_selector("text=이미지 업로드 시 참고사항", timeout=60_000)

    page.get_by_text("부위별 검진 (최대 4곳)").click()
    page.get_by_text("머리의 여러 부위를 한 번에 확인합니다").wait_for(timeout=30_000)
    page.locator("#scalp-regions-upload input[type=file]").set_input_files([str(crown), str(back)])
    page.get_by_text("사진 2장을 받았습니다").wait_for(timeout=90_000)
    assert page.locator("#scalp-region-slot-0").is_visible() and page.locator("#scalp-region-slot-1").is_visible()
    assert not page.locator("#scalp-region-slot-2").is_visible()
    assert page.get_by_label("사진 1의 부위").input_value() == "TH 정수리", "the region code in the file name"
    assert page.get_by_label("사진 2의 부위").input_value() == "BH 후두부"
    assert not [f for f in cache_files() if f.name in (crown.name, back.name)], "the uploads stayed on disk"
    page.screenshot(path=str(ARTIFACTS / "browser_regions_1_upload.png"), full_page=True)

    # the second photo is of the left temporal region after all
    page.get_by_label("사진 2의 부위").click()
    page.get_by_role("option", name="LH 좌측두", exact=True).click()
    page.get_by_text("진단된 부위: TH 정수리, LH 좌측두").wait_for(timeout=30_000)

    page.get_by_role("tab", name="③ 진단 결과 · Diagnosis").click()
    page.get_by_text("부위별 결과").wait_for(timeout=30_000)
    table = page.locator("table", has_text="TH 정수리")
    table.first.wait_for(timeout=30_000)
    headers = table.first.locator("th").all_inner_texts()
    assert headers[1:3] == ["TH 정수리", "LH 좌측두"] and "전체" in headers[3]
    assert table.first.locator("tbody tr").count() == 6
    # the note names where a symptom is worst, e.g. "탈모: 정수리에서 중증"
    page.locator("p:visible", has_text=re.compile(r": (정수리|좌측두)에서 ")).first.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "browser_regions_2_result.png"), full_page=True)
    page.close()
