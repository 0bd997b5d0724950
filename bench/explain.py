"""Time of one "Why?" heatmap (``scalp_models.explain``) against one plain forward pass, at 240 and 600 px.

The models are the served configuration's architecture without the Hub: a random-init EfficientNet-B1
(``create_model(spec, "scratch-b1")``, the same compute as ``google/efficientnet-b1``) for a 240 px symptom
(탈모) and for 모낭사이홍반 at 600 px. On each generated 640×480 photo the paths take turns (so a busy
machine slows them alike):

- ``forward``: one plain eager forward of the served pixels under ``torch.inference_mode`` (baseline);
- ``heatmap``: ``explain(model, processor, photo)``: the serving preprocessing, the forward with the
  probe, the gradient of the class score and the CAM (what ``/explain`` and the "Why?" button compute);
- ``heatmap+overlay``: the same plus the overlay picture over the photo (what ``/explain`` returns);
- ``full_backward`` (``--full-backward``): the textbook Grad-CAM (autograd through the whole model,
  ``backward()``), for comparison with the probe's shortcut.

Goals (issue 14): one heatmap ≤ 0.5 s at 240 px and ≤ 2 s at 600 px, judged on ``heatmap`` p50.

    python bench/explain.py                               # 10 photos, markdown table
    python bench/explain.py --repeats 20 --threads 2 --full-backward --json /tmp/explain.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

GOALS_S = {240: 0.5, 600: 2.0}
CONFIGS = (("hair_loss", 240), ("interfollicular_erythema", 600))


def bench_one(key: str, size: int, args) -> list[dict]:
    import torch

    from scalp_core import get_symptom
    from scalp_models.explain import explain, is_grayscale_model, overlay, serving_pixels, textbook_grad_cam
    from scalp_models.modeling import create_model
    from scalp_models.processing import create_image_processor
    from synthetic.render import random_severities, render_scalp

    spec = get_symptom(key)
    torch.manual_seed(0)
    model = create_model(spec, args.base, image_size=size).eval()
    processor = create_image_processor(spec, args.base, image_size=size)
    rng = np.random.default_rng(args.seed)
    photos = [render_scalp(random_severities(rng), rng) for _ in range(args.repeats + args.warmup)]

    def forward(photo):
        pixels = serving_pixels(model, processor, photo)
        start = time.perf_counter()
        with torch.inference_mode():
            model(pixel_values=pixels)
        return time.perf_counter() - start

    def heatmap(photo):
        start = time.perf_counter()
        explain(model, processor, photo)
        return time.perf_counter() - start

    def heatmap_overlay(photo):
        start = time.perf_counter()
        explanation = explain(model, processor, photo)
        overlay(photo, explanation.cam, gray=is_grayscale_model(model))
        return time.perf_counter() - start

    def full_backward(photo):
        start = time.perf_counter()
        textbook_grad_cam(model, serving_pixels(model, processor, photo))
        return time.perf_counter() - start

    paths = {"forward": forward, "heatmap": heatmap, "heatmap+overlay": heatmap_overlay}
    if args.full_backward:
        paths["full_backward"] = full_backward
    times = {name: [] for name in paths}
    for i, photo in enumerate(photos):
        for name, run in paths.items():
            seconds = run(photo)
            if i >= args.warmup:
                times[name].append(seconds)
    base = float(np.percentile(times["forward"], 50))
    rows = []
    for name, values in times.items():
        p50, p95 = float(np.percentile(values, 50)), float(np.percentile(values, 95))
        goal = GOALS_S.get(size) if name == "heatmap" else None
        rows.append({"model": f"{args.base} {key}", "size": size, "path": name, "n": len(values),
                     "p50_s": round(p50, 4), "p95_s": round(p95, 4), "x_forward": round(p50 / base, 2),
                     "goal_s": goal, "meets_goal": None if goal is None else p50 <= goal})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed photos per model (after warm-up)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed photos first")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1), help="torch threads")
    parser.add_argument("--base", default="scratch-b1", help="create_model base (random b1: no Hub)")
    parser.add_argument("--full-backward", action="store_true", help="also time the textbook full-backward Grad-CAM")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    rows = [row for key, size in CONFIGS for row in bench_one(key, size, args)]
    print(f"one heatmap vs one forward pass ({args.threads} torch threads, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {args.repeats} photos of 640×480)\n")
    print("| model | px | path | p50 s | p95 s | × forward p50 | goal | ok |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        goal = f"≤ {r['goal_s']} s" if r["goal_s"] else ""
        ok = "" if r["meets_goal"] is None else ("yes" if r["meets_goal"] else "NO")
        print(f"| {r['model']} | {r['size']} | {r['path']} | {r['p50_s']:.3f} | {r['p95_s']:.3f} | "
              f"{r['x_forward']:.2f} | {goal} | {ok} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if all(r["meets_goal"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
