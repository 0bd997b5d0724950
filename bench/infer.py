"""Per-image latency of the six-model diagnosis: ScalpDiagnoser (ONNX Runtime) vs the seed's way.

The seed ran six separate scripts, each decoding the photo itself, resizing it with its own
processor and running its own eager forward. ``ScalpDiagnoser`` decodes once, resizes once per
input size and normalises with each model's parameters. Both run the full b1 configuration
(random-init EfficientNet-B1 from config — no Hub — at 240 px, 모낭사이홍반 at 600 px) on
640×480 JPEGs. The paths take turns image by image in one process (so a busy machine slows
them alike); each path's peak RSS is measured alone in a short subprocess (after a first
subprocess has filled the ONNX cache, so export memory is not counted).

Paths: ``seed_sequential`` (baseline), ``scalp_diagnoser`` (the default serving path: ONNX
Runtime, models run concurrently), ``scalp_diagnoser_torch`` (``backend="torch"``) and
``scalp_diagnoser_int8`` (``backend="int8"``; with ``--models demo`` or a trained folder also its
per-symptom agreement, macro-F1 and ECE against fp32: ``bench/infer_quality.py``) and
``scalp_diagnoser_int8_raw`` (int8 without the fp32 re-check of answers near a class boundary). The report
gives p50/p95 latency, the speed-up over the baseline, peak RSS, the largest probability
difference from the baseline and whether every predicted severity agrees. If a goal is missed
(≥ 2.5× at p50, |Δp| ≤ 1e-3, RSS ≤ 1.2 GB) it prints the compute floor: FLOPs per diagnosis
against the GFLOP/s of a large matmul here.

    python bench/infer.py                      # 20 images, all paths, markdown table
    python bench/infer.py --images 5 --threads 2 --json /tmp/infer.json
    python bench/infer.py --paths seed_sequential scalp_diagnoser --floor
    python bench/infer.py --models demo --paths scalp_diagnoser scalp_diagnoser_int8 --private-cache

A new path (e.g. ONNX Runtime) is one function ``setup_<name>(models_dir, threads) -> predict``
where ``predict(jpeg_bytes)`` returns ``{symptom key: probabilities}``, registered in ``PATHS``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is scripts, not a package

from infer_quality import (  # noqa: E402  (bench/, after the sys.path lines above)
    INT8,
    int8_quality,
    int8_report,
    setup_scalp_diagnoser_int8,
    setup_scalp_diagnoser_int8_raw,
)
from private_cache import private_cache  # noqa: E402

Predict = Callable[[bytes], dict]
# Each path's setup function imports its own heavy dependencies (torch, transformers, scalp_models), so
# the RSS worker of one path loads only that path's code and the peak RSS figures stay comparable.


@dataclass(frozen=True)
class BenchConfig:
    images: int = field(default=20, metadata={"help": "timed images per path (after warm-up)"})
    warmup: int = field(default=2, metadata={"help": "untimed images first"})
    threads: int = field(default=min(4, os.cpu_count() or 1), metadata={"help": "torch threads"})
    base: str = field(default="scratch-b1", metadata={"help": "create_model base (random b1: no Hub)"})
    paths: tuple[str, ...] = field(default=(), metadata={"help": "paths to run (default: all)"})
    floor: bool = field(default=False, metadata={"help": "always print the FLOP floor (else only on a miss)"})
    models: str | None = field(default=None, metadata={"help": "a folder of six trained models or 'demo' "
                                                           "(default: random --base models, speed only)"})
    int8_unchecked: bool = field(default=False, metadata={"help": "serve every int8 copy even where it fails "
                                                                 "its check against fp32 (measures the raw recipe)"})
    test_per_class: int = field(default=12, metadata={"help": "generated test photos per symptom and class "
                                                          "for the int8 quality rows (trained models only)"})
    seed: int = 0

    def __post_init__(self):
        if self.images < 1 or self.warmup < 0 or self.threads < 1:
            raise ValueError("images ≥ 1, warmup ≥ 0 and threads ≥ 1 are required")
        unknown = set(self.paths) - set(PATHS)
        if unknown:
            raise ValueError(f"unknown paths {sorted(unknown)}; choose from {sorted(PATHS)}")


# ----------------------------------------------------------------------------- paths


def setup_seed_sequential(models_dir: Path, threads: int) -> Predict:
    """Six independent pipelines: own decode, own resize (processor), own eager forward."""
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from scalp_core import SYMPTOMS

    torch.set_num_threads(threads)
    pipelines = []
    for spec in SYMPTOMS:
        model = AutoModelForImageClassification.from_pretrained(models_dir / spec.key, trust_remote_code=False,
                                                                use_safetensors=True).eval()
        processor = AutoImageProcessor.from_pretrained(models_dir / spec.key, backend="pil", trust_remote_code=False)
        pipelines.append((spec, model, processor))

    def predict(jpeg: bytes) -> dict:
        out = {}
        for spec, model, processor in pipelines:
            image = Image.open(io.BytesIO(jpeg)).convert("RGB")
            if spec.grayscale:
                image = image.convert("L").convert("RGB")
            with torch.inference_mode():
                logits = model(**processor(images=image, return_tensors="pt")).logits
            out[spec.key] = torch.softmax(logits.double(), -1)[0].numpy()
        return out

    return predict


def setup_scalp_diagnoser(models_dir: Path, threads: int, backend: str | None = None) -> Predict:
    """The app's path: ``ScalpDiagnoser`` with its default backend (ONNX Runtime)."""
    from scalp_models.diagnoser import ScalpDiagnoser

    kwargs = {"backend": backend} if backend else {}
    diagnoser = ScalpDiagnoser.from_source(models_dir, num_threads=threads, **kwargs)
    if backend is None and diagnoser.backend != "onnx":
        raise RuntimeError(f"the default backend fell back to {diagnoser.backend!r}; see the warning above")

    def predict(jpeg: bytes) -> dict:
        return {r.symptom: np.array(r.probabilities) for r in diagnoser.diagnose(jpeg)}

    return predict


def setup_scalp_diagnoser_torch(models_dir: Path, threads: int) -> Predict:
    return setup_scalp_diagnoser(models_dir, threads, backend="torch")


PATHS: dict[str, Callable[[Path, int], Predict]] = {
    "seed_sequential": setup_seed_sequential,
    "scalp_diagnoser": setup_scalp_diagnoser,
    "scalp_diagnoser_torch": setup_scalp_diagnoser_torch,
    "scalp_diagnoser_int8": setup_scalp_diagnoser_int8,
    "scalp_diagnoser_int8_raw": setup_scalp_diagnoser_int8_raw,
}
BASELINE = "seed_sequential"
OURS = "scalp_diagnoser"
GOAL_SPEEDUP, GOAL_MAX_DIFF, GOAL_RSS_MIB = 2.5, 1e-3, 1.2 * 1024


# ----------------------------------------------------------------------------- fixtures


def build_models(folder: Path, base: str) -> Path:
    """Six models from config (random weights), grayscale stems folded, saved like training does."""
    import torch

    from scalp_core import SYMPTOMS
    from scalp_models.modeling import create_model, fold_grayscale
    from scalp_models.processing import create_image_processor

    torch.manual_seed(0)
    for spec in SYMPTOMS:
        model = create_model(spec, base).eval()
        if spec.grayscale:
            fold_grayscale(model)
        model.save_pretrained(folder / spec.key)
        create_image_processor(spec, "google/efficientnet-b1").save_pretrained(folder / spec.key)
    return folder


def make_photos(count: int, seed: int) -> list[bytes]:
    """640×480 JPEGs: synthetic scalp close-ups when the renderer is there, else seeded noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    try:
        from synthetic.render import random_severities, render_scalp
    except ImportError:
        render_scalp = None
    photos = []
    for _ in range(count):
        if render_scalp is not None:
            image = render_scalp(random_severities(rng), rng, size=(640, 480))
        else:
            image = Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        photos.append(buffer.getvalue())
    return photos


# ----------------------------------------------------------------------------- measuring


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def load_photos(photos_path: Path) -> list[bytes]:
    return [bytes.fromhex(p) for p in json.loads(photos_path.read_text())]


def time_paths(names: list[str], models_dir: Path, photos: list[bytes], config: BenchConfig) -> list[dict]:
    """All paths in one process, taking turns image by image, so a busy machine slows them alike."""
    import torch

    predictors, load_s = {}, {}
    for name in names:
        start = time.perf_counter()
        predictors[name] = PATHS[name](models_dir, config.threads)
        load_s[name] = time.perf_counter() - start
    torch.set_num_threads(config.threads)
    for jpeg in photos[: config.warmup]:
        for name in names:
            predictors[name](jpeg)
    latencies = {name: [] for name in names}
    outputs = {name: [] for name in names}
    for i, jpeg in enumerate(photos[config.warmup :]):
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            start = time.perf_counter()
            outputs[name].append(predictors[name](jpeg))
            latencies[name].append(time.perf_counter() - start)
    results = []
    for name in names:
        ms = np.array(latencies[name]) * 1000
        results.append({
            "path": name,
            "load_s": load_s[name],
            "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)),
            "mean_ms": float(ms.mean()),
            "probabilities": [{k: np.asarray(v).tolist() for k, v in out.items()} for out in outputs[name]],
        })
    return results


def rss_worker(name: str, models_dir: Path, photos: list[bytes], config: BenchConfig) -> dict:
    """In a fresh process: load one path and diagnose a few images; report its peak RSS."""
    predict = PATHS[name](models_dir, config.threads)
    for jpeg in photos[: max(2, config.warmup)]:
        predict(jpeg)
    return {"path": name, "peak_rss_mib": peak_rss_mib()}


def bench(config: BenchConfig) -> list[dict]:
    names = list(config.paths or PATHS)
    with tempfile.TemporaryDirectory(prefix="bench-infer-") as tmp:
        tmp = Path(tmp)
        models_dir = resolve_models(config, tmp)
        photos_path = tmp / "photos.json"
        photos = make_photos(config.warmup + config.images, config.seed)
        photos_path.write_text(json.dumps([p.hex() for p in photos]))
        rss = {}
        for name in names:
            cmd = [sys.executable, __file__, "--_worker", name, "--_models", str(models_dir),
                   "--_photos", str(photos_path), "--warmup", str(config.warmup),
                   "--threads", str(config.threads)]
            env = {**os.environ, "OMP_NUM_THREADS": str(config.threads)}
            if name != BASELINE:  # a first run fills the ONNX cache, so export memory is not counted
                subprocess.run(cmd, capture_output=True, text=True, env=env)
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode != 0:
                raise RuntimeError(f"path {name} failed:\n{out.stderr[-3000:]}")
            rss[name] = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mib"]
        results = time_paths(names, models_dir, photos, config)
        for result in results:
            result["peak_rss_mib"] = rss[result["path"]]
        if config.models and INT8 in names:
            results.append({"path": "_quality", "symptoms": int8_quality(models_dir, config)})
        if config.floor or not goals_met(results):
            results.append({"path": "_floor", **flop_floor(models_dir, config.threads)})
    return results


def resolve_models(config: BenchConfig, tmp: Path) -> Path:
    if config.models == "demo":
        from scalp_models.demo import ensure_demo_models

        return ensure_demo_models()
    if config.models:
        return Path(config.models)
    return build_models(tmp / "models", config.base)


def compare(result: dict, baseline: dict) -> tuple[float, bool]:
    """(max |Δp| over every image and symptom, same predicted class on every one)."""
    diff, same = 0.0, True
    for a, b in zip(result["probabilities"], baseline["probabilities"]):
        for key in a:
            diff = max(diff, float(np.abs(np.subtract(a[key], b[key])).max()))
            same &= int(np.argmax(a[key])) == int(np.argmax(b[key]))
    return diff, same


def goals_met(results: list[dict]) -> bool:
    by_name = {r["path"]: r for r in results}
    if BASELINE not in by_name or OURS not in by_name:
        return True
    ours, base = by_name[OURS], by_name[BASELINE]
    diff, same = compare(ours, base)
    return (base["p50_ms"] / ours["p50_ms"] >= GOAL_SPEEDUP and diff <= GOAL_MAX_DIFF and same
            and ours.get("peak_rss_mib", 0) <= GOAL_RSS_MIB)


def flop_floor(models_dir: Path, threads: int) -> dict:
    """FLOPs of one six-model diagnosis and the best GFLOP/s of a large matmul on this machine."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoModelForImageClassification

    from scalp_core import SYMPTOMS

    torch.set_num_threads(threads)
    flops = 0
    for spec in SYMPTOMS:
        model = AutoModelForImageClassification.from_pretrained(models_dir / spec.key, trust_remote_code=False,
                                                                use_safetensors=True).eval()
        size = model.config.scalp["input_size"] if getattr(model.config, "scalp", None) else spec.input_size
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            model(pixel_values=torch.zeros(1, 3, size, size))
        flops += counter.get_total_flops()
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    gflops = 2 * 1024**3 / best / 1e9
    return {"gflop_per_diagnosis": flops / 1e9, "matmul_gflops": gflops,
            "floor_ms": flops / 1e9 / gflops * 1000}


def report(results: list[dict], config: BenchConfig) -> str:
    floor = next((r for r in results if r["path"] == "_floor"), None)
    quality = next((r["symptoms"] for r in results if r["path"] == "_quality"), None)
    results = [r for r in results if not r["path"].startswith("_")]
    by_name = {r["path"]: r for r in results}
    baseline, fp32 = by_name.get(BASELINE), by_name.get(OURS)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        (f"six-model diagnosis, {config.models or config.base} models, 640×480 JPEG in, "
        f"{config.images} images, {config.threads} threads, {os.cpu_count()} CPUs, load average {load:.1f}"),
        "",
        ("| path | p50 ms | p95 ms | mean ms | speed-up (p50) | vs fp32 ONNX (p50) | load s | peak RSS MiB "
        "| max |Δp| vs seed | max |Δp| vs fp32 | same class on every image |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        ratio = baseline["p50_ms"] / r["p50_ms"] if baseline else float("nan")
        vs_fp32 = r["p50_ms"] / fp32["p50_ms"] if fp32 else float("nan")
        diff, same = compare(r, baseline) if baseline else (float("nan"), None)
        diff_fp32 = compare(r, fp32)[0] if fp32 else float("nan")
        lines.append(
            f"| {r['path']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['mean_ms']:.0f} | {ratio:.2f}× "
            f"| {vs_fp32:.2f}× | {r['load_s']:.1f} | {r['peak_rss_mib']:.0f} | {diff:.1e} | {diff_fp32:.1e} "
            f"| {'–' if same is None else 'yes' if same else 'NO'} |"
        )
    if fp32 and baseline:
        lines += ["", (f"goals (ours ≥ {GOAL_SPEEDUP}× at p50, |Δp| ≤ {GOAL_MAX_DIFF:g}, same classes, "
                      f"RSS ≤ {GOAL_RSS_MIB:.0f} MiB): {'met' if goals_met(results) else 'MISSED'}")]
    lines += int8_report(quality, by_name.get(INT8), fp32, baseline)
    if floor:
        lines += ["", (f"floor: {floor['gflop_per_diagnosis']:.2f} GFLOP per diagnosis; a 1024² matmul runs "
                      f"at {floor['matmul_gflops']:.0f} GFLOP/s here → ≥ {floor['floor_ms']:.0f} ms of pure "
                      "compute")]
        if fp32:
            achieved = floor["gflop_per_diagnosis"] / fp32["p50_ms"] * 1000
            lines.append(f"ours runs at {achieved:.1f} GFLOP/s: the rest is depthwise convolutions and "
                         "memory-bound element-wise ops (batch 1, low arithmetic intensity) plus decode/resize")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = BenchConfig()
    parser.add_argument("--images", type=int, default=defaults.images, help="timed images per path")
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="untimed images first")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="torch threads")
    parser.add_argument("--base", default=defaults.base, help="create_model base (default: random b1)")
    parser.add_argument("--paths", nargs="*", default=[], help=f"subset of {sorted(PATHS)}")
    parser.add_argument("--floor", action="store_true", help="print the FLOP floor even if goals are met")
    parser.add_argument("--models", default=None, help="a folder of six trained models, or 'demo' (default: random "
                                                       "--base models, speed only; trained ones add the int8 quality table)")
    parser.add_argument("--int8-unchecked", action="store_true",
                        help="serve every int8 copy even where it fails its check against fp32 (the raw recipe)")
    parser.add_argument("--test-per-class", type=int, default=defaults.test_per_class,
                        help="generated test photos per symptom and class for the int8 quality table")
    parser.add_argument("--private-cache", action="store_true",
                        help="run on a copy of the project's cache without what int8 serving learned (widened "
                             "margins, retired copies), so the int8 rows start from the check margins and the "
                             "real cache is left as it was (bench/private_cache.py)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--_worker", help=argparse.SUPPRESS)
    parser.add_argument("--_models", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_photos", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    config = BenchConfig(images=args.images, warmup=args.warmup, threads=args.threads, base=args.base,
                         paths=tuple(args.paths), floor=args.floor, models=args.models,
                         test_per_class=args.test_per_class, int8_unchecked=args.int8_unchecked)
    if config.int8_unchecked:
        os.environ["BENCH_INT8_UNCHECKED"] = "1"  # read by the workers too
    if args._worker:
        print(json.dumps(rss_worker(args._worker, args._models, load_photos(args._photos), config)))
        return 0
    with private_cache(args.private_cache):
        results = bench(config)
    print(report(results, config))
    if args.json:
        slim = [{k: v for k, v in r.items() if k != "probabilities"} for r in results]  # _quality kept
        args.json.write_text(json.dumps({"config": asdict(config), "results": slim}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
