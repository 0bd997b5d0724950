"""Model creation, training and inference for the six scalp symptoms.

Importing the package is cheap (no torch); the public names load on first use:

    >>> import scalp_models
    >>> scalp_models.create_model          # doctest: +ELLIPSIS
    <function create_model at ...>

See ``scalp_models.modeling`` (``create_model``, ``fold_grayscale``), ``scalp_models.processing``
(``create_image_processor``), ``scalp_models.lite0`` (offline ImageNet weights) and
``scalp_models.diagnoser`` (``ScalpDiagnoser``: six models, one call per image).
"""

from __future__ import annotations

import importlib

_LAZY = {
    "DEFAULT_BASE": "scalp_models.bases",
    "OFFLINE_BASE": "scalp_models.bases",
    "create_model": "scalp_models.modeling",
    "fold_grayscale": "scalp_models.modeling",
    "resolve_base": "scalp_models.bases",
    "create_image_processor": "scalp_models.processing",
    "lite0_imagenet_model": "scalp_models.lite0",
    "lite0_feature_extractor": "scalp_models.lite0",
    "lite0_image_processor": "scalp_models.lite0",
    "ScalpDiagnoser": "scalp_models.diagnoser",
    "Diagnosis": "scalp_models.diagnoser",
    "SymptomResult": "scalp_models.diagnoser",
    "ModelsUnavailableError": "scalp_models.diagnoser",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'scalp_models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
