"""Command line for the upload photo check.

    python -m photo_check fit --out DIR [--seed 0] [--use-lite0 auto|yes|no]
        fit both stages on generated/package pictures and write DIR/photo_check.json
    python -m photo_check check IMAGE [IMAGE ...] [--fitted PATH]
        print the verdict, reasons and messages of each image as JSON (default: the shipped
        photo_check/fitted/photo_check.json, or $SCALP_PHOTO_CHECK)

After a change to the features, metrics or training pictures, refit the shipped file with
``python -m photo_check fit --out photo_check/fitted`` and bump ``photo_check.fit.FEATURES_VERSION``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

from photo_check.fit import FitConfig


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    for f in fields(FitConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default,
                            help=f"{f.metadata.get('help', '')} (default: {f.default})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m photo_check", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_fit = sub.add_parser("fit", help="fit the photo check and write photo_check.json")
    p_fit.add_argument("--out", required=True, help="output folder (or .json path)")
    _add_config_args(p_fit)
    p_check = sub.add_parser("check", help="check image files")
    p_check.add_argument("images", nargs="+", help="image files (JPEG, PNG, ...)")
    p_check.add_argument("--fitted", default=None,
                         help="fitted photo_check.json or its folder, fitted there when absent "
                              "(default: the shipped fit, or $SCALP_PHOTO_CHECK)")
    args = parser.parse_args(argv)

    if args.command == "fit":
        from photo_check.fit import fit, fitted_path

        config = FitConfig(**{f.name: getattr(args, f.name) for f in fields(FitConfig)})
        fitted = fit(config, out=args.out)
        summary = {reason: round(t["threshold"], 4) for reason, t in fitted["thresholds"].items()}
        print(f"wrote {fitted_path(args.out)} in {fitted['fit_seconds']} s "
              f"(lite0 features: {fitted['category']['uses_lite0']}); thresholds: {summary}")
        return 0

    from photo_check.check import PhotoCheckUnavailable, check_file, load_checker

    try:
        checker = load_checker(args.fitted)
    except PhotoCheckUnavailable as err:
        print(f"{err.message_en} (file: {err.path})", file=sys.stderr)
        return 1
    status = 0
    for path in args.images:
        try:
            result = check_file(path, checker)
        except (FileNotFoundError, ValueError) as err:
            print(f"{path}: {err}", file=sys.stderr)
            status = 2
            continue
        print(json.dumps({"file": path, **result.to_dict()}, ensure_ascii=False, indent=1))
    return status


if __name__ == "__main__":
    sys.exit(main())
