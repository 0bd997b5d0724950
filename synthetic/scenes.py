"""Non-scalp pictures for fitting and testing the photo check's stage 1, "is this a scalp close-up?".

The photo check (``photo_check.fit`` and ``photo_check.evaluate``) takes its negatives from
two sources, both offline:

- photos shipped inside installed packages (the files behind scikit-image's ``skimage.data``,
  scikit-learn's sample images, matplotlib's sample data, gradio's media assets), read from the
  package folders without importing the packages and split by *source photo* into a fitting group
  and a held-out group, so no evaluation picture is a crop of a fitting picture. scikit-image is a
  test/fitting dependency (requirements-dev.txt): where it is not installed its photos are skipped
  with a warning, and a fit made so differs from the shipped one;
- procedural scenes (rooms, product bottles, face-like ovals, text documents,
  skies/landscapes, solid colours, noise), deterministic for a given generator.

    >>> import numpy as np
    >>> from synthetic.scenes import package_photos, procedural_scene
    >>> photos = package_photos("fit")          # {"skimage:astronaut": PIL image, ...}
    >>> room = procedural_scene("room", np.random.default_rng(0))  # a 640×480 RGB picture
"""

from __future__ import annotations

import importlib.util
import warnings
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from scalp_core.images import to_rgb
from synthetic.render import DEFAULT_SIZE

SCENE_KINDS = ("room", "bottle", "face", "document", "landscape", "solid", "noise")

# Which package photo goes where. Textures and microscopy pictures sit on both sides so
# both fitting and evaluation see hard negatives. All of these ship inside the wheels
# (no download). scikit-image photos are named after their ``skimage.data`` function; each file
# holds exactly the pixels that function returns.
SKIMAGE_FILES = {
    "astronaut": "astronaut.png", "camera": "camera.png", "coffee": "coffee.png", "coins": "coins.png",
    "rocket": "rocket.jpg", "brick": "brick.png", "grass": "grass.png", "moon": "moon.png", "page": "page.png",
    "hubble_deep_field": "hubble_deep_field.jpg", "immunohistochemistry": "ihc.png", "colorwheel": "color.png",
    "checkerboard": "chessboard_GRAY.png", "chelsea": "chelsea.png", "clock": "clock_motion.png",
    "gravel": "gravel.png", "retina": "retina.jpg", "text": "text.png", "cell": "cell.png", "logo": "logo.png",
    "microaneurysms": "microaneurysms.png",
}
FIT_SKIMAGE = ("astronaut", "camera", "coffee", "coins", "rocket", "brick", "grass", "moon", "page",
               "hubble_deep_field", "immunohistochemistry", "colorwheel", "checkerboard")
HELDOUT_SKIMAGE = ("chelsea", "clock", "gravel", "retina", "text", "cell", "logo", "microaneurysms")
HELDOUT_FILES = (
    ("sklearn", "datasets/images/china.jpg"),
    ("sklearn", "datasets/images/flower.jpg"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    ("gradio", "media_assets/images/cheetah.jpg"),
    ("gradio", "media_assets/images/lion.jpg"),
    ("gradio", "media_assets/images/tower.jpg"),
    ("gradio", "media_assets/images/bus.png"),
    ("gradio", "media_assets/images/groot.jpeg"),
)


def _package_file(package: str, rel: str) -> Image.Image | None:
    """The picture at ``rel`` inside an installed ``package`` as RGB, or None where it is not there."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / rel
    if not path.is_file():
        return None
    with Image.open(path) as im:
        im.load()
        return to_rgb(im).copy()


@cache
def _package_photos_cached(group: str) -> tuple[tuple[str, Image.Image], ...]:
    """Read once per process; :func:`package_photos` hands out copies."""
    if group == "fit":
        sources = [(f"skimage:{n}", "skimage", f"data/{SKIMAGE_FILES[n]}") for n in FIT_SKIMAGE]
    elif group == "heldout":
        sources = [(f"skimage:{n}", "skimage", f"data/{SKIMAGE_FILES[n]}") for n in HELDOUT_SKIMAGE]
        sources += [(f"{pkg}:{Path(rel).name}", pkg, rel) for pkg, rel in HELDOUT_FILES]
    else:
        raise ValueError(f"group must be 'fit' or 'heldout', got {group!r}")
    items = [(name, _package_file(pkg, rel)) for name, pkg, rel in sources]
    missing = [name for name, im in items if im is None]
    if missing:
        warnings.warn(f"package photos not installed, skipped: {', '.join(missing)} (scikit-image's come with "
                      "requirements-dev.txt)", stacklevel=3)
    return tuple((name, im) for name, im in items if im is not None)


def package_photos(group: str) -> dict[str, Image.Image]:
    """Installed-package photos of one group (``"fit"`` or ``"heldout"``), by source name."""
    return {name: im.copy() for name, im in _package_photos_cached(group)}


def random_view(
    image: Image.Image, rng: np.random.Generator, size: tuple[int, int] = DEFAULT_SIZE
) -> Image.Image:
    """A random crop (30–100 % of the side), flip and rescale to ``size``: one 'photo' of a source."""
    w, h = image.size
    frac = float(rng.uniform(0.3, 1.0))
    cw, ch = max(8, int(w * frac)), max(8, int(h * frac))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    view = image.crop((x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return view.resize(size, Image.Resampling.BILINEAR)


# ---------------------------------------------------------------- procedural scenes


def _colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    """A random RGB colour, each channel in [lo, hi)."""
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _gradient(size: tuple[int, int], top, bottom) -> Image.Image:
    """An RGB picture fading from colour ``top`` to colour ``bottom``."""
    w, h = size
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    arr = (1 - t) * np.asarray(top, float) + t * np.asarray(bottom, float)
    return Image.fromarray(np.broadcast_to(arr, (h, w, 3)).astype(np.uint8), mode="RGB")


def _room(rng, size):
    """A wall, a floor and a few rectangles: windows, shelves, furniture, frames."""
    w, h = size
    horizon = int(h * rng.uniform(0.55, 0.8))
    img = _gradient(size, _colour(rng, 150, 250), _colour(rng, 120, 230))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, horizon, w, h), fill=_colour(rng, 60, 200))
    for _ in range(int(rng.integers(2, 7))):  # windows, shelves, furniture, frames
        x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        x1, y1 = x0 + int(rng.integers(30, w // 2)), y0 + int(rng.integers(30, h // 2))
        draw.rectangle((x0, y0, x1, y1), fill=_colour(rng), outline=_colour(rng, 0, 80), width=int(rng.integers(1, 5)))
    for _ in range(int(rng.integers(0, 4))):
        draw.line((int(rng.integers(0, w)), horizon, int(rng.integers(0, w)), h), fill=_colour(rng, 0, 120), width=2)
    return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.5))))


def _bottle(rng, size):
    """A labelled product bottle on a plain background."""
    w, h = size
    img = _gradient(size, _colour(rng, 180, 256), _colour(rng, 150, 256))
    draw = ImageDraw.Draw(img)
    bw, bh = int(w * rng.uniform(0.2, 0.4)), int(h * rng.uniform(0.55, 0.85))
    x0, y0 = (w - bw) // 2 + int(rng.integers(-60, 61)), h - bh - int(rng.integers(10, 40))
    body = _colour(rng)
    draw.rounded_rectangle((x0, y0, x0 + bw, y0 + bh), radius=int(bw * 0.25), fill=body)
    cw = int(bw * rng.uniform(0.3, 0.5))
    draw.rectangle((x0 + (bw - cw) // 2, y0 - int(bh * 0.15), x0 + (bw + cw) // 2, y0 + 4), fill=_colour(rng, 0, 256))
    ly = y0 + int(bh * 0.3)
    draw.rectangle((x0 + 6, ly, x0 + bw - 6, ly + int(bh * 0.35)), fill=_colour(rng, 200, 256))
    for k in range(int(rng.integers(2, 6))):
        draw.text((x0 + 12, ly + 8 + 14 * k), "SHAMPOO 500ml"[: int(rng.integers(4, 14))], fill=_colour(rng, 0, 90))
    hx = x0 + int(bw * 0.2)  # specular highlight
    draw.rectangle((hx, y0 + 10, hx + max(3, bw // 12), y0 + bh - 10), fill=(250, 250, 250))
    return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2))))


def _face(rng, size):
    """A face-like oval with hair, eyes, brows, nose and mouth."""
    w, h = size
    img = _gradient(size, _colour(rng, 60, 240), _colour(rng, 60, 240))
    draw = ImageDraw.Draw(img)
    skin = (int(rng.integers(170, 245)), int(rng.integers(120, 200)), int(rng.integers(90, 170)))
    fw, fh = int(w * rng.uniform(0.3, 0.6)), int(h * rng.uniform(0.6, 0.95))
    cx, cy = w // 2 + int(rng.integers(-80, 81)), h // 2 + int(rng.integers(-30, 60))
    hair = _colour(rng, 10, 90)
    draw.ellipse((cx - fw // 2 - 12, cy - fh // 2 - 25, cx + fw // 2 + 12, cy + fh // 6), fill=hair)
    draw.ellipse((cx - fw // 2, cy - fh // 2, cx + fw // 2, cy + fh // 2), fill=skin)
    for dx in (-fw // 5, fw // 5):
        draw.ellipse((cx + dx - 12, cy - fh // 10 - 6, cx + dx + 12, cy - fh // 10 + 6), fill=(250, 250, 250))
        draw.ellipse((cx + dx - 5, cy - fh // 10 - 5, cx + dx + 5, cy - fh // 10 + 5), fill=(40, 30, 25))
        draw.line((cx + dx - 15, cy - fh // 10 - 18, cx + dx + 15, cy - fh // 10 - 20), fill=hair, width=4)
    draw.arc((cx - fw // 6, cy + fh // 8, cx + fw // 6, cy + fh // 4), 10, 170, fill=(150, 60, 60), width=4)
    draw.line((cx, cy - fh // 20, cx - 6, cy + fh // 10), fill=tuple(int(c * 0.8) for c in skin), width=3)
    return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.8, 2.5))))


def _document(rng, size):
    """A slightly rotated page of words, Korean and English."""
    w, h = size
    paper = _colour(rng, 225, 256)
    img = Image.new("RGB", size, paper)
    draw = ImageDraw.Draw(img)
    ink = _colour(rng, 0, 70)
    words = ("두피", "scalp", "report", "샴푸", "hair", "invoice", "total", "날짜", "the", "and", "2024")
    y = int(rng.integers(10, 40))
    line_h = int(rng.integers(12, 26))
    while y < h - 20:
        x = int(rng.integers(10, 40))
        while x < w - 60:
            word = words[int(rng.integers(len(words)))]
            draw.text((x, y), word, fill=ink)
            x += 8 * len(word) + int(rng.integers(6, 14))
        y += line_h
    img = img.rotate(float(rng.uniform(-8, 8)), resample=Image.Resampling.BILINEAR, fillcolor=_colour(rng, 80, 200))
    return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 0.8))))


def _landscape(rng, size):
    """Sky with clouds over a hilly, grainy ground."""
    w, h = size
    horizon = int(h * rng.uniform(0.35, 0.7))
    img = _gradient(size, (int(rng.integers(40, 120)), int(rng.integers(100, 180)), int(rng.integers(180, 256))),
                    (int(rng.integers(160, 230)), int(rng.integers(190, 240)), int(rng.integers(220, 256))))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(0, 6))):  # clouds
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, horizon))
        rx, ry = int(rng.integers(30, 120)), int(rng.integers(10, 40))
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=(245, 245, 250))
    pts = [(0, horizon)] + [(x, horizon - int(rng.integers(0, 80))) for x in range(0, w + 80, 80)] + [(w, h), (0, h)]
    draw.polygon(pts, fill=(int(rng.integers(30, 120)), int(rng.integers(80, 170)), int(rng.integers(20, 90))))
    arr = np.asarray(img.filter(ImageFilter.GaussianBlur(2.0)), dtype=np.int16)
    arr[horizon:] += rng.integers(-25, 26, arr[horizon:].shape[:2] + (1,), dtype=np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB")


def _solid(rng, size):
    """One colour with faint sensor noise."""
    arr = np.empty((size[1], size[0], 3), np.int16)
    arr[:] = _colour(rng)
    arr += rng.integers(-4, 5, arr.shape[:2] + (1,), dtype=np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB")


def _noise(rng, size):
    """Random colour (sometimes grey) blocks of 1 to 64 pixels, smoothed."""
    w, h = size
    cells = int(rng.choice([1, 4, 16, 64]))
    small = rng.integers(0, 256, (max(1, h // cells), max(1, w // cells), 3), dtype=np.uint8)
    if rng.random() < 0.4:
        small = np.repeat(small.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
    return Image.fromarray(small, mode="RGB").resize(size, Image.Resampling.BICUBIC)


_SCENES = {"room": _room, "bottle": _bottle, "face": _face, "document": _document,
           "landscape": _landscape, "solid": _solid, "noise": _noise}


def procedural_scene(
    kind: str, rng: np.random.Generator, size: tuple[int, int] = DEFAULT_SIZE
) -> Image.Image:
    """One procedural non-scalp picture of ``kind`` (see :data:`SCENE_KINDS`)."""
    if kind not in _SCENES:
        raise ValueError(f"unknown scene kind {kind!r}; expected one of {SCENE_KINDS}")
    return _SCENES[kind](rng, size)
