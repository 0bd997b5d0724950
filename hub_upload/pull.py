"""Pull the six scalp models from the Hub (or the local Hub cache when offline).

:func:`download_models` runs ``snapshot_download`` for every ``<namespace>/scalp-<suffix>``
repo and returns the local snapshot folders. With ``HF_HUB_OFFLINE=1`` it uses the cache
only. Whatever is missing (a repo, a revision, a file, or a cache entry when offline) is
collected across all six and raised as ONE :class:`ModelsUnavailableError` that lists it.

    python -m hub_upload pull --namespace me [--revision v1]
"""

from __future__ import annotations

from pathlib import Path

from hub_upload.naming import model_repo_ids
from hub_upload.secrets import HubUploadError, scrub
from scalp_core.symptoms import SYMPTOMS

NEEDED_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")
PULLED_PATTERNS = ["*.json", "*.safetensors", "*.png", "README.md"]


class ModelsUnavailableError(HubUploadError):
    """Some of the six model repos (or files in them) could not be had; the message lists which."""

    def __init__(self, namespace: str, problems: dict[str, str], offline: bool):
        self.problems = problems
        where = "the local Hub cache (HF_HUB_OFFLINE=1)" if offline else "the Hub"
        lines = [f"  - {repo}: {why}" for repo, why in problems.items()]
        advice = (
            "Run once online to fill the cache, or point the app at a local models folder."
            if offline
            else f"Push them with `python -m hub_upload models --source models --namespace {namespace}`, "
            "check the namespace/revision, or set HF_TOKEN for private repos."
        )
        super().__init__(
            f"{len(problems)} of {len(SYMPTOMS)} scalp models are unavailable from {where}:\n"
            + "\n".join(lines)
            + "\n"
            + advice
        )


def _revision_for(revision: str | dict[str, str] | None, key: str, repo_id: str) -> str | None:
    if isinstance(revision, dict):
        return revision.get(key) or revision.get(repo_id)
    return revision


def download_models(
    namespace: str,
    revision: str | dict[str, str] | None = None,
    cache_dir: str | Path | None = None,
    token: str | None = None,
) -> dict[str, Path]:
    """Symptom key → local folder of ``<namespace>/scalp-<suffix>`` at ``revision``.

    ``revision`` is one branch/tag/commit for all six, or a dict mapping symptom key (or repo
    id) to a pinned commit sha (as printed by ``hub_upload models``).
    """
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = bool(constants.HF_HUB_OFFLINE)
    folders: dict[str, Path] = {}
    problems: dict[str, str] = {}
    for key, repo_id in model_repo_ids(namespace).items():
        rev = _revision_for(revision, key, repo_id)
        label = f"{repo_id}@{rev}" if rev else repo_id
        try:
            folder = Path(
                snapshot_download(
                    repo_id, revision=rev, cache_dir=cache_dir, token=token, allow_patterns=PULLED_PATTERNS
                )
            )
        except RevisionNotFoundError:
            problems[label] = f"revision {rev!r} not found"
            continue
        except RepositoryNotFoundError:
            problems[label] = "repository not found (or private and no valid token)"
            continue
        except LocalEntryNotFoundError:
            problems[label] = (
                "not in the local cache" if offline else "could not be downloaded or found in the cache"
            )
            continue
        except Exception as err:  # network errors and the like: report, do not leak the token
            problems[label] = scrub(f"{type(err).__name__}: {err}").splitlines()[0]
            continue
        missing = [name for name in NEEDED_FILES if not (folder / name).is_file()]
        if missing:
            problems[label] = f"missing {', '.join(missing)}"
            continue
        folders[key] = folder
    if problems:
        raise ModelsUnavailableError(namespace, problems, offline)
    return folders
