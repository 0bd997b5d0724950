"""Helpers for the app's tests and benchmark: six tiny models and an in-process app on 127.0.0.1.

The tests (``tests/test_app_*.py``, ``tests/test_browser.py``) and ``bench/api.py`` talk to the
real app over HTTP through ``gradio_client``; only the models are tiny (random EfficientNet
"tiny" from ``scalp_models.modeling.create_model``, 64 px) so that no demo build is waited for.

    from app_server import running_app
    url = running_app().url
"""

from __future__ import annotations

import atexit
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TINY_SEED = 0


def write_tiny_models(folder: str | Path, seed: int = TINY_SEED) -> Path:
    """Six tiny, untrained models in ``folder/<symptom key>/``; classifier biases are randomised
    so that the six symptoms get different, non-uniform probabilities."""
    import torch

    from scalp_core.symptoms import SYMPTOMS
    from scalp_models.modeling import create_model
    from scalp_models.processing import create_image_processor

    folder = Path(folder)
    generator = torch.Generator().manual_seed(seed)
    for spec in SYMPTOMS:
        out = folder / spec.key
        if (out / "model.safetensors").is_file():
            continue
        model = create_model(spec, "tiny")
        with torch.no_grad():
            model.classifier.bias.copy_(torch.randn(model.classifier.bias.shape, generator=generator) * 2.0)
        model.save_pretrained(out)
        create_image_processor(spec, "tiny").save_pretrained(out)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scalp_photo(path: str | Path, severities: dict | None = None, seed: int = 0, fmt: str = "JPEG") -> Path:
    """A generated 640×480 scalp close-up saved at ``path``."""
    from synthetic.render import render_scalp

    image = render_scalp(severities or {"excess_sebum": 3}, np.random.default_rng(seed))
    image.save(path, format=fmt)
    return Path(path)


@dataclass
class RunningApp:
    url: str
    port: int
    models_dir: Path
    upload_dirs: tuple[Path, ...]


_lock = threading.Lock()
_running: RunningApp | None = None


def as_upload(path: str | Path) -> str:
    """Register ``path`` as if Gradio's upload route had created it (for calling the UI handlers in-process);
    the app reads and deletes only such files."""
    import app

    app.UPLOADS.paths.add(str(path))
    return str(path)


def cache_files() -> list[Path]:
    """Every file in this process's Gradio cache (``GRADIO_TEMP_DIR``, one per test session)."""
    import app

    roots = {Path(app.demo.GRADIO_CACHE)} | set(running_app().upload_dirs)
    return sorted(p for root in roots if root.exists() for p in root.rglob("*") if p.is_file())


def running_app() -> RunningApp:
    """Launch ``app.demo`` once per process (tiny models, demo catalog), closed at exit."""
    global _running
    with _lock:
        if _running is not None:
            return _running
        import app
        from ui.config import AppConfig

        models_dir = write_tiny_models(Path(tempfile.mkdtemp(prefix="scalp-tiny-models-")))
        port = free_port()
        config = AppConfig(models=str(models_dir), host="127.0.0.1", port=port)
        app.launch(config, prevent_thread_lock=True, quiet=True)
        app.SERVICE.diagnoser(timeout=120)
        server_app = app.demo.server_app if hasattr(app.demo, "server_app") else None
        dirs = {Path(app.demo.GRADIO_CACHE)}
        if server_app is not None and getattr(server_app, "uploaded_file_dir", None):
            dirs.add(Path(server_app.uploaded_file_dir))
        _running = RunningApp(url=f"http://127.0.0.1:{port}/", port=port, models_dir=models_dir,
                              upload_dirs=tuple(sorted(dirs)))
        atexit.register(app.demo.close)
        return _running
