"""Push a prepared dataset (the six per-symptom ``DatasetDict``s) to a PRIVATE Hub dataset repo.

The AI Hub '유형별 두피 이미지' terms allow use by Korean users after an approved
application and forbid redistribution, so this module only ever pushes with
``private=True`` and refuses a public push before any network access.

    python -m datasets_prep build --aihub-root DIR --out prepared --push-to-hub me/scalp-aihub216 --private
"""

from __future__ import annotations

from pathlib import Path

from scalp_core.symptoms import SYMPTOMS
from scalp_core.terms import AIHUB_TERMS



class PublicPushRefused(ValueError):
    """Raised before any network access when a public push of AI Hub data is asked for."""


def check_push_allowed(private: bool) -> None:
    """Refuse a public push, citing the AI Hub terms; do nothing for a private one."""
    if not private:
        raise PublicPushRefused(
            f"Refusing to push publicly. {AIHUB_TERMS} A public Hub repo would redistribute it; "
            "push with --private (the default) to a private dataset repo instead."
        )


def push_prepared(out: Path, repo_id: str, *, private: bool = True, token: str | None = None) -> list[str]:
    """Push every ``out/<symptom key>/`` DatasetDict as config ``<key>`` of the private dataset ``repo_id``.

    Returns the config names pushed. Raises :class:`PublicPushRefused` for ``private=False``.
    """
    check_push_allowed(private)
    from datasets import load_from_disk  # heavy import, only when really pushing

    pushed = []
    for spec in SYMPTOMS:
        folder = Path(out) / spec.key
        if not folder.is_dir():
            continue
        dataset_dict = load_from_disk(str(folder))
        dataset_dict.push_to_hub(repo_id, config_name=spec.key, private=True, token=token)
        pushed.append(spec.key)
    if not pushed:
        raise FileNotFoundError(
            f"no prepared symptom folders under {out}; run `python -m datasets_prep build` first"
        )
    return pushed
