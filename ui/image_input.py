"""Safe decoding of uploaded photos: every image entry point of the app goes through :func:`load_image`.

Gradio's ``gr.Image`` would decode uploads itself; the app instead accepts a file path
(``gr.File``) and decodes here so that it can refuse bad files *before* decoding them:

- a zero-byte file, or a text file renamed ``.jpg`` → :class:`ImageInputError` (``empty_file`` / ``not_image``);
- a truncated JPEG → ``truncated``;
- a decompression bomb (header says more than ``MAX_PIXELS``) → ``too_many_pixels``, read from the
  header only (``Image.open`` is lazy), and Pillow's own ``DecompressionBombError/Warning`` caught too;
- a huge photo (e.g. 8000×6000) → downscaled; JPEGs through ``Image.draft`` so the full size is never decoded;
- CMYK, 16-bit (``I;16``), 32-bit, float, grayscale, RGBA, LA and palette images → RGB (alpha over white,
  16-bit scaled, not clipped);
- an animated GIF/WebP → its first frame; EXIF-rotated phone photos → upright (``ImageOps.exif_transpose``);
- a tiny image (e.g. 1×1) → ``too_small``.

Each error carries a Korean and an English message (``ui/strings.yaml``). Nothing here logs the
file's path, name, size or metadata. Try it::

    python -m ui.image_input photo.jpg
"""

from __future__ import annotations

import io
import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from scalp_core.images import to_rgb
from ui.i18n import both, t

MAX_PIXELS = 64_000_000  # header width × height above this is refused before decoding (8000×8000)
MAX_FILE_MB = 20  # also passed to demo.launch(max_file_size=...)
MAX_SIDE = 1600  # longer side after downscaling; the models see 240–600 px anyway
MIN_SIDE = 32
ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF")

# Pillow warns above MAX_IMAGE_PIXELS and raises DecompressionBombError above twice that,
# already inside Image.open. Our own header check (with the size in the message) refuses
# anything over MAX_PIXELS, so Pillow's guard sits above it as the second line of defence.
Image.MAX_IMAGE_PIXELS = 4 * MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False


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


def load_image(source: str | os.PathLike | bytes, *, max_side: int = MAX_SIDE) -> LoadedImage:
    """Decode ``source`` (a path or the file's bytes) into an upright RGB image, or raise ImageInputError."""
    if source is None:
        raise ImageInputError("no_image")
    if isinstance(source, (bytes, bytearray)):
        data_size = len(source)
        opener = lambda: io.BytesIO(source)  # noqa: E731
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageInputError("no_image")
        data_size = path.stat().st_size
        opener = lambda: open(path, "rb")  # noqa: E731
    if data_size == 0:
        raise ImageInputError("empty_file")
    if data_size > MAX_FILE_MB * 1024 * 1024:
        raise ImageInputError("file_too_big", size_mb=data_size / 1024 / 1024, max_mb=MAX_FILE_MB)

    with opener() as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked just below
        try:
            img = Image.open(fh)  # lazy: reads the header only
        except Image.DecompressionBombError as exc:
            raise _bomb_error(exc) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ImageInputError("not_image") from None
        with img:
            fmt = img.format or "?"
            if fmt not in ALLOWED_FORMATS:
                raise ImageInputError("format", format=fmt)
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageInputError(
                    "too_many_pixels", width=width, height=height, mp=width * height / 1e6, max_mp=MAX_PIXELS // 1_000_000
                )
            if min(width, height) < MIN_SIDE:
                raise ImageInputError("too_small", width=width, height=height, min_side=MIN_SIDE)
            frames = getattr(img, "n_frames", 1)
            converted_from = img.mode
            if frames > 1:
                img.seek(0)
            if fmt in ("JPEG", "MPO"):
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: an 8000×6000 photo never
                # exists at full size in memory.
                img.draft("RGB", (max_side, max_side))
            try:
                img.load()
                exif_orientation = img.getexif().get(0x0112, 1)
                upright = ImageOps.exif_transpose(img)
                rgb = to_rgb(upright)
                if rgb is img:
                    rgb = img.copy()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise _bomb_error(exc) from None
            except (OSError, SyntaxError, ValueError, EOFError):
                raise ImageInputError("truncated") from None
    downscaled = max(rgb.size) < max(width, height) or max(rgb.size) > max_side
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return LoadedImage(
        image=rgb,
        original_size=(width, height),
        downscaled=bool(downscaled),
        converted_from=converted_from,
        rotated=exif_orientation not in (None, 1),
        frames=int(frames),
    )


def _bomb_error(exc: Exception) -> ImageInputError:
    # Pillow refused inside Image.open; its message holds the declared pixel count.
    found = re.search(r"\((\d+) pixels\)", str(exc))
    declared = int(found.group(1)) / 1e6 if found else float(2 * Image.MAX_IMAGE_PIXELS) / 1e6
    return ImageInputError("bomb", mp=declared, max_mp=MAX_PIXELS // 1_000_000)


def delete_upload(path: str | os.PathLike | None) -> None:
    """Remove an uploaded temp file (and its now-empty Gradio cache folder) once it has been decoded."""
    if not path:
        return
    p = Path(path)
    try:
        p.unlink(missing_ok=True)
        parent = p.parent
        if parent.name and not any(parent.iterdir()):
            parent.rmdir()
    except OSError:
        pass  # another request may be using the folder; Gradio's delete_cache is the backstop


def decode_upload(path: str | os.PathLike) -> LoadedImage:
    """Decode an uploaded file with :func:`load_image`, then delete the upload's temp file."""
    try:
        return load_image(path)
    finally:
        delete_upload(path)


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
