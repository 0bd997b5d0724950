"""Push the six model repos (with cards), the private prepared dataset and the Space.

Each push goes the timm ``_hub.py`` way: ``create_repo(exist_ok=True)`` → write what the
repo should hold into a temporary folder → ``upload_folder`` (one commit). A second push of
the same models makes a new commit (the card records when it was generated), never an error.
``dry_run`` prints the files and texts it would push and touches no network. Before a real
push, every card is checked offline (``validate_card``) and by the Hub (``ModelCard.validate``).

    python -m hub_upload models --source models --namespace me [--revision v1] [--dry-run]
    python -m hub_upload dataset --source prepared --repo me/scalp-aihub216
    python -m hub_upload space --repo me/scalp-care --models-namespace me
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from hub_upload.card import AIHUB_TERMS, AIHUB_URL, card_from_model_folder, validate_card
from hub_upload.naming import check_repo_id, model_repo_ids
from hub_upload.secrets import HubUploadError, scrubbed_errors
from scalp_core.symptoms import SYMPTOMS
from scalp_core.terms import public_dataset_repo_refusal

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REQUIRED_MODEL_FILES = ("config.json", "model.safetensors", "preprocessor_config.json", "eval_report.json")
OPTIONAL_MODEL_FILES = ("training_config.json", "confusion_matrix.png", "args.yaml")
# Every top-level package (folder with __init__.py) goes to the Space, except these.
SPACE_EXCLUDED_PACKAGES = {"tests", "bench", "benchmarks", "docs", "scripts"}
SPACE_TOP_FILES = ("app.py", "requirements.txt")
SPACE_SKIP_DIRS = {
    "__pycache__",
    "tests",
    ".venv",
    "artifacts",
    ".cache",
    ".pytest_cache",
    ".ipynb_checkpoints",
}
SPACE_SKIP_SUFFIXES = (".pyc", ".pyo", ".log")


class PublicPushRefused(HubUploadError):
    """A public push of AI Hub data was asked for; refused before any network access."""


Printer = Callable[[str], None]


@dataclass(frozen=True)
class PushResult:
    """One repo pushed: what and where, and the commit to pin (``revision=commit``)."""

    repo_id: str
    repo_type: str
    commit: str | None
    revision: str
    files: tuple[str, ...]


# -- models ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelsPushConfig:
    source: Path = field(metadata={"help": "folder holding the six model folders models/<symptom key>/"})
    namespace: str = field(metadata={"help": "Hub user or org; repos are <namespace>/scalp-<suffix>"})
    private: bool = field(default=False, metadata={"help": "create the model repos private"})
    revision: str | None = field(default=None, metadata={"help": "branch to push to (created if needed)"})
    dry_run: bool = field(default=False, metadata={"help": "print files and cards, touch no network"})
    commit_message: str = field(
        default="Upload scalp model with hub_upload", metadata={"help": "commit title"}
    )
    dataset_repo: str | None = field(
        default=None, metadata={"help": "private dataset repo named in the cards"}
    )

    def __post_init__(self):
        object.__setattr__(self, "source", Path(self.source))
        model_repo_ids(self.namespace)  # validates the namespace
        if self.revision is not None and not re.fullmatch(r"[\w./-]+", self.revision):
            raise ValueError(f"revision {self.revision!r} is not a valid branch name")
        if not self.commit_message.strip():
            raise ValueError("commit message must not be empty")
        if self.dataset_repo:
            check_repo_id(self.dataset_repo)


def _model_folders(source: Path) -> dict[str, Path]:
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


def draw_confusion_matrix(folder: Path, target: Path) -> bool:
    """Draw ``target`` from the confusion matrix in ``folder/eval_report.json`` (the ``full`` protocol
    first), with scalp_models' own plot; False when the report holds no matrix.

    Models that come without ``confusion_matrix.png`` (the demo models) still get one on the Hub.
    """
    from hub_upload.card import _read_json

    report = _read_json(folder / "eval_report.json", "run `python -m scalp_models evaluate` to write it")
    protocols = report.get("protocols") or {}
    name = "full" if "full" in protocols else next(iter(protocols), None)
    matrix = (protocols.get(name) or {}).get("confusion_matrix") if name else None
    names = report.get("class_names")
    if not matrix or not names or len(matrix) != len(names):
        return False
    from scalp_models.evaluate import plot_confusion_matrix

    title = f"{report.get('symptom', folder.name)}: {name} protocol, {protocols[name].get('split', 'test')}"
    plot_confusion_matrix(matrix, names, target, title=title)
    return True


PUSH_INFO_FILE = "push_info.json"

def stage_model_repo(folder: Path, repo_id: str, staging: Path, dataset_repo: str | None = None) -> str:
    """Copy the model files into ``staging`` and write the rendered card as README.md; return the card.

    A missing ``confusion_matrix.png`` is drawn from ``eval_report.json`` so the card can show it.
    """
    card = card_from_model_folder(folder, repo_id, dataset_repo=dataset_repo)
    staging.mkdir(parents=True, exist_ok=True)
    for name in REQUIRED_MODEL_FILES + OPTIONAL_MODEL_FILES:
        if (folder / name).is_file():
            shutil.copy2(folder / name, staging / name)
    if card.confusion_image is None and draw_confusion_matrix(folder, staging / "confusion_matrix.png"):
        card.confusion_image = "confusion_matrix.png"
    text = card.render()
    validate_card(text)
    (staging / "README.md").write_text(text, encoding="utf-8")
    return text


def _synthetic(folder: Path) -> bool:
    """Whether ``config.json`` says the model was trained on synthetic images only."""
    scalp = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("scalp") or {}
    return bool(scalp.get("synthetic_training_data"))


def _describe_files(staging: Path) -> tuple[str, ...]:
    return tuple(sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()))


def push_models(config: ModelsPushConfig, token: str | None = None, out: Printer = print) -> list[PushResult]:
    """Push all six models; returns one :class:`PushResult` per repo (commit sha to pin)."""
    folders = _model_folders(config.source)
    repo_ids = model_repo_ids(config.namespace)
    results = []
    with tempfile.TemporaryDirectory(prefix="hub_upload-") as tmp:
        staged = {}
        for key, folder in folders.items():
            staging = Path(tmp) / key
            card = stage_model_repo(folder, repo_ids[key], staging, config.dataset_repo)
            staged[key] = (staging, card)
        real_data = [key for key, folder in folders.items() if not _synthetic(folder)]
        if real_data and not config.dataset_repo:
            out(
                "note: no --dataset-repo given, so the cards' `datasets` metadata names no dataset; pass the "
                "private repo you pushed with `python -m hub_upload dataset --repo NS/NAME`."
            )
        if config.dry_run:
            for key, (staging, card) in staged.items():
                files = _describe_files(staging)
                out(
                    f"[dry-run] would push {len(files)} files to model repo {repo_ids[key]}"
                    f" (revision {config.revision or 'main'}, {'private' if config.private else 'public'}):"
                )
                for name in files:
                    out(f"  {name}  ({(staging / name).stat().st_size} bytes)")
                out(f"----- {repo_ids[key]} README.md -----\n{card}")
                results.append(PushResult(repo_ids[key], "model", None, config.revision or "main", files))
            return results

        from huggingface_hub import HfApi, ModelCard

        api = HfApi(token=token)
        for key, (_, card) in staged.items():  # the Hub's own card check, before any repo is touched
            with scrubbed_errors(f"validating the model card of {repo_ids[key]} on the Hub"):
                ModelCard(card).validate(repo_type="model")
        for key, (staging, _) in staged.items():
            repo_id = repo_ids[key]
            # Provenance of this push. It also makes a second push of unchanged models a new commit
            # (the Hub skips commits whose files are all identical), which the pins rely on.
            (staging / PUSH_INFO_FILE).write_text(json.dumps({
                "pushed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "revision": config.revision or "main",
                "commit_message": config.commit_message,
                "tool": "hub_upload",
            }, indent=2) + "\n", encoding="utf-8")
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
                PushResult(repo_id, "model", info.oid, config.revision or "main", _describe_files(staging))
            )
            out(f"pushed {repo_id}@{config.revision or 'main'} commit {info.oid}")
    return results


# -- dataset ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetPushConfig:
    source: Path = field(metadata={"help": "a `python -m datasets_prep build` output folder"})
    repo: str = field(metadata={"help": "dataset repo id namespace/name; always private"})
    public: bool = field(default=False, metadata={"help": "asking for public is refused (AI Hub terms)"})
    dry_run: bool = field(default=False, metadata={"help": "print the files, touch no network"})
    commit_message: str = field(
        default="Upload prepared AI Hub 216 scalp data (private)", metadata={"help": ""}
    )

    def __post_init__(self):
        object.__setattr__(self, "source", Path(self.source))
        check_repo_id(self.repo)


def refuse_public_dataset(public: bool) -> None:
    if public:
        raise PublicPushRefused(
            f"Refusing to push the prepared dataset publicly. {AIHUB_TERMS} "
            "A public repo would redistribute it. "
            f"Push without --public: hub_upload only ever creates a PRIVATE dataset repo. ({AIHUB_URL})"
        )


def _dataset_files(source: Path) -> list[Path]:
    if not source.is_dir():
        raise HubUploadError(
            f"dataset source {source} is not a folder; run `python -m datasets_prep build` first"
        )
    built = (source / "prep_config.json").is_file() or any(
        (source / s.key / "dataset_dict.json").is_file() for s in SYMPTOMS
    )
    if not built:
        raise HubUploadError(
            f"{source} is not a datasets_prep build output (no prep_config.json and no "
            "<symptom>/dataset_dict.json); run `python -m datasets_prep build --out DIR` first"
        )
    return sorted(
        p
        for p in source.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(source).parts)
    )


def dataset_card(repo: str, files: list[str]) -> str:
    configs = [s.key for s in SYMPTOMS if f"{s.key}/dataset_dict.json" in files]
    lines = [
        "---",
        "license: other",
        "license_name: aihub-216-terms",
        f"license_link: {AIHUB_URL}",
        "task_categories:",
        "- image-classification",
        "tags:",
        "- scalp",
        "- aihub-216",
        "- private",
        "---",
        "",
        f"# {repo} (PRIVATE)",
        "",
        "Prepared copy of AI Hub '유형별 두피 이미지' (dataSetSn=216), "
        "written by `python -m datasets_prep build`.",
        "",
        f"**Keep this repo private.** {AIHUB_TERMS}",
        "",
        "Per-symptom `DatasetDict`s (`save_to_disk` format; load with `datasets.load_from_disk` after "
        "`snapshot_download`): " + (", ".join(f"`{c}/`" for c in configs) or "none") + ".",
        "`images.parquet` lists every unique image with its six labels and split.",
        "",
    ]
    return "\n".join(lines)


def push_dataset(config: DatasetPushConfig, token: str | None = None, out: Printer = print) -> PushResult:
    """Push a prepared dataset folder to a PRIVATE dataset repo; refuses public, and existing public repos."""
    refuse_public_dataset(config.public)  # before anything else, network included
    files = _dataset_files(config.source)
    rel = [p.relative_to(config.source).as_posix() for p in files]
    card = dataset_card(config.repo, rel)
    if config.dry_run:
        out(f"[dry-run] would push {len(rel) + 1} files to PRIVATE dataset repo {config.repo}:")
        for name in ["README.md", *rel]:
            out(f"  {name}")
        out(f"----- README.md -----\n{card}")
        return PushResult(config.repo, "dataset", None, "main", tuple(["README.md", *rel]))

    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(token=token)
    with scrubbed_errors(f"pushing dataset {config.repo}"):
        refusal = public_dataset_repo_refusal(api, config.repo, "Make it private on the Hub or pick another repo.")
        if refusal:
            raise PublicPushRefused(refusal)
        api.create_repo(config.repo, repo_type="dataset", private=True, exist_ok=True)
        operations = [CommitOperationAdd("README.md", card.encode("utf-8"))]
        operations += [CommitOperationAdd(name, str(path)) for name, path in zip(rel, files, strict=False)]
        commit = api.create_commit(
            config.repo, operations, repo_type="dataset", commit_message=config.commit_message
        )
    out(f"pushed PRIVATE dataset {config.repo} commit {commit.oid}")
    return PushResult(config.repo, "dataset", commit.oid, "main", tuple(["README.md", *rel]))


# -- space -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SpacePushConfig:
    repo: str = field(metadata={"help": "Space repo id namespace/name"})
    models_namespace: str | None = field(
        default=None,
        metadata={"help": "namespace of the six model repos " "(default: the Space's namespace)"},
    )
    models_revision: str | None = field(default=None, metadata={"help": "branch or tag of the models to pin"})
    project_root: Path = field(
        default=PROJECT_ROOT, metadata={"help": "folder holding app.py and the packages"}
    )
    private: bool = field(default=False, metadata={"help": "create the Space private"})
    dry_run: bool = field(default=False, metadata={"help": "print files and README, touch no network"})
    commit_message: str = field(
        default="Upload scalp-care app with hub_upload", metadata={"help": "commit title"}
    )

    def __post_init__(self):
        check_repo_id(self.repo)
        object.__setattr__(self, "project_root", Path(self.project_root))
        if self.models_namespace is None:
            object.__setattr__(self, "models_namespace", self.repo.split("/")[0])
        model_repo_ids(self.models_namespace)


def gradio_pin(requirements: Path) -> str:
    """The exact gradio version pinned in requirements.txt (the Space's sdk_version)."""
    for line in requirements.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\s*gradio\s*==\s*([0-9][\w.]*)\s*(#.*)?$", line)
        if m:
            return m.group(1)
    raise HubUploadError(
        f"{requirements} pins no gradio version (expected a line 'gradio==X.Y.Z'); "
        "the Space's sdk_version is read from it"
    )


def space_readme(config: SpacePushConfig, sdk_version: str) -> str:
    import jinja2
    from huggingface_hub import SpaceCardData

    repos = list(model_repo_ids(config.models_namespace).values())
    data = SpaceCardData(
        title="두피 진단 · 두피케어 추천",
        sdk="gradio",
        sdk_version=sdk_version,
        python_version="3.11",
        app_file="app.py",
        license="apache-2.0",
        models=repos,
        tags=["scalp", "image-classification", "korean"],
        emoji="💆",
        colorFrom="pink",
        colorTo="purple",
        pinned=False,
        short_description="Scalp symptom check and scalp-care picks",
    )
    template = Path(__file__).with_name("space_readme_template.md").read_text(encoding="utf-8")
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
    )
    return env.from_string(template).render(
        front_matter=data.to_yaml(), models_namespace=config.models_namespace, model_repos=repos
    )


def space_packages(root: Path) -> list[Path]:
    """The project's importable packages (scalp_core, scalp_models, ui, ...), sorted."""
    return sorted(
        p.parent
        for p in root.glob("*/__init__.py")
        if p.parent.name not in SPACE_EXCLUDED_PACKAGES and not p.parent.name.startswith(".")
    )


def stage_space(config: SpacePushConfig, staging: Path) -> tuple[str, ...]:
    """Copy app.py, requirements.txt and the packages to ``staging``; add README.md and space_config.json."""
    root = config.project_root
    for name in SPACE_TOP_FILES:
        if not (root / name).is_file():
            raise HubUploadError(
                f"{name} not found in {root}; the Space needs it "
                + ("(the Gradio app is not written yet?)" if name == "app.py" else "")
            )
    sdk_version = gradio_pin(root / "requirements.txt")
    staging.mkdir(parents=True, exist_ok=True)
    for name in SPACE_TOP_FILES:
        shutil.copy2(root / name, staging / name)
    for src in space_packages(root):
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(root)
            if (
                not path.is_file()
                or path.name.endswith(SPACE_SKIP_SUFFIXES)
                or any(part in SPACE_SKIP_DIRS or part.startswith(".") for part in rel.parts)
            ):
                continue
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, staging / rel)
    (staging / "README.md").write_text(space_readme(config, sdk_version), encoding="utf-8")
    space_config = {"models": config.models_namespace, "revision": config.models_revision}
    (staging / "space_config.json").write_text(json.dumps(space_config, indent=2) + "\n", encoding="utf-8")
    return _describe_files(staging)


def push_space(config: SpacePushConfig, token: str | None = None, out: Printer = print) -> PushResult:
    """Upload the app to a Gradio Space; set ``SCALP_MODELS`` so it loads ``<models_namespace>/scalp-*``."""
    with tempfile.TemporaryDirectory(prefix="hub_upload-space-") as tmp:
        staging = Path(tmp)
        files = stage_space(config, staging)
        if config.dry_run:
            out(
                f"[dry-run] would push {len(files)} files to Space {config.repo} "
                f"(SCALP_MODELS={config.models_namespace}):"
            )
            for name in files:
                out(f"  {name}")
            out("----- README.md -----\n" + (staging / "README.md").read_text(encoding="utf-8"))
            return PushResult(config.repo, "space", None, "main", files)

        from huggingface_hub import HfApi

        api = HfApi(token=token)
        with scrubbed_errors(f"pushing Space {config.repo}"):
            api.create_repo(
                config.repo,
                repo_type="space",
                space_sdk="gradio",
                exist_ok=True,
                private=True if config.private else None,
            )
            info = api.upload_folder(
                repo_id=config.repo,
                repo_type="space",
                folder_path=staging,
                commit_message=config.commit_message,
            )
            api.add_space_variable(
                config.repo,
                "SCALP_MODELS",
                config.models_namespace,
                description="Hub namespace of the six scalp-<symptom> model repos",
            )
            if config.models_revision:
                api.add_space_variable(config.repo, "SCALP_MODELS_REVISION", config.models_revision)
    out(f"pushed Space {config.repo} commit {info.oid} (SCALP_MODELS={config.models_namespace})")
    return PushResult(config.repo, "space", info.oid, "main", files)
