"""Command line of hub_upload: ``python -m hub_upload {models,dataset,space,pull} ...``.

``main(argv=None)`` parses arguments into the frozen configs of :mod:`hub_upload.model_push`,
:mod:`hub_upload.dataset_push` and :mod:`hub_upload.space_push` and calls the plain push
functions there (or :func:`hub_upload.pull.download_models`). All output
passes through the token scrubber, and any failure becomes one line ``error: ...`` on
stderr with exit status 1 (2 for a refused public dataset push), never a traceback that
could carry request headers.

    python -m hub_upload models --source models --namespace me --revision v1 --pins pins.json
    python -m hub_upload models --source models --namespace me --dry-run
    python -m hub_upload pull --namespace me --pins pins.json
    python -m hub_upload space --repo me/scalp-care --stage-dir space-staged     # no network
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hub_upload.dataset_push import DatasetPushConfig, PublicPushRefused, push_dataset, refuse_public_dataset
from hub_upload.model_push import ModelsPushConfig, push_models
from hub_upload.pull import download_models
from hub_upload.secrets import HubUploadError, resolve_token, scrub, scrubbed_output
from hub_upload.space_push import SpacePushConfig, push_space
from scalp_models.hub_loading import ModelsUnavailableError, read_pins


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hub_upload", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    models = sub.add_parser(
        "models", help="push the six model repos <namespace>/scalp-<suffix> with model cards"
    )
    models.add_argument("--source", type=Path, required=True, help="folder of models/<symptom key>/ folders")
    models.add_argument("--namespace", required=True, help="Hub user or organisation")
    models.add_argument("--private", action="store_true", help="create the repos private")
    models.add_argument("--revision", help="push to this branch (created if needed) instead of main")
    models.add_argument("--dry-run", action="store_true", help="print files and cards; no network")
    models.add_argument(
        "--commit-message", help=f"commit title (default: {ModelsPushConfig.commit_message!r})"
    )
    models.add_argument("--dataset-repo", help="private dataset repo to name in the cards")
    models.add_argument("--pins", type=Path, help="write {repo id: commit sha} JSON here, for pinned pulls")

    dataset = sub.add_parser("dataset", help="push a datasets_prep build folder to a PRIVATE dataset repo")
    dataset.add_argument("--source", type=Path, required=True, help="`python -m datasets_prep build` output")
    dataset.add_argument("--repo", required=True, help="dataset repo id namespace/name")
    dataset.add_argument("--public", action="store_true", help="refused: AI Hub terms forbid redistribution")
    dataset.add_argument("--dry-run", action="store_true", help="print the files; no network")

    space = sub.add_parser(
        "space", help="upload app.py, requirements.txt and the packages the app runs to a Gradio Space"
    )
    space.add_argument("--repo", required=True, help="Space repo id namespace/name")
    space.add_argument("--models-namespace", help="namespace of the model repos (default: the Space's)")
    space.add_argument("--models-revision", help="branch/tag of the model repos the app should load")
    space.add_argument(
        "--project-root", type=Path, default=None, help="folder with app.py (default: this repo)"
    )
    space.add_argument("--private", action="store_true", help="create the Space private")
    space.add_argument("--dry-run", action="store_true", help="print files and README; no network")
    space.add_argument(
        "--stage-dir",
        type=Path,
        help="write exactly the files a push would upload into this new folder; no network",
    )

    pull = sub.add_parser("pull", help="download the six models (HF_HUB_OFFLINE=1: from the cache)")
    pull.add_argument("--namespace", required=True)
    pin = pull.add_mutually_exclusive_group()
    pin.add_argument("--revision", help="branch, tag or commit for all six")
    pin.add_argument("--pins", type=Path, help="JSON {repo id or symptom key: commit} from `models --pins`")
    pull.add_argument("--cache-dir", type=Path)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.command == "dataset":
        refuse_public_dataset(args.public)  # before the token is even looked up
        config = DatasetPushConfig(
            source=args.source, repo=args.repo, public=args.public, dry_run=args.dry_run
        )
        push_dataset(config, token=None if args.dry_run else resolve_token())
        return 0
    if args.command == "models":
        message = {"commit_message": args.commit_message} if args.commit_message is not None else {}
        config = ModelsPushConfig(
            source=args.source,
            namespace=args.namespace,
            private=args.private,
            revision=args.revision,
            dry_run=args.dry_run,
            dataset_repo=args.dataset_repo,
            **message,
        )
        results = push_models(config, token=None if args.dry_run else resolve_token())
        if args.pins and not args.dry_run:
            args.pins.write_text(
                json.dumps({r.repo_id: r.commit for r in results}, indent=2) + "\n", encoding="utf-8"
            )
            print(f"wrote commit pins to {args.pins}")
        return 0
    if args.command == "space":
        kwargs = {"project_root": args.project_root} if args.project_root else {}
        config = SpacePushConfig(
            repo=args.repo,
            models_namespace=args.models_namespace,
            models_revision=args.models_revision,
            private=args.private,
            dry_run=args.dry_run,
            stage_dir=args.stage_dir,
            **kwargs,
        )
        offline = args.dry_run or args.stage_dir is not None
        push_space(config, token=None if offline else resolve_token())
        return 0
    if args.command == "pull":
        revision = read_pins(args.pins, args.namespace) if args.pins else args.revision
        for key, folder in download_models(
            args.namespace, revision=revision, cache_dir=args.cache_dir, token=resolve_token()
        ).items():
            print(f"{key}\t{folder}")
        return 0
    raise AssertionError(args.command)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with scrubbed_output():
        try:
            return run(args)
        except (HubUploadError, ModelsUnavailableError) as err:
            print(f"error: {scrub(err)}", file=sys.stderr)
            return 2 if isinstance(err, PublicPushRefused) else 1
        except (ValueError, FileNotFoundError, KeyError) as err:
            print(f"error: {scrub(err)}", file=sys.stderr)
            return 1
