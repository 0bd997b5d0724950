"""Synthetic microscope scalp close-ups that look like the AI Hub '유형별 두피 이미지' photos.

The real photos (Aramhuvis scalp microscope, 640×480) show pale, softly lit skin with
fine sheen and pores, dark hair shafts crossing the field, each emerging in groups of
1–3 from a follicle opening with a bluish root shadow. :func:`render_scalp` paints such
a picture with numpy + PIL only and makes each of the six symptoms visibly scale with
its grade 0..3, so small models can learn from it when the real (licensed) data is
not at hand:

- 미세각질 (fine_scale): many small whitish speckles and a thin whitish film;
- 피지과다 (excess_sebum): yellow tint, smooth oily glare patches and specular glints;
- 모낭사이홍반 (interfollicular_erythema): diffuse redness of the skin between follicles;
- 모낭홍반농포 (follicular_erythema_pustule): red-ringed yellow-white pustules at follicles;
- 비듬 (dandruff): larger white/greyish flakes;
- 탈모 (hair_loss): fewer and thinner hairs per follicle, empty follicles, vellus hairs.

Preview every symptom × grade as a grid::

    python -m synthetic.render --grid /tmp/render_grid.png

The output is deterministic for a given ``numpy.random.Generator`` state, and each
layer draws from its own stream, so one scalp can be shown at every grade of a symptom
(:func:`reference_image`, used by the app's illustrations). Each layer is one step of
:mod:`synthetic.layers` (with its per-grade look tables), painted in the order
:func:`render_scalp` lists on the planar float canvas of :mod:`synthetic.raster`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from PIL import Image

from scalp_core.symptoms import SYMPTOM_KEYS, SYMPTOMS, get_symptom
from synthetic import layers

DEFAULT_SIZE = (640, 480)
_MIN_DRAW_SIZE = (320, 240)  # smaller requests are drawn at an integer multiple, then shrunk

ALL_HEALTHY: dict[str, int] = {key: 0 for key in SYMPTOM_KEYS}

# Grade distributions over the 91,156 unique real images (aihub216_FORMAT.md, "Grade
# distributions"), in SYMPTOMS order (value_1..value_6), counts for grades 0/1/2/3.
REAL_GRADE_COUNTS: dict[str, tuple[int, int, int, int]] = {
    "value_1": (75452, 5702, 7062, 2940),
    "value_2": (18136, 36193, 31945, 4882),
    "value_3": (29561, 39217, 16859, 5519),
    "value_4": (86907, 2841, 981, 427),
    "value_5": (54551, 21415, 12287, 2903),
    "value_6": (67570, 17549, 4959, 1078),
}

def grade_probabilities(uniform_weight: float = 0.5) -> dict[str, np.ndarray]:
    """Per symptom key, P(grade) = (1 - w) · real marginal + w · uniform."""
    if not 0.0 <= uniform_weight <= 1.0:
        raise ValueError(f"uniform_weight must be in [0, 1], got {uniform_weight!r}")
    probs = {}
    for spec in SYMPTOMS:
        counts = np.asarray(REAL_GRADE_COUNTS[spec.json_field], dtype=float)
        probs[spec.key] = (1.0 - uniform_weight) * counts / counts.sum() + uniform_weight / 4.0
    return probs


def random_severities(rng: np.random.Generator, uniform_weight: float = 0.5) -> dict[str, int]:
    """A plausible joint draw of the six grades.

    Marginals are the real unique-image marginals mixed with uniform (``uniform_weight``)
    so minority grades are common enough for small-sample learning. Two real
    couplings are kept loosely: 모낭홍반농포 comes with some 모낭사이홍반, and 비듬
    often with 미세각질.
    """
    probs = grade_probabilities(uniform_weight)
    grades = {key: int(rng.choice(4, p=probs[key])) for key in SYMPTOM_KEYS}
    if grades["follicular_erythema_pustule"] >= 2 and grades["interfollicular_erythema"] == 0:
        grades["interfollicular_erythema"] = int(rng.integers(0, 2))
    if grades["dandruff"] == 3 and grades["fine_scale"] == 0 and rng.random() < 0.5:
        grades["fine_scale"] = 1
    return grades


def _check_severities(severities: Mapping[str, int]) -> dict[str, int]:
    grades = dict(ALL_HEALTHY)
    for name, grade in severities.items():
        key = get_symptom(name).key  # accepts keys, Korean names, value_k; raises a clear KeyError
        if int(grade) != grade or not 0 <= int(grade) <= 3:
            raise ValueError(f"severity grade for {key} must be an integer 0..3, got {grade!r}")
        grades[key] = int(grade)
    return grades


class _LayerStreams(NamedTuple):
    """One random stream per layer, seeded in this order from the caller's generator."""

    skin: np.random.Generator
    hair: np.random.Generator
    erythema: np.random.Generator
    sebum: np.random.Generator
    fine_scale: np.random.Generator
    pustule: np.random.Generator
    dandruff: np.random.Generator
    optics: np.random.Generator


def render_scalp(
    severities: Mapping[str, int], rng: np.random.Generator, size: tuple[int, int] = DEFAULT_SIZE
) -> Image.Image:
    """Render one synthetic microscope scalp close-up (RGB, ``size`` = (width, height)).

    ``severities`` maps a symptom key (or any name :func:`scalp_core.symptoms.get_symptom`
    accepts) to its AI Hub grade 0..3; missing symptoms are 0 (양호). Exactly eight
    integers are drawn from ``rng`` (seeds of one stream per layer), so the same
    generator state at another grade of one symptom gives the same scalp with only that
    symptom changed (hair_loss also changes the hair).
    """
    g = _check_severities(severities)
    w, h = int(size[0]), int(size[1])
    if w < 32 or h < 32:
        raise ValueError(f"size must be at least 32×32 pixels, got {size!r}")
    if w < _MIN_DRAW_SIZE[0] or h < _MIN_DRAW_SIZE[1]:
        # Lines are drawn with whole-pixel widths: below this size a thinned hair (탈모)
        # would round to the width of a healthy one. Draw larger, then shrink.
        factor = math.ceil(max(_MIN_DRAW_SIZE[0] / w, _MIN_DRAW_SIZE[1] / h))
        big = render_scalp(g, rng, (w * factor, h * factor))
        return big.resize((w, h), Image.Resampling.BOX)
    scale = math.sqrt(w * h / (640 * 480))  # keeps features proportional at other sizes
    # One stream per layer: changing one symptom's grade leaves every other layer (and
    # the hair layout, unless hair_loss changes) exactly as it was for the same rng state.
    seeds = rng.integers(0, 2**63 - 1, size=8)
    streams = _LayerStreams._make(np.random.default_rng(int(seed)) for seed in seeds)

    # under the hair: skin, redness, oily tint, root shadows, pustule rings, fine scale
    img, grain = layers.paint_skin(streams.skin, (w, h))
    if g["interfollicular_erythema"]:
        layers.add_erythema(img, streams.erythema, g["interfollicular_erythema"], grain)
    if g["excess_sebum"]:
        layers.add_oily_tint(img, g["excess_sebum"])
    follicles, flow = layers.place_follicles(streams.hair, (w, h), g["hair_loss"])
    layers.paint_root_shadows(img, follicles, scale)
    pustule_grade = g["follicular_erythema_pustule"]
    pustules = layers.place_pustules(streams.pustule, pustule_grade, follicles, (w, h), scale)
    if pustules:
        layers.paint_pustule_rings(img, pustules, scale)
    if g["fine_scale"]:
        layers.add_fine_scale(img, streams.fine_scale, g["fine_scale"], grain, scale)
    img = layers.draw_hairs(img, streams.hair, follicles, flow, g["hair_loss"], g["excess_sebum"], scale)
    # on top of hair and skin: pustule heads, dandruff flakes, oily glare and droplets
    if pustules:
        layers.paint_pustule_heads(img, pustules, scale)
    if g["dandruff"]:
        layers.add_dandruff(img, streams.dandruff, g["dandruff"], grain, scale)
    if g["excess_sebum"]:
        layers.add_oil_glare(img, streams.sebum, g["excess_sebum"], grain)
        layers.add_oil_droplets(img, streams.sebum, g["excess_sebum"], scale)
    return layers.finish_optics(img, streams.optics)


@lru_cache(maxsize=24)  # one per symptom × grade at the default seed
def _reference_bytes(symptom_key: str, grade: int, seed: int, size: tuple[int, int]) -> bytes:
    severities = dict(ALL_HEALTHY)
    severities[get_symptom(symptom_key).key] = grade
    return render_scalp(severities, np.random.default_rng(seed), size).tobytes()


def reference_image(
    symptom_key: str, grade: int, seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE
) -> Image.Image:
    """An illustration of one symptom at one grade (all other symptoms 양호), for the app."""
    if grade not in (0, 1, 2, 3):
        raise ValueError(f"grade must be 0..3, got {grade!r}")
    key = get_symptom(symptom_key).key
    return Image.frombytes("RGB", size, _reference_bytes(key, grade, seed, tuple(size)))


def render_grid(cell_size: tuple[int, int] = (320, 240), seed: int = 0) -> Image.Image:
    """All six symptoms (rows) × four grades (columns) on one sheet, for eyeballing."""
    cw, ch = cell_size
    sheet = Image.new("RGB", (cw * 4, ch * len(SYMPTOMS)), (255, 255, 255))
    for row, spec in enumerate(SYMPTOMS):
        for grade in range(4):
            cell = reference_image(spec.key, grade, seed=seed).resize(cell_size, Image.Resampling.LANCZOS)
            sheet.paste(cell, (grade * cw, row * ch))
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Preview synthetic scalp close-ups.")
    parser.add_argument("--grid", required=True, help="PNG path for a symptoms × grades preview sheet")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the preview")
    args = parser.parse_args(argv)
    render_grid(seed=args.seed).save(args.grid)
    print(f"wrote {args.grid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
