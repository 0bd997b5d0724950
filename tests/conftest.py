"""Shared pytest fixtures: offline, CPU-only, deterministic settings for every test.

Environment variables are set here, before any test module imports
huggingface_hub, transformers or gradio, because those libraries read them at
import time.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="scalp-tests-"))
# Removed when the process ends: registered first, so it runs after every other exit handler (the
# in-process app's close among them). Each run used to leave its caches here, 7.9 GB over 235 runs.
atexit.register(shutil.rmtree, _SESSION_TMP, True)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Keep the user's real Hub cache and token out of the tests.
os.environ["HF_HOME"] = str(_SESSION_TMP / "hf_home")
os.environ.pop("HF_TOKEN", None)
os.environ.pop("OPENAI_API_KEY", None)
# Converted Lite0 weights, demo models, the photo-check fit and ONNX exports are built
# fresh per run unless a developer points SCALP_CACHE at a persistent folder.
os.environ.setdefault("SCALP_CACHE", str(_SESSION_TMP / "scalp-cache"))
# Gradio's upload cache of the in-process app: one per run, so tests can list it before and after.
os.environ["GRADIO_TEMP_DIR"] = str(_SESSION_TMP / "gradio")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = REPO_ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    """``../shared/reference``: AI Hub facts and scraped catalogs, read in place, never copied."""
    if not SHARED_REFERENCE.is_dir():
        pytest.skip(f"reference data not available: {SHARED_REFERENCE} is absent (it sits beside the clone in CI)")
    return SHARED_REFERENCE


@pytest.fixture(scope="session")
def session_tmp() -> Path:
    return _SESSION_TMP


@pytest.fixture()
def one_torch_thread():
    """Tiny models gain nothing from threads, and OpenMP spinning hurts on a shared 2-core runner."""
    import torch  # only the tests that ask for this fixture load torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
