"""One RGB conversion for every stage: any PIL image → 8-bit RGB, the same way everywhere.

- 16-bit integer images (``I;16``, ``I;16B``, ``I;16L``, ``I;16N``) are scaled, not clipped:
  ``round(v / 257)``, so 0 → 0 and 65535 → 255, in integer arithmetic (no float64 copy);
- 32-bit integer (``I``) and float (``F``) images have no natural range, so their own
  minimum..maximum is stretched to 0..255 (a constant image becomes black);
- anything with alpha (``RGBA``, ``LA``, ``PA``, a palette with transparency) is laid over white;
- everything else (``L``, ``1``, ``P``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``) uses Pillow's own
  conversion, which is correct for these modes.

    >>> from PIL import Image
    >>> to_rgb(Image.new("I;16", (2, 2), 65535)).getpixel((0, 0))
    (255, 255, 255)
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def to_gray8(image: Image.Image) -> Image.Image:
    """An ``L`` image from a 16-bit, 32-bit integer or float single-channel image (see the module doc)."""
    if image.mode in SIXTEEN_BIT_MODES:
        wide = np.asarray(image, dtype=np.uint32)
        return Image.fromarray(((wide + 128) // 257).astype(np.uint8), mode="L")
    if image.mode in ("I", "F"):
        values = np.array(image, dtype=np.float32)  # a writable copy (asarray may share read-only memory)
        lo, hi = float(values.min()), float(values.max())
        if hi <= lo:
            return Image.new("L", image.size, 0)
        values -= lo
        values *= 255.0 / (hi - lo)
        return Image.fromarray(np.rint(values).astype(np.uint8), mode="L")
    return image.convert("L")


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB (the same object when it already is RGB)."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in SIXTEEN_BIT_MODES or mode in ("I", "F"):
        return to_gray8(image).convert("RGB")
    if mode == "P":
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
        if image.mode == "RGB":
            return image
        mode = image.mode
    if mode in ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
