"""Benchmark: training throughput (images/s, forward + backward + AdamW step).

Measures the models ``scalp_models train`` uses, on random pixel tensors so only the model
is timed (data loading and augmentation cost extra, see the last column). Default cases:

- ``tiny`` at 64 px (tests), ``lite0`` at 128 px (offline ImageNet weights, small run),
- ``scratch-b1`` at 240 px (the seed's EfficientNet-b1 architecture, random init).

On a GPU, time the seed's b1 at its two input sizes in full and mixed precision (bf16 is what
``scalp_models train`` picks on a GPU that supports it)::

    python bench/train.py [--threads 2] [--batch-size 16] [--steps 5]
    python bench/train.py --device cuda --cases scratch-b1@240,scratch-b1@600 --precision fp32,bf16 \\
        --batch-size 32 --steps 20

Prints a Markdown table, one row per case and precision, with the ratio to the first row
(the baseline, run in the same process).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_CASES = "tiny@64,lite0@128,scratch-b1@240"
PRECISIONS = ("fp32", "bf16", "fp16")


def parse_cases(text: str) -> list[tuple[str, int]]:
    cases = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        base, sep, size = item.rpartition("@")
        if not sep or not base or not size.isdigit():
            raise argparse.ArgumentTypeError(f"a case is BASE@PIXELS, e.g. scratch-b1@240; got {item!r}")
        cases.append((base, int(size)))
    return cases


def parse_precisions(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in names if p not in PRECISIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"precision must be among {', '.join(PRECISIONS)}; got {text!r}")
    return names


def bench_case(
    base: str,
    size: int,
    batch_size: int,
    steps: int,
    *,
    device: str = "cpu",
    precision: str = "fp32",
    channels_last: bool = False,
    warmup: int = 1,
) -> dict:
    # Heavy (torch, transformers): imported when a case runs, so --help and bad arguments answer at once.
    import numpy as np
    import torch

    from scalp_core.symptoms import get_symptom
    from scalp_models.augment import apply_augment, augment_policy
    from scalp_models.modeling import create_model
    from scalp_models.processing import create_image_processor, pixel_values
    from scalp_models.train import focal_loss
    from synthetic.render import render_scalp

    spec = get_symptom("hair_loss")
    torch.manual_seed(0)
    model = create_model(spec, base, image_size=size).train().to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    pixels = torch.randn(batch_size, 3, size, size, device=device).to(memory_format=memory_format)
    labels = torch.randint(0, 3, (batch_size,), device=device)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    scaler = torch.amp.GradScaler(device, enabled=precision == "fp16")
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    for step in range(warmup + steps):
        if step == warmup:
            sync()
            start = time.perf_counter()
        with torch.autocast(device_type=device.split(":")[0], dtype=dtype, enabled=dtype is not None):
            loss = focal_loss(model(pixel_values=pixels).logits.float(), labels, 2.0)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    sync()
    model_ips = batch_size * steps / (time.perf_counter() - start)
    peak_mib = torch.cuda.max_memory_allocated() / 2**20 if cuda else float("nan")

    # Input pipeline alone, one process: augmentation + image processor on 640×480 photos.
    processor = create_image_processor(spec, base, image_size=size)
    rng = np.random.default_rng(0)
    photos = [render_scalp({}, rng) for _ in range(8)]
    start = time.perf_counter()
    views = [apply_augment(p, augment_policy(spec), size, rng) for p in photos]
    pixel_values(views, processor)
    data_ips = len(photos) / (time.perf_counter() - start)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    return {
        "base": base,
        "size": size,
        "precision": precision,
        "layout": "channels_last" if channels_last else "NCHW",
        "params_m": params,
        "model_ips": model_ips,
        "peak_mib": peak_mib,
        "data_ips": data_ips,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per case (after warm-up steps)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (use 3+ on a GPU)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--cases", type=parse_cases, default=parse_cases(DEFAULT_CASES), help="BASE@PIXELS list")
    parser.add_argument("--precision", type=parse_precisions, default=["fp32"], help="fp32,bf16,fp16 (autocast)")
    parser.add_argument("--channels-last", action="store_true", help="also time each case in channels_last layout")
    args = parser.parse_args(argv)
    import torch  # heavy: only after the arguments are known to be good

    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            parser.error("--device cuda, but torch sees no CUDA device")
        torch.backends.cudnn.benchmark = True
        where = torch.cuda.get_device_name(args.device)
    else:
        where = f"CPU, {args.threads} threads"
    print(f"torch {torch.__version__}, {where}, batch {args.batch_size}, {args.warmup} warm-up + {args.steps} timed steps\n")
    print("| base | input px | precision | layout | params (M) | train images/s (model) | × first row | peak GPU MiB | images/s (augment + processor, 1 process) |")
    print("|---|---|---|---|---|---|---|---|---|")
    baseline = None
    for base, size in args.cases:
        for precision, channels_last in [(p, c) for p in args.precision for c in (False, True)[: 1 + args.channels_last]]:
            r = bench_case(base, size, args.batch_size, args.steps, device=args.device, precision=precision,
                           channels_last=channels_last, warmup=args.warmup)
            baseline = baseline or r["model_ips"]
            peak = "–" if r["peak_mib"] != r["peak_mib"] else f"{r['peak_mib']:.0f}"
            print(
                f"| {r['base']} | {r['size']} | {r['precision']} | {r['layout']} | {r['params_m']:.2f} | {r['model_ips']:.1f} "
                f"| {r['model_ips'] / baseline:.2f} | {peak} | {r['data_ips']:.1f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
