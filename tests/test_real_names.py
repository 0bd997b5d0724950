"""The build's readers against real AI Hub names and labels, read in place from ../shared/reference.

The label JSON comes from justdoit93/hair_loss; the 18,513 + 5,288 stems are the
탈모 (hair loss) folder lists of kimminje0ng/Skin-Analyzer. Nothing is copied.
"""

from __future__ import annotations

import csv
from collections import Counter

import pandas as pd
import pytest

from datasets_prep.labels import read_label_json
from datasets_prep.splits import carve_test_split, subject_leaks
from scalp_core.aihub_names import REGION_LOCATIONS, parse_image_stem

pytestmark = pytest.mark.shared

SKIN_ANALYZER = "kimminje0ng__Skin-Analyzer"


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
        [{"subject": parse_image_stem(s).subject, "split": "train"} for s, _ in real_stems["train"]]
    )
    counts = frame["subject"].value_counts().to_dict()
    test_subjects = carve_test_split(counts, 0.1, seed=0)
    again = carve_test_split(counts, 0.1, seed=0)
    assert test_subjects == again  # deterministic
    frame.loc[frame["subject"].isin(test_subjects), "split"] = "test"
    share = (frame["split"] == "test").mean()
    assert 0.05 <= share <= 0.125, share
    assert subject_leaks(frame)["leak_count"] == 0
    # Keeping the validation subjects out of test leaves a test split that shares no subject with it.
    validation_subjects = {parse_image_stem(s).subject for s, _ in real_stems["validation"]}
    clean = carve_test_split(counts, 0.1, seed=0, forbidden=validation_subjects)
    assert clean and not clean & validation_subjects
