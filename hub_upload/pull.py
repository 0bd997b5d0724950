"""Pull the six scalp models from the Hub (or the local Hub cache when offline).

:func:`download_models` fetches every ``<namespace>/scalp-<suffix>`` repo with its card, eval
report, confusion matrix and domain check ``novelty.json`` (where the repo has one; the app reads it
with ``scalp_models.novelty.NoveltyScorer``) through ``scalp_models.hub_loading`` (the same loop the app's
``ScalpDiagnoser`` loads with) and returns the local snapshot folders. With ``HF_HUB_OFFLINE=1`` it
uses the cache only. Only safetensors weights are fetched: a repo that holds only a pickle
``pytorch_model.bin`` is refused and named. Whatever is missing (a repo, a revision, a file, or a
cache entry when offline) is collected across all six and raised as ONE
:class:`scalp_models.hub_loading.ModelsUnavailableError` that lists it, with any token masked.
``--pins`` reads the file ``hub_upload models --pins`` wrote (``scalp_models.hub_loading.read_pins``).

    python -m hub_upload pull --namespace me [--revision v1 | --pins pins.json]
"""

from __future__ import annotations

from pathlib import Path

from hub_upload.naming import check_namespace
from hub_upload.secrets import scrub
from scalp_models.hub_loading import (
    ModelsUnavailableError,
    Revision,
    UnavailableModel,
    download_model_snapshots,
)

# The model files (hub_loading.LOADED_FILES, novelty.json among them) plus the card, eval report,
# training settings and confusion matrix.
PULLED_PATTERNS = ["*.json", "*.safetensors", "*.png", "README.md"]


def download_models(
    namespace: str,
    revision: Revision = None,
    cache_dir: str | Path | None = None,
    token: str | None = None,
) -> dict[str, Path]:
    """Symptom key → local folder of ``<namespace>/scalp-<suffix>`` at ``revision``.

    ``revision`` is one branch/tag/commit for all six, or a dict mapping symptom key (or repo
    id) to a pinned commit sha (as printed by ``hub_upload models``).
    """
    check_namespace(namespace)
    try:
        return download_model_snapshots(
            namespace, revision, patterns=PULLED_PATTERNS, cache_dir=cache_dir, token=token
        )
    except ModelsUnavailableError as err:
        # Error texts of the Hub client can quote request details; mask any token before it is shown.
        unavailable = [UnavailableModel(scrub(m.name), scrub(m.why), m.files) for m in err.unavailable]
        raise ModelsUnavailableError(err.source, unavailable, scrub(err.hint)) from None
