"""The layers of a synthetic scalp close-up, one function per step, in the order they are painted.

Each step works in place on the planar float canvas of :mod:`synthetic.raster` (or, for the
hair, draws onto an RGB picture and hands back the canvas) and draws only from the random
stream it is given, so :func:`synthetic.render.render_scalp` can change one symptom's grade and
leave every other layer as it was. The per-grade looks (how strong, how many, how large)
are the tables at the top. Nothing to run on its own: see :mod:`synthetic.render`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from synthetic import raster

# Strength of a symptom's visual effect per grade. Grades 1 and 2 are close (the seed
# merged them), grade 0 and grade 3 stand apart, as the 3-class scheme expects.
STRENGTH = (0.0, 0.4, 0.65, 1.0)
# Share of the picture covered by oily glare, per 피지과다 grade.
SEBUM_GLARE_COVERAGE = (0.0, 0.07, 0.1, 0.26)
PUSTULE_COUNT_RANGE = ((0, 1), (1, 3), (3, 5), (6, 9))  # rng.integers(low, high) per grade
FINE_SCALE_SPECKS = (0, 500, 1100, 2200)  # per grade, at 640×480
FLAKE_COUNT_RANGE = ((0, 1), (5, 8), (9, 13), (16, 22))  # rng.integers(low, high) per grade
FLAKE_SIZE = (0, 1.0, 1.25, 1.6)  # per grade, a multiple of the grade-1 flake size
OIL_DROPLETS = (0, 30, 60, 110)  # per grade, at 640×480

Follicle = tuple[float, float, float]  # x, y, the angle its hairs leave at
PustuleSite = tuple[float, float, float]  # x, y, a size factor


@dataclass(frozen=True)
class HairLook:
    """How the hair looks at one 탈모 grade."""

    follicle_keep: float  # share of the follicle grid that is kept (× 0.9)
    hairs_per_follicle_p: tuple[float, float, float]  # P(1, 2, 3 hairs) at a follicle
    empty_p: float  # P(an opening with no hair left, only a dark dot)
    vellus_p: float  # P(a short, thin, light vellus hair instead of a terminal one)
    width_k: float  # terminal hair width, a multiple of the healthy width
    length_k: float  # terminal hair length, a multiple of the healthy length
    outside_k: float  # a multiple of the number of hairs entering from outside the frame


# Fewer follicles and fewer hairs per follicle, more empty openings and vellus hairs,
# thinner and shorter shafts, per 탈모 grade 0..3.
HAIR_LOOKS = (
    HairLook(1.0, (0.15, 0.45, 0.40), 0.0, 0.0, 1.0, 1.0, 1.0),
    HairLook(0.9, (0.6, 0.33, 0.07), 0.18, 0.15, 0.6, 0.8, 0.6),
    HairLook(0.87, (0.68, 0.29, 0.03), 0.24, 0.25, 0.55, 0.75, 0.5),
    HairLook(0.8, (0.9, 0.1, 0.0), 0.45, 0.45, 0.42, 0.55, 0.2),
)


def _size_of(img: np.ndarray) -> tuple[int, int]:
    """(width, height) of a planar canvas."""
    return img.shape[2], img.shape[1]


def paint_skin(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Skin tone, soft lighting, pores and surface sheen: the new canvas, and its grain for later layers."""
    w, h = size
    tone = rng.random()
    base = np.array([148.0, 165.0, 152.0]) * (1 - tone) + np.array([172.0, 166.0, 158.0]) * tone
    base += rng.normal(0.0, 3.0, 3)
    light = 1.0 + 0.07 * raster.smooth_noise(rng, size, (5, 4))
    img = np.empty((3, h, w), dtype=np.float32)  # planar RGB, see raster.blend
    img[:] = base.astype(np.float32)[:, None, None]
    img *= light

    grain = raster.smooth_noise(rng, size, (w // 2, h // 2))
    img += 4.0 * grain
    # Skin-surface relief catches the ring light as a fine whitish network (zero
    # crossings of smooth noise) plus a few broader glossy patches.
    relief = raster.smooth_noise(rng, size, (w // 14, h // 14))
    network = np.clip(1.0 - np.abs(relief + 0.15 * grain) * 5.0, 0.0, 1.0)
    patches = np.clip(raster.smooth_noise(rng, size, (7, 5)) * 1.5, 0.0, 1.0)
    sheen = network * network * (0.12 + 0.2 * patches)
    raster.blend(img, sheen, (226, 236, 236))
    return img, grain


def add_erythema(img: np.ndarray, rng: np.random.Generator, grade: int, grain: np.ndarray) -> None:
    """모낭사이홍반: diffuse redness of the skin between follicles, soft and a little mottled."""
    mottle = 0.8 + 0.35 * raster.smooth_noise(rng, _size_of(img), (6, 5)) + 0.12 * grain
    red_map = STRENGTH[grade] * np.clip(mottle, 0.3, 1.3)
    for channel, shift in enumerate((24.0, -28.0, -20.0)):
        img[channel] += red_map * shift


def add_oily_tint(img: np.ndarray, grade: int) -> None:
    """피지과다, under the hair: an even yellowish tint of the skin."""
    img += (STRENGTH[grade] * np.array([12.0, -2.0, -28.0], dtype=np.float32))[:, None, None]


def place_follicles(
    rng: np.random.Generator, size: tuple[int, int], loss_grade: int
) -> tuple[list[Follicle], float]:
    """Follicles on a jittered 4×3 grid (탈모 leaves out more of them), and the photo's hair flow angle."""
    w, h = size
    n_cols, n_rows = 4, 3
    keep = HAIR_LOOKS[loss_grade].follicle_keep
    follicles = []
    flow = rng.uniform(0, 2 * math.pi)  # hairs in one photo lie roughly the same way
    for row in range(n_rows):
        for col in range(n_cols):
            if rng.random() > 0.9 * keep:
                continue
            fx = (col + rng.uniform(0.1, 0.9)) * w / n_cols
            fy = (row + rng.uniform(0.1, 0.9)) * h / n_rows
            angle = flow + rng.normal(0.0, 0.35)
            follicles.append((fx, fy, angle))
    return follicles, flow


def paint_root_shadows(img: np.ndarray, follicles: list[Follicle], scale: float) -> None:
    """The bluish shadow of each follicle opening and of the hair root running under the skin."""
    root_mask = Image.new("L", _size_of(img), 0)
    rd = ImageDraw.Draw(root_mask)
    for fx, fy, angle in follicles:
        back = 18 * scale
        rd.line(
            [(fx - math.cos(angle) * back, fy - math.sin(angle) * back), (fx, fy)],
            fill=170, width=max(2, int(14 * scale)),
        )
        r = 7 * scale
        rd.ellipse([fx - r, fy - r, fx + r, fy + r], fill=230)
    raster.blend(img, raster.mask_to_alpha(root_mask, 6 * scale) * 0.75, (66, 84, 110))


def place_pustules(
    rng: np.random.Generator, grade: int, follicles: list[Follicle], size: tuple[int, int], scale: float
) -> list[PustuleSite]:
    """모낭홍반농포 sites: at follicle openings, then at random spots once the follicles run out."""
    n_pust = int(rng.integers(*PUSTULE_COUNT_RANGE[grade]))
    sites = []
    if n_pust:
        order = rng.permutation(len(follicles)) if follicles else np.array([], dtype=int)
        for i in range(n_pust):
            if i < len(order):
                fx, fy, angle = follicles[order[i]]
                fx += math.cos(angle) * 4 * scale
                fy += math.sin(angle) * 4 * scale
            else:
                fx, fy = rng.uniform(0.05, 0.95) * size[0], rng.uniform(0.05, 0.95) * size[1]
            sites.append((fx, fy, rng.uniform(0.8, 1.25)))
    return sites


def paint_pustule_rings(img: np.ndarray, sites: list[PustuleSite], scale: float) -> None:
    """모낭홍반농포, under the hair: the red ring of inflamed skin around each pustule."""
    ring = raster.disc_mask(_size_of(img), ((fx, fy, 22 * scale * k) for fx, fy, k in sites), fill=235)
    raster.blend(img, raster.mask_to_alpha(ring, 8 * scale), (196, 72, 78))


def add_fine_scale(
    img: np.ndarray, rng: np.random.Generator, grade: int, grain: np.ndarray, scale: float
) -> None:
    """미세각질: a thin whitish film and many small whitish speckles."""
    w, h = _size_of(img)
    film_field = raster.smooth_noise(rng, (w, h), (w // 30, h // 30)) + 0.4 * grain
    film = np.clip((film_field - 0.9 + 0.75 * STRENGTH[grade]) * 1.6, 0.0, 1.0) * 0.4
    raster.blend(img, film, (226, 230, 226))
    n_specks = int(FINE_SCALE_SPECKS[grade] * scale * scale)
    speck = np.zeros((h, w), dtype=np.uint8)
    ys = rng.integers(0, h, n_specks)
    xs = rng.integers(0, w, n_specks)
    speck[ys, xs] = rng.integers(150, 256, n_specks).astype(np.uint8)
    speck_img = Image.fromarray(raster.dilate(speck, 1), mode="L")
    raster.blend(img, raster.mask_to_alpha(speck_img, 0.7), (240, 242, 238))


def _plan_hairs(rng: np.random.Generator, follicles: list[Follicle], flow: float, look: HairLook,
                size: tuple[int, int]) -> tuple[list[tuple[float, float]], list[tuple]]:
    """Empty follicles, and each hair's start: (x, y, angle, offset in its group, whether from a follicle)."""
    w, h = size
    empty_follicles, hair_starts = [], []
    for fx, fy, angle in follicles:
        if rng.random() < look.empty_p:
            empty_follicles.append((fx, fy))
            continue
        n_hairs = int(rng.choice(3, p=look.hairs_per_follicle_p)) + 1
        for i in range(n_hairs):
            hair_starts.append((fx, fy, angle, i - (n_hairs - 1) / 2, True))
    n_outside = int(rng.integers(1, 4) * look.outside_k + 0.5)
    for _ in range(n_outside):
        angle = flow + rng.normal(0.0, 0.3)
        # start beyond the frame edge, behind the centre along the flow direction
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        dist = 0.75 * (w + h) / 2
        hair_starts.append((cx - math.cos(angle) * dist, cy - math.sin(angle) * dist, angle, 0.0, False))
    return empty_follicles, hair_starts


def _hair_path(x0, y0, angle, length, curvature, n_points=12):
    """Points along a slightly curved hair shaft starting at (x0, y0)."""
    t = np.linspace(0.0, length, n_points)
    theta = angle + curvature * t
    step = length / (n_points - 1)
    xs = x0 + np.concatenate([[0.0], np.cumsum(np.cos(theta[:-1]) * step)])
    ys = y0 + np.concatenate([[0.0], np.cumsum(np.sin(theta[:-1]) * step)])
    return xs, ys


def _draw_hair(draw: ImageDraw.ImageDraw, rng: np.random.Generator, start: tuple, look: HairLook,
               sebum_grade: int, scale: float) -> None:
    """One terminal or vellus hair shaft, with the ring light's highlight along the thick ones."""
    sx, sy, angle, offset, from_follicle = start
    vellus = from_follicle and rng.random() < look.vellus_p
    if vellus:
        width = max(1.0, 2.2 * scale)
        length = rng.uniform(40, 110) * scale
        color = np.array([120, 98, 80]) + rng.normal(0, 8, 3)
    else:
        width = max(1.5, rng.uniform(9.0, 12.5) * look.width_k * scale)
        length = rng.uniform(260, 640) * look.length_k * scale * (1.0 if from_follicle else 1.6)
        brown = rng.choice([0, 0, 14]) * np.array([1, 0.6, 0.2])
        color = np.array([32, 32, 33]) + rng.normal(0, 2, 3) + brown
    a = angle + offset * rng.uniform(0.03, 0.09)
    perp = a + math.pi / 2
    # start a little under the skin, inside the root shadow
    x0 = sx + math.cos(perp) * offset * width * 1.1 - math.cos(a) * 5 * scale
    y0 = sy + math.sin(perp) * offset * width * 1.1 - math.sin(a) * 5 * scale
    xs, ys = _hair_path(x0, y0, a, length, rng.normal(0.0, 0.0012 / scale))
    pts = list(zip(xs.tolist(), ys.tolist()))
    fill = tuple(int(c) for c in np.clip(color, 0, 255))
    draw.line(pts, fill=fill, width=int(round(width)), joint="curve")
    if width >= 3:
        # the ring light leaves a bright line along one side of the shaft (brighter on oily hair)
        hl_off = width * 0.28
        hl = [(x + math.cos(perp) * hl_off, y + math.sin(perp) * hl_off) for x, y in pts[1:]]
        shine = 120 + 60 * STRENGTH[sebum_grade] + rng.normal(0, 12)
        draw.line(hl, fill=(int(shine), int(shine + 4), int(shine + 6)), width=max(1, int(width * 0.18)))


def draw_hairs(img: np.ndarray, rng: np.random.Generator, follicles: list[Follicle], flow: float,
               loss_grade: int, sebum_grade: int, scale: float) -> np.ndarray:
    """Empty openings and hair shafts, drawn straight onto the picture in order so overlaps look right."""
    look = HAIR_LOOKS[loss_grade]
    pic = raster.to_picture(img)
    draw = ImageDraw.Draw(pic)
    empty_follicles, hair_starts = _plan_hairs(rng, follicles, flow, look, pic.size)
    for fx, fy in empty_follicles:
        r = 3 * scale  # an empty opening: only a dark dot is left
        draw.ellipse([fx - r, fy - r, fx + r, fy + r], fill=(70, 72, 78))
    for start in hair_starts:
        _draw_hair(draw, rng, start, look, sebum_grade, scale)
    return raster.from_picture(pic)


def paint_pustule_heads(img: np.ndarray, sites: list[PustuleSite], scale: float) -> None:
    """모낭홍반농포, on top of the hair: each pustule's yellow-white head and the ring light's glint."""
    size = _size_of(img)
    head = raster.disc_mask(size, ((fx, fy, 8.5 * scale * k) for fx, fy, k in sites))
    raster.blend(img, raster.mask_to_alpha(head, 2.0 * scale) * 0.92, (238, 226, 168))
    # the ring light's reflection sits up-left of the centre
    glint = raster.disc_mask(size, ((fx - 3 * scale, fy - 3 * scale, 2.5 * scale * k) for fx, fy, k in sites))
    raster.blend(img, raster.mask_to_alpha(glint, 1.2) * 0.8, (255, 255, 248))


def add_dandruff(
    img: np.ndarray, rng: np.random.Generator, grade: int, grain: np.ndarray, scale: float
) -> None:
    """비듬, on top of the hair: larger white/greyish flakes with a faint grey rim."""
    w, h = _size_of(img)
    n_flakes = int(rng.integers(*FLAKE_COUNT_RANGE[grade]))
    flakes = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(flakes)
    size_k = FLAKE_SIZE[grade]
    for _ in range(n_flakes):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        n_v = int(rng.integers(6, 11))
        radius = rng.uniform(14, 32) * size_k * scale
        ang = np.sort(rng.uniform(0, 2 * math.pi, n_v))
        rad = radius * rng.uniform(0.45, 1.0, n_v)
        stretch = rng.uniform(0.6, 1.0)
        poly = list(zip((cx + rad * np.cos(ang)).tolist(), (cy + stretch * rad * np.sin(ang)).tolist()))
        d.polygon(poly, fill=int(rng.integers(190, 250)))
    alpha = raster.mask_to_alpha(flakes, 1.2) * (0.8 + 0.2 * np.clip(grain + 0.5, 0, 1))
    raster.blend(img, alpha * 0.95, (232, 232, 224))
    # a faint grey rim where flakes lift off the skin
    rim = raster.mask_to_alpha(Image.fromarray(raster.dilate(np.asarray(flakes), 2), mode="L"), 1.5) - alpha
    raster.blend(img, np.clip(rim, 0, 1) * 0.35, (150, 150, 146))


def add_oil_glare(img: np.ndarray, rng: np.random.Generator, grade: int, grain: np.ndarray) -> None:
    """피지과다, on top of the hair: a broad wet sheen, then near-white glare on a set share per grade."""
    w, h = _size_of(img)
    wet = np.clip(raster.smooth_noise(rng, (w, h), (8, 6)) + 0.35, 0, 1) * 0.22 * STRENGTH[grade]
    raster.blend(img, wet, (246, 238, 196))
    # Glare where the oil film mirrors the ring light: smooth, near-white patches whose
    # area is set exactly per grade (a quantile of smooth noise), so the grade stays
    # readable even at 64 px and in grayscale.
    coverage = SEBUM_GLARE_COVERAGE[grade]
    field = raster.smooth_noise(rng, (w // 4, h // 4), (13, 10))
    threshold = float(np.quantile(field, 1.0 - coverage))
    glare = np.clip((field - threshold) / (0.6 * float(field.std()) + 1e-6) + 0.1, 0.0, 1.0)
    glare = np.sqrt(glare)  # a bright plateau that fades out at the rim, like a specular sheet
    glare = np.asarray(Image.fromarray(glare, mode="F").resize((w, h), Image.Resampling.BICUBIC))
    # grain, so the glare is not flat paint
    raster.blend(img, np.clip(glare, 0.0, 1.0) * (0.8 + 0.12 * grain), (252, 251, 240))


def add_oil_droplets(img: np.ndarray, rng: np.random.Generator, grade: int, scale: float) -> None:
    """피지과다, last: small round specular glints of oil droplets with a soft halo, more per grade."""
    w, h = _size_of(img)
    n_drops = int(OIL_DROPLETS[grade] * scale * scale)
    drops = np.zeros((h, w), dtype=np.uint8)
    drops[rng.integers(0, h, n_drops), rng.integers(0, w, n_drops)] = 255
    drops = raster.dilate(drops, 2)
    drop_img = Image.fromarray(drops, mode="L")
    halo = raster.mask_to_alpha(Image.fromarray(raster.dilate(drops, 3), mode="L"), 5.0 * scale)
    raster.blend(img, np.minimum(halo * 2.2, 1.0) * 0.55, (250, 246, 214))
    raster.blend(img, raster.mask_to_alpha(drop_img, 1.0), (255, 255, 250))


def finish_optics(img: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """The camera's share: lens vignette, slight softness and sensor noise; the finished RGB picture."""
    w, h = _size_of(img)
    vig = 1.0 - rng.uniform(0.16, 0.26) * raster.squared_radius((w, h))
    img *= vig
    pic = raster.to_picture(img).filter(ImageFilter.BoxBlur(0.5))
    out = np.asarray(pic, dtype=np.int16) + rng.integers(-3, 4, (h, w, 1), dtype=np.int16)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), mode="RGB")
