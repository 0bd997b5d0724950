"""Simple product illustrations for the illustrative demo catalog, drawn locally with PIL.

No network and no real product photos: each image is a flat bottle, tube, jar,
dropper or spray drawn in a colour chosen from the product id, with "SAMPLE"
on the label, so nobody mistakes it for a real product. Rendering is
deterministic and cached in ``SCALP_DEMO_IMAGE_DIR`` (default
``demo_images`` in the project's cache, ``scalp_core.paths.cache_dir()``).

Run ``python -m recommendation.demo --images OUT_DIR`` to render all demo images.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from PIL import Image, ImageDraw

from scalp_core.paths import cache_dir

SIZE = (240, 240)
# Shape per category key (see data/categories.yaml).
SHAPES = {
    "샴푸": "bottle",
    "린스/컨디셔너": "tube",
    "샴푸바/드라이샴푸": "bar",
    "헤어오일/헤어세럼": "dropper",
    "헤어워터": "spray",
    "두피팩/스케일러": "jar",
    "헤어토닉/두피토닉": "spray",
}
PALETTE = ["#7fb3d5", "#f5b7b1", "#a9dfbf", "#f9e79f", "#d7bde2", "#f0b27a", "#aeb6bf", "#76d7c4"]


def image_dir() -> Path:
    """``$SCALP_DEMO_IMAGE_DIR``, else ``demo_images`` in the project's cache."""
    return Path(os.environ.get("SCALP_DEMO_IMAGE_DIR", cache_dir() / "demo_images"))


def render_product_image(product_id: str, category: str) -> Image.Image:
    """Draw one illustration; the same id and category always give the same pixels."""
    digest = hashlib.sha256(product_id.encode("utf-8")).digest()
    colour = PALETTE[digest[0] % len(PALETTE)]
    img = Image.new("RGB", SIZE, "#fbfbf8")
    d = ImageDraw.Draw(img)
    shape = SHAPES.get(category, "bottle")
    cx = SIZE[0] // 2
    if shape == "bottle":
        d.rounded_rectangle((cx - 45, 70, cx + 45, 215), 18, fill=colour, outline="#555")
        d.rectangle((cx - 15, 40, cx + 15, 70), fill="#666")
        d.rectangle((cx - 5, 25, cx + 30, 40), fill="#666")
    elif shape == "tube":
        d.polygon([(cx - 40, 40), (cx + 40, 40), (cx + 30, 190), (cx - 30, 190)], fill=colour, outline="#555")
        d.rounded_rectangle((cx - 25, 190, cx + 25, 215), 6, fill="#666")
    elif shape == "bar":
        d.rounded_rectangle((cx - 70, 100, cx + 70, 180), 25, fill=colour, outline="#555")
    elif shape == "dropper":
        d.rounded_rectangle((cx - 35, 100, cx + 35, 215), 12, fill=colour, outline="#555")
        d.rectangle((cx - 12, 70, cx + 12, 100), fill="#444")
        d.ellipse((cx - 14, 40, cx + 14, 75), fill="#444")
    elif shape == "spray":
        d.rounded_rectangle((cx - 35, 80, cx + 35, 215), 10, fill=colour, outline="#555")
        d.rectangle((cx - 10, 55, cx + 10, 80), fill="#666")
        d.rectangle((cx - 20, 42, cx + 25, 55), fill="#666")
    else:  # jar
        d.rounded_rectangle((cx - 65, 120, cx + 65, 205), 15, fill=colour, outline="#555")
        d.rounded_rectangle((cx - 70, 100, cx + 70, 125), 8, fill="#666")
    d.rectangle((cx - 32, 150, cx + 32, 172), fill="white")
    d.text((cx - 22, 155), "SAMPLE", fill="#333")
    d.text((6, 4), "illustration", fill="#999")
    return img


def ensure_image(product_id: str, category: str, directory: Path | None = None) -> Path:
    """Path of the product's PNG, rendering it on first use."""
    directory = directory or image_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{product_id}.png"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp.png")
        render_product_image(product_id, category).save(tmp, format="PNG")
        os.replace(tmp, path)
    return path
