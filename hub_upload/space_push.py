"""Push the Gradio app to a Hugging Face Space that loads the six models from ``<models_namespace>/scalp-*``.

The Space gets ``app.py``, ``requirements.txt`` and every top-level package of the project
(tests, caches and byte code left out), a ``README.md`` rendered from ``space_readme_template.md``
(its front matter pins ``sdk_version`` to the gradio version in requirements.txt) and
``space_config.json``; the Space variables ``SCALP_MODELS`` (and ``SCALP_MODELS_REVISION``) tell
the app where its models are. ``dry_run`` prints the files and the README and touches no network.

    python -m hub_upload space --repo me/scalp-care --models-namespace me [--models-revision v1] [--dry-run]
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
from hub_upload.secrets import HubUploadError, scrubbed_errors
from scalp_core.cli import help_field

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = Path(__file__).with_name("space_readme_template.md")
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
    commit_message: str = help_field("commit title", default="Upload scalp-care app with hub_upload")

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
    return staged_files(staging)


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
