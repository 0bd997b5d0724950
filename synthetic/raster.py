"""Planar float canvas primitives for the scalp renderer: noise, alpha blending and masks.

A picture being painted is a float32 array of shape (3, H, W) (planar RGB, 0..255), so every
blend works on contiguous planes; masks are drawn with PIL as ``"L"`` images and turned into
float alpha in [0, 1]. Everything here is deterministic for a given ``numpy.random.Generator``.
Used by :mod:`synthetic.layers`; nothing to run on its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def smooth_noise(rng: np.random.Generator, size: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    """Low-frequency noise in about [-1, 1]: a small random grid upsampled bicubically."""
    grid = rng.standard_normal((cells[1], cells[0])).astype(np.float32)
    up = Image.fromarray(grid, mode="F").resize(size, Image.Resampling.BICUBIC)
    return np.asarray(up, dtype=np.float32) * 0.7


@lru_cache(maxsize=8)
def squared_radius(size: tuple[int, int]) -> np.ndarray:
    """Read-only (H, W) squared distance from the centre, 1.0 at the middle of each edge."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    r2.setflags(write=False)
    return r2


def blend(img: np.ndarray, alpha: np.ndarray, color) -> None:
    """In place: img = img·(1-α) + color·α; img is planar (3, H, W), α is (H, W) in [0, 1].

    Planar channels keep every operation contiguous (about 10× faster than broadcasting
    α over an interleaved (H, W, 3) array), and only the rows α touches are computed.
    """
    rows = np.flatnonzero(alpha.max(axis=1) > 1e-3)
    if rows.size == 0:
        return
    r0, r1 = rows[0], rows[-1] + 1
    a = alpha[r0:r1]
    tmp = np.empty_like(a)
    for channel, value in enumerate(color):
        plane = img[channel, r0:r1]
        np.subtract(np.float32(value), plane, out=tmp)
        tmp *= a
        plane += tmp


def to_picture(img: np.ndarray) -> Image.Image:
    """Planar float (3, H, W) -> RGB picture."""
    interleaved = np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 0))
    return Image.fromarray(interleaved, mode="RGB")


def from_picture(pic: Image.Image) -> np.ndarray:
    """RGB picture -> planar float (3, H, W)."""
    return np.ascontiguousarray(np.asarray(pic, dtype=np.float32).transpose(2, 0, 1))


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grey-level dilation by a (2r+1)² square; numpy shifts beat PIL's MaxFilter here."""
    out = mask.copy()
    for d in range(1, radius + 1):
        np.maximum(out[d:], mask[:-d], out=out[d:])
        np.maximum(out[:-d], mask[d:], out=out[:-d])
    rows = out.copy()
    for d in range(1, radius + 1):
        np.maximum(out[:, d:], rows[:, :-d], out=out[:, d:])
        np.maximum(out[:, :-d], rows[:, d:], out=out[:, :-d])
    return out


def disc_mask(
    size: tuple[int, int], discs: Iterable[tuple[float, float, float]], fill: int = 255
) -> Image.Image:
    """An "L" mask of ``size`` with a filled disc for each (x, y, radius), drawn in order."""
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for x, y, r in discs:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
    return mask


def mask_to_alpha(mask: Image.Image, blur: float = 0.0) -> np.ndarray:
    """An "L" mask as float alpha in [0, 1], optionally Gaussian-blurred.

    Only the mask's bounding box (plus the blur's reach) is blurred, and wide blurs run
    at half resolution (4× cheaper, invisible after the blur): most masks are sparse.
    """
    w, h = mask.size
    alpha = np.zeros((h, w), dtype=np.float32)
    box = mask.getbbox()
    if box is None:
        return alpha
    pad = math.ceil(3 * blur) + 2
    x0, y0, x1, y1 = max(box[0] - pad, 0), max(box[1] - pad, 0), min(box[2] + pad, w), min(box[3] + pad, h)
    part = mask.crop((x0, y0, x1, y1))
    if blur >= 3 and part.width >= 8 and part.height >= 8:
        small = part.reduce(2).filter(ImageFilter.GaussianBlur(blur / 2))
        part = small.resize(part.size, Image.Resampling.BILINEAR)
    elif blur > 0:
        part = part.filter(ImageFilter.GaussianBlur(blur))
    alpha[y0:y1, x0:x1] = np.asarray(part, dtype=np.float32) * (1.0 / 255.0)
    return alpha
