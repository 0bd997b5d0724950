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
(:func:`reference_image`, used by the app's illustrations).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from scalp_core.symptoms import SYMPTOM_KEYS, SYMPTOMS, get_symptom

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

# Strength of a symptom's visual effect per grade. Grades 1 and 2 are close (the seed
# merged them), grade 0 and grade 3 stand apart, as the 3-class scheme expects.
_STRENGTH = (0.0, 0.4, 0.65, 1.0)
# Share of the picture covered by oily glare, per 피지과다 grade.
_SEBUM_GLARE_COVERAGE = (0.0, 0.07, 0.1, 0.26)


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


# --------------------------------------------------------------------------- helpers


def _smooth_noise(rng: np.random.Generator, size: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    """Low-frequency noise in about [-1, 1]: a small random grid upsampled bicubically."""
    grid = rng.standard_normal((cells[1], cells[0])).astype(np.float32)
    up = Image.fromarray(grid, mode="F").resize(size, Image.Resampling.BICUBIC)
    return np.asarray(up, dtype=np.float32) * 0.7


@lru_cache(maxsize=8)
def _radial(size: tuple[int, int]) -> np.ndarray:
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    r2.setflags(write=False)
    return r2


def _blend(img: np.ndarray, alpha: np.ndarray, color) -> None:
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


def _to_picture(img: np.ndarray) -> Image.Image:
    """Planar float (3, H, W) -> RGB picture."""
    interleaved = np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 0))
    return Image.fromarray(interleaved, mode="RGB")


def _from_picture(pic: Image.Image) -> np.ndarray:
    """RGB picture -> planar float (3, H, W)."""
    return np.ascontiguousarray(np.asarray(pic, dtype=np.float32).transpose(2, 0, 1))


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
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


def _mask_to_alpha(mask: Image.Image, blur: float = 0.0) -> np.ndarray:
    """An "L" mask as float alpha in [0, 1], optionally Gaussian-blurred.

    Only the mask's bounding box (plus the blur's reach) is blurred, and wide blurs run
    at half resolution (4× cheaper, invisible after the blur): most masks are sparse.
    """
    w, h = mask.size
    alpha = np.zeros((h, w), dtype=np.float32)
    box = mask.getbbox()
    if box is None:
        return alpha
    pad = int(math.ceil(3 * blur)) + 2
    x0, y0, x1, y1 = max(box[0] - pad, 0), max(box[1] - pad, 0), min(box[2] + pad, w), min(box[3] + pad, h)
    part = mask.crop((x0, y0, x1, y1))
    if blur >= 3 and part.width >= 8 and part.height >= 8:
        small = part.reduce(2).filter(ImageFilter.GaussianBlur(blur / 2))
        part = small.resize(part.size, Image.Resampling.BILINEAR)
    elif blur > 0:
        part = part.filter(ImageFilter.GaussianBlur(blur))
    alpha[y0:y1, x0:x1] = np.asarray(part, dtype=np.float32) * (1.0 / 255.0)
    return alpha


def _hair_path(x0, y0, angle, length, curvature, n_points=12):
    """Points along a slightly curved hair shaft starting at (x0, y0)."""
    t = np.linspace(0.0, length, n_points)
    theta = angle + curvature * t
    step = length / (n_points - 1)
    xs = x0 + np.concatenate([[0.0], np.cumsum(np.cos(theta[:-1]) * step)])
    ys = y0 + np.concatenate([[0.0], np.cumsum(np.sin(theta[:-1]) * step)])
    return xs, ys


# --------------------------------------------------------------------------- renderer


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
    s_scale = _STRENGTH[g["fine_scale"]]
    s_sebum = _STRENGTH[g["excess_sebum"]]
    s_ery = _STRENGTH[g["interfollicular_erythema"]]
    g_pust = g["follicular_erythema_pustule"]
    g_dand = g["dandruff"]
    g_loss = g["hair_loss"]

    # One stream per layer: changing one symptom's grade leaves every other layer (and
    # the hair layout, unless hair_loss changes) exactly as it was for the same rng state.
    (skin_rng, hair_rng, ery_rng, sebum_rng, scale_rng, pust_rng, dand_rng, optics_rng) = (
        np.random.default_rng(int(seed)) for seed in rng.integers(0, 2**63 - 1, size=8)
    )

    # ---- skin: tone, soft lighting, pores and surface sheen
    tone = skin_rng.random()
    base = np.array([148.0, 165.0, 152.0]) * (1 - tone) + np.array([172.0, 166.0, 158.0]) * tone
    base += skin_rng.normal(0.0, 3.0, 3)
    light = 1.0 + 0.07 * _smooth_noise(skin_rng, (w, h), (5, 4))
    img = np.empty((3, h, w), dtype=np.float32)  # planar RGB, see _blend
    img[:] = base.astype(np.float32)[:, None, None]
    img *= light

    grain = _smooth_noise(skin_rng, (w, h), (w // 2, h // 2))
    img += 4.0 * grain
    # Skin-surface relief catches the ring light as a fine whitish network (zero
    # crossings of smooth noise) plus a few broader glossy patches.
    relief = _smooth_noise(skin_rng, (w, h), (w // 14, h // 14))
    network = np.clip(1.0 - np.abs(relief + 0.15 * grain) * 5.0, 0.0, 1.0)
    patches = np.clip(_smooth_noise(skin_rng, (w, h), (7, 5)) * 1.5, 0.0, 1.0)
    sheen = network * network * (0.12 + 0.2 * patches)
    _blend(img, sheen, (226, 236, 236))

    # Diffuse redness between follicles (모낭사이홍반): soft, a little mottled.
    if s_ery > 0:
        mottle = 0.8 + 0.35 * _smooth_noise(ery_rng, (w, h), (6, 5)) + 0.12 * grain
        red_map = s_ery * np.clip(mottle, 0.3, 1.3)
        for channel, shift in enumerate((24.0, -28.0, -20.0)):
            img[channel] += red_map * shift
    # Oily yellowish tint (피지과다).
    if s_sebum > 0:
        img += (s_sebum * np.array([12.0, -2.0, -28.0], dtype=np.float32))[:, None, None]

    # ---- follicles: a jittered grid, a few more hairs enter from outside the frame
    n_cols, n_rows = 4, 3
    keep = (1.0, 0.9, 0.87, 0.8)[g_loss]
    follicles = []
    flow = hair_rng.uniform(0, 2 * math.pi)  # hairs in one photo lie roughly the same way
    for row in range(n_rows):
        for col in range(n_cols):
            if hair_rng.random() > 0.9 * keep:
                continue
            fx = (col + hair_rng.uniform(0.1, 0.9)) * w / n_cols
            fy = (row + hair_rng.uniform(0.1, 0.9)) * h / n_rows
            angle = flow + hair_rng.normal(0.0, 0.35)
            follicles.append((fx, fy, angle))

    root_mask = Image.new("L", (w, h), 0)
    rd = ImageDraw.Draw(root_mask)
    for fx, fy, angle in follicles:
        back = 18 * scale
        rd.line(
            [(fx - math.cos(angle) * back, fy - math.sin(angle) * back), (fx, fy)],
            fill=170, width=max(2, int(14 * scale)),
        )
        r = 7 * scale
        rd.ellipse([fx - r, fy - r, fx + r, fy + r], fill=230)
    _blend(img, _mask_to_alpha(root_mask, 6 * scale) * 0.75, (66, 84, 110))

    # Red-ringed pustules at follicles (모낭홍반농포).
    n_pust = int(pust_rng.integers(*((0, 1), (1, 3), (3, 5), (6, 9))[g_pust]))
    pustule_sites = []
    if n_pust:
        order = pust_rng.permutation(len(follicles)) if follicles else np.array([], dtype=int)
        for i in range(n_pust):
            if i < len(order):
                fx, fy, angle = follicles[order[i]]
                fx += math.cos(angle) * 4 * scale
                fy += math.sin(angle) * 4 * scale
            else:
                fx, fy = pust_rng.uniform(0.05, 0.95) * w, pust_rng.uniform(0.05, 0.95) * h
            pustule_sites.append((fx, fy, pust_rng.uniform(0.8, 1.25)))
        ring = Image.new("L", (w, h), 0)
        d = ImageDraw.Draw(ring)
        for fx, fy, k in pustule_sites:
            r = 22 * scale * k
            d.ellipse([fx - r, fy - r, fx + r, fy + r], fill=235)
        _blend(img, _mask_to_alpha(ring, 8 * scale), (196, 72, 78))

    # Whitish film and fine speckles (미세각질).
    if s_scale > 0:
        film_field = _smooth_noise(scale_rng, (w, h), (w // 30, h // 30)) + 0.4 * grain
        film = np.clip((film_field - 0.9 + 0.75 * s_scale) * 1.6, 0.0, 1.0) * 0.4
        _blend(img, film, (226, 230, 226))
        n_specks = int((0, 500, 1100, 2200)[g["fine_scale"]] * scale * scale)
        speck = np.zeros((h, w), dtype=np.uint8)
        ys = scale_rng.integers(0, h, n_specks)
        xs = scale_rng.integers(0, w, n_specks)
        speck[ys, xs] = scale_rng.integers(150, 256, n_specks).astype(np.uint8)
        speck_img = Image.fromarray(_dilate(speck, 1), mode="L")
        _blend(img, _mask_to_alpha(speck_img, 0.7), (240, 242, 238))

    # ---- hairs, drawn straight onto the picture in order so overlaps look right
    pic = _to_picture(img)
    draw = ImageDraw.Draw(pic)
    group_p = ((0.15, 0.45, 0.40), (0.6, 0.33, 0.07), (0.68, 0.29, 0.03), (0.9, 0.1, 0.0))[g_loss]
    empty_p = (0.0, 0.18, 0.24, 0.45)[g_loss]
    vellus_p = (0.0, 0.15, 0.25, 0.45)[g_loss]
    width_k = (1.0, 0.6, 0.55, 0.42)[g_loss]
    length_k = (1.0, 0.8, 0.75, 0.55)[g_loss]

    hair_starts = []
    for fx, fy, angle in follicles:
        if hair_rng.random() < empty_p:
            # An empty opening: only a dark dot is left.
            r = 3 * scale
            draw.ellipse([fx - r, fy - r, fx + r, fy + r], fill=(70, 72, 78))
            continue
        n_hairs = int(hair_rng.choice(3, p=group_p)) + 1
        for i in range(n_hairs):
            hair_starts.append((fx, fy, angle, i - (n_hairs - 1) / 2, True))
    n_outside = int(hair_rng.integers(1, 4) * (1.0, 0.6, 0.5, 0.2)[g_loss] + 0.5)
    for _ in range(n_outside):
        angle = flow + hair_rng.normal(0.0, 0.3)
        # start beyond the frame edge, behind the centre along the flow direction
        cx, cy = hair_rng.uniform(0.2, 0.8) * w, hair_rng.uniform(0.2, 0.8) * h
        dist = 0.75 * (w + h) / 2
        hair_starts.append((cx - math.cos(angle) * dist, cy - math.sin(angle) * dist, angle, 0.0, False))

    for sx, sy, angle, offset, from_follicle in hair_starts:
        vellus = from_follicle and hair_rng.random() < vellus_p
        if vellus:
            width = max(1.0, 2.2 * scale)
            length = hair_rng.uniform(40, 110) * scale
            color = np.array([120, 98, 80]) + hair_rng.normal(0, 8, 3)
        else:
            width = max(1.5, hair_rng.uniform(9.0, 12.5) * width_k * scale)
            length = hair_rng.uniform(260, 640) * length_k * scale * (1.0 if from_follicle else 1.6)
            brown = hair_rng.choice([0, 0, 14]) * np.array([1, 0.6, 0.2])
            color = np.array([32, 32, 33]) + hair_rng.normal(0, 2, 3) + brown
        a = angle + offset * hair_rng.uniform(0.03, 0.09)
        perp = a + math.pi / 2
        # start a little under the skin, inside the root shadow
        x0 = sx + math.cos(perp) * offset * width * 1.1 - math.cos(a) * 5 * scale
        y0 = sy + math.sin(perp) * offset * width * 1.1 - math.sin(a) * 5 * scale
        xs, ys = _hair_path(x0, y0, a, length, hair_rng.normal(0.0, 0.0012 / scale))
        pts = list(zip(xs.tolist(), ys.tolist()))
        fill = tuple(int(c) for c in np.clip(color, 0, 255))
        draw.line(pts, fill=fill, width=int(round(width)), joint="curve")
        if width >= 3:
            # the ring light leaves a bright line along one side of the shaft
            hl_off = width * 0.28
            hl = [(x + math.cos(perp) * hl_off, y + math.sin(perp) * hl_off) for x, y in pts[1:]]
            shine = 120 + 60 * s_sebum + hair_rng.normal(0, 12)
            draw.line(hl, fill=(int(shine), int(shine + 4), int(shine + 6)), width=max(1, int(width * 0.18)))

    # ---- on top of hair and skin: pustule heads, dandruff flakes, oily highlights
    img = _from_picture(pic)
    if pustule_sites:
        head = Image.new("L", (w, h), 0)
        d = ImageDraw.Draw(head)
        for fx, fy, k in pustule_sites:
            r = 8.5 * scale * k
            d.ellipse([fx - r, fy - r, fx + r, fy + r], fill=255)
        _blend(img, _mask_to_alpha(head, 2.0 * scale) * 0.92, (238, 226, 168))
        glint = Image.new("L", (w, h), 0)
        d = ImageDraw.Draw(glint)
        for fx, fy, k in pustule_sites:
            r = 2.5 * scale * k
            gx, gy = fx - 3 * scale, fy - 3 * scale  # the ring light's reflection, up-left
            d.ellipse([gx - r, gy - r, gx + r, gy + r], fill=255)
        _blend(img, _mask_to_alpha(glint, 1.2) * 0.8, (255, 255, 248))

    if g_dand:
        n_flakes = int(dand_rng.integers(*((0, 1), (5, 8), (9, 13), (16, 22))[g_dand]))
        flakes = Image.new("L", (w, h), 0)
        d = ImageDraw.Draw(flakes)
        size_k = (0, 1.0, 1.25, 1.6)[g_dand]
        for _ in range(n_flakes):
            cx, cy = dand_rng.uniform(0, w), dand_rng.uniform(0, h)
            n_v = int(dand_rng.integers(6, 11))
            radius = dand_rng.uniform(14, 32) * size_k * scale
            ang = np.sort(dand_rng.uniform(0, 2 * math.pi, n_v))
            rad = radius * dand_rng.uniform(0.45, 1.0, n_v)
            stretch = dand_rng.uniform(0.6, 1.0)
            poly = list(zip((cx + rad * np.cos(ang)).tolist(), (cy + stretch * rad * np.sin(ang)).tolist()))
            d.polygon(poly, fill=int(dand_rng.integers(190, 250)))
        alpha = _mask_to_alpha(flakes, 1.2) * (0.8 + 0.2 * np.clip(grain + 0.5, 0, 1))
        _blend(img, alpha * 0.95, (232, 232, 224))
        # a faint grey rim where flakes lift off the skin
        rim = _mask_to_alpha(Image.fromarray(_dilate(np.asarray(flakes), 2), mode="L"), 1.5) - alpha
        _blend(img, np.clip(rim, 0, 1) * 0.35, (150, 150, 146))

    if s_sebum > 0:
        # Oil film: a broad wet sheen plus small round specular glints (droplets),
        # brighter and more numerous with the grade.
        wet = np.clip(_smooth_noise(sebum_rng, (w, h), (8, 6)) + 0.35, 0, 1) * 0.22 * s_sebum
        _blend(img, wet, (246, 238, 196))
        # Glare where the oil film mirrors the ring light: smooth, near-white patches whose
        # area is set exactly per grade (a quantile of smooth noise), so the grade stays
        # readable even at 64 px and in grayscale.
        coverage = _SEBUM_GLARE_COVERAGE[g["excess_sebum"]]
        field = _smooth_noise(sebum_rng, (w // 4, h // 4), (13, 10))
        threshold = float(np.quantile(field, 1.0 - coverage))
        glare = np.clip((field - threshold) / (0.6 * float(field.std()) + 1e-6) + 0.1, 0.0, 1.0)
        glare = np.sqrt(glare)  # a bright plateau that fades out at the rim, like a specular sheet
        glare = np.asarray(Image.fromarray(glare, mode="F").resize((w, h), Image.Resampling.BICUBIC))
        _blend(img, np.clip(glare, 0.0, 1.0) * (0.8 + 0.12 * grain), (252, 251, 240))  # grain: not flat paint
        n_drops = int((0, 30, 60, 110)[g["excess_sebum"]] * scale * scale)
        drops = np.zeros((h, w), dtype=np.uint8)
        drops[sebum_rng.integers(0, h, n_drops), sebum_rng.integers(0, w, n_drops)] = 255
        drops = _dilate(drops, 2)
        drop_img = Image.fromarray(drops, mode="L")
        halo = _mask_to_alpha(Image.fromarray(_dilate(drops, 3), mode="L"), 5.0 * scale)
        _blend(img, np.minimum(halo * 2.2, 1.0) * 0.55, (250, 246, 214))
        _blend(img, _mask_to_alpha(drop_img, 1.0), (255, 255, 250))

    # ---- optics: lens vignette, slight softness, sensor noise
    r2 = _radial((w, h))
    vig = 1.0 - optics_rng.uniform(0.16, 0.26) * r2
    img *= vig
    pic = _to_picture(img).filter(ImageFilter.BoxBlur(0.5))
    out = np.asarray(pic, dtype=np.int16) + optics_rng.integers(-3, 4, (h, w, 1), dtype=np.int16)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), mode="RGB")


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
