"""Benchmark: training throughput (images/s, forward + backward + AdamW step) on this machine.

Measures the models ``scalp_models train`` uses, on random pixel tensors so only the model
is timed (data loading and augmentation cost extra, see the last column):

- ``tiny`` at 64 px (tests), ``lite0`` at 128 px (offline ImageNet weights, small run),
- ``scratch-b1`` at 240 px (the seed's EfficientNet-b1 architecture, random init).

    python bench/train.py [--threads 2] [--batch-size 16] [--steps 5]

Prints one Markdown table row per model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CASES = (("tiny", 64), ("lite0", 128), ("scratch-b1", 240))


def bench_case(base: str, size: int, batch_size: int, steps: int, warmup: int = 1) -> dict:
    import numpy as np
    import torch

    from datasets_prep.render import render_scalp
    from scalp_core.symptoms import get_symptom
    from scalp_models.augment import apply_augment, augment_policy
    from scalp_models.modeling import create_model
    from scalp_models.processing import create_image_processor
    from scalp_models.train import focal_loss

    spec = get_symptom("hair_loss")
    torch.manual_seed(0)
    model = create_model(spec, base, image_size=size).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    pixels = torch.randn(batch_size, 3, size, size)
    labels = torch.randint(0, 3, (batch_size,))
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        loss = focal_loss(model(pixel_values=pixels).logits, labels, 2.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model_ips = batch_size * steps / (time.perf_counter() - start)

    # Input pipeline alone: augmentation + image processor on 640×480 photos.
    processor = create_image_processor(spec, base, image_size=size)
    rng = np.random.default_rng(0)
    photos = [render_scalp({}, rng) for _ in range(8)]
    start = time.perf_counter()
    views = [apply_augment(p, augment_policy(spec), size, rng) for p in photos]
    processor(images=views, return_tensors="pt")
    data_ips = len(photos) / (time.perf_counter() - start)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    return {"base": base, "size": size, "params_m": params, "model_ips": model_ips, "data_ips": data_ips}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model (after one warm-up step)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch_size}, {args.steps} timed steps\n")
    print("| base | input px | params (M) | train images/s (model) | images/s (augment + processor) |")
    print("|---|---|---|---|---|")
    for base, size in CASES:
        r = bench_case(base, size, args.batch_size, args.steps)
        print(f"| {r['base']} | {r['size']} | {r['params_m']:.2f} | {r['model_ips']:.1f} | {r['data_ips']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
