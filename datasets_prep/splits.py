"""Splits: the unique-image table, the subject-wise test split, the leakage check and protocol rows.

The fourth step of ``python -m datasets_prep build``. AI Hub's Validation stays
``validation``; ``test`` is carved out of Training by whole subjects (:func:`carve_test_split`),
so that no subject's scalp is seen in two splits (:func:`subject_leaks` checks it). Under
protocol ``full`` every unique image goes to every symptom, labelled by its JSON value; under
``folder`` a symptom gets only the images of its own folders, at the folder's grade, as the
seed did (:func:`protocol_rows`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from datasets_prep.labels import VALUE_FIELDS
from scalp_core.aihub_names import ImageName, parse_folder_name
from scalp_core.symptoms import SymptomSpec

OUTPUT_SPLITS = ("train", "validation", "test")


def image_table(records: dict[str, dict]) -> pd.DataFrame:
    """One row per unique image, sorted by stem: the columns of ``images.parquet`` (docs/ARCHITECTURE.md).

    ``split`` is still AI Hub's (``train``/``validation``); :func:`split_by_subject` carves ``test``.
    """
    rows = []
    for stem in sorted(records):
        r = records[stem]
        name: ImageName = r["name"]
        row = {
            "image_id": name.image_id,
            "file_name": name.file_name,
            "subject": name.subject,
            "device": name.device,
            "timestamp_ms": name.timestamp_ms,
            "region_no": name.region_no,
            "location": name.location,
            "split": r["split"],
        }
        row.update({f: int(v) for f, v in zip(VALUE_FIELDS, r["values"], strict=True)})
        row["folders"] = r["folders"]
        row["conflict"] = r["conflict"]
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in VALUE_FIELDS + ("region_no",):
        frame[column] = frame[column].astype("int64")
    return frame


def split_by_subject(frame: pd.DataFrame, test_fraction: float, seed: int, warnings: list[str]) -> dict:
    """Move whole Training subjects of ``frame`` to ``test`` (in place); return the report's leakage section.

    Anything a reader of the report should know (a small test split, an empty split, subjects
    left in two splits) is appended to ``warnings``.
    """
    aihub_leaks = subject_leaks(frame)
    validation_subjects = set(frame.loc[frame["split"] == "validation", "subject"])
    train_counts = frame.loc[frame["split"] == "train", "subject"].value_counts().to_dict()
    test_subjects = carve_test_split(train_counts, test_fraction, seed, validation_subjects)
    frame.loc[(frame["split"] == "train") & frame["subject"].isin(test_subjects), "split"] = "test"
    test_share = len(frame[frame["split"] == "test"]) / max(1, sum(train_counts.values()))
    if test_fraction > 0 and test_share < test_fraction / 2:
        warnings.append(
            f"test split holds only {test_share:.1%} of Training (asked {test_fraction:.0%}): "
            "too few Training subjects are absent from Validation; "
            "a subject in both stays in train so that test shares none"
        )
    for split, folder in (("train", "Training"), ("validation", "Validation")):
        if not (frame["split"] == split).any():
            warnings.append(f"no usable {folder} images: the {split} split of every symptom is empty")
    leaks = subject_leaks(frame)
    if leaks["leak_count"]:
        warnings.append(
            f"{leaks['leak_count']} subjects appear in more than one split ({leaks['pairs']}); "
            "the test split shares none with train or validation"
        )
    return {
        "final": leaks,
        "aihub_training_vs_validation": aihub_leaks,
        "test_subjects": sorted(test_subjects),
    }


def carve_test_split(
    train_subjects: dict[str, int], fraction: float, seed: int, forbidden: set[str] = frozenset()
) -> set[str]:
    """Subjects moved from train to test: shuffled (seeded) whole subjects until ``fraction`` of the images.

    A subject that would overshoot the target by more than 25 % is passed over.

    ``train_subjects`` maps subject → image count. Subjects in ``forbidden`` (also in
    AI Hub's Validation) stay in train so that test shares no subject with either split.
    """
    if fraction <= 0 or not train_subjects:
        return set()
    total = sum(train_subjects.values())
    eligible = sorted(s for s in train_subjects if s not in forbidden)
    order = np.random.default_rng(seed).permutation(len(eligible))
    target = fraction * total
    chosen, taken = set(), 0
    for index in order:
        if taken >= target or len(chosen) >= len(train_subjects) - 1:
            break
        subject = eligible[index]
        if taken + train_subjects[subject] > target * 1.25:
            continue  # would overshoot by a lot; a smaller subject later in the order may fit
        chosen.add(subject)
        taken += train_subjects[subject]
    if not chosen and eligible and len(train_subjects) > 1:
        chosen.add(
            min(eligible, key=lambda s: (train_subjects[s], s))
        )  # every subject is large: take the smallest
    return chosen


def subject_leaks(frame) -> dict:
    """Subjects found in more than one split of ``frame`` (columns ``subject``, ``split``)."""
    by_subject = frame.groupby("subject")["split"].agg(lambda s: sorted(set(s)))
    leaking = {subject: splits for subject, splits in by_subject.items() if len(splits) > 1}
    pairs = Counter()
    for splits in leaking.values():
        for i, a in enumerate(splits):
            for b in splits[i + 1 :]:
                pairs[f"{a}/{b}"] += 1
    return {
        "leak_count": len(leaking),
        "pairs": dict(pairs),
        "subjects": {k: v for k, v in sorted(leaking.items())},
    }


def protocol_rows(split_frame, stems, spec: SymptomSpec, protocol: str, warnings: list[str]):
    """(stem, image_id, subject, grade) rows of one split for one symptom under the protocol."""
    rows = []
    for idx, row in split_frame.iterrows():
        if protocol == "full":
            rows.append((stems[idx], row["image_id"], row["subject"], int(row[spec.json_field])))
            continue
        grades = sorted(
            {
                f.grade
                for f in (parse_folder_name(name) for name in row["folders"])
                if f is not None and f.symptom == spec
            }
        )
        if not grades:
            continue
        if len(grades) > 1:
            warnings.append(
                f"{row['file_name']} sits in several {spec.ko} folders {grades}; kept grade {grades[-1]}"
            )
        rows.append((stems[idx], row["image_id"], row["subject"], grades[-1]))
    return rows
