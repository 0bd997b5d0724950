"""The "Why?" heatmaps (``scalp_models.explain``, ``ui.explain_view``): Grad-CAM that follows the evidence.

- A tiny model trained on generated photos whose symptom (모낭사이홍반 redness) sits only in the top-left
  quadrant puts most of its heatmap there on held-out photos (chance: 0.25); the same recipe with the
  evidence in the bottom-right quadrant does not, so a heatmap that ignored the photo would fail.
- The input is exactly the diagnoser's (same probabilities as ``ScalpDiagnoser`` for all six tiny models,
  the grayscale and the larger one included), the shortcut gradient equals a full backward pass, and
  the grid is stretched over the whole photo.
- ``/explain`` over real HTTP (``gradio_client`` against the in-process app): the answer, the heatmap
  PNG (deleted from the server after its time), clear errors, and the README's example run verbatim.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scalp_core import get_symptom
from scalp_models.explain import (
    ServedViews,
    cam_on_photo,
    explain,
    grad_cam,
    overlay,
    quadrant_masses,
    serving_pixels,
    shrink_grid,
    textbook_grad_cam,
)
from synthetic.render import ALL_HEALTHY, render_scalp

README = Path(__file__).resolve().parents[1] / "README.md"

# ----------------------------------------------------------------------------- the quadrant test

QUADRANT_SYMPTOM = "interfollicular_erythema"
PHOTO_SIZE = (160, 120)  # not square: the model sees it squashed, the heatmap is stretched back
MODEL_SIZE = 128  # an 8×8 grid
BOXES = {"tl": (0, 0, 80, 60), "br": (80, 60, 160, 120)}


def quadrant_photo(seed: int, quadrant: str | None) -> Image.Image:
    """A healthy generated scalp; with ``quadrant``, that quarter shows the same scalp at 중증 redness."""
    healthy = render_scalp(ALL_HEALTHY, np.random.default_rng(seed), PHOTO_SIZE)
    if quadrant is None:
        return healthy
    sick = render_scalp({**ALL_HEALTHY, QUADRANT_SYMPTOM: 3}, np.random.default_rng(seed), PHOTO_SIZE)
    box = BOXES[quadrant]
    healthy.paste(sick.crop(box), box[:2])
    return healthy


def quadrant_set(n: int, quadrant: str, first_seed: int) -> tuple[list[Image.Image], list[int]]:
    """Half healthy (class 0), half with the evidence in ``quadrant`` (class 2, 중증)."""
    photos = [quadrant_photo(first_seed + i, quadrant if i % 2 else None) for i in range(n)]
    return photos, [2 if i % 2 else 0 for i in range(n)]


def train_quadrant_model(quadrant: str, n: int = 160, epochs: int = 8):
    """A tiny EfficientNet trained (AdamW, CPU) on inputs made exactly as served; ~10–20 s on one core."""
    from scalp_models.modeling import create_model
    from scalp_models.processing import create_image_processor

    spec = get_symptom(QUADRANT_SYMPTOM)
    torch.manual_seed(0)
    model = create_model(spec, "tiny", image_size=MODEL_SIZE)
    processor = create_image_processor(spec, "tiny", image_size=MODEL_SIZE)
    photos, labels = quadrant_set(n, quadrant, first_seed=0)
    pixels = torch.cat([serving_pixels(model, processor, photo) for photo in photos])
    targets = torch.tensor(labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(pixels))
        for start in range(0, len(pixels), 32):
            batch = order[start:start + 32]
            loss = torch.nn.functional.cross_entropy(model(pixel_values=pixels[batch]).logits, targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval(), processor


def heldout_masses(model, processor, quadrant: str) -> tuple[float, list[dict]]:
    """(accuracy on held-out photos, the quadrant masses of the heatmaps of the held-out 중증 photos)."""
    photos, labels = quadrant_set(24, quadrant, first_seed=50_000)
    correct, masses = 0, []
    for photo, label in zip(photos, labels):
        explanation = explain(model, processor, photo)
        correct += explanation.predicted == label
        if label == 2:
            masses.append(quadrant_masses(explanation.cam, photo.size))
    return correct / len(photos), masses


@pytest.mark.slow
def test_heatmap_mass_sits_where_the_evidence_was(one_torch_thread):
    model, processor = train_quadrant_model("tl")
    accuracy, masses = heldout_masses(model, processor, "tl")
    assert accuracy >= 0.75, f"the tiny model did not learn the quadrant task (held-out accuracy {accuracy:.2f})"
    top_left = [m["tl"] for m in masses]
    assert np.mean(top_left) >= 0.5, f"heatmap mass in the evidence quadrant: {np.round(top_left, 2)}"
    assert np.median(top_left) >= 0.5

    # The same recipe with the evidence elsewhere: the same criterion must fail, so a heatmap that did not
    # follow the photo (a fixed blob, a centre bias, a mix-up of rows and columns) would be caught.
    model, processor = train_quadrant_model("br")
    accuracy, masses = heldout_masses(model, processor, "br")
    assert accuracy >= 0.75
    assert np.mean([m["tl"] for m in masses]) < 0.5, f"top-left mass, evidence bottom-right: {masses}"
    assert np.mean([m["br"] for m in masses]) >= 0.5


# ----------------------------------------------------------------------------- the computation


@pytest.fixture(scope="module")
def tiny_models():
    from tiny_models import tiny_classifiers

    return tiny_classifiers()


@pytest.fixture(scope="module")
def photo():
    return render_scalp({"dandruff": 3, "hair_loss": 2}, np.random.default_rng(7), (320, 240))


def test_the_explained_input_is_the_served_one(tiny_models, photo):
    """Same probabilities as the diagnoser for all six models (gray unfolded, gray folded, 96 px, colour),
    from the photo and from the views a session keeps instead of the photo."""
    from scalp_models.diagnoser import ScalpDiagnoser

    served = ScalpDiagnoser(tiny_models, backend="torch").predict_proba([photo])
    views = ServedViews.of(photo, tiny_models)
    assert views.photo_size == photo.size and 0 < views.nbytes < 200_000
    for key, (model, processor) in tiny_models.items():
        from_photo = explain(model, processor, photo, symptom=key)
        from_views = explain(model, processor, views.pixels(key, model, processor), symptom=key)
        np.testing.assert_allclose(from_photo.probabilities, served[key][0], atol=1e-6, err_msg=key)
        assert torch.equal(views.pixels(key, model, processor), serving_pixels(model, processor, photo))
        np.testing.assert_array_equal(from_views.cam, from_photo.cam)
        assert from_photo.target == from_photo.predicted == int(np.argmax(served[key][0]))


def test_grad_cam_equals_a_full_backward_pass_and_leaves_the_model_alone(tiny_models, photo):
    model, processor = tiny_models["hair_loss"]
    pixels = serving_pixels(model, processor, photo)
    for target in range(3):
        cam, logits = grad_cam(model, pixels, target)
        assert cam.max() == 1.0 or cam.max() == 0.0
        np.testing.assert_allclose(cam, textbook_grad_cam(model, pixels, target), atol=1e-5)
        with torch.inference_mode():
            torch.testing.assert_close(logits, model(pixel_values=pixels).logits)
    assert all(p.grad is None for p in model.parameters()), "explaining must not leave gradients on the shared model"
    assert torch.is_grad_enabled()  # the caller's autograd mode is restored (the probe turns it on midway)
    with torch.no_grad():
        np.testing.assert_array_equal(grad_cam(model, pixels)[0], cam)
        assert not torch.is_grad_enabled()
    with torch.inference_mode():  # e.g. called next to the diagnoser's own inference code
        np.testing.assert_array_equal(grad_cam(model, pixels)[0], cam)


def test_bad_requests_are_refused(tiny_models, photo):
    model, processor = tiny_models["dandruff"]
    pixels = serving_pixels(model, processor, photo)
    with pytest.raises(ValueError, match="one image"):
        grad_cam(model, torch.cat([pixels, pixels]))
    with pytest.raises(ValueError, match="not one of the model's 3 classes"):
        grad_cam(model, pixels, target=3)


def test_the_grid_is_stretched_over_the_whole_photo():
    cam = np.zeros((4, 4), np.float32)
    cam[0, 0] = 1.0  # top-left cell
    heat = cam_on_photo(cam, (640, 480))
    assert heat.shape == (480, 640)
    rows, cols = np.unravel_index(np.argmax(heat), heat.shape)
    assert rows < 120 and cols < 160  # inside the photo's top-left cell (a quarter of each side)
    assert quadrant_masses(cam, (640, 480))["tl"] > 0.9
    picture = overlay(Image.new("RGB", (1280, 960), "white"), cam)
    assert picture.size == (480, 360)  # shrunk to 480 px, aspect kept
    pixels = np.asarray(picture)
    assert (255 - pixels[:40, :40].astype(int)).max() > 60  # coloured where the heat is
    assert (pixels[-40:, -40:] == 255).all()  # cold areas show the photo as it is
    assert shrink_grid(np.ones((19, 19))).shape == (19, 19)
    assert shrink_grid(np.ones((64, 48))).shape == (32, 24)


# ----------------------------------------------------------------------------- the endpoint over HTTP


@pytest.fixture(scope="module")
def server():
    pytest.importorskip("gradio_client")
    from app_server import running_app

    return running_app()


@pytest.fixture()
def client(server, tmp_path):
    from gradio_client import Client

    return Client(server.url, verbose=False, download_files=str(tmp_path / "downloads"))


def test_explain_endpoint_answers_with_a_heatmap_file_that_is_deleted_soon(server, client, tmp_path):
    from app_server import scalp_photo
    from gradio_client import handle_file

    import app

    photo = scalp_photo(tmp_path / "scalp.jpg", {"dandruff": 3})
    answer = client.predict(handle_file(str(photo)), "dandruff", api_name="/explain")
    assert answer["symptom"] == "dandruff" and answer["predicted"] in (0, 1, 2)
    assert answer["label"] == app.SERVICE.symptom_models()["dandruff"][0].config.id2label[answer["predicted"]]
    assert abs(sum(answer["probabilities"]) - 1) < 1e-6
    # the tiny test models see 64 px: a 4×4 grid, values in [0, 1] with the peak at 1 (or all 0)
    raw = np.asarray(answer["raw"])
    assert raw.shape == tuple(answer["grid"]) == (4, 4) and answer["input_size"] == 64
    assert raw.min() >= 0 and raw.max() <= 1 and raw.max() in (0.0, 1.0)
    heatmap = Image.open(answer["heatmap"])  # downloaded by gradio_client within the call
    assert heatmap.format == "PNG" and heatmap.size == (480, 360)
    # the server's copy: in Gradio's cache under an unguessable name, until the sweeper deletes it
    served = [p for p in app.EXPLAIN.heatmaps.pending if p.exists()]
    assert served and all(re.fullmatch(r"scalp-explain-[0-9a-f]{32}", p.parent.name) for p in served)
    assert not any(p.name == photo.name for p in _server_files()), "the uploaded photo stayed on the server"
    app.EXPLAIN.heatmaps.sweep(now=time.monotonic() + app.EXPLAIN.heatmaps.ttl_s + 1)
    assert not any(p.exists() for p in served) and not any(p.parent.exists() for p in served)
    assert not any(str(p) in files for p in served for files in app.demo.temp_file_sets)


def test_heatmap_files_are_deleted_by_the_sweeper_thread(tmp_path):
    from ui.explain_view import HeatmapFiles

    files = HeatmapFiles(ttl_s=0.5, root=tmp_path)
    path = files.write(Image.new("RGB", (8, 8)))
    assert path.is_file()
    deadline = time.monotonic() + 30
    while path.parent.exists() and time.monotonic() < deadline:  # the folder goes last (rmtree)
        time.sleep(0.2)
    assert not path.exists() and not path.parent.exists() and files.pending == []


def test_explain_endpoint_errors_are_clear(server, client, tmp_path):
    from app_server import scalp_photo
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    photo = scalp_photo(tmp_path / "scalp.jpg")
    with pytest.raises(AppError, match="알 수 없는 증상.*Unknown symptom 'baldness'.*hair_loss"):
        client.predict(handle_file(str(photo)), "baldness", api_name="/explain")
    bad = tmp_path / "not_a_photo.jpg"
    bad.write_text("plain text renamed to .jpg")
    with pytest.raises(AppError, match="이미지 파일이 아닙니다"):
        client.predict(handle_file(str(bad)), "dandruff", api_name="/explain")
    # the Korean name is accepted too, and the answer names the key
    assert client.predict(handle_file(str(photo)), "탈모", api_name="/explain")["symptom"] == "hair_loss"


def test_explain_says_when_the_models_are_not_ready(tmp_path):
    import gradio as gr

    from ui.config import AppConfig
    from ui.explain_view import ExplainHandlers, HeatmapFiles
    from ui.service import ScalpService
    from ui.uploads import UploadStore

    photo = tmp_path / "scalp.png"
    render_scalp({}, np.random.default_rng(0), (320, 240)).save(photo)
    store = UploadStore({str(photo)})
    service = ScalpService(AppConfig(models=str(tmp_path / "no-models-here")))  # loading fails for real
    handlers = ExplainHandlers(service, store, HeatmapFiles(root=tmp_path / "cache"))
    with pytest.raises(gr.Error, match="모델 준비 중.*models are still being prepared"):
        handlers.explain({"path": str(photo)}, "dandruff")
    assert not photo.exists(), "the upload must be deleted even when nothing could be explained"


def test_why_button_for_one_photo_and_for_a_checkup(server, tmp_path):
    """The panel's handler in-process (the browser test clicks it): the diagnosis' own classes, the
    photo's served views instead of the photo, inline overlays, and forgetting on a new result."""
    from app_server import as_upload, scalp_photo

    import app
    from ui.regions import RegionPhoto
    from ui.session import Session

    def no_progress(*args, **kwargs):
        return None

    for name in ("a", "b"):  # the app deletes an upload's folder with it, as Gradio makes one per upload
        (tmp_path / name).mkdir()
    photo = scalp_photo(tmp_path / "a" / "a.jpg", {"dandruff": 3}, seed=1)
    files_before = set(_server_files())
    session = app.EVENTS.take_photo(Session(), as_upload(photo), "ko", no_progress)
    assert session.diagnosis is not None and session.served_views is not None
    assert session.served_views.photo_size == (640, 480)
    expected = [r.symptom for r in session.diagnosis if r.predicted >= 1]
    session, html = app.EXPLAIN.on_why(session, "auto", "한국어")
    assert [s.symptom for s in session.explanations] == expected
    assert all(s.target == session.diagnosis[s.symptom].predicted for s in session.explanations)
    assert html.count("data:image/jpeg;base64,") == len(expected) and "Grad-CAM" in html
    session, html = app.EXPLAIN.on_why(session, "hair_loss", "English")
    assert [s.symptom for s in session.explanations] == ["hair_loss"]
    assert "Hair loss (탈모): " in html and Image.open(io.BytesIO(session.explanations[0].jpeg)).size == (480, 360)
    assert set(_server_files()) <= files_before, "the panel must not write files"
    assert app.EXPLAIN.on_why(session.with_photo(b"", None, None), "auto", "ko")[0].explanations == ()

    # a check-up: every symptom on its worst region; a picked symptom on every diagnosed region
    second = scalp_photo(tmp_path / "b" / "b.jpg", {"hair_loss": 3}, seed=2)
    photos = (RegionPhoto("TH", session), RegionPhoto("BH", app.EVENTS.take_photo(Session(), as_upload(second),
                                                                                     "ko", no_progress)))
    checkup = Session().with_region_photos(photos)
    checkup, html = app.EXPLAIN.on_why(checkup, "fine_scale", "한국어")
    assert [(s.region, s.symptom) for s in checkup.explanations] == [("TH", "fine_scale"), ("BH", "fine_scale")]
    assert "TH 정수리 · 미세각질" in html and "BH 후두부 · 미세각질" in html
    checkup, _ = app.EXPLAIN.on_why(checkup, "auto", "ko")
    assert [(s.region, s.symptom) for s in checkup.explanations] == [
        (s.worst_region, s.symptom) for s in checkup.overall if s.predicted >= 1]


def test_readme_explain_example(server, tmp_path, capsys):
    """The README's /explain example, run as written there (only the URL and the photo are given)."""
    from app_server import scalp_photo

    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- explain example -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "README.md lacks the /explain example (marked <!-- explain example -->)"
    photo = scalp_photo(tmp_path / "my_scalp.jpg", {"interfollicular_erythema": 3})
    code = compile(match.group(1), "README.md /explain example", "exec")
    exec(code, {"url": server.url, "photo": photo})  # noqa: S102 - this repository's own README
    out = capsys.readouterr().out
    assert "interfollicular_erythema" in out and "heatmap" in out


def _server_files() -> list[Path]:
    from app_server import cache_files

    return cache_files()
