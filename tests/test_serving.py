"""Serving that holds: uploads, files, errors, sessions, limits and recovery, through the real server.

The app is served in-process on 127.0.0.1 (``tests/app_server.py``, tiny models) and driven with
``gradio_client`` or raw HTTP, as a user or an attacker would. Its Gradio cache is a folder of this
test session (``GRADIO_TEMP_DIR`` in ``conftest.py``), so what is left on disk can be listed.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from app_server import as_upload, cache_files, running_app, scalp_photo
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from scalp_core.symptoms import SYMPTOM_KEYS
from tests.openai_stub import start_stub
from ui.config import AppConfig
from ui.errors import public_error
from ui.limits import RateLimiter
from ui.resources import Resource, Unavailable
from ui.session import Session

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server():
    import app

    running = running_app()
    assert app.SERVICE.wait_photo_check(timeout=180), app.SERVICE.photo_check_error
    return running


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url, verbose=False)


def _photo(tmp_path, name=None, **severities):
    return scalp_photo(tmp_path / (name or f"scalp-{uuid.uuid4().hex}.jpg"), severities or {"excess_sebum": 2})


def _raw_call(server, api: str, data: list) -> str:
    """One call through Gradio's REST route (no gradio_client): returns the event stream's data line."""
    with httpx.Client(timeout=120) as http:
        started = http.post(f"{server.url}gradio_api/call/{api}", json={"data": data})
        started.raise_for_status()
        with http.stream("GET", f"{server.url}gradio_api/call/{api}/{started.json()['event_id']}") as stream:
            lines = [line for line in stream.iter_lines() if line.startswith("data:")]
    return json.loads(lines[-1][5:])


# ---- identical uploads, and nothing left on disk ---------------------------------------------------
def test_identical_uploads_from_many_clients_at_once_all_succeed_and_leave_nothing(server, tmp_path):
    photo = _photo(tmp_path, "same.jpg")  # same name and same bytes: Gradio stores them at one path
    before = cache_files()
    results = []

    def call():
        try:
            out = Client(server.url, verbose=False).predict(handle_file(str(photo)), "지성", [], [],
                                                            api_name="/diagnose")
            results.append(sorted(out["symptoms"]) == sorted(SYMPTOM_KEYS))
        except Exception as exc:  # noqa: BLE001 - collected and shown below
            results.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 8
    # failing calls too: a refused survey, a text file, a BMP
    bad_survey = Client(server.url, verbose=False)
    with pytest.raises(AppError, match="설문"):
        bad_survey.predict(handle_file(str(_photo(tmp_path))), "bogus", [], [], api_name="/diagnose")
    text = tmp_path / "text.jpg"
    text.write_text("not a photo")
    bmp = tmp_path / "photo.bmp"
    Image.new("RGB", (64, 64), (180, 120, 110)).save(bmp, format="BMP")
    for path in (text, bmp):
        with pytest.raises(AppError, match="이미지 파일이 아닙니다"):
            bad_survey.predict(handle_file(str(path)), api_name="/check_photo")
    assert cache_files() == before, "an upload (or a stub or copy of it) stayed on disk"


def test_a_second_request_for_a_gone_upload_is_told_to_upload_again(server, tmp_path):
    import app

    photo = _photo(tmp_path)
    uploaded = as_upload(photo)
    app.UPLOADS.claim(uploaded)  # first request: read and deleted
    app.UPLOADS._shared.clear()  # and its bytes no longer held
    assert not photo.exists()
    with pytest.raises(Exception, match="다시 올려 주세요") as info:
        app.UPLOADS.claim(uploaded)
    assert "upload it again" in str(info.value)


# ---- refused file references: URLs and paths the client made up -------------------------------------
def test_url_inputs_are_refused_and_never_fetched(server):
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"\xff\xd8\xff")

        def log_message(self, *args):
            pass

    http_server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{http_server.server_address[1]}/photo.jpg"
    try:
        for api, data in (("diagnose", [{"path": url, "url": url, "meta": {"_type": "gradio.FileData"}}, "지성", [], []]),
                          ("check_photo", [{"path": url, "meta": {"_type": "gradio.FileData"}}])):
            answer = _raw_call(server, api, data)
            assert "URL" in answer["error"] and "not accepted" in answer["error"], answer
    finally:
        http_server.shutdown()
    assert hits == []


def test_a_cache_file_the_client_names_is_refused_and_not_deleted(server, tmp_path):
    import app

    gallery = Path(app.demo.GRADIO_CACHE) / "not-an-upload" / "reference.png"  # like a gallery picture
    gallery.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (320, 240), (200, 150, 140)).save(gallery)
    for path in (str(gallery), "/etc/hostname"):
        answer = _raw_call(server, "diagnose", [{"path": path, "meta": {"_type": "gradio.FileData"}}, "지성", [], []])
        assert "was not uploaded to this app" in answer["error"], answer
        assert str(tmp_path) not in answer["error"] and "/etc" not in answer["error"]
    assert gallery.exists()
    gallery.unlink()
    gallery.parent.rmdir()


# ---- formats, damaged files, errors ----------------------------------------------------------------
def _jpeg_with_broken_exif(scalp: Image.Image) -> bytes:
    good = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    scalp.save(good, format="JPEG", exif=exif.tobytes())
    data = bytearray(good.getvalue())
    at = data.find(b"Exif\x00\x00")
    data[at + 10:at + 18] = b"\xff" * 8  # the IFD offset and entry count point nowhere
    return bytes(data)


def test_tiff_bmp_and_damaged_exif_get_clear_messages_in_the_api(client, tmp_path):
    scalp = _photo(tmp_path)
    image = Image.open(scalp).convert("RGB")
    cases = {"photo.tiff": ("TIFF", "이미지 파일이 아닙니다"), "photo.bmp": ("BMP", "이미지 파일이 아닙니다")}
    for name, (fmt, words) in cases.items():
        path = tmp_path / name
        image.save(path, format=fmt)
        with pytest.raises(AppError, match=words):
            client.predict(handle_file(str(path)), "지성", [], [], api_name="/diagnose")
    broken = tmp_path / "broken-exif.jpg"
    broken.write_bytes(_jpeg_with_broken_exif(image))
    try:  # Pillow may read past the broken EXIF: then it is simply diagnosed
        out = client.predict(handle_file(str(broken)), "지성", [], [], api_name="/diagnose")
        assert set(out["symptoms"]) == set(SYMPTOM_KEYS)
    except AppError as exc:
        assert "손상" in str(exc) and "damaged" in str(exc)


def test_care_guide_with_a_malformed_diagnosis_is_a_clear_error_not_a_bare_one(client):
    for bad in ({"symptoms": 5}, {"symptoms": {"hair_loss": "x"}}, {"hair_loss": 2.5}):
        with pytest.raises(AppError) as info:
            client.predict(bad, "", "ko", api_name="/care_guide")
        assert "diagnosis" in str(info.value) and "verbose error reporting" not in str(info.value)


def test_unexpected_failures_become_a_clear_bilingual_error(server, monkeypatch):
    import app

    def broken(*args, **kwargs):
        raise RuntimeError("boom at /home/someone/secret/file.txt")

    monkeypatch.setattr(app.SERVICE, "product_sections", broken)
    answer = _raw_call(server, "recommend", [["지성"], ["샴푸"], 3])
    assert "요청을 처리하지 못했습니다" in answer["error"] and "could not be completed" in answer["error"]
    assert "secret" not in answer["error"]


def test_public_errors_never_contain_a_local_path():
    text = public_error(FileNotFoundError("no /home/alice/models/hair_loss/config.json (see https://hf.co/me/x)"))
    assert "alice" not in text and "…/config.json" in text and "https://hf.co/me/x" in text
    assert public_error("C:\\Users\\bob\\m\\config.json missing") == "…/config.json missing"


def test_a_model_source_that_does_not_exist_is_reported_without_its_path(tmp_path):
    from ui.service import ModelsNotReady, ScalpService

    service = ScalpService(AppConfig(models=str(tmp_path / "private" / "models")))
    with pytest.raises(ModelsNotReady) as info:
        service.diagnoser(timeout=120)
    assert str(tmp_path) not in str(info.value) and service.model_status == "failed"
    assert str(tmp_path) not in (service.model_error or "")


# ---- memory per request ---------------------------------------------------------------------------
DECODE_RSS = """
import io, resource, sys
import numpy as np
from PIL import Image
from ui.image_input import ImageInputError, load_image
side_w, side_h = int(sys.argv[1]), int(sys.argv[2])
buffer = io.BytesIO()
Image.fromarray(np.zeros((side_h, side_w), dtype=np.uint16)).save(buffer, format="PNG", compress_level=1)
data = buffer.getvalue()
load_image(b"\\x89PNG" + b"\\0" * 10) if False else None
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    outcome = "decoded %s" % (load_image(data).image.size,)
except ImageInputError as exc:
    outcome = "refused: " + str(exc)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) / 1024, len(data), outcome)
"""


@pytest.mark.parametrize("width,height,verdict", [(8000, 8000, "refused"), (6000, 4000, "decoded")])
def test_a_huge_sixteen_bit_png_raises_the_memory_by_less_than_300_mb(width, height, verdict):
    """64 MP is refused from its header; 24 MP is shrunk before conversion (no float copies)."""
    done = subprocess.run([sys.executable, "-c", DECODE_RSS, str(width), str(height)], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    grown_mb, size, outcome = done.stdout.split(maxsplit=2)
    assert outcome.startswith(verdict), outcome
    assert int(size) < 2 * 1024 * 1024, "the test file is small: the point is its pixel count"
    assert float(grown_mb) < 300, f"{width}×{height} 16-bit PNG grew the peak RSS by {grown_mb} MB"


# ---- sessions ---------------------------------------------------------------------------------------
def test_a_flagged_photo_waits_at_the_size_the_models_need(server, tmp_path):
    import app

    big = Image.open(_photo(tmp_path)).resize((1600, 1200))
    dark = Image.fromarray((np.asarray(big, dtype=np.float32) * 0.25).astype(np.uint8))
    path = tmp_path / f"dark-{uuid.uuid4().hex}.png"
    dark.save(path)
    session = app.EVENTS.on_upload(as_upload(path), Session(), "한국어")[0]
    assert session.photo_check["verdict"] == "retake" and session.pending is not None
    assert max(session.pending.size) <= 640


def test_sessions_are_bounded_in_time_and_number_and_the_queue_in_size(server):
    import app

    assert app.SERVICE.config.session_ttl_s <= 15 * 60
    with pytest.raises(ValueError, match="session_ttl_s"):
        AppConfig(session_ttl_s=3600)
    assert app.demo.state_session_capacity == app.SERVICE.config.max_sessions
    assert app.demo._queue.max_size == app.SERVICE.config.queue_size


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop has no Windows build; uvicorn uses asyncio there")
def test_the_server_runs_on_uvloop_and_parses_http_with_httptools(server):
    """requirements.txt pins both; uvicorn's "auto" settings pick them up (bench/load.py: about a quarter
    less CPU in the server's event loop per /diagnose than asyncio with h11)."""
    import uvloop
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    import app

    uvicorn_server = app.demo.server
    assert uvicorn_server.config.http_protocol_class is HttpToolsProtocol
    assert uvicorn_server.servers, "the server is not listening"
    assert all(isinstance(listening.get_loop(), uvloop.Loop) for listening in uvicorn_server.servers)
    assert httpx.get(f"{server.url}config", timeout=30).status_code == 200  # and it answers on them


def test_the_queue_does_not_rebuild_its_analytics_after_every_event(client, tmp_path):
    """Gradio's default rebuilds a pandas summary of up to 10,000 past events after each one."""
    import app

    queue = app.demo._queue
    for _ in range(2):
        client.predict(handle_file(str(_photo(tmp_path))), "지성", [], [], api_name="/diagnose")
    assert queue.events_recorded >= 2
    assert queue.event_count_at_last_cache == 0, "the analytics summary was rebuilt after an event"


def test_every_model_bound_event_shares_one_concurrency_group(server):
    import app

    groups = {fn.api_name: fn.concurrency_id for fn in app.demo.fns.values()}
    for name in ("ui_upload", "ui_insist", "check_photo", "diagnose"):
        assert groups[name] == "models", (name, groups[name])
    assert groups["care_guide"] == "guide" and groups["ui_guide_tab"] == "guide"


def test_nothing_process_wide_changes_per_request(client, tmp_path):
    import torch

    threads, filters = torch.get_num_threads(), list(warnings.filters)
    calls = [threading.Thread(target=lambda: client.predict(handle_file(str(_photo(tmp_path))), "지성", [], [],
                                                            api_name="/diagnose")) for _ in range(3)]
    for call in calls:
        call.start()
    for call in calls:
        call.join()
    assert torch.get_num_threads() == threads
    assert list(warnings.filters) == filters


# ---- failures are remembered and retried with backoff ----------------------------------------------
def test_a_failed_load_is_remembered_then_retried_after_its_backoff():
    now = [0.0]
    attempts = []

    def load():
        attempts.append(now[0])
        if len(attempts) < 3:
            raise OSError("Hub unreachable at /root/.cache/x")
        return "loaded"

    resource = Resource("the thing", load, clock=lambda: now[0], first_retry_s=5, max_retry_s=60)
    with pytest.raises(Unavailable) as info:
        resource.get(timeout=5)
    assert resource.status == "failed" and "…/x" in str(info.value) and "/root" not in str(info.value)
    assert resource.retry_in_s == 5
    with pytest.raises(Unavailable):
        resource.get(timeout=5)  # not due yet: no new attempt
    assert len(attempts) == 1
    now[0] = 5.0
    with pytest.raises(Unavailable):
        resource.get(timeout=5)
    assert len(attempts) == 2 and resource.retry_in_s == 10  # the wait doubles
    now[0] = 15.0
    assert resource.get(timeout=5) == "loaded" and resource.status == "ready" and resource.error is None


# ---- cost ---------------------------------------------------------------------------------------------
def test_rate_limiter_counts_per_client_and_overall():
    now = [0.0]
    limit = RateLimiter(per_client=2, overall=3, clock=lambda: now[0])
    assert [limit.allow("a") for _ in range(3)] == [True, True, False]
    assert limit.allow("b") and not limit.allow("c")  # overall: 3 in the window
    now[0] = 61.0
    assert limit.allow("c")


def test_care_guide_calls_openai_at_most_at_the_configured_rate(server, client, monkeypatch):
    import app
    from recommendation.care_guide import clear_cache

    stub_server, state, url = start_stub()
    try:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        monkeypatch.setattr(app.SERVICE, "guide_limit", RateLimiter(per_client=10, overall=2))
        clear_cache()
        answers = [client.predict({key: 2}, "", "ko", api_name="/care_guide") for key in SYMPTOM_KEYS[:4]]
        assert state.requests == 2
        assert all("기본 가이드" in a for a in answers[2:]) and not any("기본 가이드" in a for a in answers[:2])
    finally:
        stub_server.shutdown()
        stub_server.server_close()
        clear_cache()


# ---- /recommend honours top_k ------------------------------------------------------------------------
@pytest.mark.parametrize("top_k", [1, 2, 5])
def test_recommend_returns_top_k_products_per_category(client, top_k):
    sections = client.predict(["지성", "건성"], ["샴푸", "헤어오일/헤어세럼"], top_k, api_name="/recommend")
    for section in sections:
        assert len(section["rows"]) == min(top_k, section["total"]), section["category"]
        assert [row["rank"] for row in section["rows"]] == list(range(1, len(section["rows"]) + 1))
    assert sum(len(s["rows"]) for s in sections) >= top_k


# ---- bench/load.py, small ------------------------------------------------------------------------------
@pytest.mark.slow
def test_load_bench_small_run_has_no_errors_and_leaves_no_upload(tmp_path):
    """4 clients × 3 distinct photos, then 4 clients with the same file, against `python app.py`; with
    ``--private_cache`` the app builds in a copy of the cache, and the real one is left as it was."""
    out, real = tmp_path / "load.json", tmp_path / "real-cache"
    (real / "onnx").mkdir(parents=True)
    (real / "onnx" / "kept.shift.json").write_text('{"max_shift": 0.3}', encoding="utf-8")
    done = subprocess.run([sys.executable, "bench/load.py", "--models", "tiny", "--clients", "4", "--calls", "3",
                           "--identical", "4", "--single", "3", "--private_cache", "--json", str(out)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "SCALP_CACHE": str(real)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "private cache: " in done.stderr
    assert sorted(p.relative_to(real).as_posix() for p in real.rglob("*")) == ["onnx", "onnx/kept.shift.json"]
    result = json.loads(out.read_text(encoding="utf-8"))
    assert [result[p]["errors"] for p in ("single", "load", "identical")] == [0, 0, 0], result["error_samples"]
    assert result["load"]["calls"] == 12 and result["identical"]["calls"] == 4
    assert result["upload_cache_left"] == []
    assert result["peak_rss_mib"] and result["peak_rss_mib"] < 2048


HUB_DOWN_THEN_UP = r"""
import json, os, sys, threading, time
from http.server import ThreadingHTTPServer
from pathlib import Path
root, port = Path(sys.argv[1]), int(os.environ["HUB_PORT"])
from hub_server import HubStore, _Handler
from app_server import write_tiny_models
from huggingface_hub import HfApi
from ui.config import AppConfig
from ui.service import ModelsNotReady, ScalpService

store = HubStore(root / "store", tokens={"hf_writer_token_0123456789": "me"})
def serve():
    httpd = ThreadingHTTPServer(("127.0.0.1", port), type("Handler", (_Handler,), {"store": store}))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd
httpd = serve()
api = HfApi(token="hf_writer_token_0123456789")
models = write_tiny_models(root / "models")
from scalp_core.symptoms import SYMPTOMS
for spec in SYMPTOMS:
    api.create_repo(f"me/{spec.repo_name}", exist_ok=True)
    api.upload_folder(repo_id=f"me/{spec.repo_name}", folder_path=str(models / spec.key))
httpd.shutdown(); httpd.server_close()  # the Hub goes down before the app starts

service = ScalpService(AppConfig(models="me"))
service.start()
deadline = time.monotonic() + 120
while service.model_status in ("idle", "loading") and time.monotonic() < deadline:
    time.sleep(0.5)
first = {"status": service.model_status, "error": service.model_error, "retry_in_s": service.model_retry_in_s}
httpd = serve()  # ...and comes back
start = time.monotonic()
while True:
    try:
        service.diagnoser(timeout=5)
        break
    except ModelsNotReady:
        if time.monotonic() - start > 120:
            break
        time.sleep(1)
print(json.dumps({"first": first, "final": service.model_status, "recovered_after_s": time.monotonic() - start}))
"""


@pytest.mark.slow
def test_a_model_load_that_failed_at_start_recovers_when_the_hub_comes_back(tmp_path):
    from app_server import free_port

    port = free_port()
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{port}", HUB_PORT=str(port), HF_HOME=str(tmp_path / "hf"),
               HF_HUB_DISABLE_XET="1", HF_HUB_ETAG_TIMEOUT="5", HF_HUB_DOWNLOAD_TIMEOUT="10",
               SCALP_CACHE=str(tmp_path / "cache"), NO_PROXY="127.0.0.1,localhost",
               PYTHONPATH=f"{REPO_ROOT}:{REPO_ROOT / 'tests'}")
    done = subprocess.run([sys.executable, "-c", HUB_DOWN_THEN_UP, str(tmp_path)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["first"]["status"] == "failed", result
    assert "me/scalp-" in result["first"]["error"] and str(tmp_path) not in result["first"]["error"]
    assert result["first"]["retry_in_s"] is not None
    assert result["final"] == "ready", result  # retried after the backoff, without a restart


def test_the_ui_refuses_a_bmp_upload_with_the_not_an_image_message(server, tmp_path):
    import app

    path = tmp_path / f"photo-{uuid.uuid4().hex}.bmp"
    Image.new("RGB", (640, 480), (190, 140, 130)).save(path, format="BMP")
    outputs = app.EVENTS.on_upload(as_upload(path), Session(), "English")
    assert outputs[0].upload_error[0] == "not_image"
    assert "This is not an image file" in outputs[2] and not path.exists()


def test_the_app_takes_a_pins_file_from_hub_upload_as_its_models_revision(tmp_path):
    from scalp_core.symptoms import SYMPTOMS
    from ui.service import ScalpService

    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps({f"me/{spec.repo_name}": f"{i:040x}" for i, spec in enumerate(SYMPTOMS)}))
    service = ScalpService(AppConfig(models="me", models_revision=str(pins)))
    revision = service.models_revision()
    assert revision == {spec.key: f"{i:040x}" for i, spec in enumerate(SYMPTOMS)}
    assert ScalpService(AppConfig(models="me", models_revision="v1")).models_revision() == "v1"
    pins.write_text("{not json")
    with pytest.raises(ValueError, match="pins"):
        service.models_revision()


@pytest.mark.parametrize("env", [{"SCALP_OPENAI_TIMEOUT": "abc"}, {"SCALP_QUEUE_SIZE": "many"}])
def test_a_bad_setting_stops_the_app_at_start_up_with_a_clear_error(env):
    import os

    done = subprocess.run([sys.executable, "app.py", "--port", "1"], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert next(iter(env)) in done.stderr, done.stderr


# ---- the domain check in the app -----------------------------------------------------------------
@pytest.mark.slow
def test_a_photo_unlike_the_training_photos_gets_six_uncertain_answers_and_a_message(tmp_path):
    import numpy as np
    from app_server import write_tiny_models

    from scalp_core.symptoms import SYMPTOMS
    from scalp_models.lite0_features import lite0_features
    from scalp_models.novelty import fit_novelty, novelty_features, write_novelty
    from synthetic.render import random_severities, render_scalp
    from synthetic.scenes import procedural_scene
    from ui.service import ScalpService
    from ui.views import domain_message

    def generated(n, seed):
        rng = np.random.default_rng(seed)
        return [render_scalp(random_severities(rng), rng, size=(320, 240)) for _ in range(n)]

    models = write_tiny_models(tmp_path / "models")
    extractor = lite0_features()
    fit = fit_novelty(novelty_features(generated(120, 1), extractor), novelty_features(generated(60, 2), extractor),
                      synthetic_training_data=True, training_images="generated test pictures")
    for spec in SYMPTOMS:
        write_novelty(models / spec.key, fit)
    service = ScalpService(AppConfig(models=str(models)))
    diagnosis, domain = service.diagnose_image(generated(1, 9)[0], timeout=300)
    assert domain.in_domain is True and domain.score <= 1
    room = procedural_scene("room", np.random.default_rng(3))
    diagnosis, domain = service.diagnose_image(room)
    assert domain.in_domain is False and domain.score > 1
    assert all(result.uncertain for result in diagnosis)
    assert "learned from computer-generated" in domain_message(domain, "en")


def test_diagnose_says_when_a_model_set_carries_no_domain_check(client, tmp_path):
    out = client.predict(handle_file(str(_photo(tmp_path))), "지성", [], [], api_name="/diagnose")
    assert out["in_domain"] is None and out["novelty_score"] is None  # the tiny test models carry no fit
    assert out["domain_check"]["message_en"] and "no check" in out["domain_check"]["message_en"]
