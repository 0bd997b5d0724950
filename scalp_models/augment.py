"""Training-time augmentation for scalp close-ups, with PIL + numpy only (no torchvision).

Why hand-written: torchvision is deliberately not a dependency (it pins torch builds), and
the few transforms needed here are short. The policy per symptom comes from its
:class:`~scalp_core.symptoms.SymptomSpec`:

- geometry for every symptom: horizontal and vertical flips, 90° rotations, small-angle
  rotations, and a random-resized crop that keeps roughly the source aspect (4:3 for the
  640×480 microscope photos) and is then squashed to the square input size, so the train
  geometry matches evaluation (the whole image squashed to size×size by the processor).
  Rotations turn the *scalp*, not the squashed picture: a view turned by 90° is the crop's
  frame turned about its centre in the source photo (reflected where it leaves the photo,
  as the microscope's magnification is fixed), then squashed, so its 4:3 stretch lies on the
  same axis as at evaluation; a small-angle rotation is done in the squashed picture with the
  stretch undone and redone around it. (Turning the squashed picture itself would move the
  stretch to the other axis: a hair follicle that is 0.75 as wide as tall at evaluation would be
  1.33 as wide as tall in training.)
- colour: mild brightness/contrast only. Hue and saturation jitter are never used for a
  colour spec (``spec.grayscale`` false), because for those symptoms (모낭사이홍반,
  모낭홍반농포: redness; 탈모 keeps its colour model too) the colour *is* the evidence, and
  :class:`AugmentPolicy` refuses such a policy. For grayscale specs hue/saturation are
  meaningless, so they stay 0 there as well.

    >>> from scalp_core.symptoms import get_symptom
    >>> policy = augment_policy(get_symptom("모낭사이홍반"))
    >>> policy.hue, policy.saturation
    (0.0, 0.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageEnhance

from scalp_core.cli import help_field
from scalp_core.symptoms import SymptomSpec


@dataclass(frozen=True)
class AugmentPolicy:
    """Which random transforms a symptom's training images get, and how strong they are."""

    symptom: str = help_field("Symptom key the policy belongs to.")
    colour_is_evidence: bool = help_field("True for colour specs: hue/saturation jitter is forbidden.")
    hflip: float = help_field("Probability of a horizontal flip.", default=0.5)
    vflip: float = help_field("Probability of a vertical flip.", default=0.5)
    rot90: float = help_field("Probability of a random 90°/180°/270° rotation.", default=0.5)
    small_angle_deg: float = help_field("Maximum absolute small rotation in degrees (0 = off).", default=10.0)
    crop_scale: tuple[float, float] = help_field(
        "Area fraction range of the random-resized crop (1, 1 = no crop). Kept near 1: the microscope has a "
        "fixed magnification, and zooming in changes what hair density (탈모) looks like.",
        default=(0.9, 1.0),
    )
    crop_ratio_jitter: float = help_field(
        "Relative jitter of the crop aspect around the source aspect (0.1 = ±10 %).", default=0.1
    )
    brightness: float = help_field("Brightness factor range 1 ± this (mild).", default=0.1)
    contrast: float = help_field("Contrast factor range 1 ± this (mild).", default=0.1)
    hue: float = help_field("Hue jitter; must be 0 where colour is evidence.", default=0.0)
    saturation: float = help_field("Saturation jitter; must be 0 where colour is evidence.", default=0.0)

    def __post_init__(self):
        for name in ("hflip", "vflip", "rot90"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], got {value!r}")
        lo, hi = self.crop_scale
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"crop_scale must satisfy 0 < min <= max <= 1, got {self.crop_scale!r}")
        if not 0 <= self.small_angle_deg <= 45:
            raise ValueError(f"small_angle_deg must be in [0, 45], got {self.small_angle_deg!r}")
        for name in ("brightness", "contrast", "hue", "saturation", "crop_ratio_jitter"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.colour_is_evidence and (self.hue > 0 or self.saturation > 0):
            raise ValueError(
                f"{self.symptom}: hue/saturation jitter would erase the colour evidence of this symptom; "
                "set hue=0 and saturation=0 (only brightness/contrast are allowed, mildly)"
            )
        if self.brightness > 0.3 or self.contrast > 0.3:
            raise ValueError(
                f"{self.symptom}: brightness/contrast jitter above 0.3 can erase sheen, flakes and redness; "
                "keep it mild (<= 0.3)"
            )


def augment_policy(spec: SymptomSpec, **overrides) -> AugmentPolicy:
    """The default policy of a symptom: full geometry, mild brightness/contrast, no hue/saturation."""
    return replace(AugmentPolicy(symptom=spec.key, colour_is_evidence=not spec.grayscale), **overrides)


def no_augment_policy(spec: SymptomSpec) -> AugmentPolicy:
    return augment_policy(
        spec, hflip=0.0, vflip=0.0, rot90=0.0, small_angle_deg=0.0, crop_scale=(1.0, 1.0),
        crop_ratio_jitter=0.0, brightness=0.0, contrast=0.0,
    )


def random_crop_box(
    size: tuple[int, int], rng: np.random.Generator, scale=(0.6, 1.0), ratio_jitter=0.1
) -> tuple[int, int, int, int]:
    """A random (x0, y0, x1, y1) inside an image of ``size`` = (w, h): an area fraction in ``scale``
    with about the image's own aspect (the whole image when ten draws do not fit).

    Keeping the source aspect (4:3 for the microscope photos) means the crop, once squashed
    to a square, has the same anisotropic stretch as an evaluation image squashed whole.
    """
    w, h = size
    aspect = w / h
    for _ in range(10):
        area = w * h * rng.uniform(*scale)
        ratio = aspect * math.exp(rng.uniform(math.log(1 - ratio_jitter + 1e-9), math.log(1 + ratio_jitter + 1e-9)))
        cw = int(round(math.sqrt(area * ratio)))
        ch = int(round(math.sqrt(area / ratio)))
        if 0 < cw <= w and 0 < ch <= h:
            x0 = int(rng.integers(0, w - cw + 1))
            y0 = int(rng.integers(0, h - ch + 1))
            return x0, y0, x0 + cw, y0 + ch
    return 0, 0, w, h


def crop_to_square(image: Image.Image, box, out_size: int, quarter_turns: int = 0) -> Image.Image:
    """The ``box`` of ``image`` squashed to ``out_size``², seen turned by ``quarter_turns`` × 90°
    (counter-clockwise, as ``Image.Transpose.ROTATE_90``).

    An odd number of turns takes the box's frame turned about its centre (a w×h box becomes an
    h×w region of the photo, reflected where it leaves it), squashes that and turns the result,
    so the output's horizontal axis again spans the box's width: the stretch of the squash stays
    where evaluation has it, and the magnification is the box's own.
    """
    turns = quarter_turns % 4
    x0, y0, x1, y1 = box
    if turns % 2:
        cx, cy, half_w, half_h = (x0 + x1) / 2, (y0 + y1) / 2, (y1 - y0) / 2, (x1 - x0) / 2
        x0, y0, x1, y1 = cx - half_w, cy - half_h, cx + half_w, cy + half_h
        w, h = image.size
        pad_x = max(0, math.ceil(-x0), math.ceil(x1 - w))
        pad_y = max(0, math.ceil(-y0), math.ceil(y1 - h))
        if pad_x or pad_y:
            arr = np.asarray(image)
            widths = ((pad_y, pad_y), (pad_x, pad_x)) + (((0, 0),) if arr.ndim == 3 else ())
            image = Image.fromarray(np.pad(arr, widths, mode="reflect"))
            x0, x1, y0, y1 = x0 + pad_x, x1 + pad_x, y0 + pad_y, y1 + pad_y
    view = image.resize((out_size, out_size), Image.Resampling.BILINEAR, box=(x0, y0, x1, y1))
    if turns:
        view = view.transpose((Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)[turns - 1])
    return view


def rotate_reflected(image: Image.Image, angle: float, pixel_aspect: float = 1.0) -> Image.Image:
    """``image`` rotated by ``angle`` degrees about its centre, corners filled by reflection.

    Same pixels as ``Image.rotate`` (bilinear) on a reflection-padded copy, cropped back, but
    the padding is only as wide as the rotated corners reach, and one affine transform
    computes just the output pixels (at 600 px: 22 → 9.5 ms, against rotating the padded copy).

    ``pixel_aspect``: the width of what one pixel shows divided by its height (4/3 for a 4:3
    photo squashed to a square). The rotation then turns what the picture shows, not its pixel
    grid: unsquash, rotate, squash again, as one affine map (1 = a plain rotation).
    """
    w, h = image.size
    turn = -math.radians(angle % 360.0)  # as Image.rotate computes it
    a, b = math.cos(turn), math.sin(turn)
    # PIL's inverse map (output → input) about the centre, conjugated by the squash diag(1/P, 1).
    linear = (round(a, 15), round(b / pixel_aspect, 15), round(-b * pixel_aspect, 15), round(a, 15))
    # How far outside the frame the inverse-mapped output corners land, plus the bilinear tap.
    reach_x = (abs(linear[0]) * w + abs(linear[1]) * h - w) / 2
    reach_y = (abs(linear[2]) * w + abs(linear[3]) * h - h) / 2
    pad = int(math.ceil(max(reach_x, reach_y, 0))) + 2
    arr = np.asarray(image)
    widths = ((pad, pad), (pad, pad)) + (((0, 0),) if arr.ndim == 3 else ())
    padded = Image.fromarray(np.pad(arr, widths, mode="reflect"))
    # The inverse map about the padded centre, shifted by the crop.
    cx, cy = padded.width / 2.0, padded.height / 2.0
    matrix = [linear[0], linear[1], 0.0, linear[2], linear[3], 0.0]
    matrix[2] = matrix[0] * (-cx) + matrix[1] * (-cy) + cx
    matrix[5] = matrix[3] * (-cx) + matrix[4] * (-cy) + cy
    matrix[2] += matrix[0] * pad + matrix[1] * pad
    matrix[5] += matrix[3] * pad + matrix[4] * pad
    return padded.transform((w, h), Image.Transform.AFFINE, matrix, Image.Resampling.BILINEAR)


def apply_augment(image: Image.Image, policy: AugmentPolicy, out_size: int, rng: np.random.Generator) -> Image.Image:
    """One random training view of ``image`` (any mode), ``out_size``×``out_size``, same mode."""
    box = random_crop_box(image.size, rng, policy.crop_scale, policy.crop_ratio_jitter)
    hflip = rng.random() < policy.hflip
    vflip = rng.random() < policy.vflip
    turns = 1 + int(rng.integers(0, 3)) if rng.random() < policy.rot90 else 0
    image = crop_to_square(image, box, out_size, turns)
    # Flips along the picture's axes commute with the squash, so they may come after it. (After the
    # turn rather than before: the same views, as 90° and 270° are equally likely.)
    if hflip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if vflip:
        image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    if policy.small_angle_deg > 0:
        angle = float(rng.uniform(-policy.small_angle_deg, policy.small_angle_deg))
        # Rotate a reflection-padded view and crop the centre back: no black corners and, unlike
        # rotate-and-zoom, no change of scale (hair density per field is the 탈모 signal).
        image = rotate_reflected(image, angle, pixel_aspect=(box[2] - box[0]) / (box[3] - box[1]))
    if policy.brightness > 0:
        image = ImageEnhance.Brightness(image).enhance(float(rng.uniform(1 - policy.brightness, 1 + policy.brightness)))
    if policy.contrast > 0:
        image = ImageEnhance.Contrast(image).enhance(float(rng.uniform(1 - policy.contrast, 1 + policy.contrast)))
    if policy.saturation > 0 and image.mode == "RGB":
        # Reachable only for grayscale specs fed as RGB (see AugmentPolicy.__post_init__).
        image = ImageEnhance.Color(image).enhance(float(rng.uniform(1 - policy.saturation, 1 + policy.saturation)))
    return image
