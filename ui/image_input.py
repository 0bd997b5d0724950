"""Safe decoding of uploaded photos: every image entry point of the app goes through :func:`load_image`.

Gradio's ``gr.Image`` would decode uploads itself; the app instead takes the uploaded file's bytes
(``ui.uploads``) and decodes them here, refusing bad files *before* decoding them and keeping the
memory of one request bounded whatever the file:

- a zero-byte file, or anything that is not JPEG, PNG, WebP or GIF (a text file renamed ``.jpg``, a
  BMP, a TIFF) → :class:`ImageInputError` (``empty_file`` / ``not_image``);
- a decompression bomb (the header says more than :data:`MAX_PIXELS` for a JPEG, or
  :data:`MAX_PIXELS_FULL_DECODE` for the other formats, which are decoded at full size before they can
  be shrunk) → ``too_many_pixels``, read from the header only (``Image.open`` is lazy); Pillow's own
  ``DecompressionBombError`` is caught too;
- a huge photo (e.g. 8000×6000) → shrunk *before* any mode conversion: JPEGs decode at 1/2..1/8 scale
  (``Image.draft``), the others are reduced by an integer factor (``Image.reduce``, or a box resize for
  16-bit images); 16-bit images then become 8-bit in integer arithmetic (``scalp_core.images.to_rgb``);
- CMYK, 16-bit (``I;16``), 32-bit, float, grayscale, RGBA, LA and palette images → RGB (alpha over white,
  16-bit scaled, not clipped);
- an animated GIF/WebP → its first frame; EXIF-rotated phone photos → upright (``ImageOps.exif_transpose``);
- a damaged file (a truncated JPEG, malformed EXIF, a broken frame: any error while decoding) →
  ``truncated``; a tiny image (e.g. 1×1) → ``too_small``.

Each error carries a Korean and an English message (``ui/strings.yaml``). Nothing here logs the
file's path, name, size or metadata. Try it::

    python -m ui.image_input photo.jpg
"""

from __future__ import annotations

import io
import math
import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile, ImageOps

from scalp_core.images import to_rgb
from ui.i18n import both, t

MAX_PIXELS = 64_000_000  # JPEG: header width × height above this is refused (8000×8000); decoded at ≤ 1/2 scale
MAX_PIXELS_FULL_DECODE = 24_000_000  # PNG, WebP, GIF are decoded at full size first: at most 24 MP
MAX_FILE_MB = 20  # also passed to demo.launch(max_file_size=...)
# Longer side after downscaling. What reads the photo needs less: the models squash it to 224–600 px, the
# photo check works at 320 and 160 px, overlays are 480 px and a flagged photo waits at 640 (the training
# photos are 640×480). At 800 a 4:3 photo keeps a 600 px short side, and libjpeg decodes a 12 MP phone
# photo at 1/4 scale: ~40 ms of CPU from upload to the resizes the models and the check make, against
# ~145 ms at 1600 (a full-size decode and a Lanczos pass over 3 MP).
MAX_SIDE = 800
MIN_SIDE = 32
JPEG_FORMATS = ("JPEG", "MPO")  # MPO: a multi-picture JPEG, opened by Pillow's JPEG decoder
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")  # the only decoders Pillow may use here
REDUCIBLE_MODES = ("L", "LA", "La", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "I", "F")

# Pillow warns above MAX_IMAGE_PIXELS and raises DecompressionBombError above twice that,
# already inside Image.open. Our own header check (with the size in the message) refuses
# anything over MAX_PIXELS, so Pillow's guard sits above it as the second line of defence,
# and its warning (which our check makes redundant) is silenced once, here, not per request.
Image.MAX_IMAGE_PIXELS = 4 * MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class ImageInputError(ValueError):
    """A photo that cannot be used; ``str()`` is the Korean and the English message."""

    def __init__(self, code: str, **values):
        self.code = code
        self.values = values
        self.message_ko = t(f"err_{code}", "ko", **values)
        self.message_en = t(f"err_{code}", "en", **values)
        super().__init__(both(f"err_{code}", **values))

    def message(self, lang: str = "ko") -> str:
        return self.message_en if lang == "en" else self.message_ko


@dataclass(frozen=True)
class LoadedImage:
    """The decoded RGB image plus what happened to it (no file name or path is kept)."""

    image: Image.Image
    original_size: tuple[int, int]
    downscaled: bool
    converted_from: str
    rotated: bool
    frames: int

    def info(self) -> dict:
        """What was done to the photo (sizes and conversions only; never a name or a path)."""
        return {"size": list(self.image.size), "original_size": list(self.original_size),
                "converted_from": self.converted_from, "rotated": self.rotated, "frames": self.frames,
                "downscaled": self.downscaled}


def read_source(source: str | os.PathLike | bytes) -> bytes:
    """The file's bytes (at most :data:`MAX_FILE_MB`), or ImageInputError."""
    if source is None:
        raise ImageInputError("no_image")
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageInputError("no_image")
        size = path.stat().st_size
        if size > MAX_FILE_MB * 1024 * 1024:
            raise ImageInputError("file_too_big", size_mb=size / 1024 / 1024, max_mb=MAX_FILE_MB)
        data = path.read_bytes()
    if not data:
        raise ImageInputError("empty_file")
    if len(data) > MAX_FILE_MB * 1024 * 1024:
        raise ImageInputError("file_too_big", size_mb=len(data) / 1024 / 1024, max_mb=MAX_FILE_MB)
    return data


def load_image(source: str | os.PathLike | bytes, *, max_side: int = MAX_SIDE) -> LoadedImage:
    """Decode ``source`` (a path or the file's bytes) into an upright RGB image, or raise ImageInputError."""
    data = read_source(source)
    try:
        img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)  # lazy: reads the header only
    except Image.DecompressionBombError as exc:
        raise _bomb_error(exc) from None
    except Exception:  # UnidentifiedImageError for other formats, or a header Pillow cannot parse
        raise ImageInputError("not_image") from None
    with img:
        width, height = img.size
        limit = MAX_PIXELS if img.format in JPEG_FORMATS else MAX_PIXELS_FULL_DECODE
        if width * height > limit:
            raise ImageInputError("too_many_pixels", width=width, height=height, mp=width * height / 1e6,
                                  max_mp=limit // 1_000_000)
        if min(width, height) < MIN_SIDE:
            raise ImageInputError("too_small", width=width, height=height, min_side=MIN_SIDE)
        try:
            return _decode(img, max_side)
        except ImageInputError:
            raise
        except Image.DecompressionBombError as exc:
            raise _bomb_error(exc) from None
        except MemoryError:
            raise ImageInputError("too_many_pixels", width=width, height=height, mp=width * height / 1e6,
                                  max_mp=MAX_PIXELS_FULL_DECODE // 1_000_000) from None
        except Exception:  # truncated data, malformed EXIF (struct.error), broken frames (TypeError), ...
            raise ImageInputError("truncated") from None


def _decode(img: Image.Image, max_side: int) -> LoadedImage:
    """Decode an opened, size-checked image: shrink first, then rotate and convert the small copy."""
    width, height = img.size
    frames = int(getattr(img, "n_frames", 1))
    converted_from = img.mode
    if frames > 1:
        img.seek(0)
    if img.format in JPEG_FORMATS:
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale: an 8000×6000 photo never exists at full size in memory.
        img.draft("RGB", draft_request(img.size, max_side))
    img.load()
    orientation = img.getexif().get(0x0112, 1)
    small = _shrink(img, max_side)
    rgb = to_rgb(ImageOps.exif_transpose(small))
    if rgb is img:
        rgb = img.copy()
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return LoadedImage(
        image=rgb,
        original_size=(width, height),
        downscaled=max(rgb.size) < max(width, height),
        converted_from=converted_from,
        rotated=orientation not in (None, 1),
        frames=frames,
    )


def draft_request(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The size to hand ``Image.draft`` so that libjpeg picks the smallest scale whose *longer* side is still
    ≥ ``max_side``. Pillow keeps both sides at or above the request, so a square request let the shorter
    side decide: a 4032×3024 photo was decoded at full size for 1600 (3024 // 1600 = 1)."""
    width, height = size
    return (max_side, 1) if width >= height else (1, max_side)


def _shrink(img: Image.Image, max_side: int) -> Image.Image:
    """``img`` reduced by the largest integer factor that keeps its longer side ≥ ``max_side``, in its own
    mode (so the full-size picture is never converted); palette and 1-bit images are converted first."""
    factor = max(img.size) // max_side
    if factor < 2:
        return img
    if img.mode in REDUCIBLE_MODES:
        return img.reduce(factor)
    if img.mode.startswith("I;16"):
        size = (math.ceil(img.width / factor), math.ceil(img.height / factor))
        return img.resize(size, Image.Resampling.BOX)
    return to_rgb(img).reduce(factor)  # P, PA, 1: one byte per pixel, at most MAX_PIXELS_FULL_DECODE of them


def _bomb_error(exc: Exception) -> ImageInputError:
    # Pillow refused inside Image.open; its message holds the declared pixel count.
    found = re.search(r"\((\d+) pixels\)", str(exc))
    declared = int(found.group(1)) / 1e6 if found else float(2 * Image.MAX_IMAGE_PIXELS) / 1e6
    return ImageInputError("bomb", mp=declared, max_mp=MAX_PIXELS // 1_000_000)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ui.image_input IMAGE", file=sys.stderr)
        return 2
    try:
        loaded = load_image(args[0])
    except ImageInputError as exc:
        print(exc)
        return 1
    print(
        f"ok: {loaded.original_size} → {loaded.image.size} RGB "
        f"(from {loaded.converted_from}, frames={loaded.frames}, rotated={loaded.rotated})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
