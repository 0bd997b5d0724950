"""The synthetic scalp renderer: deterministic, the right shape, and every symptom visibly
grows with its grade (measured with simple image statistics, averaged over a few seeds)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from scalp_core.symptoms import SYMPTOM_KEYS
from synthetic.render import (
    ALL_HEALTHY,
    grade_probabilities,
    random_severities,
    reference_image,
    render_scalp,
)

SEEDS = (11, 12, 13)
SMALL = (320, 240)  # statistics hold at half size and it is 4× faster


def _render(key: str, grade: int, seed: int, size=SMALL) -> np.ndarray:
    severities = dict(ALL_HEALTHY, **{key: grade})
    return np.asarray(render_scalp(severities, np.random.default_rng(seed), size), dtype=np.float32)


def _mean_stat(key: str, stat) -> list[float]:
    return [float(np.mean([stat(_render(key, grade, seed)) for seed in SEEDS])) for grade in range(4)]


def _skin(a: np.ndarray) -> np.ndarray:
    """Pixels that are skin, not hair: a boolean mask on brightness."""
    return a.mean(axis=2) > 95


def _redness(a: np.ndarray) -> float:
    skin = _skin(a)
    return float((a[..., 0] - (a[..., 1] + a[..., 2]) / 2)[skin].mean())


def _yellowness(a: np.ndarray) -> float:
    skin = _skin(a)
    return float(((a[..., 0] + a[..., 1]) / 2 - a[..., 2])[skin].mean())


def _added_white(key: str) -> list[float]:
    """Share of pixels a symptom turned whitish (flakes, specks, glints), per grade.

    The renderer draws each layer from its own stream, so the same seed at grade 0 is
    the same scalp without the symptom: compare against it.
    """
    values = []
    for grade in range(4):
        fractions = []
        for seed in SEEDS:
            base, a = _render(key, 0, seed), _render(key, grade, seed)
            whitish = a.min(axis=2) > 0.8 * a.max(axis=2)
            fractions.append(float(((a.mean(axis=2) - base.mean(axis=2) > 25) & whitish).mean()))
        values.append(float(np.mean(fractions)))
    return values


def _dark_fraction(a: np.ndarray) -> float:
    return float((a.mean(axis=2) < 75).mean())


def _pustule_fraction(a: np.ndarray) -> float:
    """Saturated red rings or yellow-white heads, which healthy skin never shows."""
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    red_ring = (r - g > 45) & (r - b > 35)
    yellow_head = (r > 200) & (g > 190) & (r - b > 40)
    return float((red_ring | yellow_head).mean())


def _strictly_increasing(values: list[float]) -> bool:
    return all(b > a for a, b in zip(values, values[1:]))


def test_size_mode_and_determinism():
    a = render_scalp({"dandruff": 2, "hair_loss": 1}, np.random.default_rng(7))
    b = render_scalp({"dandruff": 2, "hair_loss": 1}, np.random.default_rng(7))
    c = render_scalp({"dandruff": 2, "hair_loss": 1}, np.random.default_rng(8))
    assert a.size == (640, 480) and a.mode == "RGB"
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()
    assert render_scalp({}, np.random.default_rng(1), size=(200, 150)).size == (200, 150)


def test_looks_like_a_microscope_scalp_photo():
    """Pale skin dominates, dark hair covers a real but minor share, like the real photos."""
    a = _render("hair_loss", 0, seed=3, size=(640, 480))
    lum = a.mean(axis=2)
    assert 120 < float(np.median(lum)) < 200
    assert 0.04 < _dark_fraction(a) < 0.35
    # soft lighting falloff: the centre is brighter than the corners
    centre = lum[200:280, 260:380].mean()
    edges = (slice(0, 40), slice(-40, None))
    corners = np.mean([lum[ys, xs].mean() for ys in edges for xs in edges])
    assert centre > corners


@pytest.mark.parametrize(
    "key,stat",
    [
        ("interfollicular_erythema", _redness),
        ("excess_sebum", _yellowness),
        ("follicular_erythema_pustule", _pustule_fraction),
    ],
)
def test_symptom_statistic_grows_with_grade(key, stat):
    values = _mean_stat(key, stat)
    assert _strictly_increasing(values), f"{key}: {values}"


@pytest.mark.parametrize("key", ["fine_scale", "dandruff", "excess_sebum"])
def test_white_scale_flakes_and_oily_glints_grow_with_grade(key):
    values = _added_white(key)
    assert values[0] == 0.0 and _strictly_increasing(values), f"{key}: {values}"


def test_a_symptom_changes_nothing_but_itself():
    """Same rng state, another symptom's grade: the hair layout stays put (only hair_loss moves hair)."""
    healthy = _render("dandruff", 0, seed=4)
    red = _render("interfollicular_erythema", 3, seed=4)
    hair_healthy = healthy.mean(axis=2) < 70
    hair_red = red.mean(axis=2) < 70
    assert (hair_healthy == hair_red).mean() > 0.99


@pytest.mark.parametrize("key", [key for key in SYMPTOM_KEYS if key != "hair_loss"])
def test_no_symptom_but_hair_loss_adds_hair(key):
    """Each layer draws from its own stream: a severe symptom may cover hair, but never adds any."""
    hair_healthy = _render(key, 0, seed=4).mean(axis=2) < 70
    hair_severe = _render(key, 3, seed=4).mean(axis=2) < 70
    assert (hair_severe & ~hair_healthy).mean() < 0.005


@pytest.mark.parametrize("size", [SMALL, (160, 120)])
def test_exactly_eight_seeds_are_drawn_from_the_callers_generator(size):
    """The docstring's promise, at a direct size and at one drawn larger and shrunk."""
    rng, twin = np.random.default_rng(9), np.random.default_rng(9)
    render_scalp({"dandruff": 3, "excess_sebum": 2, "hair_loss": 1}, rng, size)
    twin.integers(0, 2**63 - 1, size=8)
    assert rng.integers(0, 2**62) == twin.integers(0, 2**62)


def test_hair_loss_removes_dark_hair():
    values = _mean_stat("hair_loss", _dark_fraction)
    assert all(b < a for a, b in zip(values, values[1:])), values
    assert values[3] < 0.5 * values[0]


def test_hair_thinning_survives_small_sizes():
    """Tiny renders are drawn larger and shrunk, so thin 탈모 hairs stay thinner than healthy ones."""
    tiny = (160, 120)

    values = [np.mean([_dark_fraction(_render("hair_loss", g, seed, size=tiny)) for seed in SEEDS]) for g in range(4)]
    assert all(b < a for a, b in zip(values, values[1:])), values
    assert values[3] < 0.25 * values[0], values
    image = render_scalp({"hair_loss": 3}, np.random.default_rng(2), size=tiny)
    assert image.size == tiny
    assert image.tobytes() == render_scalp({"hair_loss": 3}, np.random.default_rng(2), size=tiny).tobytes()


def test_bad_severities_are_refused_clearly():
    with pytest.raises(ValueError, match="0..3"):
        render_scalp({"hair_loss": 4}, np.random.default_rng(0))
    with pytest.raises(KeyError, match="unknown symptom"):
        render_scalp({"baldness": 1}, np.random.default_rng(0))
    # Korean names and JSON fields are accepted too
    a = render_scalp({"탈모": 2}, np.random.default_rng(0), size=SMALL)
    b = render_scalp({"value_6": 2}, np.random.default_rng(0), size=SMALL)
    assert a.tobytes() == b.tobytes()


def test_random_severities_cover_every_grade_and_follow_real_skew():
    rng = np.random.default_rng(0)
    draws = [random_severities(rng) for _ in range(2000)]
    for key in SYMPTOM_KEYS:
        counts = np.bincount([d[key] for d in draws], minlength=4)
        assert counts.min() >= 0.05 * len(draws), (key, counts)  # minority grades are learnable
    # the real skew survives: 탈모 is mostly 양호, 피지과다 mostly not
    assert np.mean([d["hair_loss"] == 0 for d in draws]) > 0.35
    assert np.mean([d["excess_sebum"] == 0 for d in draws]) < 0.3
    probs = grade_probabilities(0.5)
    assert all(abs(p.sum() - 1) < 1e-9 for p in probs.values())
    assert random_severities(np.random.default_rng(5)) == random_severities(np.random.default_rng(5))


def test_reference_image_per_symptom_and_grade():
    healthy = reference_image("dandruff", 0)
    severe = reference_image("비듬", 3)
    assert isinstance(severe, Image.Image) and severe.size == (640, 480)
    assert healthy.tobytes() != severe.tobytes()
    assert reference_image("dandruff", 3).tobytes() == severe.tobytes()
    with pytest.raises(ValueError, match="0..3"):
        reference_image("dandruff", 5)


def test_rendering_is_fast_enough():
    """300 images must simulate in well under a minute: keep one render near 100 ms."""
    import time

    rng = np.random.default_rng(0)
    render_scalp(random_severities(rng), rng)
    start = time.process_time()
    for _ in range(5):
        render_scalp(random_severities(rng), rng)
    per_image = (time.process_time() - start) / 5
    assert per_image < 0.3, f"{per_image * 1000:.0f} ms per image"
