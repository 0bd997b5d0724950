"""EfficientNet configurations built locally (no Hub): b0, b1 and the tiny test model.

transformers' ``EfficientNetConfig`` holds the architecture; this module sizes it for an input
side (TensorFlow "SAME" padding of the stride-2 blocks) and sets a fine-tuning BatchNorm momentum.
Used by ``scalp_models.modeling`` (random-init models, and the padding and momentum of Hub
EfficientNets) and ``scalp_models.lite0`` (the converted ImageNet Lite0).
"""

from __future__ import annotations

import math

from transformers import EfficientNetConfig
from transformers.models.efficientnet.modeling_efficientnet import round_filters

# transformers copies the TF checkpoints' batch_norm_momentum=0.99 straight into nn.BatchNorm2d,
# whose momentum means the opposite (weight of the NEW batch), so running statistics would be
# ~99% the last batch. 0.1 is PyTorch's default and adapts within a few dozen fine-tuning steps.
FINE_TUNE_BN_MOMENTUM = 0.1


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
