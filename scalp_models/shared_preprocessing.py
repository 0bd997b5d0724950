"""Image preprocessing shared by the six models: decode once, resize once per size, normalise per model.

``decode_image`` turns any accepted input (PIL image, path, bytes, numpy array) into an upright
RGB image (EXIF orientation applied, ``scalp_core.images.to_rgb``). ``plan_preprocessing`` reads
an image processor and, when it is the square-resize/rescale/normalise the scalp models use,
returns the ``ResizeKey`` and the ``Normalization`` that reproduce it, so ``ScalpDiagnoser``
resizes each image once per distinct key (``resized_tensor``) and applies each model's affine
normalisation to the shared result. It equals the processor's output to ~1e-6.

    >>> resize, normalization = plan_preprocessing(processor)
    >>> a, b = normalization.affine()
    >>> pixels = resized_tensor([decode_image("scalp.jpg")], resize) * a + b
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps

from scalp_core.images import to_rgb
from scalp_core.recent import RecentByIdentity

ImageInput = Any  # PIL.Image.Image | str | os.PathLike | bytes | numpy.ndarray


class ImageDecodeError(ValueError):
    """The input could not be read as an image."""


def decode_image(image: ImageInput) -> Image.Image:
    """PIL image, path, bytes or numpy array → RGB PIL image with EXIF orientation applied."""
    try:
        if isinstance(image, Image.Image):
            pil = image
        elif isinstance(image, (str, os.PathLike)):
            pil = Image.open(image)
            pil.load()
        elif isinstance(image, (bytes, bytearray, memoryview)):
            pil = Image.open(io.BytesIO(bytes(image)))
            pil.load()
        elif isinstance(image, np.ndarray):
            pil = Image.fromarray(_to_uint8(image))
        else:
            raise ImageDecodeError(
                f"unsupported image input of type {type(image).__name__}; "
                "pass a PIL image, a file path, the file's bytes or a numpy array"
            )
    except (OSError, ValueError, TypeError) as err:
        if isinstance(err, ImageDecodeError):
            raise
        raise ImageDecodeError(f"could not read the image ({err}); use a JPEG or PNG photo") from err
    if pil.getexif().get(ExifTags.Base.Orientation, 1) in (0, 1):
        return to_rgb(pil)  # already upright: the same object (exif_transpose would copy it), so the
        # caches keyed on a decoded photo's identity (resized_array, the app's Lite0 features) find it
    return to_rgb(ImageOps.exif_transpose(pil))


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # channels-first → channels-last
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating) and array.size and float(np.nanmax(array)) <= 1.0:
        array = array * 255.0  # float images in [0, 1]
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class ResizeKey:
    size: int
    resample: int
    gray: bool  # convert to gray (replicated) before resizing: unfolded grayscale models only


@dataclass(frozen=True)
class Normalization:
    """x · scale (− 1 if offset) − mean) / std (/ std again if include_top), per channel."""

    scale: float
    offset: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    include_top: bool

    def affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(a, b) with normalised = raw_uint8 · a + b, shapes (1, 3, 1, 1)."""
        std = torch.tensor(self.std, dtype=torch.float64)
        mean = torch.tensor(self.mean, dtype=torch.float64)
        divisor = std * std if self.include_top else std
        shift = mean + (1.0 if self.offset else 0.0)
        a = torch.full((3,), self.scale, dtype=torch.float64) / divisor
        b = -shift / divisor
        return a.float().view(1, 3, 1, 1), b.float().view(1, 3, 1, 1)


def _three(value) -> tuple[float, float, float]:
    if isinstance(value, (int, float)):
        return (float(value),) * 3
    values = tuple(float(v) for v in value)
    if len(values) == 1:
        return values * 3
    if len(values) != 3:
        raise ValueError(f"expected 1 or 3 channel values, got {value!r}")
    return values


def _size_of(processor) -> int | None:
    size = getattr(processor, "size", None)
    if size is None:
        return None
    get = size.get if isinstance(size, Mapping) else lambda k: getattr(size, k, None)
    height, width = get("height"), get("width")
    if height and width and height == width and not get("shortest_edge"):
        return int(height)
    return None


def plan_preprocessing(processor) -> tuple[ResizeKey | None, Normalization | None]:
    """What the processor does, if it is the square-resize/rescale/normalise we can share.

    ``(None, None)`` means "run the processor itself" (e.g. center cropping or aspect-keeping
    resizes), which is slower but always right.
    """
    size = _size_of(processor)
    if (
        size is None
        or not getattr(processor, "do_resize", True)
        or getattr(processor, "do_center_crop", False)
        or getattr(processor, "do_pad", False)
        or not getattr(processor, "do_rescale", True)
        or not getattr(processor, "do_normalize", True)
    ):
        return None, None
    resample = getattr(processor, "resample", None)
    resample = int(resample) if resample is not None else int(Image.Resampling.BILINEAR)
    normalization = Normalization(
        scale=float(processor.rescale_factor),
        offset=bool(getattr(processor, "rescale_offset", False)),
        mean=_three(processor.image_mean),
        std=_three(processor.image_std),
        include_top=bool(getattr(processor, "include_top", False)),
    )
    return ResizeKey(size, resample, gray=False), normalization


_resized_recent = RecentByIdentity(8)  # decoded photo, (size, resample) → its resize


def resized_array(image: Image.Image, size: int, resample: int) -> np.ndarray:
    """``image`` squashed to ``size``² with ``resample``, as a read-only uint8 array.

    The last few resizes are kept per image object (``scalp_core.recent.RecentByIdentity``), so the
    photo check's Lite0 pass and the six models' shared resize of one decoded photo resize it once.
    Decoded photos are not changed in place anywhere; code that draws on one copies it first."""
    array = _resized_recent.get(image, (size, resample))
    if array is None:
        array = np.asarray(image.resize((size, size), resample=resample))
        array.setflags(write=False)
        _resized_recent.put(image, array, (size, resample))
    return array


def resized_tensor(images: Sequence[Image.Image], key: ResizeKey) -> torch.Tensor:
    """uint8-valued float32 tensor (N, 3, size, size): one PIL resize per image (see :func:`resized_array`)."""
    arrays = []
    for image in images:
        if key.gray:
            resized = np.asarray(image.convert("L").resize((key.size, key.size), resample=key.resample))
        else:
            resized = resized_array(image, key.size, key.resample)
        if resized.ndim == 2:  # gray: resampling is per channel, so replicating after is exact
            resized = np.repeat(resized[..., None], 3, axis=-1)
        arrays.append(resized)
    # Contiguous NCHW like the processor's output: a channels-last input would silently switch
    # every convolution to the channels-last kernels, which are slower here. numpy, not torch: a
    # torch copy this size wakes torch's OpenMP threads, which then spin on the cores that ONNX
    # Runtime is about to use (8-12 ms more per diagnosis on two cores).
    return torch.from_numpy(np.ascontiguousarray(np.stack(arrays).transpose(0, 3, 1, 2), dtype=np.float32))
