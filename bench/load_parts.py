"""Where the server's CPU goes per ``/diagnose`` under load, part by part, fp32 against int8.

For each backend it serves ``app.py`` in a child process with CPU-time counters (``time.thread_time``,
so a thread waiting for the GIL or for a lock costs nothing) around the parts of a diagnosis, drives it
from this process with ``bench/load.py``'s HTTP clients (16 × 10 by default, after a warm-up), and prints
each part's server CPU per diagnosis. The parts are exclusive: a part nested in another (Lite0 inside the
photo check) is counted once, in itself. Gradio's event loop is its thread's CPU time; "other" is the rest
of the process's (Gradio's thread pool, background threads).

The last lines answer issue 15's throughput question: fp32's and int8's model parts (the six models with
the int8 re-check, and Lite0) against everything else, which both backends spend alike, and how small
that shared part would have to be for int8 to serve 1.6× fp32's diagnoses per second::

    python bench/load_parts.py                                  # demo models, onnx and int8, 16 × 10
    python bench/load_parts.py --backends int8 --clients 4 --calls 5 --json parts.json
    python bench/load_parts.py --models tiny --backends onnx --clients 2 --calls 3   # a quick look

Counting adds ~1 µs per counted call (a few dozen per diagnosis), far below the figures' noise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from functools import wraps
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests")]

GOAL = 1.6  # issue 15: int8 serves ≥ 1.6× the diagnoses/s of fp32 under the 16-client load

# (part, "module:Class.method"): each counter holds its method's CPU less that of the counted calls inside it.
PARTS = (
    ("decode and upload claim", "ui.api:ApiEndpoints._image"),
    ("the answer (scalp type, JSON) and glue", "ui.api:ApiEndpoints.diagnose"),
    ("photo check (Lite0 aside)", "ui.service:ScalpService.check_photo"),
    ("Lite0 features", "ui.service:ScalpService.lite0_of"),
    ("domain check (Lite0 aside)", "ui.service:ScalpService.domain_of"),
    ("resize, normalise, softmax", "scalp_models.diagnoser:ScalpDiagnoser.predict_proba"),
    ("six models", "scalp_models.onnx_backend:OnnxRunner._run_group"),
    ("int8 re-check and shadows", "scalp_models.int8_serving:Int8Upgrade.recheck"),
)
MODEL_PARTS = ("six models", "int8 re-check and shadows", "Lite0 features")
LOOP, OTHER = "Gradio's event loop (uvicorn thread)", "other threads of the process"


class Counters:
    """Exclusive CPU seconds and calls per part, across threads (each thread keeps its own nesting stack)."""

    def __init__(self):
        self.cpu = defaultdict(float)
        self.calls = defaultdict(int)
        self._lock = threading.Lock()
        self._local = threading.local()

    def wrap(self, part: str, fn):
        @wraps(fn)
        def counted(*args, **kwargs):
            stack = self._local.__dict__.setdefault("stack", [])
            stack.append(0.0)  # CPU of the counted calls made inside this one
            start = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.thread_time() - start
                inner = stack.pop()
                if stack:
                    stack[-1] += spent
                with self._lock:
                    self.cpu[part] += spent - inner
                    self.calls[part] += 1
        return counted

    def reset(self) -> None:
        with self._lock:
            self.cpu.clear()
            self.calls.clear()


def thread_cpu_s(native_id: int) -> float:
    from load import stat_cpu_s

    return stat_cpu_s(Path(f"/proc/self/task/{native_id}/stat"))


def serve(backend: str, models: str, work: Path) -> None:
    """The child: the app with counters, driven by commands on stdin ("reset", "dump"), answering on stdout."""
    import importlib

    counters = Counters()
    for part, target in PARTS:  # before app.py registers the endpoints, which binds ui.api's methods
        module, _, attribute = target.partition(":")
        owner_name, method = attribute.split(".")
        owner = getattr(importlib.import_module(module), owner_name)
        setattr(owner, method, counters.wrap(part, getattr(owner, method)))

    from app_server import free_port, write_tiny_models

    import app
    from ui.config import AppConfig

    if models == "tiny":
        models = str(write_tiny_models(work / "tiny-models"))
    port = free_port()
    app.launch(AppConfig(models=models, host="127.0.0.1", port=port, backend=backend), prevent_thread_lock=True,
               quiet=True)
    diagnoser = app.SERVICE.diagnoser(timeout=1800)
    app.SERVICE.wait_photo_check(timeout=600)
    precision = diagnoser.precisions
    if backend == "int8":
        from scalp_models.lite0_features import lite0_features

        diagnoser.wait_int8(timeout=1800)
        lite0 = lite0_features().wait_int8(timeout=1800)
        precision = {**diagnoser.precisions, "lite0": "int8" if lite0 else "fp32"}
    print(json.dumps({"url": f"http://127.0.0.1:{port}/", "precision": precision}), flush=True)
    loop_thread = app.demo.server.thread.native_id
    start = {}
    for command in sys.stdin:
        if command.strip() == "reset":
            counters.reset()
            start = {"process": time.process_time(), "loop": thread_cpu_s(loop_thread)}
            print(json.dumps({"reset": True}), flush=True)
        elif command.strip() == "dump":
            with counters._lock:
                out = {"cpu_s": dict(counters.cpu), "calls": dict(counters.calls),
                       "process_s": time.process_time() - start["process"],
                       "loop_s": thread_cpu_s(loop_thread) - start["loop"]}
            print(json.dumps(out), flush=True)
            break
    os._exit(0)  # the server threads are daemons of a launched app; nothing to flush


def measure(backend: str, models: str, clients: int, calls: int, work: Path) -> dict:
    """Start the child for ``backend``, warm it up, run the load and return its figures per diagnosis."""
    from load import distinct_photos, run_clients

    distinct = distinct_photos(work / f"photos-{backend}", clients * calls + 4)
    env = {**os.environ, "GRADIO_TEMP_DIR": str(work / f"gradio-{backend}"), "GRADIO_ANALYTICS_ENABLED": "False"}
    log = (work / f"app-{backend}.log").open("wb")
    child = subprocess.Popen([sys.executable, __file__, "--serve", backend, "--models", models, "--work", str(work)],
                             cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)

    def ask(command: str | None = None) -> dict:
        if command:
            child.stdin.write(command + "\n")
            child.stdin.flush()
        line = child.stdout.readline()
        if not line:
            raise RuntimeError(f"the {backend} app stopped; its log: {log.name}")
        return json.loads(line)

    try:
        started = ask()
        url = started["url"]
        run_clients(url, [distinct[:2], distinct[2:4]])  # warm-up: every part has run at least once
        ask("reset")
        phase = run_clients(url, [distinct[4 + i * calls:4 + (i + 1) * calls] for i in range(clients)],
                            pid=child.pid)
        dumped = ask("dump")
    finally:
        child.kill()
        child.wait()
    n = dumped["calls"].get("the answer (scalp type, JSON) and glue", 0)
    if not n or phase.errors:
        raise RuntimeError(f"{backend}: {n} diagnoses counted, errors {phase.errors[:3]}")
    parts = {part: dumped["cpu_s"].get(part, 0.0) / n * 1e3 for part, _ in PARTS}
    parts[LOOP] = dumped["loop_s"] / n * 1e3
    parts[OTHER] = max(0.0, dumped["process_s"] / n * 1e3 - sum(parts.values()))
    return {"backend": backend, "precision": started["precision"], "diagnoses": n, "per_s": len(phase.latencies)
            / phase.wall_s, "process_ms": dumped["process_s"] / n * 1e3, "parts_ms": parts}


def bound(fp32: dict, int8: dict) -> dict:
    """The model parts against the shared rest, and the shared CPU that 1.6× would allow.

    Throughput on saturated cores is inverse to CPU per diagnosis, so int8/fp32 = (S + M32) / (S + M8)
    with S the shared part; ≥ GOAL needs S ≤ (M32 − GOAL·M8) / (GOAL − 1), out of reach when negative."""
    m32, m8 = (sum(r["parts_ms"][p] for p in MODEL_PARTS) for r in (fp32, int8))
    s32, s8 = (r["process_ms"] - m for r, m in ((fp32, m32), (int8, m8)))
    return {"models_fp32_ms": m32, "models_int8_ms": m8, "models_ratio": m32 / m8, "shared_fp32_ms": s32,
            "shared_int8_ms": s8, "cpu_ratio": fp32["process_ms"] / int8["process_ms"],
            "shared_allowed_ms": (m32 - GOAL * m8) / (GOAL - 1)}


def format_table(results: list[dict]) -> str:
    names = [r["backend"] for r in results]
    rows = ["| part | " + " | ".join(f"{n} ms/diagnosis" for n in names) + " |", "|---|" + "---:|" * len(names)]
    for part in [p for p, _ in PARTS] + [LOOP, OTHER]:
        rows.append(f"| {part} | " + " | ".join(f"{r['parts_ms'][part]:.1f}" for r in results) + " |")
    rows.append("| **server CPU in all** | " + " | ".join(f"**{r['process_ms']:.1f}**" for r in results) + " |")
    rows.append("| diagnoses/s (this run) | " + " | ".join(f"{r['per_s']:.2f}" for r in results) + " |")
    rows += ["", *[f"{r['backend']}: {r['diagnoses']} diagnoses counted; precisions {r['precision']}" for r in results]]
    by = {r["backend"]: r for r in results}
    if "onnx" in by and "int8" in by:
        b = bound(by["onnx"], by["int8"])
        allowed = b["shared_allowed_ms"]
        rows += ["", (f"Model parts (six models, re-check, Lite0): fp32 {b['models_fp32_ms']:.1f} ms, int8 "
                      f"{b['models_int8_ms']:.1f} ms ({b['models_ratio']:.2f}×). Shared by both: fp32 "
                      f"{b['shared_fp32_ms']:.1f} ms, int8 {b['shared_int8_ms']:.1f} ms. Server CPU ratio "
                      f"{b['cpu_ratio']:.2f}×."),
                 (f"{GOAL}× needs the shared part ≤ {allowed:.1f} ms per diagnosis." if allowed > 0 else
                  f"{GOAL}× is out of reach whatever the shared part: the model parts alone are "
                  f"{b['models_ratio']:.2f}×.")]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="demo", help="'demo', 'tiny' (random 64 px models) or a models folder")
    parser.add_argument("--backends", default="onnx,int8", help="comma list of app --backend values (onnx, int8)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--calls", type=int, default=10, help="calls per client")
    parser.add_argument("--json", help="also write the results as JSON here")
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # the child: serve this backend with counters
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.models, Path(args.work))
        return 0
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in ("onnx", "int8")]
    if unknown or args.clients < 1 or args.calls < 1:
        parser.error(f"backends must be onnx and/or int8 (the counted parts are ONNX Runtime's), got {unknown}; "
                     "--clients and --calls at least 1")
    work = Path(tempfile.mkdtemp(prefix="bench-parts-"))
    results = [measure(b, args.models, args.clients, args.calls, work) for b in backends]
    print(format_table(results))
    if args.json:
        by = {r["backend"]: r for r in results}
        extra = {"bound": bound(by["onnx"], by["int8"])} if "onnx" in by and "int8" in by else {}
        Path(args.json).write_text(json.dumps({"results": results, **extra}, indent=2, ensure_ascii=False),
                                   encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
