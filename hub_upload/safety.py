"""The checks every hub_upload push makes before it uploads anything.

:func:`refuse_leaks` reads every staged file and refuses the push when one holds the token (or
anything shaped like a Hub token) or a local absolute path (the project or model folder, the home
folder); :func:`refuse_public_repo` refuses a ``--private`` push into a repo that already exists
PUBLIC, since creating it "private" would not hide it. Both raise :class:`HubUploadError` with a
message that says what to fix, and nothing has been uploaded when they do.

    >>> refuse_leaks({"me/scalp-hair-loss": staging}, token=token, local_paths=local_paths_of(source))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from hub_upload.secrets import HubUploadError, holds_token

# Files read as text for local paths; every file is searched for tokens.
TEXT_SUFFIXES = (".py", ".json", ".md", ".yaml", ".yml", ".csv", ".txt", ".toml", ".cfg", ".ini")


def local_paths_of(*folders: Path) -> tuple[str, ...]:
    """The absolute paths no uploaded file may name: the given folders and the home folder."""
    paths = {str(Path(folder).resolve()) for folder in folders}
    home = Path.home()
    if len(home.parts) > 1:  # a home of "/" would match every path
        paths.add(f"{home}/")
    return tuple(sorted(paths))


def leaks(folder: Path, *, token: str | None = None, paths: Iterable[str] = ()) -> list[str]:
    """``"file holds what"`` for every file under ``folder`` that holds a token or one of ``paths``."""
    problems = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name, data = path.relative_to(folder).as_posix(), path.read_bytes()
        if holds_token(data, token):
            problems.append(f"{name} holds a Hugging Face token (hf_...)")
        if path.suffix.lower() in TEXT_SUFFIXES:
            text = data.decode("utf-8", errors="replace")
            problems += [f"{name} holds the local path {local}" for local in paths if local in text]
    return problems


def refuse_leaks(
    folders: Mapping[str, Path], *, token: str | None = None, local_paths: Iterable[str] = ()
) -> None:
    """Raise :class:`HubUploadError` naming every staged file that holds a token or a local path.

    ``folders`` maps each repo id to its staging folder; all are searched before one error is raised."""
    local_paths = tuple(local_paths)
    problems = [
        f"{repo_id}/{problem}"
        for repo_id, folder in folders.items()
        for problem in leaks(folder, token=token, paths=local_paths)
    ]
    if problems:
        raise HubUploadError(
            "refusing to push, nothing was uploaded:\n  " + "\n  ".join(problems) + "\nRemove them from the "
            "source files (a token belongs in HF_TOKEN, paths should be relative) and push again."
        )


def refuse_public_repo(api: HfApi, repo_id: str, repo_type: str) -> None:
    """Raise :class:`HubUploadError` when ``repo_id`` exists and is PUBLIC (a ``--private`` push)."""
    try:
        info = api.repo_info(repo_id, repo_type=repo_type)
    except RepositoryNotFoundError:
        return  # created private by the push
    if not info.private:
        raise HubUploadError(
            f"{repo_type} repo {repo_id} already exists and is PUBLIC, so --private cannot hide what is "
            "pushed there; nothing was pushed. Make it private on the Hub (Settings → visibility) or push "
            "without --private."
        )
