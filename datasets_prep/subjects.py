"""Carving whole subjects into splits: grouped, stratified as far as the subjects allow, seeded.

Used by :mod:`datasets_prep.splits` (the fourth step of ``python -m datasets_prep build``). One
subject's photos are alike (one scalp, the same regions session after session), so a model that
trained on a subject finds its other photos easy: every split takes whole subjects only.
:func:`subject_quotas` says how many subjects each split gets; :func:`carve_subjects` chooses
them. First a greedy pass of iterative stratification (Sechidis, Tsoumakas and Vlahavas, 2011)
with subjects as the items and every (symptom, class) as a label: the label held by the fewest
unplaced subjects goes first, and each of its subjects goes to a split that does not hold that
label yet, else to the split furthest below its share of that label's images. Then swaps of two
subjects between splits, while a swap lets a class reach a split it missed or brings the class
mix of the splits closer to the whole. So every class reaches every split where the subjects
allow it. Subjects listed in ``forbidden[split]`` never go to that split. This is written by hand
because scikit-learn's ``StratifiedGroupKFold`` stratifies one label into folds of equal size,
and here there are 18 labels per image (six symptoms × three classes) and splits of 70/15/15.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd

# Swapping subjects between splits costs about n² label comparisons per pass: worth it for the
# real download (190 subjects) and miniatures, where a few subjects decide whether a class reaches
# every split; with thousands of subjects the greedy pass alone already reaches every split.
SWAP_SEARCH_MAX_SUBJECTS = 1000


def _round_half_up(value: float) -> int:
    """Round as people do (0.5 -> 1); Python's round() goes to the even neighbour."""
    return int(np.floor(value + 0.5))


def subject_quotas(n_subjects: int, fractions: Mapping[str, float], rest: str = "train") -> dict[str, int]:
    """Subjects per split: ``rest`` first, then each of ``fractions`` (its share of the subjects, half up).

    With enough subjects every split asked for gets at least one, and ``rest`` always keeps one.
    """
    quotas = {split: _round_half_up(fraction * n_subjects) for split, fraction in fractions.items()}
    if n_subjects > len(fractions):
        quotas = {split: max(1, n) if fractions[split] > 0 else n for split, n in quotas.items()}
    while quotas and sum(quotas.values()) > max(0, n_subjects - 1):
        largest = max(quotas, key=lambda split: (quotas[split], split))
        quotas[largest] -= 1
    return {rest: n_subjects - sum(quotas.values()), **quotas}


def carve_subjects(
    strata: pd.DataFrame,
    quotas: Mapping[str, int],
    seed: int,
    forbidden: Mapping[str, Collection[str]] | None = None,
    tries: int = 16,
) -> dict[str, str]:
    """Subject -> split. ``strata``: one row per subject, one column per label, values = image counts.

    ``quotas`` (from :func:`subject_quotas`) must add up to the number of subjects; its first split
    takes what the others cannot (it may not be forbidden). A split asked for more subjects than
    it may take gives the rest to the first split. The greedy pass runs ``tries`` times in seeded
    orders and the best is kept: the fewest (label, split) pairs left without a subject where the
    subjects allowed one, then the class mix closest to the whole; swaps then improve it the same
    way (up to :data:`SWAP_SEARCH_MAX_SUBJECTS` subjects). The same data and seed give the same
    answer.
    """
    forbidden = dict(forbidden or {})
    splits = list(quotas)
    subjects = sorted(str(s) for s in strata.index)
    if sum(quotas.values()) != len(subjects):
        raise ValueError(f"quotas {dict(quotas)} add up to {sum(quotas.values())}, not {len(subjects)} subjects")
    if splits and splits[0] in forbidden:
        raise ValueError(f"the first split ({splits[0]}) takes every subject the others cannot; it cannot forbid any")
    counts = strata.set_axis(strata.index.astype(str)).loc[subjects].to_numpy(dtype=float)
    banned = np.zeros((len(subjects), len(splits)), dtype=bool)
    for split, members in forbidden.items():
        banned[:, splits.index(split)] = np.isin(subjects, [str(m) for m in members])
    capacity = np.array([quotas[s] for s in splits])
    for j in range(1, len(splits)):  # a split cannot take more subjects than are allowed into it
        excess = max(0, capacity[j] - int((~banned[:, j]).sum()))
        capacity[j] -= excess
        capacity[0] += excess
    if not subjects:
        return {}

    # A label held by k subjects can reach min(k, splits with places) splits.
    reachable = np.minimum((counts > 0).sum(axis=0), int((capacity > 0).sum()))
    target = np.outer(capacity / len(subjects), counts.sum(axis=0))
    best, best_score = None, None
    for attempt in range(max(1, tries)):
        placed = _carve_once(counts, capacity, banned, np.random.default_rng([seed, attempt]))
        holders = np.stack([(counts[placed == j] > 0).sum(axis=0) for j in range(len(splits))])
        held = np.stack([counts[placed == j].sum(axis=0) for j in range(len(splits))])
        missing = int((reachable - (holders > 0).sum(axis=0)).sum())
        score = (missing, float(np.abs(held - target).sum()))
        if best_score is None or score < best_score:
            best, best_score = placed, score
    if len(subjects) <= SWAP_SEARCH_MAX_SUBJECTS:
        best = _improve_by_swaps(best, counts, banned, reachable, target)
    return {subject: splits[j] for subject, j in zip(subjects, best, strict=True)}


def _carve_once(counts: np.ndarray, quota: np.ndarray, banned: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One greedy pass of iterative stratification; returns the split index of every subject."""
    n, n_splits = banned.shape
    has = counts > 0
    capacity = quota.copy()
    wanted = np.outer(quota / n, counts.sum(axis=0))  # images of each label each split should hold
    held = np.zeros_like(wanted)
    holders = np.zeros(wanted.shape, dtype=int)  # subjects of each label in each split
    placed = np.full(n, -1)
    rank = np.empty(n, dtype=int)
    rank[rng.permutation(n)] = np.arange(n)  # the seeded order of a label's subjects

    waiting = banned.sum(axis=0)  # unplaced subjects banned from each split

    def room_for_the_banned(i: int, j: int) -> bool:
        # After placing subject i in split j, the unplaced subjects banned from each split must
        # still fit into the other splits' remaining places.
        left = capacity.copy()
        left[j] -= 1
        still_waiting = waiting - banned[i]
        return all(still_waiting[x] <= left.sum() - left[x] for x in range(1, n_splits))

    def place(i: int, label: int | None) -> None:
        open_ = [j for j in range(n_splits) if capacity[j] > 0 and not banned[i, j]]
        fitting = [j for j in open_ if room_for_the_banned(i, j)] or open_ or [0]  # else the first overflows
        if label is None:
            key = {j: (capacity[j], rng.random()) for j in fitting}
        else:
            key = {j: (holders[j, label] == 0, wanted[j, label] - held[j, label], capacity[j], rng.random())
                   for j in fitting}
        j = max(fitting, key=key.__getitem__)
        placed[i] = j
        capacity[j] -= 1
        held[j] += counts[i]
        holders[j] += has[i]
        waiting[:] -= banned[i]

    while (placed < 0).any():
        unplaced_holders = (has & (placed < 0)[:, None]).sum(axis=0)
        live = np.flatnonzero(unplaced_holders > 0)
        if live.size == 0:  # subjects without any image left: spread them by the places left
            for i in sorted(np.flatnonzero(placed < 0), key=rank.__getitem__):
                place(int(i), None)
            break
        label = int(live[np.argmin(unplaced_holders[live])])
        for i in sorted(np.flatnonzero((placed < 0) & has[:, label]), key=rank.__getitem__):
            place(int(i), label)
    return placed



def _improve_by_swaps(
    placed: np.ndarray, counts: np.ndarray, banned: np.ndarray, reachable: np.ndarray, target: np.ndarray,
    max_passes: int = 50,
) -> np.ndarray:
    """Swap two subjects of different splits while that lowers (labels missing from splits, class-mix error).

    Quotas stay as they are, banned places stay banned. Each pass tries, for every subject, the
    best partner in every other split; it stops when a pass changes nothing.
    """
    placed = placed.copy()
    n_splits = banned.shape[1]
    has = (counts > 0).astype(int)
    holders = np.stack([has[placed == j].sum(axis=0) for j in range(n_splits)])
    held = np.stack([counts[placed == j].sum(axis=0) for j in range(n_splits)])

    def missing_of(present):
        return (reachable - np.minimum(present, reachable)).sum(axis=-1)

    for _ in range(max_passes):
        changed = False
        for i in range(len(placed)):
            a = placed[i]
            for b in range(n_splits):
                partners = np.flatnonzero((placed == b) & ~banned[:, a]) if b != a and not banned[i, b] else []
                if len(partners) == 0:
                    continue
                present = (holders > 0).sum(axis=0)
                base = present - (holders[a] > 0) - (holders[b] > 0)
                after_a = holders[a] - has[i] + has[partners]
                after_b = holders[b] + has[i] - has[partners]
                missing = missing_of(base + (after_a > 0) + (after_b > 0))
                error_now = np.abs(held[a] - target[a]).sum() + np.abs(held[b] - target[b]).sum()
                error = (np.abs(held[a] - counts[i] + counts[partners] - target[a]).sum(axis=1)
                         + np.abs(held[b] + counts[i] - counts[partners] - target[b]).sum(axis=1))
                best = int(np.lexsort((error, missing))[0])
                if (missing[best], error[best]) < (missing_of(present), error_now - 1e-9):
                    j = partners[best]
                    placed[i], placed[j] = b, a
                    holders[a] += has[j] - has[i]
                    holders[b] += has[i] - has[j]
                    held[a] += counts[j] - counts[i]
                    held[b] += counts[i] - counts[j]
                    a = b
                    changed = True
        if not changed:
            break
    return placed
