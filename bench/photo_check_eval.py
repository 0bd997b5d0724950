"""Evaluate the upload photo check on a labelled, held-out set built on the fly.

By default it evaluates the check the app uses: the fit shipped in
``photo_check/fitted/photo_check.json`` (or the file named by ``$SCALP_PHOTO_CHECK``).
Prints the confusion table (true condition × predicted outcome), accuracy per
reason, retake precision/recall, the non-scalp rejection rate, the good-photo pass
rate and the time per 640×480 photo. When ``../shared/reference/bo-lim__OhMyHead``
is present, it also prints the verdict on those five real AI Hub scalp photos
(read in place, test only). Building the held-out set needs scikit-image
(``requirements-dev.txt``).

    python bench/photo_check_eval.py [--fitted PATH] [--n-scalp 24] [--refit]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

REAL_SCALP_DIR = REPO_ROOT.parent / "shared" / "reference" / "bo-lim__OhMyHead"


def evaluate(fitted: str | None, n_scalp: int, refit: bool) -> dict:
    from PIL import Image

    from photo_check.check import PhotoChecker, load_checker
    from photo_check.evaluate import build_eval_set, run_eval, summarise
    from photo_check.fit import FitConfig, fit
    from scalp_models.lite0_features import lite0_features

    if refit:
        start = time.perf_counter()
        checker = PhotoChecker(fit(FitConfig()))
        print(f"fitted in {time.perf_counter() - start:.1f} s")
    else:
        checker = load_checker(fitted)  # None: the shipped fit, never refitted
    source = "a fresh fit" if refit else (fitted or "the shipped fit (or $SCALP_PHOTO_CHECK)")
    runtime = lite0_features().runtime if checker.category.uses_lite0 else "not used"
    print(f"checking with {source}; Lite0 features: {runtime}")
    items = build_eval_set(n_scalp=n_scalp)
    start = time.perf_counter()
    df = run_eval(checker, items)
    per_image_ms = (time.perf_counter() - start) / len(items) * 1000
    summary = summarise(df)

    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("Confusion table (rows: true condition, columns: predicted outcome = verdict or first reason)")
        print(summary["confusion"].to_string())
    print("\nAccuracy per condition (retake conditions: the intended reason is among the reasons given)")
    for cond, row in summary["per_reason"].items():
        print(f"  {cond:12s} n={row['n']:4d}  accuracy={row['accuracy']:.3f}")
    for key in ("retake_precision", "retake_recall", "not_scalp_rejected", "good_pass_rate", "scalp_accepted_stage1"):
        print(f"{key:22s} {summary[key]:.3f}")
    print(f"mean time per photo   {per_image_ms:.1f} ms ({len(items)} photos, mixed sizes)")
    photo = next(item.image for item in items if item.image.size == (640, 480))
    times = []
    for _ in range(21):
        start = time.perf_counter()
        checker.check(photo)
        times.append(time.perf_counter() - start)
    times.sort()
    print(f"640x480 photo         median {times[10] * 1000:.1f} ms, best {times[0] * 1000:.1f} ms (21 runs)")
    missed = df[(df["condition"] == "not_scalp") & (df["verdict"] != "not_scalp")]
    if len(missed):
        print("non-scalp pictures accepted as scalp:", ", ".join(sorted(set(missed["source"]))))
    real = sorted(REAL_SCALP_DIR.rglob("*.jpg")) if REAL_SCALP_DIR.is_dir() else []
    for path in real:
        with Image.open(path) as im:
            result = checker.check(im.convert("RGB"))
        print(f"real {path.relative_to(REAL_SCALP_DIR)}: verdict={result.verdict} "
              f"scalp_score={result.scalp_score:.3f} reasons={result.reasons}")
    if not real:
        print(f"(real scalp photos not checked: {REAL_SCALP_DIR} is absent)")
    return {k: v for k, v in summary.items() if k != "confusion"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fitted", default=None, help="fitted photo_check.json or its folder, fitted there when absent (default: the shipped fit)")
    parser.add_argument("--n-scalp", type=int, default=24, help="generated scalp images in the evaluation set")
    parser.add_argument("--refit", action="store_true", help="fit afresh in memory instead of loading")
    parser.add_argument("--json", action="store_true", help="also print the summary as JSON")
    args = parser.parse_args(argv)
    summary = evaluate(args.fitted, args.n_scalp, args.refit)
    if args.json:
        print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
