"""Bad and unusual uploads, sent through ``gradio_client`` to the app served on 127.0.0.1.

Each refused file gets a clear Korean / English message; each unusual but valid one is
diagnosed correctly (converted to RGB, first frame, upright, downscaled); after every case
the server still answers a valid request. The UI's upload handler keeps the session's
survey answers when an upload is refused.
"""

from __future__ import annotations

import io
import uuid

import numpy as np
import pytest

pytest.importorskip("gradio_client")

from app_server import as_upload, running_app, scalp_photo  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

from scalp_core.symptoms import SYMPTOM_KEYS  # noqa: E402
from ui.session import Session  # noqa: E402


@pytest.fixture(scope="module")
def client():
    return Client(running_app().url, verbose=False)


@pytest.fixture(scope="module")
def scalp_rgb():
    from synthetic.render import render_scalp

    return render_scalp({"dandruff": 2}, np.random.default_rng(7))


def _diagnose(client, path):
    return client.predict(handle_file(str(path)), "지성", [], [], api_name="/diagnose")


def _still_serving(client, tmp_path):
    out = _diagnose(client, scalp_photo(tmp_path / f"ok-{uuid.uuid4().hex}.jpg"))
    assert set(out["symptoms"]) == set(SYMPTOM_KEYS)


# ---- refused files: (file maker, words the message must contain) ---------------------------------
def _zero_bytes(path, _):
    path.write_bytes(b"")


def _text_as_jpg(path, _):
    path.write_text("this is a text file, not a photo\n" * 20)


def _truncated_jpeg(path, img):
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def _bomb_png(path, _):
    Image.new("1", (30000, 30000)).save(path)  # 900 MP declared, ~100 kB on disk


def _bomb_png_100mp(path, _):
    Image.new("1", (10000, 10000)).save(path)  # over our 64 MP limit, under Pillow's own guard


def _one_pixel(path, _):
    Image.new("RGB", (1, 1), (200, 150, 150)).save(path)


REFUSED = [
    ("zero.jpg", _zero_bytes, ("빈 파일", "empty")),
    ("text.jpg", _text_as_jpg, ("이미지 파일이 아닙니다", "not an image")),
    ("truncated.jpg", _truncated_jpeg, ("손상", "damaged")),
    ("bomb.png", _bomb_png, ("900 메가픽셀", "megapixels")),
    ("bomb100.png", _bomb_png_100mp, ("10000×10000", "100 megapixels")),
    ("tiny.png", _one_pixel, ("너무 작습니다", "too small")),
]


@pytest.mark.parametrize("name,make,words", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_with_a_clear_message_and_the_server_keeps_serving(client, tmp_path, scalp_rgb, name, make, words):
    path = tmp_path / name
    make(path, scalp_rgb)
    with pytest.raises(AppError) as info:
        _diagnose(client, path)
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert str(tmp_path) not in message  # no path in what the client sees
    _still_serving(client, tmp_path)


# ---- converted / handled files ---------------------------------------------------------------------
def _save(img, path, **kw):
    img.save(path, **kw)
    return path


CONVERTED = [
    ("cmyk.jpg", lambda img, p: _save(img.convert("CMYK"), p, format="JPEG"), "CMYK", (640, 480)),
    ("i16.png", lambda img, p: _save(Image.fromarray(np.asarray(img.convert("L"), dtype=np.uint16) * 257), p),
     "I;16", (640, 480)),
    ("gray.png", lambda img, p: _save(img.convert("L"), p), "L", (640, 480)),
    ("rgba.png", lambda img, p: _save(img.convert("RGBA"), p), "RGBA", (640, 480)),
    ("palette.png", lambda img, p: _save(img.convert("P", palette=Image.Palette.ADAPTIVE), p), "P", (640, 480)),
    ("photo.webp", lambda img, p: _save(img, p, format="WEBP"), "RGB", (640, 480)),
]


@pytest.mark.parametrize("name,make,mode,size", CONVERTED, ids=[c[0] for c in CONVERTED])
def test_unusual_modes_are_converted_and_diagnosed(client, tmp_path, scalp_rgb, name, make, mode, size):
    out = _diagnose(client, make(scalp_rgb, tmp_path / name))
    assert out["input"]["converted_from"] == mode
    assert out["input"]["size"] == list(size)
    assert set(out["symptoms"]) == set(SYMPTOM_KEYS)


def test_sixteen_bit_is_scaled_not_clipped(tmp_path, scalp_rgb):
    from ui.image_input import load_image

    gray = np.asarray(scalp_rgb.convert("L"), dtype=np.uint16)
    path = tmp_path / "i16.png"
    Image.fromarray(gray * 257).save(path)
    rgb = np.asarray(load_image(path).image)
    assert np.abs(rgb[..., 0].astype(int) - gray).max() <= 1


def test_animated_gif_uses_the_first_frame(client, tmp_path):
    from ui.image_input import load_image

    frames = [Image.new("RGB", (96, 64), c) for c in ((200, 40, 40), (40, 200, 40), (40, 40, 200))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert tuple(np.asarray(load_image(path).image)[10, 10]) == pytest.approx((200, 40, 40), abs=8)
    out = _diagnose(client, path)
    assert out["input"]["frames"] == 3 and out["input"]["size"] == [96, 64]


def test_exif_rotated_phone_photo_is_turned_upright(client, tmp_path, scalp_rgb):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° CW to view": stored landscape, shown portrait
    path = tmp_path / "phone.jpg"
    scalp_rgb.save(path, format="JPEG", exif=exif)
    out = _diagnose(client, path)
    assert out["input"]["rotated"] is True
    assert out["input"]["size"] == [480, 640]


@pytest.mark.slow
def test_8000x6000_photo_is_downscaled(client, tmp_path, scalp_rgb):
    path = tmp_path / "huge.jpg"
    scalp_rgb.resize((8000, 6000)).save(path, format="JPEG", quality=70)
    out = _diagnose(client, path)
    assert out["input"]["original_size"] == [8000, 6000]
    assert out["input"]["downscaled"] is True and out["input"]["size"] == [800, 600]
    _still_serving(client, tmp_path)


def test_jpeg_draft_never_decodes_full_size(tmp_path, scalp_rgb):
    """8000×6000 JPEGs are decoded at a reduced scale by libjpeg (fast, little memory)."""
    import time

    from ui.image_input import load_image

    path = tmp_path / "huge.jpg"
    scalp_rgb.resize((8000, 6000)).save(path, format="JPEG", quality=70)
    start = time.perf_counter()
    loaded = load_image(path)
    assert time.perf_counter() - start < 5
    assert loaded.image.size == (800, 600)


def test_too_small_judges_the_uploaded_size_not_the_shrunk_copy(client, tmp_path, scalp_rgb):
    """A long, narrow photo keeps under 190 px on its short side once shrunk to 800 px; the upload itself
    is 880 px high, so it is not "too small". A photo that really is small still is."""
    wide = tmp_path / "wide.jpg"
    scalp_rgb.resize((4400, 880)).save(wide, format="JPEG", quality=90)
    out = client.predict(handle_file(str(wide)), api_name="/check_photo")
    assert out["input"]["size"] == [800, 160] and out["input"]["original_size"] == [4400, 880]
    assert out["photo_check"]["metrics"]["min_side"] == 880
    assert "too_small" not in out["photo_check"]["metrics"]["quality_reasons"]
    diagnosed = _diagnose(client, wide)
    assert "too_small" not in diagnosed["photo_check"]["metrics"]["quality_reasons"]
    import app  # the UI's upload handler passes the upload's size too

    ui_copy = tmp_path / "wide-ui.jpg"
    ui_copy.write_bytes(wide.read_bytes())
    session = app.EVENTS.on_upload(as_upload(ui_copy), Session(), "한국어")[0]
    assert session.photo_check["metrics"]["min_side"] == 880

    small = tmp_path / "small.jpg"
    scalp_rgb.resize((240, 180)).save(small, format="JPEG", quality=90)
    out = client.predict(handle_file(str(small)), api_name="/check_photo")
    assert out["photo_check"]["metrics"]["min_side"] == 180
    assert "too_small" in out["photo_check"]["metrics"]["quality_reasons"]


@pytest.mark.parametrize(("size", "decoded"), [((4032, 3024), (1008, 756)), ((3024, 4032), (756, 1008)),
                                               ((8000, 6000), (1000, 750)), ((1920, 1080), (960, 540)),
                                               ((640, 480), (640, 480))])
def test_a_phone_photo_is_decoded_at_the_smallest_scale_whose_longer_side_still_fills_max_side(size, decoded):
    """A square request let the shorter side decide: a 4032×3024 photo was decoded at full size for 1600."""
    import io

    from ui.image_input import MAX_SIDE, draft_request, load_image

    buffer = io.BytesIO()
    Image.new("RGB", size, (180, 140, 120)).save(buffer, format="JPEG", quality=90)
    with Image.open(io.BytesIO(buffer.getvalue())) as img:
        img.draft("RGB", draft_request(img.size, MAX_SIDE))
        assert img.size == decoded  # what libjpeg will decode: 1/4 of a 12 MP phone photo's sides
    loaded = load_image(buffer.getvalue())
    assert max(loaded.image.size) == min(MAX_SIDE, max(size))
    assert loaded.image.size[0] / loaded.image.size[1] == pytest.approx(size[0] / size[1], rel=0.01)


def test_refused_upload_keeps_the_session_answers(tmp_path):
    """The UI handler: a bad upload shows the message and leaves the survey answers in the session."""
    import app

    running_app()
    state = Session().with_answers("지성", ["excess_sebum"], ["샴푸"])
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    outputs = app.EVENTS.on_upload(as_upload(bad), state, "한국어")
    new_state = outputs[0]
    assert new_state.answers == ("지성", ("excess_sebum",), ("샴푸",))
    assert new_state.upload_error[0] == "not_image"
    assert not bad.exists(), "the refused upload's temp file is deleted too"
    status = outputs[2]
    assert "이미지 파일이 아닙니다" in status
    summary = outputs[4]
    assert "지성" in summary and "피지과다" in summary


# ---- photo-check warnings: nothing is diagnosed until the user insists ------------------------------
def _ui_outputs(outputs, offset):
    """Name the parts of ``ui.render.render_all`` in a handler's outputs (``offset`` = outputs before them)."""
    rendered = outputs[offset:]
    # counted from the start: features append their own outputs at the end (e.g. the "Why?" panel)
    return {"status": rendered[0], "summary": rendered[2], "header": rendered[3], "table": rendered[11],
            "insist": rendered[16]}


def _upload_path(tmp_path, name):
    """A fresh folder per upload: the handler deletes the file and its folder once empty."""
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    return folder / name


@pytest.fixture(scope="module")
def ui_app():
    import app

    running_app()
    assert app.SERVICE.wait_photo_check(timeout=180), "the photo check did not load within 3 minutes"
    return app


def test_non_scalp_photo_is_diagnosed_only_after_insisting_and_marked_low_confidence(ui_app, tmp_path):
    from skimage import data

    app = ui_app
    path = _upload_path(tmp_path, "astronaut.png")
    Image.fromarray(data.astronaut()).save(path)
    state = Session().with_answers("지성", ["excess_sebum"], ["샴푸"])

    outputs = app.EVENTS.on_upload(as_upload(path), state, "한국어")
    state, ui = outputs[0], _ui_outputs(outputs, 2)
    assert state.photo_check["verdict"] == "not_scalp"
    assert state.diagnosis is None, "a flagged photo waits for the user's choice"
    assert ui["insist"]["visible"] is True and ui["insist"]["value"] == "그래도 진단하기 (Diagnose anyway)"
    assert "그래도 진단하기" in ui["status"] and "두피 확대 사진이 아닌 것 같습니다" in ui["status"]
    assert "아직 진단하지 않았습니다" in ui["header"] and "낮은 신뢰도 (low confidence)" not in ui["header"]

    outputs = app.EVENTS.on_insist(state, "한국어")
    state, ui = outputs[0], _ui_outputs(outputs, 1)
    assert {r.symptom for r in state.diagnosis} == set(SYMPTOM_KEYS)
    assert state.low_confidence is True and state.pending is None
    assert "낮은 신뢰도 (low confidence)" in ui["header"] and "두피 확대 사진이 아닌" in ui["header"]
    assert ui["insist"]["visible"] is False
    assert "%" in ui["table"]
    assert state.answers == ("지성", ("excess_sebum",), ("샴푸",)), "insisting keeps the survey answers"
    assert "지성" in ui["summary"] and "피지과다" in ui["summary"]

    # the banner follows the language; a new good photo clears it and is diagnosed at once
    english = app.EVENTS.render_all(state, "English")
    assert "Low confidence" in english[3] and _ui_outputs(english, 0)["insist"]["value"] == "Diagnose anyway"
    outputs = app.EVENTS.on_upload(
        as_upload(scalp_photo(_upload_path(tmp_path, "good.jpg"), {"excess_sebum": 3, "fine_scale": 1})), state, "한국어")
    state, ui = outputs[0], _ui_outputs(outputs, 2)
    assert state.photo_check["verdict"] == "ok" and state.diagnosis is not None
    assert state.low_confidence is False and "낮은 신뢰도" not in ui["header"]
    assert ui["insist"]["visible"] is False
    assert state.answers == ("지성", ("excess_sebum",), ("샴푸",))


def test_retake_photo_waits_too_and_the_banner_names_the_reason(ui_app, tmp_path, scalp_rgb):
    app = ui_app
    dark = Image.fromarray((np.asarray(scalp_rgb, dtype=np.float32) * 0.3).astype(np.uint8))  # exposure ×0.3
    path = _upload_path(tmp_path, "dark.png")
    dark.save(path)
    outputs = app.EVENTS.on_upload(as_upload(path), Session(), "한국어")
    state, ui = outputs[0], _ui_outputs(outputs, 2)
    assert state.photo_check["verdict"] == "retake" and "too_dark" in state.photo_check["reasons"]
    assert state.diagnosis is None and ui["insist"]["visible"] is True
    assert "이 사진으로 진단하면 결과의 신뢰도가 낮습니다" in ui["status"]
    outputs = app.EVENTS.on_insist(state, "한국어")
    state, ui = outputs[0], _ui_outputs(outputs, 1)
    assert state.diagnosis is not None and state.low_confidence is True
    assert "낮은 신뢰도" in ui["header"] and "너무 어두움" in ui["header"]
