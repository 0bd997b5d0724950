"""Overhead of the ``/diagnose`` API beyond the model compute, through ``gradio_client``.

Times the diagnoser called directly on the decoded image (compute only) and the same photo
sent through ``gradio_client`` to the app served on 127.0.0.1 (upload, decoding, photo-size
checks, queueing, JSON), and prints the p50/p90 of each and the difference as a table::

    python bench/api.py                    # tiny random models (fast; measures the overhead)
    python bench/api.py --models demo      # the demo models (builds them on first use)
    python bench/api.py --calls 20 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


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


def run(config: BenchConfig) -> dict[str, list[float]]:
    import torch

    torch.set_num_threads(config.threads)
    import app
    from gradio_client import Client, handle_file

    from ui.config import AppConfig
    from ui.image_input import load_image
    from ui.testing import free_port, scalp_photo, write_tiny_models

    models = config.models
    if models == "tiny":
        models = str(write_tiny_models(Path(tempfile.mkdtemp(prefix="bench-tiny-"))))
    port = free_port()
    app.launch(AppConfig(models=models, host="127.0.0.1", port=port), prevent_thread_lock=True, quiet=True)
    diagnoser = app.SERVICE.diagnoser(timeout=600)
    photo = scalp_photo(Path(tempfile.mkdtemp()) / "bench.jpg", {"excess_sebum": 2})
    image = load_image(photo).image

    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    times: dict[str, list[float]] = {"direct: diagnoser.diagnose(image)": [], "API: client.predict(/diagnose)": []}
    for _ in range(2):
        diagnoser.diagnose(image)
        client.predict(handle_file(str(photo)), "지성", [], [], api_name="/diagnose")
    for _ in range(config.calls):
        start = time.perf_counter()
        diagnoser.diagnose(image)
        times["direct: diagnoser.diagnose(image)"].append(time.perf_counter() - start)
        start = time.perf_counter()
        client.predict(handle_file(str(photo)), "지성", [], [], api_name="/diagnose")
        times["API: client.predict(/diagnose)"].append(time.perf_counter() - start)
    client.close()
    app.demo.close()
    return times


def format_table(times: dict[str, list[float]]) -> str:
    rows = ["| path | p50 (ms) | p90 (ms) | mean (ms) | n |", "|---|---:|---:|---:|---:|"]
    for name, values in times.items():
        rows.append(f"| {name} | {_pct(values, 0.5) * 1e3:.1f} | {_pct(values, 0.9) * 1e3:.1f} | "
                    f"{statistics.fmean(values) * 1e3:.1f} | {len(values)} |")
    direct, api = times.values()
    rows.append(f"| **overhead (API p50 − direct p50)** | {(_pct(api, 0.5) - _pct(direct, 0.5)) * 1e3:.1f} | | | |")
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
