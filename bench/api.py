"""Overhead of the ``/diagnose`` API beyond the model compute, through ``gradio_client`` and plain HTTP.

Times, on the same photo, against the app served on 127.0.0.1:

- **direct**: the photo check and ``diagnoser.diagnose(image)`` on the decoded image (the compute
  that ``/diagnose`` does);
- **gradio_client (default)**: ``Client(url).predict(handle_file(photo), ..., api_name="/diagnose")``;
- **gradio_client (shared SSL context)**: the same with ``ssl_verify=<one ssl.SSLContext>``. The
  default client builds three ``httpx.Client`` objects per call (upload, join, event stream) and each
  loads the certifi bundle again (about 60 ms apiece here); a context made once removes that and still
  verifies certificates on an https Space;
- **HTTP (/call)**: Gradio's documented REST route (``POST /gradio_api/upload``,
  ``POST /gradio_api/call/diagnose``, then its event stream) on one kept-alive ``httpx.Client``:
  what the server itself adds.

It prints p50/p90 per path and each path's overhead (its p50 minus the direct p50)::

    python bench/api.py                    # tiny random models (fast; measures the overhead)
    python bench/api.py --models demo      # the demo models (builds them on first use)
    python bench/api.py --calls 20 --threads 1

Note: ``gradio_client`` polls its message queue every 50 ms, so its figures move in ~50 ms steps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project, and tests/app_server.py (an in-process app)


@dataclass(frozen=True)
class BenchConfig:
    models: str = field(default="tiny", metadata={"help": "'tiny' (random 64 px models), 'demo', or a models folder"})
    calls: int = field(default=20, metadata={"help": "timed calls per path (after 2 warm-up calls)"})
    threads: int = field(default=1, metadata={"help": "torch threads (keep 1 on a shared machine)"})

    def __post_init__(self):
        if self.calls < 3:
            raise ValueError(f"--calls must be at least 3, got {self.calls}")
        if self.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {self.threads}")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _call_over_http(http, base: str, photo: Path) -> dict:
    """One /diagnose through Gradio's REST route: upload, start the call, read its event stream."""
    with open(photo, "rb") as fh:
        uploaded = http.post(f"{base}/upload", files={"files": (photo.name, fh, "image/jpeg")})
    uploaded.raise_for_status()
    file_data = {"path": uploaded.json()[0], "meta": {"_type": "gradio.FileData"}}
    started = http.post(f"{base}/call/diagnose", json={"data": [file_data, "지성", [], []]})
    started.raise_for_status()
    event = None
    with http.stream("GET", f"{base}/call/diagnose/{started.json()['event_id']}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                if event == "error":
                    raise RuntimeError(f"/diagnose failed: {line[5:].strip()}")
                return json.loads(line[5:])[0]
    raise RuntimeError("/diagnose: the event stream ended without a result")


def run(config: BenchConfig) -> dict[str, list[float]]:
    import ssl

    import certifi
    import httpx
    import torch

    torch.set_num_threads(config.threads)
    from app_server import free_port, scalp_photo, write_tiny_models
    from gradio_client import Client, handle_file

    import app
    from ui.config import AppConfig
    from ui.image_input import load_image

    models = config.models
    if models == "tiny":
        models = str(write_tiny_models(Path(tempfile.mkdtemp(prefix="bench-tiny-"))))
    port = free_port()
    app.launch(AppConfig(models=models, host="127.0.0.1", port=port), prevent_thread_lock=True, quiet=True)
    diagnoser = app.SERVICE.diagnoser(timeout=600)
    # /diagnose also runs the photo check once it is loaded; wait for it so both sides do the same work.
    deadline = time.monotonic() + 600
    while not app.SERVICE.photo_check_ready and time.monotonic() < deadline:
        time.sleep(0.5)
    if not app.SERVICE.photo_check_ready:
        raise RuntimeError("the photo check did not load within 10 minutes")
    photo = scalp_photo(Path(tempfile.mkdtemp()) / "bench.jpg", {"excess_sebum": 2})
    image = load_image(photo).image
    url = f"http://127.0.0.1:{port}/"

    default_client = Client(url, verbose=False)
    shared_ctx_client = Client(url, verbose=False, ssl_verify=ssl.create_default_context(cafile=certifi.where()))
    http = httpx.Client(timeout=120)
    paths = {
        "direct: photo check + diagnoser.diagnose(image)": lambda: (app.SERVICE.check_photo(image),
                                                                     diagnoser.diagnose(image)),
        "gradio_client, default": lambda: default_client.predict(
            handle_file(str(photo)), "지성", [], [], api_name="/diagnose"),
        "gradio_client, shared SSL context": lambda: shared_ctx_client.predict(
            handle_file(str(photo)), "지성", [], [], api_name="/diagnose"),
        "HTTP: /gradio_api/call/diagnose": lambda: _call_over_http(http, f"{url}gradio_api", photo),
    }
    # The three API paths must give the direct probabilities (same photo, same models).
    direct = diagnoser.diagnose(image)
    for name, call in list(paths.items())[1:]:
        result = call()
        for key, s in result["symptoms"].items():
            diff = max(abs(a - b) for a, b in zip(s["probabilities"], direct[key].probabilities))
            if diff > 1e-5:
                raise AssertionError(f"{name}: {key} probabilities differ from direct by {diff}")
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(2):
        for call in paths.values():
            call()
    for _ in range(config.calls):  # interleaved, so load changes hit every path alike
        for name, call in paths.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    default_client.close()
    shared_ctx_client.close()
    http.close()
    app.demo.close()
    return times


def format_table(times: dict[str, list[float]]) -> str:
    rows = ["| path | p50 (ms) | p90 (ms) | mean (ms) | overhead vs direct, p50 (ms) | n |",
            "|---|---:|---:|---:|---:|---:|"]
    direct_p50 = _pct(next(iter(times.values())), 0.5)
    for name, values in times.items():
        overhead = "" if name.startswith("direct") else f"{(_pct(values, 0.5) - direct_p50) * 1e3:.1f}"
        rows.append(f"| {name} | {_pct(values, 0.5) * 1e3:.1f} | {_pct(values, 0.9) * 1e3:.1f} | "
                    f"{statistics.fmean(values) * 1e3:.1f} | {overhead} | {len(values)} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, f in BenchConfig.__dataclass_fields__.items():
        parser.add_argument(f"--{name}", type=type(f.default), default=f.default, help=f.metadata["help"])
    config = BenchConfig(**vars(parser.parse_args(argv)))
    print(format_table(run(config)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
