"""Splits: the unique-image table, the train/validation/test split of each protocol, the leakage check.

The fourth step of ``python -m datasets_prep build``. In the real download 174 of the 179
Validation subjects also appear in Training, and 4,754 names sit in both folders
(``../shared/reference/SOURCES.md``), so AI Hub's folders cannot give an honest split.
:func:`assign_splits` does, per protocol:

- ``full`` (honest): Training and Validation pooled (one row per unique image) and split by
  subject into train/validation/test, about 70/15/15 of the subjects, stratified on every
  (symptom, class) as far as the subjects allow and seeded (:mod:`datasets_prep.subjects`); no
  subject is in two splits, and ``test`` is the evaluation split;
- ``folder`` (seed-comparable): train is AI Hub Training, validation is AI Hub Validation (also the
  names in both folders) and is the evaluation split, as the seed had it, although most of its
  subjects were seen in training (the report says how many); test takes whole Training subjects
  that Validation does not hold, so that test shares no subject with either.

:func:`subject_leaks` lists subjects in more than one split. Under ``full`` every unique image goes
to every symptom, labelled by its JSON value; under ``folder`` a symptom gets only the images of
its own folders, at the folder's grade, as the seed did (:func:`protocol_rows`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from datasets_prep.discovery import FOLDER_OF_SPLIT
from datasets_prep.labels import VALUE_FIELDS
from datasets_prep.subjects import carve_subjects, subject_quotas
from scalp_core.aihub_names import ImageName, parse_folder_name
from scalp_core.symptoms import SymptomSpec, class_names, grade_to_class

OUTPUT_SPLITS = ("train", "validation", "test")
EVALUATION_SPLIT = {"full": "test", "folder": "validation"}
SPLIT_RULES = {
    "full": (
        "AI Hub Training and Validation pooled (unique images) and split by subject into train/validation/"
        "test (about {train:.0%}/{validation:.0%}/{test:.0%} of the subjects, stratified on every symptom grade, "
        "seeded); no subject is in two splits; evaluation split: test"
    ),
    "folder": (
        "train = AI Hub Training, validation = AI Hub Validation (the evaluation split, as the seed had it; "
        "names in both folders go to validation), test = whole Training subjects absent from Validation"
    ),
}


def original_bytes_splits(protocol: str) -> tuple[str, ...]:
    """The splits stored as the original file bytes: test, and the evaluation split of the protocol.

    Numbers are reported on these, so they must see a photo as serving does (decoded once from the
    original, resized once by the model's image processor). Train and validation of ``full`` stay
    resized: much smaller and faster to train on, and no reported figure is measured on them.
    """
    return tuple(split for split in OUTPUT_SPLITS if split in ("test", EVALUATION_SPLIT[protocol]))


def image_table(records: dict[str, dict]) -> pd.DataFrame:
    """One row per unique image, sorted by stem: the columns of ``images.parquet`` (docs/ARCHITECTURE.md).

    ``aihub_split`` is where the download holds it (``Training``, ``Validation`` or
    ``Training+Validation``); ``split`` is empty until :func:`assign_splits`.
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
            "split": "",
            "aihub_split": r["aihub_split"],
        }
        row.update({f: int(v) for f, v in zip(VALUE_FIELDS, r["values"], strict=True)})
        row["folders"] = r["folders"]
        row["conflict"] = r["conflict"]
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in VALUE_FIELDS + ("region_no",):
        frame[column] = frame[column].astype("int64")
    return frame


def subject_strata(frame: pd.DataFrame, labels: int) -> pd.DataFrame:
    """Subject × ``value_k=class`` image counts (class of label scheme ``labels``): what the split stratifies on."""
    columns = {}
    for field in VALUE_FIELDS:
        classes = frame[field].map(lambda grade: grade_to_class(int(grade), labels))
        for label in range(len(class_names(labels))):
            columns[f"{field}={label}"] = classes == label
    return pd.DataFrame(columns).groupby(frame["subject"].to_numpy()).sum().astype(int)


def assign_splits(
    frame: pd.DataFrame,
    protocol: str,
    labels: int,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
    warnings: list[str],
) -> dict:
    """Fill ``frame["split"]`` (in place) as ``protocol`` says; return the report's ``splits`` section.

    The split is stratified on the classes of label scheme ``labels`` (3 or 4) of all six symptoms.

    Anything a reader of the report should know (a split smaller than asked, an empty split,
    evaluation subjects seen in training) is appended to ``warnings``.
    """
    in_training = frame["aihub_split"].str.contains(FOLDER_OF_SPLIT["train"], regex=False)
    in_validation = frame["aihub_split"].str.contains(FOLDER_OF_SPLIT["validation"], regex=False)
    for present, folder in ((in_training, "Training"), (in_validation, "Validation")):
        if not present.any():
            warnings.append(
                f"no usable {folder} images: "
                + ("the full protocol split what there is by subject" if protocol == "full"
                   else f"the folder protocol's {'train' if folder == 'Training' else 'validation'} split is empty")
            )
    if protocol == "full":
        fractions = {"validation": validation_fraction, "test": test_fraction}
        strata = subject_strata(frame, labels)
        quotas = subject_quotas(len(strata), fractions)
        assignment = carve_subjects(strata, quotas, seed)
        frame["split"] = frame["subject"].map(assignment)
        asked = quotas
        rule = SPLIT_RULES["full"].format(train=1 - validation_fraction - test_fraction, **fractions)
    else:
        frame["split"] = np.where(in_validation, "validation", "train")
        training = frame[~in_validation]
        strata = subject_strata(training, labels)
        quotas = subject_quotas(len(strata), {"test": test_fraction})
        validation_subjects = set(frame.loc[in_validation, "subject"])
        assignment = carve_subjects(strata, quotas, seed, forbidden={"test": validation_subjects})
        test_subjects = {s for s, split in assignment.items() if split == "test"}
        frame.loc[~in_validation & frame["subject"].isin(test_subjects), "split"] = "test"
        asked = {"test": quotas["test"]}
        rule = SPLIT_RULES["folder"]
        if len(test_subjects) < quotas["test"]:
            warnings.append(
                f"test holds {len(test_subjects)} subjects, not the {quotas['test']} asked "
                f"({test_fraction:.0%} of {len(strata)} Training subjects): only "
                f"{len(set(strata.index) - validation_subjects)} Training subjects are absent from AI Hub "
                "Validation, and a subject in both stays in train so that test shares none"
            )

    subjects = {split: set(frame.loc[frame["split"] == split, "subject"]) for split in OUTPUT_SPLITS}
    for split in dict.fromkeys(("train", *asked)):
        if not subjects[split] and (split == "train" or asked[split]):
            warnings.append(f"the {split} split is empty: {frame['subject'].nunique()} subjects in all")
    evaluation = EVALUATION_SPLIT[protocol]
    seen = len(subjects[evaluation] & subjects["train"])
    if seen:
        warnings.append(
            f"{seen} of the {len(subjects[evaluation])} subjects of the evaluation split ({evaluation}, AI Hub "
            "Validation) also have images in train, as in the seed's evaluation: its numbers are not a measure "
            "on people the models have never seen (the full protocol's are)"
        )
    leaks = subject_leaks(frame)
    if protocol == "full" and leaks["leak_count"]:  # cannot happen: subjects are placed whole
        warnings.append(f"{leaks['leak_count']} subjects appear in more than one split ({leaks['pairs']})")
    return {
        "rule": rule,
        "subjects": {split: len(subjects[split]) for split in OUTPUT_SPLITS},
        "images": {split: int((frame["split"] == split).sum()) for split in OUTPUT_SPLITS},
        "asked_subjects": asked,
        "evaluation_split": evaluation,
        "evaluation_subjects": len(subjects[evaluation]),
        "evaluation_subjects_seen_in_training": seen,
        "leakage": {
            "final": leaks,
            "aihub_training_vs_validation": aihub_folder_overlap(frame),
            "test_subjects": sorted(subjects["test"]),
        },
    }


def aihub_folder_overlap(frame: pd.DataFrame) -> dict:
    """:func:`subject_leaks` between AI Hub's Training and Validation folders, plus the names in both."""
    by_folder = frame[["subject"]].assign(split=frame["aihub_split"].str.split("+")).explode("split")
    overlap = subject_leaks(by_folder)
    overlap["names_in_both"] = int(frame["aihub_split"].str.contains("+", regex=False).sum())
    return overlap


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
