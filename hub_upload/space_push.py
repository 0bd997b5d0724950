"""Push the Gradio app to a Hugging Face Space that loads the six models from ``<models_namespace>/scalp-*``.

The Space gets what the app runs and nothing else, by an explicit allow-list: ``app.py``,
``requirements.txt``, the Python files of the packages the app imports at run time
(:data:`SPACE_PACKAGES`) and the data files each of them reads; a ``README.md`` rendered from
``space_readme_template.md`` (its front matter pins ``sdk_version`` to the gradio version in
requirements.txt) and ``space_config.json``. Every staged file is searched for tokens and local
paths before anything is uploaded (:mod:`hub_upload.safety`). The Space variables
``SCALP_MODELS`` (and ``SCALP_MODELS_REVISION``) tell the app where its models are. ``dry_run``
prints the files and the README and touches no network; ``stage_dir`` writes exactly the files a
push would upload into a new folder (also no network), to install and start the Space locally.

    python -m hub_upload space --repo me/scalp-care --models-namespace me [--models-revision v1] [--dry-run]
    python -m hub_upload space --repo me/scalp-care --stage-dir space-staged
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2
from huggingface_hub import HfApi, SpaceCardData

from hub_upload.naming import check_repo_id, model_repo_ids
from hub_upload.push_result import Printer, PushResult, staged_files
from hub_upload.safety import local_paths_of, refuse_leaks, refuse_public_repo
from hub_upload.secrets import HubUploadError, scrubbed_errors
from scalp_core.cli import help_field

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = Path(__file__).with_name("space_readme_template.md")
SPACE_TOP_FILES = ("app.py", "requirements.txt")
# The packages app.py imports at run time (ui at import; the model code and the photo check in the
# loader thread), each with the data files it reads, as glob patterns inside the package. Every
# *.py file of a package goes too (outside tests/ and caches). tests/test_hub_upload.py imports the
# app and lists sys.modules to check that this list is complete; nothing outside it is uploaded.
SPACE_PACKAGES: dict[str, tuple[str, ...]] = {
    "scalp_core": ("symptoms.csv", "grades.csv"),
    "synthetic": (),
    "scalp_models": ("int8_exclusions.json",),
    "photo_check": ("messages.yaml", "fitted/*.json"),
    "recommendation": ("data/*.csv", "data/*.yaml"),
    "ui": ("strings.yaml", "strings/*.yaml"),
}
SPACE_SKIP_DIRS = {"__pycache__", "tests"}


@dataclass(frozen=True)
class SpacePushConfig:
    repo: str = help_field("Space repo id namespace/name")
    models_namespace: str | None = help_field(
        "namespace of the six model repos (default: the Space's namespace)", default=None
    )
    models_revision: str | None = help_field("branch or tag of the models to pin", default=None)
    project_root: Path = help_field("folder holding app.py and the packages", default=PROJECT_ROOT)
    private: bool = help_field("create the Space private", default=False)
    dry_run: bool = help_field("print files and README, touch no network", default=False)
    stage_dir: Path | None = help_field(
        "write the files a push would upload into this new or empty folder; touch no network", default=None
    )
    commit_message: str = help_field("commit title", default="Upload scalp-care app with hub_upload")

    def __post_init__(self):
        check_repo_id(self.repo)
        object.__setattr__(self, "project_root", Path(self.project_root))
        if self.stage_dir is not None:
            object.__setattr__(self, "stage_dir", Path(self.stage_dir))
            if self.stage_dir.exists() and (not self.stage_dir.is_dir() or any(self.stage_dir.iterdir())):
                raise ValueError(f"stage dir {self.stage_dir} is not empty; give a new or empty folder")
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
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
    )
    return env.from_string(TEMPLATE_PATH.read_text(encoding="utf-8")).render(
        front_matter=data.to_yaml(), models_namespace=config.models_namespace, model_repos=repos
    )


def space_files(root: Path) -> list[Path]:
    """The project files the Space needs, relative to ``root``: :data:`SPACE_TOP_FILES`, then each of
    :data:`SPACE_PACKAGES` with its Python files and data files, sorted; a clear error if one is missing."""
    for name in SPACE_TOP_FILES:
        if not (root / name).is_file():
            raise HubUploadError(
                f"{name} not found in {root}; the Space needs it "
                + ("(the Gradio app is not written yet?)" if name == "app.py" else "")
            )
    files = [Path(name) for name in SPACE_TOP_FILES]
    for package, data_patterns in SPACE_PACKAGES.items():
        folder = root / package
        if not (folder / "__init__.py").is_file():
            raise HubUploadError(f"package {package}/ not found in {root}; the app imports it at run time")
        found = set(folder.rglob("*.py"))
        for pattern in data_patterns:
            found.update(folder.glob(pattern))
        files += sorted(
            path.relative_to(root)
            for path in found
            if path.is_file() and not any(part in SPACE_SKIP_DIRS or part.startswith(".")
                                          for part in path.relative_to(folder).parts)
        )
    return files


def stage_space(config: SpacePushConfig, staging: Path, token: str | None = None) -> tuple[str, ...]:
    """Copy the allow-listed project files (:func:`space_files`) to ``staging``; add README.md and
    space_config.json; refuse if any staged file holds a token or a local path."""
    root = config.project_root
    files = space_files(root)
    sdk_version = gradio_pin(root / "requirements.txt")
    staging.mkdir(parents=True, exist_ok=True)
    for rel in files:
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, staging / rel)
    (staging / "README.md").write_text(space_readme(config, sdk_version), encoding="utf-8")
    space_config = {"models": config.models_namespace, "revision": config.models_revision}
    (staging / "space_config.json").write_text(json.dumps(space_config, indent=2) + "\n", encoding="utf-8")
    refuse_leaks({config.repo: staging}, token=token, local_paths=local_paths_of(root))
    return staged_files(staging)


def push_space(config: SpacePushConfig, token: str | None = None, out: Printer = print) -> PushResult:
    """Upload the app to a Gradio Space; set ``SCALP_MODELS`` so it loads ``<models_namespace>/scalp-*``."""
    if config.stage_dir is not None:
        files = stage_space(config, config.stage_dir)
        out(f"staged {len(files)} files for Space {config.repo} in {config.stage_dir} (nothing was pushed):")
        for name in files:
            out(f"  {name}")
        return PushResult(config.repo, "space", None, "main", files)
    with tempfile.TemporaryDirectory(prefix="hub_upload-space-") as tmp:
        staging = Path(tmp)
        files = stage_space(config, staging, token)
        if config.dry_run:
            out(
                f"[dry-run] would push {len(files)} files to Space {config.repo} "
                f"(SCALP_MODELS={config.models_namespace}):"
            )
            for name in files:
                out(f"  {name}")
            out("----- README.md -----\n" + (staging / "README.md").read_text(encoding="utf-8"))
            return PushResult(config.repo, "space", None, "main", files)

        api = HfApi(token=token)
        with scrubbed_errors(f"pushing Space {config.repo}"):
            if config.private:
                refuse_public_repo(api, config.repo, "space")
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
                delete_patterns=["*"],  # files of earlier pushes that are off the allow-list now go
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
