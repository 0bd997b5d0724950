"""``datasets_prep build`` end to end on simulated AI Hub downloads (small, 64 px, CPU).

The simulator writes an AI Hub-shaped tree and ``_simulation_truth.csv`` with the true
six values per image; the build must recover exactly those images, collapse the folder
duplicates, split by subject, and skip (and name) every kind of bad input.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from datasets import load_from_disk

from datasets_prep.build import BuildConfig, BuildError, build, main
from datasets_prep.discovery import find_split_dirs
from scalp_core.aihub_names import folder_name, parse_folder_name
from scalp_core.contracts import read_prep_config
from scalp_core.symptoms import SYMPTOMS, class_names
from synthetic.simulate import CONFIG_FILE, TRUTH_FILE, simulate

N_IMAGES = 60
SIZE = 64
VALUE_FIELDS = [spec.json_field for spec in SYMPTOMS]


def _truth(root: Path) -> pd.DataFrame:
    truth = pd.read_csv(root / "_simulation_truth.csv", dtype=str)
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
    assert (table["conflict"] == "").all()
    # AI Hub Validation stays validation; test comes out of Training only.
    truth_split = truth.loc[table.index, "split"].str.lower() if "split" in truth.columns else None
    if truth_split is not None:
        assert ((table["split"] == "validation") == truth_split.str.startswith("val")).all()
    assert result.split_counts["test"] > 0 and result.split_counts["train"] > 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["skipped"] == []
    assert report["split_counts"] == result.split_counts
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


def test_no_subject_in_two_splits(built):
    out, result = built
    dataset = load_from_disk(str(out / SYMPTOMS[0].key))
    subjects = {split: set(dataset[split]["subject"]) for split in dataset}
    assert not subjects["train"] & subjects["validation"]
    assert not subjects["train"] & subjects["test"]
    assert not subjects["validation"] & subjects["test"]
    assert result.report["leakage"]["final"]["leak_count"] == 0
    assert set(result.report["leakage"]["test_subjects"]) == subjects["test"]


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
    _build(raw, out, labels=4, protocol="folder")
    table = _table(full_out)
    healthy = table[(table[VALUE_FIELDS] == 0).all(axis=1)]
    for spec in SYMPTOMS:
        folder = load_from_disk(str(out / spec.key))
        full = load_from_disk(str(full_out / spec.key))
        assert folder["train"].features["label"].names == list(class_names(4))
        for split in ("train", "validation", "test"):
            in_split = table[table["split"] == split]
            # The seed's folder set: the shared all-healthy images plus value_k > 0.
            expected = set(in_split.index[in_split[spec.json_field] > 0]) | set(
                healthy.index[healthy["split"] == split]
            )
            got = folder[split]
            assert len(got) == len(expected), (spec.key, split)
            assert len(got) <= len(full[split])
            assert got["grade"] == got["label"]  # scheme 4: label index = grade
            ids = set(got["image_id"])
            assert ids == set(in_split.loc[sorted(expected), "image_id"])
        # Folder protocol counts equal the raw per-folder counts (train + test come from Training).
        training = find_split_dirs(raw)["train"][0]
        train_entries = sum(
            len(list(p.rglob("*.jpg")))
            for p in training.iterdir()
            if p.is_dir() and (f := parse_folder_name(p.name)) and f.kind == "원천" and f.symptom == spec
        )
        assert len(folder["train"]) + len(folder["test"]) == train_entries
    # Under protocol full the all-healthy images keep their class; under folder they are in every symptom.
    assert len(healthy) > 0


def test_empty_splits_still_load(raw, workdir):
    out = workdir / "out_no_test"
    result = _build(raw, out, test_fraction=0.0)
    assert result.split_counts["test"] == 0
    for spec in SYMPTOMS:
        dataset = load_from_disk(str(out / spec.key))
        assert len(dataset["test"]) == 0 and dataset["test"]["grade"] == []
        assert dataset["test"].features["label"].names == list(class_names(3))
    # Only Training downloaded (and --aihub-root pointing at it): validation is empty, with a warning.
    only_training = _build(raw / "Training", workdir / "out_only_training")
    assert only_training.split_counts["validation"] == 0 and only_training.split_counts["train"] > 0
    assert any("no usable Validation images" in w for w in only_training.report["warnings"])
    assert len(load_from_disk(str(workdir / "out_only_training" / "hair_loss"))["validation"]) == 0


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


def test_prep_config_says_whether_the_download_is_synthetic(built, small_raw, tmp_path):
    out, result = built
    prep = read_prep_config(out)
    assert prep.synthetic is True and prep.protocol == "full" and prep.labels == 3
    # prep_config.json holds the report's whole effective configuration, nothing less.
    assert prep.to_json() == result.report["config"]
    assert prep.settings["image_size_override"] == SIZE and "push_to_hub" not in prep.settings
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
        "--aihub-root", "--out", "--labels", "--protocol", "--test-fraction", "--seed",
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
