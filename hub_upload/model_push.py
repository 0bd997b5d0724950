"""Push the six model folders to their model repos ``<namespace>/scalp-<suffix>``, each with its card.

Each push goes the timm ``_hub.py`` way: ``create_repo(exist_ok=True)`` → copy the model files
and write the rendered card (:mod:`hub_upload.card`) as ``README.md`` into a temporary folder →
``upload_folder`` (one commit). A second push of the same models makes a new commit
(``push_info.json`` records when it was pushed), never an error. Before a real push every card
is checked offline (``validate_card``) and by the Hub (``ModelCard.validate``), every staged file
is searched for the token and local paths, and with ``private`` an existing PUBLIC repo is refused
(:mod:`hub_upload.safety`), all before the first upload; ``dry_run`` prints the files and cards
and touches no network. Each repo gets the set's domain check ``novelty.json`` (``python -m
scalp_models novelty``, or the demo build) when the model folder has one; a note names the folders
without it. Only the files listed here are uploaded: an ``args.yaml`` beside the model (a
timm-style dump of the command line, with local paths and whatever else was passed) stays home;
``training_config.json`` is the record of the settings, written with portable paths by training.

    python -m hub_upload models --source models --namespace me [--revision v1] [--dry-run]
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from huggingface_hub import HfApi, ModelCard

from hub_upload.card import ScalpModelCard, card_from_model_folder, validate_card
from hub_upload.naming import check_repo_id, model_repo_ids
from hub_upload.push_result import Printer, PushResult, staged_files
from hub_upload.safety import local_paths_of, refuse_leaks, refuse_public_repo
from hub_upload.secrets import HubUploadError, scrubbed_errors
from scalp_core.cli import help_field
from scalp_core.symptoms import SYMPTOMS
from scalp_models.hub_loading import NOVELTY_FILE

REQUIRED_MODEL_FILES = ("config.json", "model.safetensors", "preprocessor_config.json", "eval_report.json")
# Copied when present; the card shows confusion_matrix.png only when the folder has one. novelty.json
# is the set's domain check (scalp_models.novelty): the app loads it with the models to tell photos
# unlike the training photos; models pushed without it load, but without that check.
OPTIONAL_MODEL_FILES = ("training_config.json", "confusion_matrix.png", NOVELTY_FILE)
PUSH_INFO_FILE = "push_info.json"


@dataclass(frozen=True)
class ModelsPushConfig:
    source: Path = help_field("folder holding the six model folders models/<symptom key>/")
    namespace: str = help_field("Hub user or org; repos are <namespace>/scalp-<suffix>")
    private: bool = help_field("create the model repos private", default=False)
    revision: str | None = help_field("branch to push to (created if needed)", default=None)
    dry_run: bool = help_field("print files and cards, touch no network", default=False)
    commit_message: str = help_field("commit title", default="Upload scalp model with hub_upload")
    dataset_repo: str | None = help_field("private dataset repo named in the cards", default=None)

    def __post_init__(self):
        object.__setattr__(self, "source", Path(self.source))
        model_repo_ids(self.namespace)  # validates the namespace
        if self.revision is not None and not re.fullmatch(r"[\w./-]+", self.revision):
            raise ValueError(f"revision {self.revision!r} is not a valid branch name")
        if not self.commit_message.strip():
            raise ValueError("commit message must not be empty")
        if self.dataset_repo:
            check_repo_id(self.dataset_repo)


def model_folders(source: Path) -> dict[str, Path]:
    """The six model folders, or one error that lists every missing folder and file."""
    if not source.is_dir():
        raise HubUploadError(
            f"model source {source} is not a folder; train first: python -m scalp_models train"
        )
    problems, folders = [], {}
    for spec in SYMPTOMS:
        folder = source / spec.key
        missing = [name for name in REQUIRED_MODEL_FILES if not (folder / name).is_file()]
        if missing:
            problems.append(f"{folder}: missing {', '.join(missing)}")
        folders[spec.key] = folder
    if problems:
        raise HubUploadError(
            "cannot push, model folders are incomplete:\n  "
            + "\n  ".join(problems)
            + "\nTrain and evaluate all six symptoms with scalp_models first."
        )
    return folders


def _stage(card: ScalpModelCard, folder: Path, staging: Path) -> str:
    """Copy the model files of ``folder`` to ``staging`` and write ``card`` there as README.md;
    return the card's text (checked offline with :func:`validate_card`)."""
    staging.mkdir(parents=True, exist_ok=True)
    for name in REQUIRED_MODEL_FILES + OPTIONAL_MODEL_FILES:
        if (folder / name).is_file():
            shutil.copy2(folder / name, staging / name)
    text = card.render()
    validate_card(text)
    (staging / "README.md").write_text(text, encoding="utf-8")
    return text


def stage_model_repo(folder: Path, repo_id: str, staging: Path, dataset_repo: str | None = None) -> str:
    """Copy the model files into ``staging`` and write the rendered card as README.md; return the card."""
    return _stage(card_from_model_folder(folder, repo_id, dataset_repo=dataset_repo), folder, staging)


def _dry_run(config: ModelsPushConfig, staged: dict, repo_ids: dict, out: Printer) -> list[PushResult]:
    results = []
    for key, (staging, text) in staged.items():
        files = staged_files(staging)
        out(
            f"[dry-run] would push {len(files)} files to model repo {repo_ids[key]}"
            f" (revision {config.revision or 'main'}, {'private' if config.private else 'public'}):"
        )
        for name in files:
            out(f"  {name}  ({(staging / name).stat().st_size} bytes)")
        out(f"----- {repo_ids[key]} README.md -----\n{text}")
        results.append(PushResult(repo_ids[key], "model", None, config.revision or "main", files))
    return results


def push_models(config: ModelsPushConfig, token: str | None = None, out: Printer = print) -> list[PushResult]:
    """Push all six models; returns one :class:`PushResult` per repo (commit sha to pin)."""
    folders = model_folders(config.source)
    repo_ids = model_repo_ids(config.namespace)
    results = []
    with tempfile.TemporaryDirectory(prefix="hub_upload-") as tmp:
        cards = {
            key: card_from_model_folder(folder, repo_ids[key], dataset_repo=config.dataset_repo)
            for key, folder in folders.items()
        }
        staged = {
            key: (Path(tmp) / key, _stage(card, folders[key], Path(tmp) / key)) for key, card in cards.items()
        }
        without_check = [key for key, folder in folders.items() if not (folder / NOVELTY_FILE).is_file()]
        if without_check:
            out(
                f"note: no {NOVELTY_FILE} in {', '.join(without_check)}: the app cannot tell photos unlike the "
                f"training photos for these models; fit it with `python -m scalp_models novelty --data prepared "
                f"--models {config.source}` and push again."
            )
        if not config.dataset_repo and any(not card.synthetic_training_data for card in cards.values()):
            out(
                "note: no --dataset-repo given, so the cards' `datasets` metadata names no dataset; pass the "
                "private repo you pushed with `python -m hub_upload dataset --repo NS/NAME`."
            )
        if not config.dry_run:
            # Provenance of this push. It also makes a second push of unchanged models a new commit
            # (the Hub skips commits whose files are all identical), which the pins rely on; the id
            # keeps two pushes within one second apart.
            push_info = json.dumps({
                "push_id": uuid.uuid4().hex,
                "pushed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "revision": config.revision or "main",
                "commit_message": config.commit_message,
                "tool": "hub_upload",
            }, indent=2) + "\n"
            for staging, _ in staged.values():
                (staging / PUSH_INFO_FILE).write_text(push_info, encoding="utf-8")
        refuse_leaks({repo_ids[key]: staging for key, (staging, _) in staged.items()},
                     token=token, local_paths=local_paths_of(config.source, *folders.values()))
        if config.dry_run:
            return _dry_run(config, staged, repo_ids, out)

        api = HfApi(token=token)
        for key, (_, text) in staged.items():  # the Hub's checks, before any repo is touched
            with scrubbed_errors(f"validating the model card of {repo_ids[key]} on the Hub"):
                ModelCard(text).validate(repo_type="model")
            if config.private:
                with scrubbed_errors(f"checking that {repo_ids[key]} is not public"):
                    refuse_public_repo(api, repo_ids[key], "model")
        for key, (staging, _) in staged.items():
            repo_id = repo_ids[key]
            with scrubbed_errors(f"pushing {repo_id}"):
                api.create_repo(repo_id, exist_ok=True, private=True if config.private else None)
                if config.revision:
                    api.create_branch(repo_id, branch=config.revision, exist_ok=True)
                info = api.upload_folder(
                    repo_id=repo_id,
                    folder_path=staging,
                    revision=config.revision,
                    commit_message=config.commit_message,
                )
            results.append(
                PushResult(repo_id, "model", info.oid, config.revision or "main", staged_files(staging))
            )
            out(f"pushed {repo_id}@{config.revision or 'main'} commit {info.oid}")
    return results
