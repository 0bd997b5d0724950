"""Push a prepared dataset (the six per-symptom ``DatasetDict``s) to a PRIVATE Hub dataset repo.

The AI Hub '유형별 두피 이미지' terms allow use by Korean users after an approved
application and forbid redistribution, so this module only ever pushes with
``private=True``: it refuses a public push before any network access, and refuses an
existing PUBLIC repo of that name before uploading anything.

    python -m datasets_prep build --aihub-root DIR --out prepared --push-to-hub me/scalp-aihub216 --private
"""

from __future__ import annotations

from pathlib import Path

from scalp_core.symptoms import SYMPTOMS
from scalp_core.terms import AIHUB_TERMS, public_dataset_repo_refusal


class PublicPushRefused(ValueError):
    """Raised before any upload when a public push of AI Hub data is asked for, or the repo is public."""


class PushFailed(RuntimeError):
    """The Hub could not be reached or refused the upload; the prepared folder is intact."""


def check_push_allowed(private: bool) -> None:
    """Refuse a public push, citing the AI Hub terms; do nothing for a private one."""
    if not private:
        raise PublicPushRefused(
            f"Refusing to push publicly. {AIHUB_TERMS} A public Hub repo would redistribute it; "
            "push with --private (the default) to a private dataset repo instead."
        )


def push_prepared(out: Path, repo_id: str, *, private: bool = True, token: str | None = None) -> list[str]:
    """Push every ``out/<symptom key>/`` DatasetDict as config ``<key>`` of the private dataset ``repo_id``.

    Returns the config names pushed. Raises :class:`PublicPushRefused` for ``private=False``
    and, before uploading anything, when ``repo_id`` already exists as a PUBLIC repo (creating
    a repo with ``private=True`` does not change an existing repo's visibility). Any other
    failure (HTTP, network, disk) becomes :class:`PushFailed`, whose message says what to do.
    """
    check_push_allowed(private)
    folders = [(spec.key, Path(out) / spec.key) for spec in SYMPTOMS if (Path(out) / spec.key).is_dir()]
    if not folders:
        raise FileNotFoundError(
            f"no prepared symptom folders under {out}; run `python -m datasets_prep build` first"
        )
    from datasets import load_from_disk  # heavy imports, only when really pushing
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    pushed = []
    try:
        refusal = public_dataset_repo_refusal(
            api, repo_id, "Make it private on the Hub or choose another --push-to-hub repo."
        )
        if refusal:
            raise PublicPushRefused(refusal)
        api.create_repo(repo_id, repo_type="dataset", private=True, exist_ok=True)
        for key, folder in folders:
            load_from_disk(str(folder)).push_to_hub(repo_id, config_name=key, private=True, token=token)
            pushed.append(key)
    except PublicPushRefused:
        raise
    except Exception as error:  # noqa: BLE001 - HTTP, network (httpx) and disk errors: say so, keep the build
        done = f" (configs already pushed: {', '.join(pushed)})" if pushed else ""
        raise PushFailed(
            f"pushing {out} to the private dataset {repo_id} failed{done}: {type(error).__name__}: {error}. "
            f"The prepared folder is complete; check HF_TOKEN and the network, then run the build again "
            f"with --push-to-hub, or push the folder with `python -m hub_upload dataset --source {out} "
            f"--repo {repo_id}`."
        ) from error
    return pushed
