"""hub_upload: push the six scalp models (with model cards), the private prepared dataset and the Space
to the Hugging Face Hub, and pull the models back.

Naming: one model repo per symptom, ``<namespace>/scalp-<suffix>`` (``scalp_core`` ``repo_suffix``),
e.g. ``me/scalp-hair-loss``. The token comes from ``HF_TOKEN`` or ``hf auth login`` and never
appears in output. Run ``python -m hub_upload --help``:

    python -m hub_upload models  --source models --namespace me [--private] [--revision v1] [--dry-run]
    python -m hub_upload dataset --source prepared --repo me/scalp-aihub216      # always private
    python -m hub_upload space   --repo me/scalp-care --models-namespace me [--dry-run | --stage-dir DIR]
    python -m hub_upload pull    --namespace me [--revision v1 | --pins pins.json]
"""

from hub_upload.naming import model_repo_id, model_repo_ids
from hub_upload.secrets import HubUploadError

__all__ = ["HubUploadError", "model_repo_id", "model_repo_ids"]
