"""Planning a simulated AI Hub download: which images exist, which folders hold them, what their labels say.

:func:`plan_generated` makes subjects up: sessions of 2–5 scalp regions, one scalp condition per
subject (:func:`synthetic.render.random_severities`) varying a little per region, and the folder
structure of the real download (``../shared/reference/SOURCES.md``): most subjects have images in
both Training and Validation (174 of the 179 Validation subjects are also in Training), a few sit
in one folder only, about 5 % of the names sit in both folders, and about 1 % of the images are
all-healthy. :func:`plan_from_tables` draws real subjects, with their real names, values and
folders, from label tables (:mod:`synthetic.label_tables`). :func:`misfile` then puts a small share
of the images into a folder that disagrees with their label JSON, as 1–3 % of the real folder
entries do. :mod:`synthetic.simulate` renders and writes the plan.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

from scalp_core.aihub_names import REGION_LOCATIONS, SOURCE_KIND, SPLITS, ImageName, folder_name
from scalp_core.symptoms import SYMPTOMS
from synthetic.label_tables import LabelTables, TableImage
from synthetic.render import random_severities

TRAINING, VALIDATION = SPLITS
# The real download's folder structure, from its full label tables (SOURCES.md): of 190 subjects,
# 11 sit only in Training and 5 only in Validation; 4,754 of 91,156 names sit in both folders.
TRAINING_ONLY_SUBJECTS = 11 / 190
VALIDATION_ONLY_SUBJECTS = 5 / 190
NAMES_IN_BOTH_FOLDERS = 4_754 / 91_156
# --labels-from without --subjects draws one real subject per this many images, so that even a
# miniature has enough subjects for a subject-wise train/validation/test split.
IMAGES_PER_DRAWN_SUBJECT = 8

# Device serials seen in real file names start with these; the rest is made up.
_DEVICE_PREFIXES = ("A2LEBJJDE", "A1LCAIHDH")
_EPOCH_2020_MS = (1577836800000, 1609459199999)


@dataclass(frozen=True)
class PlannedImage:
    """One unique image of the simulated download."""

    name: ImageName
    splits: tuple[str, ...]  # the AI Hub folders it sits in: ("Training",), ("Validation",) or both
    grades: tuple[int, ...]  # value_1..value_6, what every label JSON copy of it says
    seed: int  # its picture's render seed
    # (symptom index, folder grade) of the one folder copy that disagrees with the JSON, if any
    misfiled: tuple[int, int] | None = None

    @property
    def healthy(self) -> bool:
        return not any(self.grades)

    @property
    def split_label(self) -> str:
        """``Training``, ``Validation`` or ``Training+Validation``."""
        return "+".join(self.splits)

    def folders(self) -> list[tuple[int, int]]:
        """(symptom index, grade) of every symptom folder holding a copy, in each of its splits.

        The real rule: all-healthy images sit in every ``0.양호`` folder, any other image in the
        folder of each symptom k with value_k > 0 at grade value_k; a misfiled copy replaces (or,
        where value_k = 0, adds) the folder of its symptom.
        """
        if self.healthy:
            entries = [(k, 0) for k in range(len(self.grades))]
        else:
            entries = [(k, g) for k, g in enumerate(self.grades) if g > 0]
        if self.misfiled is not None:
            entries = [e for e in entries if e[0] != self.misfiled[0]] + [self.misfiled]
        return sorted(entries)

    def misfiled_folder(self) -> str:
        """The ``[원천]`` folder whose grade disagrees with the JSON, or ``""``."""
        if self.misfiled is None:
            return ""
        k, grade = self.misfiled
        return folder_name(SOURCE_KIND, SYMPTOMS[k], grade)


def _round_half_up(value: float) -> int:
    """Round as people do (2.5 -> 3); Python's round() goes to the even neighbour."""
    return int(np.floor(value + 0.5))


# --------------------------------------------------------------------------- made-up subjects


def _plan_subjects(images: int, rng: np.random.Generator) -> list[tuple[str, list[tuple[str, int, int]]]]:
    """Subjects as (id, [(device, timestamp ms, region no)]): 1–2 sessions × 2–5 regions each."""
    devices = []
    for i in range(6):
        suffix = "O" if i % 3 == 0 else str(int(rng.integers(0, 10)))
        devices.append(f"{_DEVICE_PREFIXES[i % 2]}{int(rng.integers(1, 1000)):05d}{suffix}")
    regions_all = sorted(REGION_LOCATIONS)
    sessions_per_subject: list[list[tuple[str, int, int]]] = []
    planned = 0
    while planned < images:
        device = devices[int(rng.integers(0, len(devices)))]
        shots = []
        for _ in range(int(rng.integers(1, 3))):
            ts = int(rng.integers(_EPOCH_2020_MS[0], _EPOCH_2020_MS[1] - 86_400_000))
            regions = sorted(rng.choice(regions_all, size=int(rng.integers(2, 6)), replace=False).tolist())
            for k, region in enumerate(regions):
                shots.append((device, ts + k * int(rng.integers(4000, 40000)), int(region)))
        shots = shots[: images - planned]
        sessions_per_subject.append(shots)
        planned += len(shots)
    # Real subject ids are 4 digits; fall back to 5 only for huge simulations.
    n = len(sessions_per_subject)
    width, top = (4, 9999) if n <= 9999 else (5, 99999)
    ids = sorted(rng.choice(np.arange(1, top + 1), size=n, replace=False).tolist())
    return [(f"{ids[i]:0{width}d}", shots) for i, shots in enumerate(sessions_per_subject)]


def _subject_roles(n: int, validation_fraction: float, rng: np.random.Generator) -> list[str]:
    """Per subject: ``Training`` or ``Validation`` (one folder only) or ``both`` (most, as in the real data)."""
    if validation_fraction <= 0:
        return [TRAINING] * n
    roles = ["both"] * n
    if n >= 2:
        order = [int(i) for i in rng.permutation(n)]
        n_training = max(1, _round_half_up(TRAINING_ONLY_SUBJECTS * n))
        n_validation = max(1, _round_half_up(VALIDATION_ONLY_SUBJECTS * n)) if n >= 3 else 0
        for i in order[:n_training]:
            roles[i] = TRAINING
        for i in order[n_training : n_training + n_validation]:
            roles[i] = VALIDATION
    return roles


def plan_generated(
    images: int, validation_fraction: float, healthy_fraction: float, rng: np.random.Generator
) -> list[PlannedImage]:
    """Made-up subjects with the real folder structure; ``validation_fraction`` of the images sit in Validation."""
    subjects = _plan_subjects(images, rng)
    roles = _subject_roles(len(subjects), validation_fraction, rng)
    drafts = []  # (role, name, grades, seed)
    for (subject, shots), role in zip(subjects, roles, strict=True):
        # A subject's regions share a scalp condition, with some variation per region.
        base = random_severities(rng)
        for device, ts, region in shots:
            grades = tuple(int(np.clip(base[s.key] + rng.choice([-1, 0, 0, 0, 1]), 0, 3)) for s in SYMPTOMS)
            name = ImageName(subject, device, ts, region, REGION_LOCATIONS[region])
            drafts.append((role, name, grades, int(rng.integers(0, 2**63 - 1))))

    # Images of subjects in both folders: some names sit in both, the others in one folder each,
    # Validation getting what brings its share of all images to validation_fraction.
    shared = [i for i, draft in enumerate(drafts) if draft[0] == "both"]
    n_both = min(len(shared), _round_half_up(NAMES_IN_BOTH_FOLDERS * images)) if validation_fraction > 0 else 0
    shuffled = [shared[int(i)] for i in rng.permutation(len(shared))]
    in_both, single = set(shuffled[:n_both]), shuffled[n_both:]
    validation_only = sum(draft[0] == VALIDATION for draft in drafts)
    training_elsewhere = TRAINING in roles or n_both > 0
    room = len(single) - (0 if training_elsewhere else 1)  # Training always keeps an image
    n_validation = min(room, max(0, _round_half_up(validation_fraction * images) - validation_only - n_both))
    if validation_fraction > 0 and validation_only + n_both + n_validation == 0 and room > 0:
        n_validation = 1
    to_validation = set(single[:n_validation])

    splits = []
    for i, (role, *_rest) in enumerate(drafts):
        if i in in_both:
            splits.append((TRAINING, VALIDATION))
        elif role == VALIDATION or i in to_validation:
            splits.append((VALIDATION,))
        else:
            splits.append((TRAINING,))

    # The all-healthy images: each folder gets its share (at least one image when it has two);
    # none sits in both folders, as in the real download.
    healthy: set[int] = set()
    for split in SPLITS:
        members = [i for i, s in enumerate(splits) if s == (split,)]
        n_healthy = _round_half_up(healthy_fraction * len(members))
        if healthy_fraction > 0 and len(members) >= 2:
            n_healthy = max(n_healthy, 1)
        healthy |= {members[int(j)] for j in rng.choice(len(members), size=n_healthy, replace=False)}
    plan = [
        PlannedImage(name, splits[i], (0,) * len(SYMPTOMS) if i in healthy else grades, seed)
        for i, (_, name, grades, seed) in enumerate(drafts)
    ]
    return sorted(plan, key=lambda im: im.name.stem)


# --------------------------------------------------------------------------- real subjects


def _allocate(total: int, capacity: np.ndarray, proportional: bool) -> np.ndarray:
    """Split ``total`` images between subjects holding ``capacity`` images: equally, or in proportion."""
    exact = total * capacity / capacity.sum() if proportional else np.full(len(capacity), total / len(capacity))
    counts = np.minimum(np.floor(exact).astype(int), capacity)
    by_remainder = sorted(range(len(capacity)), key=lambda i: (-(exact[i] - np.floor(exact[i])), i))
    while counts.sum() < total:  # hand out the rest one at a time, largest remainder first
        for i in by_remainder:
            if counts.sum() < total and counts[i] < capacity[i]:
                counts[i] += 1
    return counts


def _pick_sessions(images: list[TableImage], count: int, rng: np.random.Generator) -> list[TableImage]:
    """``count`` images of one subject, whole sessions (device + timestamp) at a time, in a seeded order."""
    if count >= len(images):
        return list(images)
    sessions: dict[tuple[str, int], list[TableImage]] = defaultdict(list)
    for image in images:
        sessions[(image.name.device, image.name.timestamp_ms)].append(image)
    keys = sorted(sessions)
    picked: list[TableImage] = []
    for index in rng.permutation(len(keys)):
        room = count - len(picked)
        if room <= 0:
            break
        session = sessions[keys[int(index)]]
        if len(session) > room:
            session = [session[int(j)] for j in sorted(rng.choice(len(session), size=room, replace=False))]
        picked += session
    return picked


def plan_from_tables(
    tables: LabelTables, images: int, subjects: int | None, rng: np.random.Generator
) -> list[PlannedImage]:
    """``images`` real images of ``subjects`` real subjects (default: one per 8 images), names and folders kept.

    Subjects are drawn with probability proportional to their size and give the same number of
    images each (whole sessions at a time), so that every real image is about equally likely to be
    drawn and the joint distribution of value_1..value_6 stays the real one; when every subject is
    drawn, each gives images in proportion to its size. A subject holding fewer images than its
    share comes whole, and the others make up the difference.
    """
    total = len(tables.images)
    if images > total:
        raise ValueError(f"--images {images} is more than the label tables hold ({total} unique images)")
    by_subject = tables.by_subject()
    names = list(by_subject)
    if subjects is None:
        subjects = min(len(names), max(1, _round_half_up(images / IMAGES_PER_DRAWN_SUBJECT)))
    if not 1 <= subjects <= min(len(names), images):
        raise ValueError(
            f"--subjects must be 1..{min(len(names), images)} (the tables hold {len(names)} subjects and "
            f"each drawn subject gives at least one of the {images} images), got {subjects}"
        )
    sizes = np.array([len(by_subject[s]) for s in names])
    order = [int(i) for i in rng.choice(len(names), size=len(names), replace=False, p=sizes / sizes.sum())]
    chosen = order[:subjects]
    while sizes[chosen].sum() < images:  # the drawn subjects are too small: draw more
        chosen.append(order[len(chosen)])
    counts = _allocate(images, sizes[chosen], proportional=len(chosen) == len(names))
    plan = []
    for index, count in zip(chosen, counts, strict=True):
        for image in _pick_sessions(by_subject[names[index]], int(count), rng):
            plan.append(PlannedImage(image.name, image.splits, image.grades, int(rng.integers(0, 2**63 - 1))))
    return sorted(plan, key=lambda im: im.name.stem)


# --------------------------------------------------------------------------- disagreements


def misfile(plan: list[PlannedImage], fraction: float, rng: np.random.Generator) -> list[PlannedImage]:
    """Put ``fraction`` of the images (not all-healthy ones) into one folder that disagrees with their JSON.

    The copy for a random symptom k goes to grade g != value_k (g in 1..3): a wrong grade where
    value_k > 0, an extra folder where value_k = 0. The JSON copies stay true, as in the real
    download, whose per-folder counts differ from the JSON values by 1–3 %.
    """
    candidates = [i for i, image in enumerate(plan) if not image.healthy]
    n = min(len(candidates), _round_half_up(fraction * len(plan)))
    result = list(plan)
    for c in sorted(int(j) for j in rng.choice(len(candidates), size=n, replace=False)):
        image = plan[candidates[c]]
        k = int(rng.integers(0, len(SYMPTOMS)))
        grade = int(rng.choice([g for g in (1, 2, 3) if g != image.grades[k]]))
        result[candidates[c]] = replace(image, misfiled=(k, grade))
    return result
