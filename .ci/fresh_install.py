"""A fresh install has every feature: start the app as a new user (or a Space) gets it, and check it.

Run it with the Python of a venv that holds ``requirements.txt`` alone (no test-only package), from
any folder; ``--root`` is the app to start (the repository, or a Space folder staged by
``python -m hub_upload space --stage-dir DIR``). It starts ``python app.py`` there with an empty
home and cache, offline, waits for the models (the demo models are built on this first run), then
checks through ``gradio_client`` that:

- no test-only package (scikit-image, pytest, playwright) is importable in this venv;
- ``/check_photo`` accepts a generated scalp photo and refuses a natural photo (one of gradio's own
  sample pictures) as not a scalp close-up;
- ``/diagnose`` carries a non-null ``photo_check`` and a result for all six symptoms.

It exits 0 when every check passes, else 1 with what failed (and the app's log tail)::

    .venv-runtime/bin/python .ci/fresh_install.py --root .
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEST_ONLY = ("skimage", "pytest", "playwright", "pypdfium2")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def natural_photo() -> Path:
    """A real photo that ships with gradio itself (no test-only package needed)."""
    spec = importlib.util.find_spec("gradio")
    folder = Path(list(spec.submodule_search_locations)[0]) / "media_assets" / "images"
    photos = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    if not photos:
        raise SystemExit(f"no sample photo found in {folder}")
    return next((p for p in photos if "tower" in p.name or "bus" in p.name), photos[0])


def report_pdf() -> bytes:
    """A one-page report in Korean, made in this venv (its PDF writer and Korean font come from requirements.txt)."""
    from ui.i18n import t
    from ui.report import ReportData, build_report_pdf

    data = ReportData(lang="ko", date="2026-12-01", photos=(), rows=(), scalp_type="지성 두피",
                      note="비듬: 정수리에서 중등도", notice=t("medical_notice", "ko"))
    return build_report_pdf(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="folder holding app.py")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the app")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    problems = [f"test-only package {name!r} is importable: this venv is not requirements.txt alone"
                for name in TEST_ONLY if importlib.util.find_spec(name) is not None]

    sys.path.insert(0, str(root))
    import numpy as np
    from gradio_client import Client, handle_file

    from synthetic.render import render_scalp

    work = Path(tempfile.mkdtemp(prefix="fresh-install-"))
    scalp = work / "scalp.jpg"
    render_scalp({"excess_sebum": 2}, np.random.default_rng(7)).save(scalp, quality=92)
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SCALP_", "HF_", "GRADIO_"))}
    env.update(HOME=str(work / "home"), SCALP_CACHE=str(work / "cache"), GRADIO_TEMP_DIR=str(work / "gradio"),
               HF_HOME=str(work / "hf"), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               SCALP_MODELS="demo")
    log = open(work / "app.log", "w", encoding="utf-8")
    app = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)], cwd=root,
                           env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    started = time.monotonic()
    try:
        diagnosis = None
        while diagnosis is None:
            if app.poll() is not None:
                raise RuntimeError(f"the app exited with code {app.returncode}")
            try:
                diagnosis = Client(url, verbose=False).predict(handle_file(str(scalp)), "지성", [], [],
                                                               api_name="/diagnose")
            except Exception as exc:  # noqa: BLE001 - not up yet (or a real failure: reported at the deadline)
                if time.monotonic() - started > args.timeout:
                    raise RuntimeError(f"/diagnose did not answer within {args.timeout:.0f} s: {exc}") from exc
                time.sleep(3)
        print(f"app ready after {time.monotonic() - started:.0f} s")
        client = Client(url, verbose=False)
        if diagnosis.get("photo_check") is None:
            problems.append(f"/diagnose has no photo_check: {diagnosis.get('photo_check_error')}")
        if len(diagnosis.get("symptoms", {})) != 6:
            problems.append("/diagnose did not answer for all six symptoms")
        good = client.predict(handle_file(str(scalp)), api_name="/check_photo")["photo_check"]
        if good["verdict"] != "ok":
            problems.append(f"/check_photo refused a generated scalp photo: {good['verdict']} {good['reasons']}")
        photo = natural_photo()
        other = client.predict(handle_file(str(photo)), api_name="/check_photo")["photo_check"]
        if other["verdict"] != "not_scalp":
            problems.append(f"/check_photo accepted {photo.name} (a natural photo): {other['verdict']}")
        print(f"scalp photo: {good['verdict']}; {photo.name}: {other['verdict']}; "
              f"/diagnose photo_check: {(diagnosis.get('photo_check') or {}).get('verdict')}")
        checkup = client.predict([handle_file(str(scalp)), handle_file(str(scalp))], ["TH", "BH"], "지성", [], [],
                                 api_name="/diagnose_regions")
        if sorted(checkup.get("regions", {})) != ["BH", "TH"] or len(checkup.get("overall", {})) != 6:
            problems.append(f"/diagnose_regions did not answer for both regions and six symptoms: {checkup}")
        why = client.predict(handle_file(str(scalp)), "excess_sebum", api_name="/explain")
        if not Path(why.get("heatmap") or "").is_file() or not why.get("raw"):
            problems.append(f"/explain gave no heatmap: {why}")
        pdf = report_pdf()
        if not pdf.startswith(b"%PDF"):
            problems.append("the PDF report could not be made")
        print(f"/diagnose_regions: {sorted(checkup['regions'])}; /explain: {why['symptom']}; "
              f"report: {len(pdf)} bytes")
    except Exception as exc:  # noqa: BLE001 - reported below with the app's log
        problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        app.terminate()
        app.wait(timeout=30)
        log.close()
    app_log = (work / "app.log").read_text(encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)  # ~200 MB of cache and models per run
    if problems:
        print("FRESH INSTALL CHECK FAILED:\n- " + "\n- ".join(problems))
        print("--- app log (tail) ---\n" + app_log[-4000:])
        return 1
    print("fresh install check passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
