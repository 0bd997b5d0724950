"""Many users at once: ``/diagnose`` through ``gradio_client`` from N clients, against one app server.

It starts ``python app.py`` in a subprocess (or takes ``--url``), then measures, in one run:

1. **single client**: sequential ``/diagnose`` calls, the rate one user gets (and the single-call p50);
2. **load**: ``--clients`` clients × ``--calls`` calls each, every call on a distinct generated photo;
3. **identical**: ``--identical`` clients sending the same file (same name, same bytes) at once;

and prints calls, errors, diagnoses per second, p50/p95 latency, the CPU time the server and this
bench spent per diagnosis, the peak RSS of the server with its build processes, and what is left in
its upload cache, with the goals of the serving issue checked against this run's own baseline.

The clients speak Gradio's HTTP API directly (``--client http``, the default: upload, ``/call``, read
the event stream, as ``curl`` would). ``--client gradio`` uses ``gradio_client`` instead; it spends
about 85 ms of CPU per call itself, and on a two-core machine that CPU is taken from the server it
measures (about a third of it under load), so its figures are lower bounds::

    python bench/load.py                          # demo models (built once, then cached), 16 × 10
    python bench/load.py --models tiny --clients 4 --calls 3 --identical 4 --json out.json
    python bench/load.py --url http://127.0.0.1:7860/ # an app that is already running (no RSS figure)
    python bench/load.py --backends onnx,int8 --levels 1,2,4   # fp32 and int8 apps in turn, same photos
    python bench/load.py --app_args='--model-threads 1 --model-concurrency 2'   # threads and sessions to tune
    python bench/load.py --client gradio          # through gradio_client (its own CPU counted as bench CPU)
    python bench/load.py --photo_side 4032        # 12 MP phone photos (4032×3024 JPEGs) instead of 640×480
    python bench/load.py --backends int8 --private_cache   # int8 from its check margins, the app's cache untouched
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project, and tests/app_server.py (tiny models, photos)

from private_cache import private_cache  # noqa: E402  (bench/, beside this script)

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
    client: str = field(default="http", metadata={"help": "'http' (Gradio's HTTP API through http.client, one session "
                                                       "per client), 'http-fresh' (a new session per call, as a "
                                                       "caller sending no session_hash gets) or 'gradio' "
                                                       "(gradio_client, which spends ~85 ms CPU per call itself)"})
    photo_side: int = field(default=0, metadata={"help": "upscale the generated 640×480 photos so their longer "
                                                         "side is this, e.g. 4032 for a 12 MP phone photo "
                                                         "(0: as generated)"})
    private_cache: bool = field(default=False, metadata={"help": "run the app on a copy of the project's cache "
                                                                 "without what int8 serving learned (widened "
                                                                 "margins, retired copies), leaving the real one "
                                                                 "as it was (bench/private_cache.py)"})
    json: str | None = field(default=None, metadata={"help": "also write the results as JSON here"})

    def __post_init__(self):
        if self.client not in CLIENTS:
            raise ValueError(f"--client must be one of {sorted(CLIENTS)}, got {self.client!r}")
        for name in ("clients", "calls", "identical", "single"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.photo_side and not 640 <= self.photo_side <= 8000:
            raise ValueError(f"--photo_side must be 0 or 640..8000, got {self.photo_side}")


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


class HttpDiagnose:
    """``/diagnose`` through Gradio's HTTP API on one kept-alive ``http.client`` connection: upload the
    photo, start the call, read its event stream until ``complete`` (the answer) or ``error`` (raised).

    The standard library's client, not ``httpx``: on these two cores the bench's own CPU is taken from the
    server it measures, and ``httpx`` spent 3.6 ms per call where this spends 1.4 (one client, tiny models).

    One Gradio session per client, as ``gradio_client`` and a browser tab keep; ``fresh_sessions``
    sends none, so Gradio builds a session (every block's config, ~8 ms of server CPU) per call."""

    def __init__(self, url: str, fresh_sessions: bool = False):
        parts = urllib.parse.urlsplit(url)
        self.prefix = parts.path.rstrip("/") + "/"
        self.http = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
        self.session_hash = None if fresh_sessions else uuid.uuid4().hex[:12]

    def _send(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        for attempt in (1, 2):  # once more on a fresh connection when the server closed an idle one
            try:
                self.http.request(method, self.prefix + path, body=body, headers=headers or {})
                return self.http.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.http.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _json(self, method: str, path: str, body: bytes, content_type: str):
        response = self._send(method, path, body, {"Content-Type": content_type})
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}: {data[:200]!r}")
        return json.loads(data)

    def __call__(self, photo: Path) -> dict:
        boundary = uuid.uuid4().hex
        form = b"".join([(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{photo.name}"'
                          "\r\nContent-Type: image/jpeg\r\n\r\n").encode(), photo.read_bytes(),
                         f"\r\n--{boundary}--\r\n".encode()])
        uploaded = self._json("POST", "gradio_api/upload", form, f"multipart/form-data; boundary={boundary}")
        data = [{"path": uploaded[0], "meta": {"_type": "gradio.FileData"}, "orig_name": photo.name},
                "지성", [], []]
        body = {"data": data} if self.session_hash is None else {"data": data, "session_hash": self.session_hash}
        started = self._json("POST", "gradio_api/call/diagnose", json.dumps(body).encode(), "application/json")
        stream = self._send("GET", f"gradio_api/call/diagnose/{started['event_id']}")
        event, payload = None, ""
        for raw in stream:
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                payload = line[5:].strip()
                break
        stream.read()  # to its end, so the connection serves the next call
        if event != "complete":
            raise RuntimeError(f"event {event}: {payload[:200]}")
        return json.loads(payload)[0]


class GradioClientDiagnose:
    """``/diagnose`` through ``gradio_client`` (one ``Client``)."""

    def __init__(self, url: str):
        from gradio_client import Client

        self.api = Client(url, verbose=False)

    def __call__(self, photo: Path) -> dict:
        from gradio_client import handle_file

        return self.api.predict(handle_file(str(photo)), "지성", [], [], api_name="/diagnose")


CLIENTS = {"http": HttpDiagnose, "http-fresh": partial(HttpDiagnose, fresh_sessions=True),
           "gradio": GradioClientDiagnose}


def stat_cpu_s(stat: Path) -> float:
    """User + system CPU seconds in a ``/proc/.../stat`` file: a process's (all its threads) or one thread's."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (all its threads) so far, or None."""
    try:
        return stat_cpu_s(Path(f"/proc/{pid}/stat"))
    except (OSError, TypeError, ValueError, IndexError):
        return None


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_ready(url: str, photo: Path, client: str = "http", timeout_s: float = 900) -> None:
    """Until ``/diagnose`` answers with a photo check (models and photo check loaded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            out = CLIENTS[client](url)(photo)
            if out.get("photo_check") is not None:
                return
        except Exception as exc:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app at {url} did not become ready: {exc}") from exc
        time.sleep(2)


class TreePeak:
    """The peak of the summed RSS of a process and all its descendants, sampled every 0.25 s: the app
    runs its build steps (the demo models, int8 copies) in child processes, which its own VmHWM misses."""

    def __init__(self, pid: int):
        self.pid, self.peak_mib, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @staticmethod
    def _tree(pid: int) -> list[int]:
        pids, todo = [], [pid]
        while todo:
            pids.append(todo.pop())
            try:
                todo += [int(c) for t in Path(f"/proc/{pids[-1]}/task").iterdir()
                         for c in (t / "children").read_text().split()]
            except OSError:
                pass
        return pids

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            self.peak_mib = max(self.peak_mib, sum(status_mib(p, "VmRSS") or 0.0 for p in self._tree(self.pid)))

    def stop(self) -> float | None:
        self._stop.set()
        self._thread.join()
        return self.peak_mib or None


def status_mib(pid: int, field: str) -> float | None:
    """A memory figure of ``/proc/<pid>/status`` (``VmHWM``: the peak RSS, ``VmRSS``: now) in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_rss_mib(pid: int) -> float | None:
    return status_mib(pid, "VmHWM")


@dataclass
class Phase:
    """One phase's calls: latencies (s), errors, wall time, and the CPU seconds the server and this bench spent."""

    latencies: list[float]
    errors: list[str]
    wall_s: float
    server_cpu_s: float | None
    bench_cpu_s: float

    def figures(self) -> dict:
        done = len(self.latencies)

        def per_call(cpu: float | None) -> float | None:
            return None if cpu is None or not done else cpu / done * 1e3

        return {"calls": done + len(self.errors), "errors": len(self.errors), "per_s": done / self.wall_s,
                "p50_s": pct(self.latencies, 0.5), "p95_s": pct(self.latencies, 0.95),
                "server_cpu_ms": per_call(self.server_cpu_s), "bench_cpu_ms": per_call(self.bench_cpu_s)}


def run_clients(url: str, photos_per_client: list[list[Path]], client: str = "http", pid: int | None = None) -> Phase:
    """Each client (its own connection, own thread) diagnoses its photos in turn; ``pid``: the server's
    process, whose CPU time is read before and after."""
    latencies, errors, lock = [], [], threading.Lock()
    barrier = threading.Barrier(len(photos_per_client))

    def client_thread(photos: list[Path]) -> None:
        diagnose = CLIENTS[client](url)
        barrier.wait()
        for photo in photos:
            start = time.perf_counter()
            try:
                diagnose(photo)
                with lock:
                    latencies.append(time.perf_counter() - start)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")

    threads = [threading.Thread(target=client_thread, args=(photos,)) for photos in photos_per_client]
    server0, bench0, start = process_cpu_s(pid), own_cpu_s(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall, server1 = time.perf_counter() - start, process_cpu_s(pid)
    server = None if server0 is None or server1 is None else server1 - server0
    return Phase(latencies, errors, wall, server, own_cpu_s() - bench0)


def wait_int8(log: Path, timeout_s: float = 1800) -> str:
    """Until the app logs that the six models' int8 copies and the Lite0 extractor's are built and checked
    (each serving int8 or keeping fp32); returns what those lines say."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = log.read_text(errors="replace").splitlines()
        models = [line.split("int8 ready:")[1].strip() for line in lines if "int8 ready:" in line]
        lite0 = [line.split("Lite0 features int8", 1)[1].lstrip(": ") for line in lines if "Lite0 features int8" in line]
        if models and lite0:
            return f"{models[0]}; Lite0: {lite0[0][:120]}"
        time.sleep(2)
    raise RuntimeError("the app's int8 copies were not ready in time")


def as_phone_photo(path: Path, side: int) -> None:
    """Rewrite the JPEG at ``path`` upscaled to a longer side of ``side`` px, at a phone camera's quality (92)."""
    from PIL import Image

    with Image.open(path) as image:
        scale = side / max(image.size)
        big = image.convert("RGB").resize((round(image.width * scale), round(image.height * scale)),
                                          Image.Resampling.BICUBIC)
    big.save(path, format="JPEG", quality=92)


def distinct_photos(folder: Path, count: int, photo_side: int = 0) -> list[Path]:
    """``count`` different generated scalp photos (JPEG) in ``folder``, the same ones in every run;
    ``photo_side``: upscaled to that longer side (:func:`as_phone_photo`)."""
    from app_server import scalp_photo

    folder.mkdir(parents=True, exist_ok=True)
    photos = [scalp_photo(folder / f"p{i:04d}.jpg", {"excess_sebum": i % 4, "dandruff": (i // 4) % 4}, seed=i)
              for i in range(count)]
    if photo_side:
        for path in photos:
            as_phone_photo(path, photo_side)
    return photos


def run(config: LoadConfig, backend: str = "onnx") -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    levels = [int(n) for n in config.levels.split(",") if n.strip()]
    total = config.clients * config.calls + config.single + 2 + sum(n * config.calls for n in levels)
    distinct = distinct_photos(work / "photos", total, config.photo_side)
    process, url = (None, config.url) if config.url else start_app(config.models, work, backend, config.app_args)
    pid = process.pid if process else None
    tree = TreePeak(pid) if process else None
    scaling, int8_state = {}, None
    try:
        wait_ready(url, distinct[0], config.client)
        if process and backend == "int8":
            int8_state = wait_int8(work / "app-int8.log")
        run_clients(url, [distinct[:2]], config.client)  # warm-up
        single = run_clients(url, [distinct[2:2 + config.single]], config.client, pid)
        rest = distinct[2 + config.single:]
        for n in levels:
            phase = run_clients(url, [rest[i * config.calls:(i + 1) * config.calls] for i in range(n)], config.client,
                                pid)
            scaling[n] = {"clients": n, **phase.figures()}
            rest = rest[n * config.calls:]
        per_client = [rest[i * config.calls:(i + 1) * config.calls] for i in range(config.clients)]
        loaded = run_clients(url, per_client, config.client, pid)
        same = run_clients(url, [[distinct[0]] for _ in range(config.identical)], config.client, pid)
        time.sleep(1.0)
        left = sorted(str(p.relative_to(work / "gradio")) for p in (work / "gradio").rglob("*")
                      if p.is_file()) if process else None
        rss = peak_rss_mib(process.pid) if process else None
        tree_rss = tree.stop() if tree else None
        rss = max(filter(None, (rss, tree_rss)), default=None)  # the app alone, or with its build processes
    finally:
        if process:
            process.terminate()
            process.wait(timeout=30)
    single_figures, load_figures = single.figures(), loaded.figures()
    return {
        "config": asdict(config), "backend": backend, "int8": int8_state, "scaling": scaling,
        "single": single_figures, "load": load_figures, "identical": same.figures(),
        "error_samples": (single.errors + loaded.errors + same.errors)[:5],
        "peak_rss_mib": rss, "load_average": os.getloadavg()[0], "cpus": os.cpu_count(),
        "upload_cache_left": left,
        "throughput_vs_single": load_figures["per_s"] / single_figures["per_s"],
        "p95_vs_single_p50": load_figures["p95_s"] / single_figures["p50_s"],
    }


def format_table(r: dict) -> str:
    app_args = r["config"].get("app_args")
    rows = [f"backend {r['backend']}" + (f" {app_args}" if app_args else "") + (f" ({r['int8']})" if r.get("int8")
                                                                               else ""),
            (f"client {r['config'].get('client', 'gradio')}; photos "
             f"{r['config'].get('photo_side') or 640} px on the longer side; load average at the end: "
             f"{r.get('load_average', float('nan')):.2f}"), "",
            ("| phase | calls | errors | diagnoses/s | p50 (ms) | p95 (ms) | server CPU/diagnosis (ms) "
             "| bench CPU/diagnosis (ms) |"), "|---|---:|---:|---:|---:|---:|---:|---:|"]
    phases = [(f"{n} concurrent", p) for n, p in r.get("scaling", {}).items()]
    phases += [(name, r[name]) for name in ("single", "load", "identical")]
    for name, p in phases:
        server, bench = p.get("server_cpu_ms"), p.get("bench_cpu_ms")
        rows.append(f"| {name} | {p['calls']} | {p['errors']} | {p['per_s']:.2f} | {p['p50_s'] * 1e3:.0f} "
                    f"| {p['p95_s'] * 1e3:.0f} | {'n/a' if server is None else f'{server:.0f}'} "
                    f"| {'n/a' if bench is None else f'{bench:.0f}'} |")
    server = r["load"].get("server_cpu_ms")
    if server:
        rows += ["", (f"Under load the server spent {server:.0f} ms of CPU per diagnosis: at most "
                      f"{1e3 * (r.get('cpus') or 1) / server:.1f} diagnoses/s on {r.get('cpus')} cores if it had "
                      "them all.")]
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
        if isinstance(f.default, bool):
            parser.add_argument(f"--{name}", action="store_true", help=f.metadata["help"])
            continue
        kind = int if isinstance(f.default, int) else str
        choices = sorted(CLIENTS) if name == "client" else None
        parser.add_argument(f"--{name}", type=kind, default=f.default, choices=choices, help=f.metadata["help"])
    config = LoadConfig(**vars(parser.parse_args(argv)))
    with private_cache(config.private_cache):
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
