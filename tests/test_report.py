"""The downloadable report: a one-page PDF made in memory from a real diagnosis (tiny models), opened
with PDFium (``pypdfium2``: the engine of Chrome's PDF viewer) and checked for its text (Korean severities,
scalp type, guide, products, the notice) and the embedded thumbnail(s); a check-up report shows every
region. The page is also rendered to ``test-artifacts/report_*.png`` for a person to look at. The browser
download is in ``tests/test_browser_history.py``.

(pypdf is not used: it reads fpdf2's two-byte CID codes of a font subset with more than 255 glyphs as
one-byte codes and garbles the text, while PDFium, pdf.js and Acrobat read them as written.)
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from pathlib import Path

import pytest
from PIL import Image

from scalp_core.symptoms import severity_name
from ui.i18n import t
from ui.report import build_report_pdf, font_path, printable, report_data
from ui.session import Session

pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 is a test dependency (requirements-dev.txt)")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
DATE = "2025-05-01T09:30:00+09:00"


def _flat(text: str) -> str:
    """Text without whitespace (the report wraps lines wherever they are full)."""
    return "".join(text.split())


def _read(pdf: bytes, artifact: str | None = None):
    """(the page's image sizes in pixels, its text without whitespace)."""
    from pypdfium2 import raw

    document = pdfium.PdfDocument(pdf)
    assert len(document) == 1, "the report is one page"
    page = document[0]
    text = page.get_textpage().get_text_range()
    sizes = sorted(tuple(obj.get_px_size()) for obj in page.get_objects(filter=[raw.FPDF_PAGEOBJ_IMAGE]))
    if artifact:
        ARTIFACTS.mkdir(exist_ok=True)
        page.render(scale=1.5).to_pil().save(ARTIFACTS / artifact)
    return sizes, _flat(text)


@pytest.fixture(scope="module")
def ui_app():
    from app_server import running_app

    import app

    running_app()
    return app


def _diagnose(ui_app, tmp_path, severities, seed=0, session=None):
    from app_server import as_upload, scalp_photo

    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    photo = scalp_photo(folder / "scalp.jpg", severities, seed=seed)
    session = session or Session().with_answers("지성", ["비듬"], ["샴푸"])
    state = ui_app.EVENTS.on_upload(as_upload(photo), session, "한국어")[0]
    assert state.diagnosis is not None, state.diagnosis_error
    return state


def test_the_korean_report_holds_severities_type_guide_products_notice_and_photo(ui_app, tmp_path):
    session = _diagnose(ui_app, tmp_path, {"dandruff": 3, "excess_sebum": 2})
    data = report_data(session, "ko", ui_app.SERVICE, DATE)
    assert data.products, "the survey chose 샴푸, so the report lists shampoo picks"
    sizes, text = _read(build_report_pdf(data), "report_ko.png")
    assert "두피진단리포트" in text and "2025-05-0109:30" in text
    for result in session.diagnosis:
        assert _flat(f"{result.ko}") in text
        assert _flat(severity_name(int(result.predicted), lang="ko")) in text
    for scalp_type in session.scalp_type.types:
        assert _flat(scalp_type) in text
    assert _flat(printable(t("medical_notice", "ko"))) in text, "the not-a-medical-device notice"
    assert "관리가이드" in text and "추천제품" in text
    for line in data.products:
        assert _flat(line) in text
    demo_banner = _flat(t("demo_banner", "ko"))[-10:]
    assert (demo_banner in text) == ui_app.SERVICE.uses_synthetic_models, "demo models are said to be demo models"
    assert _flat(session.scalp_type.note("ko")) in text
    assert sizes == [Image.open(io.BytesIO(session.preview)).size], "the photo's thumbnail is embedded"


def test_the_english_report(ui_app, tmp_path):
    session = _diagnose(ui_app, tmp_path, {"hair_loss": 3}, seed=4)
    _, text = _read(build_report_pdf(report_data(session, "en", ui_app.SERVICE, DATE)), "report_en.png")
    assert "Scalpcheckreport" in text and "Notamedicaldevice" in text
    assert _flat(printable(t("medical_notice", "en"))) in text
    assert _flat(severity_name(int(session.diagnosis["hair_loss"].predicted), lang="en")) in text


def test_a_check_up_report_shows_every_region(ui_app, tmp_path):
    from ui.regions import RegionPhoto

    first = _diagnose(ui_app, tmp_path, {"dandruff": 3}, seed=1)
    second = _diagnose(ui_app, tmp_path, {"hair_loss": 3}, seed=2)
    small = io.BytesIO()
    Image.open(io.BytesIO(second.preview)).resize((200, 150)).save(small, format="JPEG")
    photos = (RegionPhoto("TH", Session(preview=first.preview, diagnosis=first.diagnosis)),
              RegionPhoto("BH", Session(preview=small.getvalue(), diagnosis=second.diagnosis)))
    session = first.with_region_photos(photos)
    sizes, text = _read(build_report_pdf(report_data(session, "ko", ui_app.SERVICE, DATE)), "report_regions.png")
    assert "TH정수리" in text and "BH후두부" in text
    assert sizes == sorted([Image.open(io.BytesIO(first.preview)).size, (200, 150)])
    if any(item.predicted > 0 for item in session.overall):
        assert "가장심한부위" in text


def test_the_report_button_hands_the_pdf_to_the_browser_without_a_file(ui_app, tmp_path):
    from app_server import cache_files

    session = _diagnose(ui_app, tmp_path, {"fine_scale": 2}, seed=5)
    before = set(cache_files())
    payload, status = ui_app.HISTORY.on_report(session, "한국어", DATE)
    document = json.loads(payload)
    pdf = base64.b64decode(document["data"])
    assert document["mime"] == "application/pdf" and document["name"] == "두피리포트_2025-05-01.pdf"
    assert pdf.startswith(b"%PDF") and "리포트를 만들었습니다" in status
    assert not [f for f in set(cache_files()) - before if f.suffix == ".pdf"], "no report file on the server"
    # before a diagnosis: a clear message, no download
    assert report_data(Session(), "ko", ui_app.SERVICE, DATE) is None
    payload, status = ui_app.HISTORY.on_report(Session(), "English", DATE)
    assert payload == "" and status == t("report_need_result", "en")


def test_the_korean_font_comes_from_a_pinned_package():
    """A Hugging Face Space has no Korean system font: the font must come from requirements.txt."""
    path = Path(font_path())
    assert path.is_file() and "site-packages" in path.parts or "dist-packages" in path.parts
    pins = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert any(line.startswith("pylopdf-fonts-ko==") for line in pins)
    assert any(line.startswith("fpdf2==") for line in pins)
