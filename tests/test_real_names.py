"""The build's readers and split against real AI Hub names and labels, read in place from ../shared/reference.

The label JSON comes from justdoit93/hair_loss; the 18,513 + 5,288 stems are the
탈모 (hair loss) folder lists of kimminje0ng/Skin-Analyzer; the six values of all 91,156
names are winston1214/ScalpVision's label tables. Nothing is copied: a test checks that no
file of the project holds the tables.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datasets_prep.labels import VALUE_FIELDS, read_label_json
from datasets_prep.splits import assign_splits, subject_leaks, subject_strata
from datasets_prep.subjects import carve_subjects, subject_quotas
from scalp_core.aihub_names import REGION_LOCATIONS, parse_image_stem
from synthetic.label_tables import read_label_tables

pytestmark = pytest.mark.shared

SKIN_ANALYZER = "kimminje0ng__Skin-Analyzer"
SCALPVISION = "winston1214__ScalpVision"
REPO_ROOT = Path(__file__).resolve().parents[1]


def _stems(shared_reference, name):
    with open(shared_reference / SKIN_ANALYZER / name, encoding="utf-8", newline="") as f:
        return [(row["uid"], int(row["disease_code"])) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def real_stems(shared_reference):
    return {
        "train": _stems(shared_reference, "alopecia_train.csv"),
        "validation": _stems(shared_reference, "alopecia_val_includeLevel.csv"),
    }


def test_real_label_json_is_read(shared_reference):
    path = next((shared_reference / "justdoit93__hair_loss").glob("label_example_*.json"))
    file_name = path.name.removeprefix("label_example_")
    record = read_label_json(path.read_bytes(), file_name)
    assert record.stem == "0013_A2LEBJJDE00060O_1606386172558_2_TH"
    assert record.image_id == "0013_A2LEBJJDE00060O_1606386172558_2"
    assert record.image_file_name == "0013_A2LEBJJDE00060O_1606386172558_2_TH.jpg"
    assert record.values == (0, 3, 2, 0, 1, 0)
    assert record.warnings == ()
    # The same content under another file name is flagged: the JSON names its own image.
    other = read_label_json(path.read_bytes(), "0013_A2LEBJJDE00060O_1606386172559_2_TH.json")
    assert any("image_file_name" in w for w in other.warnings)


def test_every_real_stem_parses_with_consistent_fields(real_stems):
    all_rows = real_stems["train"] + real_stems["validation"]
    assert (len(real_stems["train"]), len(real_stems["validation"])) == (18_513, 5_288)
    names = [parse_image_stem(stem) for stem, _ in all_rows]
    unparsed = [stem for (stem, _), name in zip(all_rows, names, strict=False) if name is None]
    assert unparsed == []
    # Region number and location code pair up on every row.
    assert all(REGION_LOCATIONS[n.region_no] == n.location for n in names)
    assert {n.region_no for n in names} <= {2, 3, 4, 5, 6}
    assert set(Counter(n.location for n in names)) == {"TH", "LH", "RH", "BH"}
    # Round trip: stem -> fields -> stem.
    assert all(n.stem == stem for (stem, _), n in zip(all_rows, names, strict=False))
    # A few real stems carry a 9-digit timestamp (3 distinct ones, 7 stems, all subject 8781).
    short = [n for n in names if len(str(n.timestamp_ms)) != 13]
    assert {len(str(n.timestamp_ms)) for n in short} == {9}
    assert (
        len(short) == 7
        and len({n.timestamp_ms for n in short}) == 3
        and {n.subject for n in short} == {"8781"}
    )
    subjects = {split: {parse_image_stem(s).subject for s, _ in rows} for split, rows in real_stems.items()}
    assert len(subjects["train"]) == 185 and len(subjects["validation"]) == 161
    assert all(len(s) == 4 for s in subjects["train"] | subjects["validation"])
    assert len({n.device for n in names}) > 10


def test_real_class_counts_match_the_format_file(real_stems):
    assert Counter(code for _, code in real_stems["train"]) == {0: 534, 1: 13_346, 2: 3_797, 3: 836}
    assert Counter(code for _, code in real_stems["validation"]) == {0: 152, 1: 3_813, 2: 1_084, 3: 239}


def test_real_training_vs_validation_subjects_overlap_and_the_build_reports_it(real_stems):
    # The "subject" field is shared by AI Hub's own Training and Validation: the build must
    # report that rather than assume a subject-disjoint download.
    frame = pd.DataFrame(
        [
            {"subject": parse_image_stem(s).subject, "split": split}
            for split, rows in real_stems.items()
            for s, _ in rows
        ]
    )
    leaks = subject_leaks(frame)
    assert leaks["leak_count"] == 156
    assert leaks["pairs"] == {"train/validation": 156}


def test_subject_wise_test_split_of_real_train_stems_has_no_leakage(real_stems):
    frame = pd.DataFrame(
        [{"subject": parse_image_stem(s).subject, "value_6": code} for s, code in real_stems["train"]]
    )
    strata = pd.get_dummies(frame["value_6"]).groupby(frame["subject"]).sum()
    quotas = subject_quotas(len(strata), {"test": 0.1})
    test_subjects = {s for s, split in carve_subjects(strata, quotas, seed=0).items() if split == "test"}
    again = {s for s, split in carve_subjects(strata, quotas, seed=0).items() if split == "test"}
    assert test_subjects == again and len(test_subjects) == quotas["test"] == 19  # deterministic
    frame["split"] = np.where(frame["subject"].isin(test_subjects), "test", "train")
    assert subject_leaks(frame)["leak_count"] == 0
    assert set(frame.loc[frame["split"] == "test", "value_6"]) == {0, 1, 2, 3}  # every grade reaches test
    # Keeping the validation subjects out of test leaves a test split that shares no subject with it:
    # only the 24 Training subjects absent from the 탈모 Validation folders may go there.
    validation_subjects = {parse_image_stem(s).subject for s, _ in real_stems["validation"]}
    carved = carve_subjects(strata, quotas, seed=0, forbidden={"test": validation_subjects})
    clean = {s for s, split in carved.items() if split == "test"}
    assert len(clean) == quotas["test"] and not clean & validation_subjects


@pytest.fixture(scope="module")
def real_tables(shared_reference):
    folder = shared_reference / SCALPVISION
    return read_label_tables([str(folder / n) for n in ("train_label.csv", "val_label.csv", "test_label.csv")])


@pytest.fixture(scope="module")
def real_frame(real_tables):
    """The build's unique-image table, as far as labels go: subject, AI Hub folders, six values."""
    rows = [{"subject": im.name.subject, "aihub_split": "+".join(im.splits), "file_name": im.name.file_name,
             **dict(zip(VALUE_FIELDS, im.grades, strict=True))} for im in real_tables.images]
    return pd.DataFrame(rows)


def test_the_real_label_tables_are_read_as_the_sources_describe(real_tables, real_frame):
    """The facts of ../shared/reference/SOURCES.md, from the tables as the generator reads them."""
    assert len(real_tables.images) == 91_156 and real_frame["subject"].nunique() == 190
    assert Counter(real_frame["aihub_split"]) == {"Training": 67_588, "Validation": 18_814,
                                                  "Training+Validation": 4_754}
    training = set(real_frame.loc[real_frame["aihub_split"].str.contains("Training"), "subject"])
    validation = set(real_frame.loc[real_frame["aihub_split"].str.contains("Validation"), "subject"])
    assert (len(training), len(validation), len(training & validation)) == (185, 179, 174)
    assert round(100 * (real_frame[list(VALUE_FIELDS)].sum(axis=1) == 0).mean(), 2) == 0.75
    assert Counter(real_frame["value_1"]) == {0: 75_452, 1: 5_702, 2: 7_062, 3: 2_940}
    assert [t["rows"] for t in real_tables.sources] == [50_639, 21_703, 23_568]


def test_full_protocol_split_of_the_real_subjects(real_frame):
    frame = real_frame.copy()
    warnings: list[str] = []
    section = assign_splits(frame, "full", 3, 0.15, 0.15, seed=0, warnings=warnings)
    assert section["subjects"] == {"train": 132, "validation": 29, "test": 29}
    assert section["leakage"]["final"]["leak_count"] == 0 and warnings == []
    assert section["evaluation_split"] == "test" and section["evaluation_subjects_seen_in_training"] == 0
    assert section["leakage"]["aihub_training_vs_validation"]["leak_count"] == 174
    # Stratified: every class of every symptom in every split, each split near its share of it.
    strata = subject_strata(frame, 3)
    per_split = strata.groupby(frame.groupby("subject")["split"].first().loc[strata.index]).sum()
    shares = per_split / per_split.sum()
    assert (per_split > 0).all().all()
    assert shares.loc[["validation", "test"]].to_numpy().min() >= 0.08
    assert shares.loc[["validation", "test"]].to_numpy().max() <= 0.25
    again = real_frame.copy()
    assign_splits(again, "full", 3, 0.15, 0.15, seed=0, warnings=[])
    assert (again["split"] == frame["split"]).all()  # deterministic


def test_folder_protocol_split_of_the_real_subjects(real_frame):
    frame = real_frame.copy()
    warnings: list[str] = []
    section = assign_splits(frame, "folder", 3, 0.15, 0.15, seed=0, warnings=warnings)
    # AI Hub Validation is the evaluation split, all 23,568 of its names; 174 of its 179 subjects
    # are also in Training, and 173 keep images in train (one subject's Training names all sit in
    # both folders, so they went to validation). Test can take only the 11 Training subjects that
    # Validation does not hold.
    assert section["images"]["validation"] == 23_568
    assert section["evaluation_split"] == "validation"
    assert (section["evaluation_subjects"], section["evaluation_subjects_seen_in_training"]) == (179, 173)
    by_subject = real_frame.groupby("subject")["aihub_split"].agg(set)
    assert sum(s == {"Training+Validation", "Validation"} for s in by_subject) == 1
    assert section["subjects"]["test"] == 11
    assert any("only 11 Training subjects are absent from AI Hub Validation" in w for w in warnings)
    test = set(frame.loc[frame["split"] == "test", "subject"])
    assert not test & set(frame.loc[frame["split"] != "test", "subject"])


def test_the_tables_never_ship_with_the_project(real_tables):
    """No file of the project holds more than a handful of the real file names (the tables stay in ../shared)."""
    real = {im.name.stem for im in real_tables.images}
    stem_pattern = re.compile(r"\d{4}_[A-Za-z0-9]+_\d+_\d_(?:TH|LH|RH|BH)")
    skip = {".git", ".venv", "node_modules", "__pycache__"}
    for path in REPO_ROOT.rglob("*"):
        if not path.is_file() or skip & set(path.relative_to(REPO_ROOT).parts) or path.stat().st_size > 50_000_000:
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        found = set(stem_pattern.findall(text)) & real
        assert len(found) < 20, f"{path.relative_to(REPO_ROOT)} holds {len(found)} real AI Hub file names"
