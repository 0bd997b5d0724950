"""The app in a real browser: Debian Chromium driven by Playwright (never ``playwright install``).

Uploads a generated scalp photo, answers the survey, and checks that the probabilities
and at least one product card appear; screenshots go to ``test-artifacts/browser_*.png``.
Skips with a reason when ``/usr/bin/chromium`` or Playwright is absent.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def app_url():
    from app_server import running_app

    return running_app().url


def _select_options(page, label_text: str, options: list[str]):
    """Open a Gradio dropdown by its label and pick options by their visible text."""
    box = page.get_by_label(label_text)
    for option in options:
        box.click()
        page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


@pytest.mark.slow
def test_upload_survey_diagnosis_products(browser, app_url, tmp_path):
    from app_server import cache_files, scalp_photo

    ARTIFACTS.mkdir(exist_ok=True)
    photo = scalp_photo(tmp_path / f"scalp-{uuid.uuid4().hex}.jpg", {"excess_sebum": 3, "fine_scale": 1})
    page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="ko-KR")
    page.goto(app_url)
    page.wait_for_selector("text=이미지 업로드 시 참고사항", timeout=60_000)
    page.get_by_text("의료 진단이 아닙니다").first.wait_for()  # the notice is always there

    # ① upload
    page.locator("input[type=file]").first.set_input_files(str(photo))
    page.get_by_text("이미지가 성공적으로 업로드되었습니다").wait_for(timeout=90_000)
    page.screenshot(path=str(ARTIFACTS / "browser_1_upload.png"), full_page=True)
    assert not [f for f in cache_files() if f.name == photo.name], "the browser's upload stayed on disk"

    # ② survey
    page.locator("button:visible", has_text="다음 (Next)").click()
    page.get_by_text("질문 1. 당신의 두피 타입을 선택하세요").first.wait_for()
    _select_options(page, "■ 질문 1. 당신의 두피 타입을 선택하세요", ["(지성)머리를 감은지 하루 이내에 두피가 기름집니다."])
    _select_options(page, "■ 질문 2. 당신의 두피 고민/질환 증상이 무엇인가요? (복수 선택 가능)", ["피지과다"])
    _select_options(page, "■ 질문 3. 추천 받기 원하는 제품은 무엇인가요? (복수 선택 가능)", ["샴푸", "헤어토닉/두피토닉"])
    page.get_by_role("button", name="제출 (Submit)").click()
    page.get_by_text("당신의 두피가 🌟 지성 타입의 👤 피지과다 증상이 있다고 선택하셨습니다.").wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "browser_2_survey.png"), full_page=True)

    # ③ diagnosis: six probability boxes and the note
    page.get_by_role("tab", name="③ 진단 결과 · Diagnosis").click()
    page.get_by_text("상태분석 노트").wait_for(timeout=30_000)
    page.get_by_text("두피 타입:").first.wait_for()
    page.wait_for_timeout(500)
    assert page.get_by_text("%").count() >= 6
    page.screenshot(path=str(ARTIFACTS / "browser_3_diagnosis.png"), full_page=True)

    # ④ care guide, ⑤ products
    page.locator("button:visible", has_text="다음 (Next)").click()
    # The guide body's bold section heads; the diagnosis tab (now hidden) also mentions 원인 in prose.
    page.locator("strong:visible", has_text="원인:").first.wait_for(timeout=60_000)
    assert page.locator("strong:visible", has_text="관리방안:").count() == 1
    page.screenshot(path=str(ARTIFACTS / "browser_4_guide.png"), full_page=True)
    page.get_by_role("tab", name="⑤ 추천 제품 · Products").click()
    page.locator(".scalp-card").first.wait_for(timeout=30_000)
    assert page.locator(".scalp-card").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "browser_5_products.png"), full_page=True)
    page.close()


def test_bad_upload_keeps_survey_answers_in_the_browser(browser, app_url, tmp_path):
    bad = tmp_path / "not_a_photo.jpg"
    bad.write_text("plain text renamed to .jpg")
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    page.wait_for_selector("text=이미지 업로드 시 참고사항", timeout=60_000)
    page.get_by_role("tab", name="② 설문 · Survey").click()
    _select_options(page, "■ 질문 1. 당신의 두피 타입을 선택하세요", ["(건성)두피에 건조함이나 당김을 느낍니다."])
    page.get_by_text("당신의 두피가 🌟 건성 타입이고").wait_for(timeout=30_000)
    page.get_by_role("tab", name="① 사진 업로드 · Photo").click()
    page.locator("input[type=file]").first.set_input_files(str(bad))
    page.get_by_text("이미지 파일이 아닙니다").first.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "browser_6_bad_upload.png"), full_page=True)
    page.get_by_role("tab", name="② 설문 · Survey").click()
    assert page.get_by_text("당신의 두피가 🌟 건성 타입이고").is_visible()
    page.close()


@pytest.mark.slow
def test_non_scalp_photo_waits_for_diagnose_anyway(browser, app_url, tmp_path):
    """A face photo is not diagnosed until "그래도 진단하기" is pressed; the result then has the banner."""
    from PIL import Image
    from skimage import data

    import app

    assert app.SERVICE.wait_photo_check(timeout=180), "the photo check did not load within 3 minutes"
    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    page.wait_for_selector("text=이미지 업로드 시 참고사항", timeout=60_000)
    page.locator("input[type=file]").first.set_input_files(str(photo))
    insist = page.get_by_role("button", name="그래도 진단하기 (Diagnose anyway)")
    insist.wait_for(timeout=60_000)
    page.get_by_role("tab", name="③ 진단 결과 · Diagnosis").click()
    page.get_by_text("사진 확인을 통과하지 못해").wait_for(timeout=30_000)
    page.get_by_role("tab", name="① 사진 업로드 · Photo").click()
    insist.click()
    page.get_by_text("요청에 따라 이 사진으로 진단했습니다").wait_for(timeout=60_000)
    assert not insist.is_visible()
    page.get_by_role("tab", name="③ 진단 결과 · Diagnosis").click()
    page.get_by_text("낮은 신뢰도 (low confidence)").first.wait_for(timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser_7_low_confidence.png"), full_page=True)
    page.close()
