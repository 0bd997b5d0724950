"""``datasets_prep build`` end to end on simulated AI Hub downloads (small, 64 px, CPU).

The simulator writes an AI Hub-shaped tree and ``_simulation_truth.csv`` with the true
six values, folders and misfiled copies per image; the build must recover exactly those
images and disagreements, collapse the folder duplicates, split by subject (no subject in two
splits, about 70/15/15 of the subjects, every class in every split where the subjects allow,
the same split for the same seed), keep the test images' original bytes, and skip (and name)
every kind of bad input. The split runs both on the default generator's tree and on one drawn
from the real AI Hub label tables (``--labels-from``; skipped without ../shared), and the subject
carving is unit-tested on made-up subjects with a forbidden set.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from datasets import load_from_disk

from datasets_prep.build import BuildConfig, BuildError, build, main
from datasets_prep.splits import assign_splits
from datasets_prep.subjects import carve_subjects, subject_quotas
from scalp_core.aihub_names import folder_name, parse_folder_name
from scalp_core.contracts import read_prep_config
from scalp_core.symptoms import SYMPTOMS, class_names, grade_to_class
from synthetic.simulate import CONFIG_FILE, TRUTH_FILE, simulate

N_IMAGES = 60
SIZE = 64
VALUE_FIELDS = [spec.json_field for spec in SYMPTOMS]


def _truth(root: Path) -> pd.DataFrame:
    truth = pd.read_csv(root / "_simulation_truth.csv", dtype=str, keep_default_na=False)
    stem_column = next(c for c in ("stem", "file_stem", "image_stem", "file_name") if c in truth.columns)
    truth["stem"] = truth[stem_column].str.replace(r"\.jpg$", "", regex=True)
    for column in VALUE_FIELDS:
        truth[column] = truth[column].astype(int)
    return truth.set_index("stem")


def _build(root: Path, out: Path, **overrides):
    settings = {"image_size_override": SIZE, "workers": 1}
    settings.update(overrides)
    return build(BuildConfig(aihub_root=root, out=out, **settings))


def _table(out: Path) -> pd.DataFrame:
    frame = pd.read_parquet(out / "images.parquet")
    frame["stem"] = frame["file_name"].str.slice(0, -4)
    return frame.set_index("stem")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("build")


@pytest.fixture(scope="module")
def raw(workdir):
    simulate(workdir / "raw", N_IMAGES, 3)
    return workdir / "raw"


@pytest.fixture(scope="module")
def built(raw, workdir):
    out = workdir / "out_full"
    result = _build(raw, out, workers=2)  # the multiprocessing path
    return out, result


def _image_stems(root: Path, stem: str) -> list[Path]:
    return sorted(p for p in root.rglob(stem + ".jpg"))


def _label_files(root: Path, stem: str) -> list[Path]:
    return sorted(p for p in root.rglob(stem + ".json"))


def test_unique_images_match_the_simulation_truth(raw, built):
    out, result = built
    truth = _truth(raw)
    table = _table(out)
    assert result.n_images == len(truth) == len(table)
    assert sorted(table.index) == sorted(truth.index)
    for column in VALUE_FIELDS:
        assert (table[column] == truth.loc[table.index, column]).all(), column
    # Where the download holds each image: names in both folders are one image, not a conflict.
    assert (table["aihub_split"] == truth.loc[table.index, "split"]).all()
    assert (table["aihub_split"] == "Training+Validation").sum() == 3  # round(60 × 4,754/91,156)
    # The only conflicts are the simulator's misfiled folder copies, named as such.
    misfiled = truth.index[truth["misfiled_folder"] != ""]
    assert len(misfiled) == 1  # round(60 × 0.02)
    assert set(table.index[table["conflict"] != ""]) == set(misfiled)
    for stem in misfiled:
        assert f"folder {truth.loc[stem, 'misfiled_folder']} says grade" in table.loc[stem, "conflict"]
    assert result.split_counts["test"] > 0 and result.split_counts["train"] > 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["skipped"] == []
    assert report["split_counts"] == result.split_counts
    assert report["leakage"]["aihub_training_vs_validation"]["names_in_both"] == 3
    config = json.loads((out / "prep_config.json").read_text(encoding="utf-8"))
    assert config["protocol"] == "full" and config["image_size_override"] == SIZE
    assert (out / "report.md").read_text(encoding="utf-8").startswith("# AI Hub")


def test_per_symptom_datasets_follow_the_contract(raw, built):
    out, _ = built
    table = _table(out)
    for spec in SYMPTOMS:
        dataset = load_from_disk(str(out / spec.key))
        assert set(dataset) == {"train", "validation", "test"}
        features = dataset["train"].features
        assert features["label"].names == list(class_names(3))
        assert set(features) == {"image", "label", "grade", "image_id", "subject"}
        total = sum(len(dataset[s]) for s in dataset)
        assert total == len(table)  # protocol full: every unique image in every symptom
        row = dataset["validation"][0]
        image = row["image"]
        assert min(image.size) == SIZE and image.mode == ("L" if spec.grayscale else "RGB")
        stem = table.index[table["image_id"] == row["image_id"]][0]
        assert row["grade"] == table.loc[stem, spec.json_field]
        assert row["label"] == (0, 1, 1, 2)[row["grade"]]
        # Test images are the original file bytes: not resized, not re-encoded, not made grayscale.
        raw_test = dataset["test"].cast_column("image", type(features["image"])(decode=False))
        for example in raw_test:
            stem = table.index[table["image_id"] == example["image_id"]][0]
            assert example["image"]["bytes"] == _image_stems(raw, stem)[0].read_bytes()
        test_image = dataset["test"][0]["image"]
        assert test_image.size == (640, 480) and test_image.mode == "RGB"


def _subject_splits(dataset) -> dict[str, set[str]]:
    return {split: set(dataset[split]["subject"]) for split in dataset}


def _assert_subject_split(out: Path, result, seed_note: str = "") -> None:
    """No subject in two splits; ~70/15/15 of the subjects; every class in every split where the subjects allow."""
    table = _table(out)
    subjects = {split: set(table.loc[table["split"] == split, "subject"]) for split in ("train", "validation", "test")}
    assert not subjects["train"] & subjects["validation"]
    assert not subjects["train"] & subjects["test"]
    assert not subjects["validation"] & subjects["test"]
    assert result.report["leakage"]["final"]["leak_count"] == 0
    n = table["subject"].nunique()
    assert {k: len(v) for k, v in subjects.items()} == subject_quotas(n, {"validation": 0.15, "test": 0.15})
    assert 0.6 <= len(subjects["train"]) / n <= 0.8, seed_note
    for spec in SYMPTOMS:
        dataset = load_from_disk(str(out / spec.key))
        assert _subject_splits(dataset) == subjects
        classes = table[spec.json_field].map(lambda g: grade_to_class(int(g), 3))
        for label in range(3):
            holders = table.loc[classes == label, ["subject", "split"]]
            if holders["subject"].nunique() >= 3:  # enough subjects to reach every split
                assert set(holders["split"]) == set(subjects), (spec.key, label, seed_note)
    assert set(result.report["leakage"]["test_subjects"]) == subjects["test"]
    settings = read_prep_config(out).settings
    assert settings["evaluation_split"] == "test" and settings["evaluation_subjects_seen_in_training"] == 0
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| test | " + str(len(subjects["test"])) + " | " in markdown  # subjects and images per split
    assert "Images (subjects) per class" in markdown


def test_full_protocol_splits_by_subject(built):
    out, result = built
    _assert_subject_split(out, result)
    splits = result.report["splits"]
    assert splits["evaluation_split"] == "test" and splits["evaluation_subjects"] == len(
        result.report["leakage"]["test_subjects"])
    # The download's own folders share subjects (as the real one does); the pooled split does not.
    assert result.report["leakage"]["aihub_training_vs_validation"]["leak_count"] > 0


def test_the_split_is_the_same_for_the_same_seed(built):
    out, _ = built
    table = pd.read_parquet(out / "images.parquet")

    def split_with(seed):
        frame = table.copy()
        assign_splits(frame, "full", 3, 0.15, 0.15, seed, [])
        return frame.set_index("file_name")["split"]

    assert (split_with(0) == table.set_index("file_name")["split"]).all()  # the build used seed 0
    assert (split_with(0) == split_with(0)).all()
    assert read_prep_config(out).settings["seed"] == 0


def test_folder_duplicates_collapse_to_unique_images(raw, built):
    out, result = built
    truth = _truth(raw)
    table = _table(out)
    duplicates = result.report["duplicates"]
    assert duplicates["folder_entries"] > duplicates["unique_images"] == len(truth)
    healthy = truth.index[(truth[VALUE_FIELDS] == 0).all(axis=1)]
    assert len(healthy) > 0
    stem = healthy[0]
    assert len(_image_stems(raw, stem)) == len(SYMPTOMS)  # one copy per 0.양호 folder ...
    assert list(table.index).count(stem) == 1  # ... counted once
    assert sorted(table.loc[stem, "folders"]) == sorted(folder_name("원천", s, 0) for s in SYMPTOMS)


def test_label_scheme_4_and_protocol_folder(raw, built, workdir):
    full_out, _ = built
    out = workdir / "out_folder4"
    result = _build(raw, out, labels=4, protocol="folder")
    truth = _truth(raw)
    table = _table(out)
    # The seed's split: AI Hub Validation (also the names in both folders) is validation, the
    # evaluation split; test takes whole Training subjects that Validation does not hold.
    in_validation = truth.loc[table.index, "split"].str.contains("Validation")
    assert ((table["split"] == "validation") == in_validation).all()
    subjects = {split: set(table.loc[table["split"] == split, "subject"]) for split in ("train", "validation", "test")}
    assert subjects["test"] and not subjects["test"] & (subjects["train"] | subjects["validation"])
    seen = subjects["validation"] & subjects["train"]
    assert seen, "the simulated download shares subjects between its folders, as the real one does"
    settings = read_prep_config(out).settings
    assert settings["evaluation_split"] == "validation"
    assert settings["evaluation_subjects_seen_in_training"] == len(seen)
    assert settings["original_bytes_splits"] == ["validation", "test"]
    assert f"**{len(seen)} of them seen in training**" in (out / "report.md").read_text(encoding="utf-8")
    assert any("not a measure on people the models have never seen" in w for w in result.report["warnings"])
    for spec in SYMPTOMS:
        folder = load_from_disk(str(out / spec.key))
        full = load_from_disk(str(full_out / spec.key))
        assert folder["train"].features["label"].names == list(class_names(4))
        assert len(folder["validation"][0]["image"].getbands()) == 3  # the original bytes, as served
        for split in ("train", "validation", "test"):
            in_split = table[table["split"] == split]
            # The seed's folder set: every image in one of this symptom's folders, at the folder's
            # grade (a misfiled copy's grade, not the JSON's: the seed read folders).
            expected = {}
            for _, row in in_split.iterrows():
                grades = [f.grade for f in map(parse_folder_name, row["folders"]) if f.symptom == spec]
                if grades:
                    expected[row["image_id"]] = max(grades)
            got = folder[split]
            assert dict(zip(got["image_id"], got["grade"], strict=True)) == expected, (spec.key, split)
            assert got["grade"] == got["label"]  # scheme 4: label index = grade
            assert len(got) <= len(table)
        assert len(full["train"]) + len(full["validation"]) + len(full["test"]) == len(table)
    # The misfiled copy really is read at its folder's grade under the folder protocol.
    stem = truth.index[truth["misfiled_folder"] != ""][0]
    misfiled = parse_folder_name(truth.loc[stem, "misfiled_folder"])
    dataset = load_from_disk(str(out / misfiled.symptom.key))
    split = table.loc[stem, "split"]
    row = dataset[split].filter(lambda r: r["image_id"] == table.loc[stem, "image_id"])
    assert row["grade"] == [misfiled.grade] != [int(truth.loc[stem, misfiled.symptom.json_field])]


def test_empty_splits_still_load(raw, workdir):
    out = workdir / "out_no_test"
    result = _build(raw, out, test_fraction=0.0)
    assert result.split_counts["test"] == 0
    for spec in SYMPTOMS:
        dataset = load_from_disk(str(out / spec.key))
        assert len(dataset["test"]) == 0 and dataset["test"]["grade"] == []
        assert dataset["test"].features["label"].names == list(class_names(3))
    # Only Training downloaded (and --aihub-root pointing at it): the full protocol still splits it by
    # subject; the folder protocol's validation (AI Hub Validation) is empty, with a warning.
    only_training = _build(raw / "Training", workdir / "out_only_training")
    assert min(only_training.split_counts.values()) > 0
    assert any("no usable Validation images" in w for w in only_training.report["warnings"])
    folder = _build(raw / "Training", workdir / "out_only_training_folder", protocol="folder")
    assert folder.split_counts["validation"] == 0 and folder.split_counts["train"] > 0
    assert any("folder protocol's validation split is empty" in w for w in folder.report["warnings"])
    assert len(load_from_disk(str(workdir / "out_only_training_folder" / "hair_loss"))["validation"]) == 0


def _assert_same_table(out: Path, expected_out: Path) -> None:
    expected, got = _table(expected_out), _table(out)
    pd.testing.assert_frame_equal(
        got.drop(columns=["folders"]).sort_index(), expected.drop(columns=["folders"]).sort_index()
    )
    assert (got["folders"].map(sorted) == expected.loc[got.index, "folders"].map(sorted)).all()


@pytest.mark.slow
def test_mixed_cp949_download_gives_the_same_table(built, workdir):
    full_out, _ = built
    raw = workdir / "raw_mixed_cp949"
    simulate(raw, N_IMAGES, 3, zip_mode="mixed", zip_encoding="cp949")
    zips = list(raw.rglob("*.zip"))
    folders = [p for p in (raw / "Training").iterdir() if p.is_dir()]
    assert zips and folders, "a mixed download holds both zips and folders"
    # The member names really are CP949 without the UTF-8 flag.
    with zipfile.ZipFile(max(zips, key=lambda p: p.stat().st_size)) as archive:
        infos = archive.infolist()
        assert infos and not any(info.flag_bits & 0x800 for info in infos)
        assert any(not info.filename.isascii() for info in infos)
    result = _build(raw, workdir / "out_mixed_cp949")
    assert result.report["skipped"] == []
    _assert_same_table(workdir / "out_mixed_cp949", full_out)


def test_all_zipped_download_gives_the_same_table(raw, built, workdir):
    # Every folder zipped (UTF-8 names, a top folder inside like the real zips), under a nested
    # "01.데이터/1.Training" layout; no folder left unzipped.
    full_out, _ = built
    zipped = workdir / "raw_zipped" / "01.데이터"
    for split_dir, new_name in ((raw / "Training", "1.Training"), (raw / "Validation", "2.Validation")):
        target = zipped / new_name
        target.mkdir(parents=True)
        for folder in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            with zipfile.ZipFile(target / f"{folder.name}.zip", "w") as archive:
                for path in sorted(folder.iterdir()):
                    archive.write(path, f"{folder.name}/{path.name}")
    result = _build(zipped.parent, workdir / "out_zipped", workers=2)
    assert result.report["skipped"] == []
    assert [Path(p).name for p in result.report["found"]["split_dirs"]["train"]] == ["1.Training"]
    _assert_same_table(workdir / "out_zipped", full_out)


def _write_json(path: Path, content) -> None:
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")


@pytest.fixture(scope="module")
def bad_build(raw, workdir):
    """A copy of the simulated tree with one planted defect per kind of bad input."""
    root = workdir / "raw_bad"
    shutil.copytree(raw, root)
    truth = _truth(root)
    train_stems = [s for s in truth.index if _image_stems(root / "Training", s)]
    planted = {}

    def take(kind):
        stem = train_stems.pop()
        planted[kind] = stem
        return stem

    stem = take("zero_byte")
    for path in _image_stems(root, stem):
        path.write_bytes(b"")
    stem = take("truncated")
    for path in _image_stems(root, stem):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    stem = take("label_without_image")
    for path in _image_stems(root, stem):
        path.unlink()
    stem = take("image_without_label")
    for path in _label_files(root, stem):
        path.unlink()
    stem = take("invalid_json")
    for path in _label_files(root, stem):
        _write_json(path, '{"image_id": "x", "value_1": ')
    for kind, bad in (("value_4", "4"), ("value_empty", ""), ("value_null", None), ("value_missing", ...)):
        stem = take(kind)
        for path in _label_files(root, stem):
            content = json.loads(path.read_text(encoding="utf-8"))
            if bad is ...:
                del content["value_6"]
            else:
                content["value_6"] = bad
            _write_json(path, content)
    # A JSON naming another image, and a JSON disagreeing with its folder grade: kept, with a conflict.
    stem = take("wrong_image_file_name")
    for path in _label_files(root, stem):
        content = json.loads(path.read_text(encoding="utf-8"))
        content["image_file_name"] = "9999_X_1_2_TH.jpg"
        _write_json(path, content)
    stem = take("folder_grade_mismatch")
    label_paths = _label_files(root, stem)
    first_folder = parse_folder_name(label_paths[0].parent.name)
    for path in label_paths:
        content = json.loads(path.read_text(encoding="utf-8"))
        content[first_folder.symptom.json_field] = str((first_folder.grade + 1) % 4)
        _write_json(path, content)
    # One of the six copies of an all-healthy image's label says otherwise: the majority (all 0) wins.
    healthy = [s for s in train_stems if (truth.loc[s, VALUE_FIELDS] == 0).all()]
    stem = healthy[0]
    train_stems.remove(stem)
    planted["minority_label"] = stem
    odd = _label_files(root, stem)[0]
    content = json.loads(odd.read_text(encoding="utf-8"))
    content["value_1"] = "2"
    _write_json(odd, content)
    # A zip member whose bytes were damaged after zipping (bad CRC), and no other copy of that image.
    for stem in train_stems:
        copies = _image_stems(root, stem)
        folder = copies[0].parent
        if folder.name != "[원천]탈모_1.경증" and not set(planted.values()) & {
            p.stem for p in folder.glob("*.jpg")
        }:
            break
    planted["bad_crc"] = stem
    train_stems.remove(stem)
    for other in copies[1:]:
        other.unlink()
    zip_path = folder.with_name(folder.name + ".zip")
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(folder.glob("*")):
            archive.write(path, f"{folder.name}/{path.name}")
    shutil.rmtree(folder)
    with zipfile.ZipFile(zip_path) as archive:
        info = archive.getinfo(f"{folder.name}/{stem}.jpg")
    data = bytearray(zip_path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode("utf-8")) + len(info.extra)
    data[start + info.file_size // 2] ^= 0xFF
    zip_path.write_bytes(bytes(data))
    # An unknown folder (여드름 is no AI Hub symptom) and two garbage zips.
    unknown = root / "Training" / "[원천]여드름_1.경증"
    unknown.mkdir()
    shutil.copy(
        _image_stems(root, train_stems[0])[0], unknown / "0001_A2LEBJJDE00060O_1606386172558_2_TH.jpg"
    )
    (root / "Training" / "[원천]탈모_1.경증.zip").write_bytes(b"this is not a zip archive")
    (root / "Validation" / "[라벨]비듬_2.중등도.zip").write_bytes(b"PK\x03\x04 broken")
    out = workdir / "out_bad"
    exit_code = main(
        ["--aihub-root", str(root), "--out", str(out), "--image-size-override", str(SIZE), "--workers", "1"]
    )
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return root, out, exit_code, report, planted, truth


def _skipped(report, category):
    return [item for item in report["skipped"] if item["category"] == category]


def test_bad_inputs_are_skipped_counted_and_named(bad_build):
    root, out, exit_code, report, planted, truth = bad_build
    assert exit_code == 0
    table = _table(out)
    kept = ("wrong_image_file_name", "folder_grade_mismatch", "minority_label")
    dropped = {planted[k] for k in planted if k not in kept}
    assert set(table.index) == set(truth.index) - dropped
    assert {planted[k] for k in kept} <= set(table.index)

    def paths(category, stem=None):
        return [i for i in _skipped(report, category) if stem is None or stem in i["path"]]

    corrupt = paths("corrupt_image", planted["zero_byte"])
    assert len(corrupt) == len(_image_stems(root, planted["zero_byte"])) and all(
        "corrupt image" in i["reason"] for i in corrupt
    )
    truncated = paths("corrupt_image", planted["truncated"])
    assert truncated and all("truncated" in i["reason"] for i in truncated)
    assert paths("label_without_image", planted["label_without_image"])
    assert paths("image_without_label", planted["image_without_label"])
    assert all("invalid JSON" in i["reason"] for i in paths("invalid_label", planted["invalid_json"]))
    assert paths("invalid_label", planted["invalid_json"])
    assert all("'4'" in i["reason"] for i in paths("invalid_label", planted["value_4"]))
    assert all("''" in i["reason"] for i in paths("invalid_label", planted["value_empty"]))
    assert all("None" in i["reason"] for i in paths("invalid_label", planted["value_null"]))
    assert all(
        "missing key 'value_6'" in i["reason"] for i in paths("invalid_label", planted["value_missing"])
    )
    for kind in ("invalid_json", "value_4", "value_empty", "value_null", "value_missing"):
        assert paths("invalid_label", planted[kind]), kind
        assert paths("image_without_label", planted[kind]), kind  # its images are skipped too, and say why
    unknown = paths("unknown_folder")
    assert any(i["path"].endswith("[원천]여드름_1.경증") for i in unknown)
    bad_zips = paths("unreadable_zip")
    whole = [i for i in bad_zips if "::" not in i["path"]]
    assert {Path(i["path"]).name for i in whole} == {"[원천]탈모_1.경증.zip", "[라벨]비듬_2.중등도.zip"}
    assert all("unreadable zip" in i["reason"] for i in bad_zips)
    crc = [i for i in paths("unreadable_zip") if planted["bad_crc"] in i["path"]]
    assert len(crc) == 1 and "CRC" in crc[0]["reason"] and "::" in crc[0]["path"]
    assert report["skipped_counts"]["unreadable_zip"] == 3
    conflicts = {c["image"]: c["conflict"] for c in report["conflicts"]}
    assert "image_file_name" in conflicts[planted["wrong_image_file_name"]]
    assert "says grade" in conflicts[planted["folder_grade_mismatch"]]
    assert table.loc[planted["folder_grade_mismatch"], "conflict"] != ""
    minority = planted["minority_label"]
    assert "label JSON differs between folders (kept 000000)" in conflicts[minority]
    assert (table.loc[minority, VALUE_FIELDS] == 0).all()
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "[원천]여드름_1.경증" in markdown and "unreadable zip" in markdown


def _build_cli(args, env=None, timeout=300):
    """``python -m datasets_prep build ARGS`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "datasets_prep", "build", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        timeout=timeout,
    )


def test_nothing_usable_exits_non_zero_and_says_why(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    # The real command line, as a user runs it.
    completed = _build_cli(["--aihub-root", empty, "--out", tmp_path / "o"], timeout=120)
    assert completed.returncode == 1 and "Traceback" not in completed.stderr
    assert "no [원천]/[라벨] folders or zips found" in completed.stderr
    assert "Training dirs: none" in completed.stderr
    assert main(["--aihub-root", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) != 0
    assert "is not a folder" in capsys.readouterr().err
    only_garbage = tmp_path / "garbage" / "Training"
    only_garbage.mkdir(parents=True)
    (only_garbage / "[원천]탈모_3.중증.zip").write_bytes(b"garbage")
    with pytest.raises(BuildError, match="every image was skipped"):
        _build(only_garbage.parent, tmp_path / "out2")
    report = json.loads((tmp_path / "out2" / "report.json").read_text(encoding="utf-8"))
    assert report["skipped_counts"] == {"unreadable_zip": 1}


@pytest.fixture(scope="module")
def small_raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("small") / "raw"
    simulate(root, 12, 4)
    return root


def test_out_inside_the_download_is_never_read_back(small_raw, tmp_path):
    """--out inside --aihub-root: a second build must not take its own output for AI Hub data."""
    root = tmp_path / "raw"
    shutil.copytree(small_raw, root)
    first = _build(root, root / "prepared")
    second = _build(root, root / "prepared")
    assert first.report["skipped"] == [] and second.report["skipped"] == []
    assert second.n_images == first.n_images == 12
    assert [Path(p).name for p in second.report["found"]["split_dirs"]["validation"]] == ["Validation"]
    # An earlier build elsewhere under the root is skipped as well (it holds prep_config.json).
    third = _build(root, tmp_path / "elsewhere")
    assert third.report["skipped"] == [] and third.n_images == 12


def test_folders_outside_training_and_validation_are_named(small_raw, tmp_path, capsys):
    root = tmp_path / "raw"
    shutil.copytree(small_raw, root)
    # A [원천] folder and a [라벨] zip left at the top level, and one unknown bracketed folder.
    stray = root / "extra" / "[원천]비듬_1.경증"
    shutil.copytree(next((root / "Training").glob("[[]원천[]]*")), stray)
    (root / "[라벨]비듬_1.경증.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    (root / "[원천]여드름_2.중등도").mkdir()
    result = _build(root, tmp_path / "out")
    assert result.n_images == 12
    outside = {Path(i["path"]).name: i for i in _skipped(result.report, "outside_split")}
    assert set(outside) == {"[원천]비듬_1.경증", "[라벨]비듬_1.경증.zip"}
    assert all("outside any Training/ or Validation/" in i["reason"] for i in outside.values())
    unknown = _skipped(result.report, "unknown_folder")
    assert [Path(i["path"]).name for i in unknown] == ["[원천]여드름_2.중등도"]
    assert "outside any Training/" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    # Only such folders, no Training/ or Validation/: the build stops and says what to do.
    lone = tmp_path / "lone"
    shutil.copytree(next((root / "Training").glob("[[]원천[]]*")), lone / "[원천]탈모_1.경증")
    assert main(["--aihub-root", str(lone), "--out", str(tmp_path / "out_lone")]) == 1
    assert "none inside a Training/ or Validation/ folder" in capsys.readouterr().err


def test_out_naming_a_file_is_refused_clearly(small_raw, tmp_path, capsys):
    a_file = tmp_path / "prepared.txt"
    a_file.write_text("keep me")
    assert main(["--aihub-root", str(small_raw), "--out", str(a_file)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert a_file.read_text() == "keep me"
    assert main(["--aihub-root", str(small_raw), "--out", str(tmp_path / "o"), "--test-fraction", "1.5"]) == 2
    assert "--test-fraction must be in [0, 1)" in capsys.readouterr().err
    assert main(["--aihub-root", str(small_raw), "--out", str(tmp_path / "o"), "--validation-fraction", "-0.1"]) == 2
    assert "--validation-fraction must be in [0, 1)" in capsys.readouterr().err
    argv = ["--aihub-root", str(small_raw), "--out", str(tmp_path / "o"), "--validation-fraction", "0.5",
            "--test-fraction", "0.5"]
    assert main(argv) == 2
    assert "leave no subjects to train on: their sum must be below 1" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_prep_config_says_whether_the_download_is_synthetic(built, small_raw, tmp_path):
    out, result = built
    prep = read_prep_config(out)
    assert prep.synthetic is True and prep.protocol == "full" and prep.labels == 3
    # prep_config.json holds the report's whole effective configuration, nothing less.
    assert prep.to_json() == result.report["config"]
    assert prep.settings["image_size_override"] == SIZE and "push_to_hub" not in prep.settings
    assert prep.settings["evaluation_split"] == "test" and prep.settings["original_bytes_splits"] == ["test"]
    assert (prep.settings["validation_fraction"], prep.settings["test_fraction"]) == (0.15, 0.15)
    assert result.report["config"]["synthetic"] is True
    source_line = (out / "report.md").read_text(encoding="utf-8").splitlines()[2]
    assert source_line.startswith("- source:") and "synthetic" in source_line
    # The same files without the simulator's marker files: a hand-made, real-looking download.
    root = tmp_path / "hand_made"
    shutil.copytree(small_raw, root)
    for marker in (CONFIG_FILE, TRUTH_FILE):
        (root / marker).unlink()
    hand_made = _build(root, tmp_path / "out")
    assert hand_made.n_images == 12
    assert read_prep_config(tmp_path / "out").synthetic is False
    assert hand_made.report["config"]["synthetic"] is False
    assert "synthetic" not in (tmp_path / "out" / "report.md").read_text(encoding="utf-8").splitlines()[2]


def test_cli_keeps_its_flags_and_refuses_bad_values_clearly(small_raw, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    for flag in (
        "--aihub-root", "--out", "--labels", "--protocol", "--validation-fraction", "--test-fraction", "--seed",
        "--image-size-override", "--workers", "--jpeg-quality",
    ):
        assert flag in usage, flag
    assert "--push-to-hub" not in usage  # the one dataset push is `python -m hub_upload dataset`
    # A flag the build no longer has: argparse's usual refusal, nothing built.
    with pytest.raises(SystemExit) as exit_info:
        main(["--aihub-root", str(small_raw), "--out", str(tmp_path / "o"), "--push-to-hub", "me/scalp"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --push-to-hub me/scalp" in capsys.readouterr().err
    # A bad value, from the real command line: the check's message, exit 2, no traceback.
    bad = _build_cli(["--aihub-root", small_raw, "--out", tmp_path / "o", "--labels", "5"], timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--labels must be one of (3, 4), got 5" in bad.stderr
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- the subject carving


def _made_up_strata(n: int = 20) -> pd.DataFrame:
    """Made-up subjects (S00..S19) with image counts per label; label ``rare`` is held by S17, S18, S19."""
    rng = np.random.default_rng(0)
    strata = pd.DataFrame(rng.integers(0, 30, size=(n, 4)), columns=["a", "b", "c", "d"],
                          index=[f"S{i:02d}" for i in range(n)])
    strata["rare"] = 0
    strata.loc[["S17", "S18", "S19"], "rare"] = 5
    return strata


def test_subject_quotas_are_70_15_15_of_the_subjects():
    fractions = {"validation": 0.15, "test": 0.15}
    assert subject_quotas(190, fractions) == {"train": 132, "validation": 29, "test": 29}
    assert subject_quotas(20, fractions) == {"train": 14, "validation": 3, "test": 3}
    assert subject_quotas(4, fractions) == {"train": 2, "validation": 1, "test": 1}
    assert subject_quotas(3, fractions) == {"train": 1, "validation": 1, "test": 1}
    assert subject_quotas(2, fractions) == {"train": 2, "validation": 0, "test": 0}
    assert subject_quotas(10, {"validation": 0.15, "test": 0.0}) == {"train": 8, "validation": 2, "test": 0}
    assert subject_quotas(0, fractions) == {"train": 0, "validation": 0, "test": 0}


def test_carving_keeps_forbidden_subjects_out_of_test():
    """The guard the issue asked for: subjects that must not reach test (the folder protocol's
    Validation subjects) never do, even when they are the only holders of a label and the
    stratification would want them there."""
    strata = _made_up_strata()
    quotas = subject_quotas(len(strata), {"validation": 0.15, "test": 0.15})
    free = carve_subjects(strata, quotas, seed=0)
    # Without a ban every split holds the rare label (three holders: one each).
    assert {free[s] for s in ("S17", "S18", "S19")} == {"train", "validation", "test"}
    forbidden = {f"S{i:02d}" for i in range(6, 20)}  # 14 of 20, including every holder of "rare"
    for seed in range(5):
        carved = carve_subjects(strata, quotas, seed=seed, forbidden={"test": forbidden})
        test = {s for s, split in carved.items() if split == "test"}
        assert len(test) == 3 and not test & forbidden, seed
        assert Counter(carved.values()) == quotas
    # More asked than allowed: test takes every allowed subject, train the rest.
    carved = carve_subjects(strata, {"train": 2, "test": 18}, seed=0, forbidden={"test": forbidden})
    assert {s for s, split in carved.items() if split == "test"} == set(strata.index) - forbidden
    # Everything forbidden: test stays empty.
    carved = carve_subjects(strata, quotas, seed=0, forbidden={"test": set(strata.index)})
    assert "test" not in carved.values() and Counter(carved.values())["train"] == 17
    with pytest.raises(ValueError, match="cannot forbid"):
        carve_subjects(strata, quotas, seed=0, forbidden={"train": {"S00"}})
    with pytest.raises(ValueError, match="add up to 19, not 20 subjects"):
        carve_subjects(strata, {"train": 13, "validation": 3, "test": 3}, seed=0)


def test_carving_is_seeded_and_stratified():
    strata = _made_up_strata()
    quotas = subject_quotas(len(strata), {"validation": 0.15, "test": 0.15})
    assert carve_subjects(strata, quotas, seed=3) == carve_subjects(strata, quotas, seed=3)
    # Where the data leave the choice open (identical subjects), the seed makes it.
    alike = pd.DataFrame(1, index=strata.index, columns=["a", "b"])
    assert carve_subjects(alike, quotas, seed=3) != carve_subjects(alike, quotas, seed=4)
    # Stratified: with one large subject per label among small ones, validation and test still get
    # their share of each label rather than whatever subjects come first.
    blocks = pd.DataFrame(0, index=[f"S{i:02d}" for i in range(20)], columns=["x", "y"])
    blocks.loc[blocks.index[:10], "x"] = 10
    blocks.loc[blocks.index[10:], "y"] = 10
    carved = carve_subjects(blocks, quotas, seed=0)
    for split in ("validation", "test"):
        members = [s for s, where in carved.items() if where == split]
        assert (blocks.loc[members] > 0).any().all(), split  # both labels reach it
    # A subject without images of any label still gets a place.
    strata.loc["S20"] = 0
    carved = carve_subjects(strata, subject_quotas(21, {"validation": 0.15, "test": 0.15}), seed=0)
    assert len(carved) == 21


# --------------------------------------------------------------------------- a tree from the real tables


@pytest.fixture(scope="module")
def real_raw(shared_reference, workdir):
    """A download drawn from the real AI Hub label tables (names, subjects, values, folders)."""
    folder = shared_reference / "winston1214__ScalpVision"
    tables = [str(folder / name) for name in ("train_label.csv", "val_label.csv", "test_label.csv")]
    simulate(workdir / "real_raw", 160, 1, labels_from=tables)
    return workdir / "real_raw"


@pytest.mark.shared
def test_full_protocol_on_a_tree_drawn_from_the_real_tables(real_raw, workdir):
    out = workdir / "real_full"
    result = _build(real_raw, out)
    truth = _truth(real_raw)
    table = _table(out)
    assert sorted(table.index) == sorted(truth.index) and result.report["skipped"] == []
    assert (table["aihub_split"] == truth.loc[table.index, "split"]).all()
    misfiled = set(truth.index[truth["misfiled_folder"] != ""])
    assert len(misfiled) == 3 and set(table.index[table["conflict"] != ""]) == misfiled  # round(160 × 0.02)
    _assert_subject_split(out, result, "real tables")
    # Real subjects straddle AI Hub's folders; the pooled split puts each one in a single split.
    assert result.report["leakage"]["aihub_training_vs_validation"]["leak_count"] > 0


@pytest.mark.shared
def test_folder_protocol_on_a_tree_drawn_from_the_real_tables(real_raw, workdir):
    out = workdir / "real_folder"
    result = _build(real_raw, out, protocol="folder")
    table = _table(out)
    subjects = {split: set(table.loc[table["split"] == split, "subject"]) for split in ("train", "validation", "test")}
    assert not subjects["test"] & (subjects["train"] | subjects["validation"])
    seen = len(subjects["validation"] & subjects["train"])
    assert seen > 0 and result.report["splits"]["evaluation_subjects_seen_in_training"] == seen
    assert read_prep_config(out).settings["evaluation_subjects_seen_in_training"] == seen
