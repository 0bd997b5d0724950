"""Benchmark ``datasets_prep build``: images/s with 1 and 2 workers against the seed's naive way.

Generates N simulated 640×480 images (not timed), then times the build at the real
input sizes (240 px, 600 px for 모낭사이홍반; grayscale where the spec says) and a
naive baseline in the same process: for every symptom, re-decode each image of that
symptom's folders with a full PIL decode and resize it (LANCZOS) and encode it, as
the seed did per folder.

    python bench/prep.py [--images 300] [--workers 1 2] [--keep DIR] [--labels-from CSV ...]

``--labels-from`` draws the simulated download from real AI Hub label tables (real subjects,
names and folders; see ``python -m datasets_prep simulate --help``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import datasets  # noqa: E402, F401 - imported up front so that import time is not counted in the build
import pandas  # noqa: E402, F401
from PIL import Image  # noqa: E402

from datasets_prep.build import BuildConfig, build  # noqa: E402
from datasets_prep.discovery import find_split_dirs  # noqa: E402
from scalp_core.aihub_names import parse_folder_name  # noqa: E402
from synthetic.simulate import TRUTH_FILE, simulate  # noqa: E402


def naive_baseline(root: Path, quality: int = 92) -> tuple[int, int, float]:
    """Per-symptom re-decode of every folder entry (full decode + LANCZOS resize + encode).

    Returns (unique images, folder entries, seconds).
    """
    entries = []
    for dirs in find_split_dirs(root).values():
        for split_dir in dirs:
            for folder in sorted(split_dir.iterdir()):
                parsed = parse_folder_name(folder.name)
                if folder.is_dir() and parsed is not None and not parsed.is_label:
                    entries += [(parsed.symptom, path) for path in sorted(folder.glob("*.jpg"))]
    start = time.perf_counter()
    for spec, path in entries:
        with Image.open(path) as image:
            image.load()
            picture = image.convert("L" if spec.grayscale else "RGB")
        scale = spec.input_size / min(picture.size)
        picture = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.LANCZOS)
        picture.save(io.BytesIO(), format="JPEG", quality=quality)
    seconds = time.perf_counter() - start
    return len({path.name for _, path in entries}), len(entries), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300, help="simulated unique images")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time")
    parser.add_argument(
        "--size", type=int, default=None, help="--image-size-override for the build (default: real sizes)"
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the simulated tree and outputs here")
    parser.add_argument("--labels-from", nargs="+", default=(), help="real label tables to draw the download from")
    args = parser.parse_args(argv)

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-prep-"))
    raw = workdir / "raw"
    if not (raw / TRUTH_FILE).is_file():
        print(f"simulating {args.images} images into {raw} (not timed) ...", file=sys.stderr)
        simulate(raw, args.images, 0, labels_from=args.labels_from)

    rows = []
    cpu_ms = {}  # CPU time per unique image, in-process runs only: robust to other load on the machine
    for workers in args.workers:
        out = workdir / f"out_w{workers}"
        shutil.rmtree(out, ignore_errors=True)
        cpu_start = time.process_time()
        result = build(BuildConfig(aihub_root=raw, out=out, workers=workers, image_size_override=args.size))
        if workers == 1:
            cpu_ms["build --workers 1 (whole build)"] = (
                (time.process_time() - cpu_start) * 1000 / result.n_images
            )
        timings = result.report["timings"]
        rows.append((f"build --workers {workers}", result.n_images, timings["decode_s"], timings["total_s"]))
    cpu_start = time.process_time()
    unique, entries, seconds = naive_baseline(raw)
    cpu_ms["naive per-folder re-decode"] = (time.process_time() - cpu_start) * 1000 / unique
    rows.append((f"naive per-folder re-decode ({entries} entries)", unique, seconds, seconds))

    naive_rate = unique / seconds
    print(
        f"\n{args.images} simulated 640x480 images, {os.cpu_count()} CPUs, sizes "
        f"{'real (240/600)' if args.size is None else args.size}\n"
    )
    print(f"| {'method':<44} | images | decode+resize+encode img/s | total img/s | x naive |")
    print(f"|{'-' * 46}|--------|----------------------------|-------------|---------|")
    figures = []
    for name, n, decode_s, total_s in rows:
        decode_rate, total_rate = n / decode_s, n / total_s
        print(
            f"| {name:<44} | {n:>6} | {decode_rate:>26.1f} | {total_rate:>11.1f} "
            f"| {decode_rate / naive_rate:>7.2f} |"
        )
        figures.append(
            {
                "method": name,
                "images": n,
                "decode_img_s": round(decode_rate, 1),
                "total_img_s": round(total_rate, 1),
                "x_naive": round(decode_rate / naive_rate, 2),
            }
        )
    print(f"\nload average while running: {os.getloadavg()[0]:.1f}; CPU time per unique image:")
    for name, ms in cpu_ms.items():
        print(f"  {name:<36} {ms:6.1f} ms  (= {2000 / ms:.0f} img/s on 2 otherwise idle cores)")
    figures.append({"cpu_ms_per_image": {k: round(v, 2) for k, v in cpu_ms.items()}})
    (workdir / "bench_prep.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    if args.keep is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
