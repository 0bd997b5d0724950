"""Download the six symptom model repos from the Hub, or find them in the local Hub cache.

:func:`download_model_snapshots` runs ``snapshot_download`` for every ``<namespace>/scalp-<suffix>``
repo (``SymptomSpec.repo_name``) and returns the local snapshot folders, with each repo's
``novelty.json`` (the domain check of :mod:`scalp_models.novelty`) where it has one. It is the one download
loop behind ``ScalpDiagnoser.from_hub`` and ``python -m hub_upload pull``. With ``HF_HUB_OFFLINE=1``,
or when ``HF_ENDPOINT`` does not answer within 2 s, it reads the cache only. Whatever is missing (a
repo, a revision, a file, or a cache entry) is collected across all six and raised as ONE
:class:`ModelsUnavailableError` that names every missing item; the same error reports models
missing from a local folder. Weights load from ``model.safetensors`` only: a repo or folder that
holds only a pickle ``pytorch_model.bin`` is refused by name (:func:`pickle_only_reason`), since
unpickling a download can run code. :func:`read_pins` reads the ``{repo id: commit}`` file that
``python -m hub_upload models --pins`` writes, for loading each repo at its own commit.

    >>> folders = download_model_snapshots("me", revision="v1")   # or read_pins("pins.json", "me")
    >>> folders["hair_loss"]            # .../hub/models--me--scalp-hair-loss/snapshots/<sha>
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HFValidationError,
    IncompleteSnapshotError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from scalp_core.symptoms import SYMPTOMS

# What a model folder needs to load with from_pretrained (model and image processor).
REQUIRED_FILES = ("config.json", "preprocessor_config.json", "model.safetensors")
# The model set's domain check (scalp_models.novelty), beside every model. Downloaded with the
# models, but not required: repos pushed before it existed still load, without the check.
NOVELTY_FILE = "novelty.json"
LOADED_FILES = (*REQUIRED_FILES, NOVELTY_FILE)
# Weight files that only torch's pickle loader reads; they are never downloaded nor loaded.
PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
# A pin is a commit sha, branch or tag: what the Hub accepts as a revision.
_REVISION = re.compile(r"[\w][\w./-]{0,199}")

# One branch/tag/commit for all six, or {symptom key or repo id: commit} (``hub_upload models --pins``).
Revision = str | Mapping[str, str] | None


@dataclass(frozen=True)
class UnavailableModel:
    """One model that cannot be loaded: where it was looked for, why, and which files are missing
    when the problem is files rather than the whole repository or folder."""

    name: str  # "me/scalp-dandruff@v1", "models/dandruff/", "model for dandruff"
    why: str = ""
    files: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """One line per missing item: the files if any, else the model itself."""
        items = [f"{self.name}/{file}" for file in self.files] or [self.name]
        return [f"{item} ({self.why})" if self.why else item for item in items]


class ModelsUnavailableError(RuntimeError):
    """Some of the six models could not be loaded; the message names every missing item.

    ``.missing`` lists the items one per line (a file where a file is the problem), ``.problems``
    maps each unavailable model (Hub repo ``NS/scalp-<suffix>[@revision]`` or model folder) to why,
    ``.hint`` is the advice line(s) at the end of the message.
    """

    def __init__(self, source: str, unavailable: Sequence[UnavailableModel], hint: str = ""):
        self.source = source
        self.unavailable = tuple(unavailable)
        self.hint = hint
        lines = [f"Cannot load the scalp models from {source!r}; missing:"]
        lines += [f"  - {item}" for item in self.missing]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))

    @property
    def missing(self) -> list[str]:
        return [line for model in self.unavailable for line in model.lines()]

    @property
    def problems(self) -> dict[str, str]:
        out = {}
        for model in self.unavailable:
            missing = f"missing {', '.join(model.files)}" if model.files else ""
            out[model.name] = f"{missing} ({model.why})" if missing and model.why else missing or model.why
        return out


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` is set, read now (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(probe_repo: str, timeout: float = 2.0) -> bool:
    """A quick HEAD on ``HF_ENDPOINT``'s ``/api/models/<probe_repo>``; False at once when offline.

    Any answer below 500 (a missing or private repo too) means the Hub is there.
    """
    if hub_offline():
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    url = f"{endpoint}/api/models/{urllib.parse.quote(probe_repo)}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except urllib.error.HTTPError as err:  # the server answered, so the Hub is reachable
        return err.code < 500
    except (OSError, ValueError):
        return False


class PinsError(ValueError):
    """A pins file (``hub_upload models --pins``) that cannot be used; the message says how to fix it."""


def read_pins(path: str | os.PathLike, namespace: str | None = None) -> dict[str, str]:
    """Symptom key → pinned revision, read from the JSON that ``hub_upload models --pins`` writes.

    Keys may be repo ids (``"me/scalp-hair-loss"``, of ``namespace`` when given) or symptom keys
    (``"hair_loss"``); values are commit shas, branches or tags. All six models must be pinned, so a
    file for another namespace or an older set of models is refused instead of silently loading
    ``main`` for what it lacks. Raises :class:`PinsError` naming the file and the problem.
    """
    path = Path(path)
    how = "write it with `python -m hub_upload models --source models --namespace NS --pins FILE`"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PinsError(f"pins file {path} does not exist; {how}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PinsError(f"pins file {path} is not readable JSON ({err}); {how}") from None
    if not isinstance(data, dict):
        raise PinsError(f'pins file {path} must hold a JSON object {{"repo id": "commit"}}, '
                        f"not {type(data).__name__}; {how}")
    by_repo_name = {spec.repo_name: spec.key for spec in SYMPTOMS}
    pins: dict[str, str] = {}
    for name, revision in data.items():
        if "/" in name:
            owner, repo_name = name.split("/", 1)
            key = by_repo_name.get(repo_name) if namespace in (None, owner) else None
        else:
            key = name if name in by_repo_name.values() else None
        if key is None:
            expected = f"{namespace or 'NS'}/scalp-<symptom>"
            raise PinsError(
                f"pins file {path}: {name!r} is neither a model repo id ({expected}) "
                f"nor a symptom key ({', '.join(by_repo_name.values())}); {how}"
            )
        if not isinstance(revision, str) or not _REVISION.fullmatch(revision) or ".." in revision:
            raise PinsError(f"pins file {path}: the pin of {name!r} must be a commit sha, branch or tag, "
                            f"got {revision!r}")
        if pins.setdefault(key, revision) != revision:
            raise PinsError(f"pins file {path} pins {key} twice, to {pins[key]!r} and {revision!r}")
    owners = {name.rpartition("/")[0] for name in data if "/" in name}
    if len(owners) > 1:
        raise PinsError(f"pins file {path} mixes the namespaces {sorted(owners)}; a file pins one namespace")
    unpinned = [spec.key for spec in SYMPTOMS if spec.key not in pins]
    if unpinned:
        raise PinsError(f"pins file {path} pins no revision for {', '.join(unpinned)}; {how}")
    return pins


def pickle_only_reason(files: Sequence[str]) -> str | None:
    """Why a model with these files is refused, when its weights are only pickles (``pytorch_model.bin``)."""
    names = [Path(name).name for name in files]
    pickles = sorted(name for name in names if name.endswith(PICKLE_WEIGHT_SUFFIXES))
    if not pickles or any(name.endswith(".safetensors") for name in names):
        return None
    return (
        f"holds only a pickle {', '.join(pickles)} and no model.safetensors; the app loads safetensors only "
        "(unpickling a download can run code): re-save it with transformers' save_pretrained(), which writes "
        "model.safetensors, and push again"
    )


def revision_for(revision: Revision, key: str, repo_id: str) -> str | None:
    """The revision of one model: the single one, or its pin by symptom key or repo id."""
    if isinstance(revision, Mapping):
        return revision.get(key) or revision.get(repo_id)
    return revision


def download_model_snapshots(
    namespace: str,
    revision: Revision = None,
    *,
    patterns: Sequence[str] = LOADED_FILES,
    cache_dir: str | os.PathLike | None = None,
    token: str | None = None,
) -> dict[str, Path]:
    """Symptom key → local snapshot folder of ``<namespace>/scalp-<suffix>``, holding ``REQUIRED_FILES``
    (and ``novelty.json``, the domain check, where the repo has one).

    ``revision``: one branch/tag/commit for all six, or a mapping from symptom key (or repo id) to
    a pinned commit. ``patterns``: the files to fetch (``snapshot_download``'s ``allow_patterns``);
    they must cover ``REQUIRED_FILES``. Raises :class:`ModelsUnavailableError` naming everything
    missing across the six repos.
    """
    offline = hub_offline()
    repo_ids = {spec.key: f"{namespace}/{spec.repo_name}" for spec in SYMPTOMS}
    # One 2 s probe instead of a slow failure per repo when the Hub is down; offline it sends nothing.
    cache_only = not hub_reachable(next(iter(repo_ids.values())))
    not_cached = "not in the local cache" + (
        "; HF_HUB_OFFLINE=1 allows no download" if offline else " and the Hub is unreachable"
    )
    folders: dict[str, Path] = {}
    unavailable: list[UnavailableModel] = []
    for key, repo_id in repo_ids.items():
        rev = revision_for(revision, key, repo_id)
        name = f"{repo_id}@{rev}" if rev else repo_id
        try:
            folder = Path(snapshot_download(
                repo_id, revision=rev, allow_patterns=list(patterns), cache_dir=cache_dir, token=token,
                local_files_only=cache_only,
            ))
        except GatedRepoError:
            unavailable.append(UnavailableModel(name, "gated: accept its terms on the Hub and log in"))
            continue
        except RepositoryNotFoundError:
            why = "repository not found, or private and no valid token: set HF_TOKEN or run `hf auth login`"
            unavailable.append(UnavailableModel(name, why))
            continue
        except RevisionNotFoundError:
            unavailable.append(UnavailableModel(name, f"revision {rev!r} not found"))
            continue
        except IncompleteSnapshotError as err:  # a cached snapshot lacking files: the check below names them
            folder = Path(err.snapshot_path)
        except LocalEntryNotFoundError:
            cache_only = True  # the Hub did not answer: read the other repos from the cache at once
            unavailable.append(UnavailableModel(name, not_cached, REQUIRED_FILES))
            continue
        except HFValidationError as err:
            unavailable.append(UnavailableModel(name, f"not a valid Hub repository id: {err}"))
            continue
        except Exception as err:  # network and other HTTP errors: reported with the rest, never raised alone
            unavailable.append(UnavailableModel(name, f"{type(err).__name__}: {err}".splitlines()[0]))
            continue
        missing = tuple(file for file in REQUIRED_FILES if not (folder / file).is_file())
        pickled = "model.safetensors" in missing and _pickle_only(repo_id, rev, folder, cache_only, token)
        if pickled:
            unavailable.append(UnavailableModel(name, pickled))
            continue
        if missing:
            why = not_cached if cache_only else "file not in the repository"
            unavailable.append(UnavailableModel(name, why, missing))
            continue
        folders[key] = folder
    if unavailable:
        hint = _advice(namespace, unavailable, not_cached, offline)
        raise ModelsUnavailableError(namespace, unavailable, hint)
    return folders


def _pickle_only(repo_id: str, revision: str | None, folder: Path, cache_only: bool, token) -> str | None:
    """The refusal of a repo whose weights are only pickles, from its file list on the Hub (or the
    cached snapshot when the Hub is not asked); None when it is not that, or the list is unavailable."""
    files = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    if not cache_only:
        try:
            files = HfApi(token=token).list_repo_files(repo_id, revision=revision)
        except Exception:  # the missing files are reported anyway; this only explains them better
            pass
    return pickle_only_reason(files)


def _advice(namespace: str, unavailable: Sequence[UnavailableModel], not_cached: str, offline: bool) -> str:
    where = "the local Hub cache (HF_HUB_OFFLINE=1)" if offline else "the Hub"
    count = f"{len(unavailable)} of {len(SYMPTOMS)} model repositories are unavailable from {where}."
    if any(model.why == not_cached for model in unavailable):
        if offline:
            return (f"{count} Connect to the Hub once to download them (they are cached), "
                    "or unset HF_HUB_OFFLINE.")
        return f"{count} Connect to the Hub once to download them; they are cached for offline use."
    return (
        f"{count} Push them with `python -m hub_upload models --source models --namespace {namespace}`, "
        "check the namespace and revision, or set HF_TOKEN for private repos."
    )
