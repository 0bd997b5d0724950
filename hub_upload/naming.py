"""The Hub naming scheme: one model repo per symptom, ``<namespace>/scalp-<suffix>``.

The suffix comes from ``scalp_core/symptoms.csv`` (``repo_suffix``), e.g. ``me/scalp-hair-loss``
for 탈모 and ``me/scalp-fine-scale`` for 미세각질, so every stage derives the same ids.

    >>> model_repo_ids("me")["hair_loss"]
    'me/scalp-hair-loss'
"""

from __future__ import annotations

import re

from scalp_core.symptoms import SYMPTOMS, SymptomSpec

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def check_namespace(namespace: str) -> str:
    """A Hub user or organisation name, else a ValueError that says what is wrong."""
    if not _NAME.match(namespace or "") or "--" in namespace or ".." in namespace:
        raise ValueError(
            f"namespace {namespace!r} is not a valid Hub user or organisation name "
            "(letters, digits, '-', '_', '.'; no '/')"
        )
    return namespace


def check_repo_id(repo_id: str) -> str:
    """``namespace/name``, else a ValueError that says what is wrong."""
    parts = (repo_id or "").split("/")
    if len(parts) != 2 or not all(_NAME.match(p) for p in parts):
        raise ValueError(f"repo id {repo_id!r} must look like 'namespace/name' (e.g. me/scalp-aihub216)")
    return repo_id


def model_repo_id(spec: SymptomSpec, namespace: str) -> str:
    return f"{check_namespace(namespace)}/{spec.repo_name}"


def model_repo_ids(namespace: str) -> dict[str, str]:
    """Symptom key → model repo id, in the table's order."""
    return {spec.key: model_repo_id(spec, namespace) for spec in SYMPTOMS}
