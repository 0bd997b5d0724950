"""Many users at once: ``/diagnose`` through ``gradio_client`` from N clients, against one app server.

It starts ``python app.py`` in a subprocess (or takes ``--url``), then measures, in one run:

1. **single client**: sequential ``/diagnose`` calls, the rate one user gets (and the single-call p50);
2. **load**: ``--clients`` clients × ``--calls`` calls each, every call on a distinct generated photo;
3. **identical**: ``--identical`` clients sending the same file (same name, same bytes) at once;

and prints calls, errors, diagnoses per second, p50/p95 latency, the server's peak RSS and what is left
in its upload cache, with the goals of the serving issue checked against this run's own baseline::

    python bench/load.py                          # demo models (built once, then cached), 16 × 10
    python bench/load.py --models tiny --clients 4 --calls 3 --identical 4 --json out.json
    python bench/load.py --url http://127.0.0.1:7860/ # an app that is already running (no RSS figure)
    python bench/load.py --backends onnx,int8 --levels 1,2,4   # fp32 and int8 apps in turn, same photos
    python bench/load.py --app_args='--model-threads 1 --model-concurrency 2'   # threads and sessions to tune
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project, and tests/app_server.py (tiny models, photos)

GOALS = {"throughput_vs_single": 0.9, "peak_rss_gib": 2.0, "p95_vs_single_p50": 20.0}
GOAL_INT8_THROUGHPUT = 1.6  # issue 15: int8 diagnoses/s ≥ 1.6× fp32 under the 16-client load


@dataclass(frozen=True)
class LoadConfig:
    models: str = field(default="demo", metadata={"help": "'demo', 'tiny' (random 64 px models) or a models folder"})
    clients: int = field(default=16, metadata={"help": "concurrent clients in the load phase"})
    calls: int = field(default=10, metadata={"help": "calls per client in the load phase"})
    identical: int = field(default=8, metadata={"help": "clients sending the same file at once"})
    single: int = field(default=10, metadata={"help": "sequential calls of the single-client baseline"})
    url: str | None = field(default=None, metadata={"help": "use this running app instead of starting one"})
    backends: str = field(default="onnx", metadata={"help": "comma list of app --backend values, each measured "
                                                           "in turn in this run (e.g. onnx,int8)"})
    levels: str = field(default="1,2,4", metadata={"help": "comma list of concurrent clients for the scaling rows"})
    app_args: str = field(default="", metadata={"help": "extra app.py flags, e.g. '--model-threads 1 "
                                                     "--model-concurrency 2' (threads and sessions to tune)"})
    json: str | None = field(default=None, metadata={"help": "also write the results as JSON here"})

    def __post_init__(self):
        for name in ("clients", "calls", "identical", "single"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(self, name)}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def start_app(models: str, cache: Path, backend: str = "onnx", app_args: str = "") -> tuple[subprocess.Popen, str]:
    from app_server import free_port, write_tiny_models

    if models == "tiny":
        models = str(write_tiny_models(cache / "tiny-models"))
    port = free_port()
    env = {**os.environ, "GRADIO_TEMP_DIR": str(cache / "gradio"), "GRADIO_ANALYTICS_ENABLED": "False"}
    log = (cache / f"app-{backend}.log").open("wb")  # int8: "int8 ready" says when the copies serve
    process = subprocess.Popen([sys.executable, "app.py", "--models", models, "--host", "127.0.0.1",
                                "--port", str(port), "--backend", backend, *shlex.split(app_args)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=log)
    return process, f"http://127.0.0.1:{port}/"


def wait_ready(url: str, photo: Path, timeout_s: float = 900) -> None:
    """Until ``/diagnose`` answers with a photo check (models and photo check loaded)."""
    from gradio_client import Client, handle_file

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            out = Client(url, verbose=False).predict(handle_file(str(photo)), "지성", [], [], api_name="/diagnose")
            if out.get("photo_check") is not None:
                return
        except Exception as exc:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app at {url} did not become ready: {exc}") from exc
        time.sleep(2)


def peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_clients(url: str, photos_per_client: list[list[Path]]) -> tuple[list[float], list[str], float]:
    """Each client (own ``gradio_client.Client``, own thread) diagnoses its photos in turn."""
    from gradio_client import Client, handle_file

    latencies, errors, lock = [], [], threading.Lock()
    barrier = threading.Barrier(len(photos_per_client))

    def client(photos: list[Path]) -> None:
        api = Client(url, verbose=False)
        barrier.wait()
        for photo in photos:
            start = time.perf_counter()
            try:
                api.predict(handle_file(str(photo)), "지성", [], [], api_name="/diagnose")
                with lock:
                    latencies.append(time.perf_counter() - start)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")

    threads = [threading.Thread(target=client, args=(photos,)) for photos in photos_per_client]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, time.perf_counter() - start


def wait_int8(log: Path, timeout_s: float = 1800) -> str:
    """Until the app logs that its int8 copies are built and checked; returns that line."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if "int8 ready:" in line:
                return line.split("int8 ready:")[1].strip()
        time.sleep(2)
    raise RuntimeError("the app's int8 copies were not ready in time")


def run(config: LoadConfig, backend: str = "onnx") -> dict:
    from app_server import scalp_photo

    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    photos = work / "photos"
    photos.mkdir()
    levels = [int(n) for n in config.levels.split(",") if n.strip()]
    total = config.clients * config.calls + config.single + 2 + sum(n * config.calls for n in levels)
    distinct = [scalp_photo(photos / f"p{i:04d}.jpg", {"excess_sebum": i % 4, "dandruff": (i // 4) % 4}, seed=i)
                for i in range(total)]
    process, url = (None, config.url) if config.url else start_app(config.models, work, backend, config.app_args)
    scaling, int8_state = {}, None
    try:
        wait_ready(url, distinct[0])
        if process and backend == "int8":
            int8_state = wait_int8(work / "app-int8.log")
        run_clients(url, [distinct[:2]])  # warm-up
        single, single_errors, single_wall = run_clients(url, [distinct[2:2 + config.single]])
        rest = distinct[2 + config.single:]
        for n in levels:
            lat, errs, wall = run_clients(url, [rest[i * config.calls:(i + 1) * config.calls] for i in range(n)])
            scaling[n] = {"clients": n, "calls": n * config.calls, "errors": len(errs), "per_s": len(lat) / wall,
                          "p50_s": pct(lat, 0.5), "p95_s": pct(lat, 0.95)}
            rest = rest[n * config.calls:]
        per_client = [rest[i * config.calls:(i + 1) * config.calls] for i in range(config.clients)]
        loaded, load_errors, load_wall = run_clients(url, per_client)
        same, same_errors, _ = run_clients(url, [[distinct[0]] for _ in range(config.identical)])
        time.sleep(1.0)
        left = sorted(str(p.relative_to(work / "gradio")) for p in (work / "gradio").rglob("*")
                      if p.is_file()) if process else None
        rss = peak_rss_mib(process.pid) if process else None
    finally:
        if process:
            process.terminate()
            process.wait(timeout=30)
    single_rate = len(single) / single_wall
    load_rate = len(loaded) / load_wall
    return {
        "config": asdict(config), "backend": backend, "int8": int8_state, "scaling": scaling,
        "single": {"calls": config.single, "errors": len(single_errors), "per_s": single_rate,
                   "p50_s": pct(single, 0.5), "p95_s": pct(single, 0.95)},
        "load": {"calls": config.clients * config.calls, "errors": len(load_errors), "per_s": load_rate,
                 "p50_s": pct(loaded, 0.5), "p95_s": pct(loaded, 0.95)},
        "identical": {"calls": config.identical, "errors": len(same_errors), "p50_s": pct(same, 0.5)},
        "error_samples": (single_errors + load_errors + same_errors)[:5],
        "peak_rss_mib": rss, "load_average": os.getloadavg()[0],
        "upload_cache_left": left,
        "throughput_vs_single": load_rate / single_rate,
        "p95_vs_single_p50": pct(loaded, 0.95) / pct(single, 0.5),
    }


def format_table(r: dict) -> str:
    app_args = r["config"].get("app_args")
    rows = [f"backend {r['backend']}" + (f" {app_args}" if app_args else "") + (f" ({r['int8']})" if r.get("int8")
                                                                               else ""),
            f"load average at the end: {r.get('load_average', float('nan')):.2f}", "",
            "| phase | calls | errors | diagnoses/s | p50 (ms) | p95 (ms) |", "|---|---:|---:|---:|---:|---:|"]
    for n, p in r.get("scaling", {}).items():
        rows.append(f"| {n} concurrent | {p['calls']} | {p['errors']} | {p['per_s']:.2f} | {p['p50_s'] * 1e3:.0f} "
                    f"| {p['p95_s'] * 1e3:.0f} |")
    for name in ("single", "load", "identical"):
        p = r[name]
        rate = f"{p['per_s']:.2f}" if "per_s" in p else ""
        p95 = f"{p['p95_s'] * 1e3:.0f}" if "p95_s" in p else ""
        rows.append(f"| {name} | {p['calls']} | {p['errors']} | {rate} | {p['p50_s'] * 1e3:.0f} | {p95} |")
    rss = r["peak_rss_mib"]
    checks = [
        ("zero errors (all phases)", sum(r[n]["errors"] for n in ("single", "load", "identical")) == 0, ""),
        (f"throughput ≥ {GOALS['throughput_vs_single']}× single client", r["throughput_vs_single"]
         >= GOALS["throughput_vs_single"], f"{r['throughput_vs_single']:.2f}×"),
        (f"p95 ≤ {GOALS['p95_vs_single_p50']:.0f}× single-call p50", r["p95_vs_single_p50"]
         <= GOALS["p95_vs_single_p50"], f"{r['p95_vs_single_p50']:.1f}×"),
        (f"peak RSS ≤ {GOALS['peak_rss_gib']} GiB", None if rss is None else rss <= GOALS["peak_rss_gib"] * 1024,
         "n/a (--url)" if rss is None else f"{rss:.0f} MiB"),
        ("upload cache empty afterwards", None if r["upload_cache_left"] is None else not r["upload_cache_left"],
         "n/a (--url)" if r["upload_cache_left"] is None else f"{len(r['upload_cache_left'])} files"),
    ]
    rows += ["", "| goal | met | measured |", "|---|---|---|"]
    rows += [f"| {goal} | {'n/a' if ok is None else 'yes' if ok else 'NO'} | {value} |" for goal, ok, value in checks]
    if r["error_samples"]:
        rows += ["", "errors, first ones:", *[f"- {e}" for e in r["error_samples"]]]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, f in LoadConfig.__dataclass_fields__.items():
        kind = int if isinstance(f.default, int) else str
        parser.add_argument(f"--{name}", type=kind, default=f.default, help=f.metadata["help"])
    config = LoadConfig(**vars(parser.parse_args(argv)))
    results = [run(config, backend.strip()) for backend in config.backends.split(",") if backend.strip()]
    for result in results:
        print(format_table(result), end="\n\n")
    by_backend = {r["backend"]: r for r in results}
    if "onnx" in by_backend and "int8" in by_backend:
        ratio = by_backend["int8"]["load"]["per_s"] / by_backend["onnx"]["load"]["per_s"]
        print(f"int8 vs fp32 under the {config.clients}-client load: {ratio:.2f}× diagnoses/s "
              f"(goal ≥ {GOAL_INT8_THROUGHPUT}×: {'met' if ratio >= GOAL_INT8_THROUGHPUT else 'MISSED'})")
    if config.json:
        payload = results[0] if len(results) == 1 else results
        Path(config.json).write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0 if not sum(r[n]["errors"] for r in results for n in ("single", "load", "identical")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
