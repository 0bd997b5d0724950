"""The simulated AI Hub download: real folder/file names, real label JSON layout, the
all-healthy-in-every-0.양호 quirk, subject-disjoint splits, zips with UTF-8 or CP949
member names, and byte-identical output for the same seed."""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

from datasets_prep.__main__ import main as cli_main
from scalp_core.aihub_names import (
    REGION_LOCATIONS,
    SPLITS,
    parse_folder_name,
    parse_image_stem,
    zip_member_name,
)
from scalp_core.symptoms import SYMPTOMS
from synthetic.simulate import TRUTH_FILE, label_json, simulate

META_KEYS = ["gender", "age", "location"] + [f"{k}{i}" for i in range(1, 8) for k in ("question", "answers")]


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "aihub"
    summary = simulate(out, images=40, seed=3)
    assert summary.unique_images["Training"] + summary.unique_images["Validation"] == 40
    assert summary.unique_images["Validation"] > 0 and summary.healthy_images["Validation"] > 0
    return out


def _truth(root: Path) -> dict[str, dict]:
    with open(root / TRUTH_FILE, encoding="utf-8", newline="") as f:
        return {row["stem"]: row for row in csv.DictReader(f)}


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode("utf-8"))
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _folders(root: Path, split: str) -> dict:
    """Parsed folder name -> {file name: bytes} for one unzipped or zipped split."""
    result = {}
    for entry in sorted((root / split).iterdir()):
        parsed = parse_folder_name(entry.name)
        assert parsed is not None, f"not an AI Hub folder name: {entry.name}"
        if parsed.zipped:
            with zipfile.ZipFile(entry) as zf:
                files = {}
                for info in zf.infolist():
                    name = zip_member_name(info)
                    top, _, file_name = name.partition("/")
                    assert top == entry.name.removesuffix(".zip")
                    files[file_name] = zf.read(info)
        else:
            files = {p.name: p.read_bytes() for p in entry.iterdir()}
        result[(parsed.kind, parsed.symptom.key, parsed.grade)] = files
    return result


def test_tree_has_every_folder_with_parseable_names(sim):
    names = {p.name for p in sim.iterdir()}
    assert names == {"META_DATA", "Training", "Validation", TRUTH_FILE, "_simulation_config.json"}
    for split in SPLITS:
        folders = _folders(sim, split)
        assert len(folders) == 2 * len(SYMPTOMS) * 4
        for (kind, key, grade), files in folders.items():
            for file_name in files:
                stem, ext = file_name.rsplit(".", 1)
                assert ext == ("jpg" if kind == "원천" else "json")
                name = parse_image_stem(stem)
                assert name is not None and name.stem == stem
                assert len(name.subject) == 4 and len(str(name.timestamp_ms)) == 13
                assert REGION_LOCATIONS[name.region_no] == name.location
                assert name.device.startswith(("A2LEBJJDE", "A1LCAIHDH"))
            # every image folder pairs with a label folder holding the same stems
            if kind == "원천":
                labels = folders[("라벨", key, grade)]
                assert {f[:-4] for f in files} == {f[:-5] for f in labels}


def test_label_json_matches_the_real_layout(shared_reference):
    example = next((shared_reference / "justdoit93__hair_loss").glob("label_example_*.json"))
    text = example.read_text(encoding="utf-8")
    real = json.loads(text)
    name = parse_image_stem(real["image_file_name"][:-4])
    grades = tuple(int(real[s.json_field]) for s in SYMPTOMS)
    assert label_json(name, grades) == text  # same keys, order, string values, tab indent


def test_labels_are_strings_and_agree_with_folders_and_truth(sim):
    truth = _truth(sim)
    seen = defaultdict(set)
    for split in SPLITS:
        for (kind, key, grade), files in _folders(sim, split).items():
            if kind != "라벨":
                continue
            spec = next(s for s in SYMPTOMS if s.key == key)
            for file_name, data in files.items():
                label = json.loads(data.decode("utf-8"))
                assert list(label) == ["image_id", "image_file_name"] + [s.json_field for s in SYMPTOMS]
                assert all(label[s.json_field] in ("0", "1", "2", "3") for s in SYMPTOMS)
                stem = file_name[:-5]
                assert label["image_file_name"] == stem + ".jpg"
                assert truth[stem]["split"] == split
                assert label[spec.json_field] == str(grade) == truth[stem][spec.json_field]
                seen[stem].add((key, grade))
    assert set(seen) == set(truth), "every image sits in at least one folder"
    for stem, row in truth.items():
        values = [int(row[s.json_field]) for s in SYMPTOMS]
        if any(values):
            expected = {(s.key, v) for s, v in zip(SYMPTOMS, values) if v > 0}
        else:
            expected = {(s.key, 0) for s in SYMPTOMS}
        assert seen[stem] == expected, stem
    several = [stem for stem, row in truth.items() if sum(int(row[s.json_field]) > 0 for s in SYMPTOMS) >= 3]
    assert several, "the simulation should hold images with several symptoms"


def test_the_same_healthy_images_fill_every_0_folder(sim):
    for split in SPLITS:
        folders = _folders(sim, split)
        healthy = [folders[("원천", s.key, 0)] for s in SYMPTOMS]
        assert healthy[0], f"{split}: no all-healthy images"
        assert all(h == healthy[0] for h in healthy[1:])  # same names, same bytes
        for file_name in healthy[0]:
            label = json.loads(folders[("라벨", SYMPTOMS[0].key, 0)][file_name[:-4] + ".json"])
            assert all(label[s.json_field] == "0" for s in SYMPTOMS)


def test_an_image_in_several_folders_has_identical_bytes_everywhere(sim):
    blobs = defaultdict(set)
    for split in SPLITS:
        for (kind, _, _), files in _folders(sim, split).items():
            if kind == "원천":
                for file_name, data in files.items():
                    blobs[file_name].add(hashlib.sha256(data).hexdigest())
    assert all(len(h) == 1 for h in blobs.values())


def test_subjects_never_straddle_the_splits(sim):
    subjects = defaultdict(set)
    for row in _truth(sim).values():
        subjects[row["subject"]].add(row["split"])
    assert all(len(splits) == 1 for splits in subjects.values())
    assert {s for splits in subjects.values() for s in splits} == set(SPLITS)
    per_subject = defaultdict(int)
    for row in _truth(sim).values():
        per_subject[row["subject"]] += 1
    assert max(per_subject.values()) >= 2  # several regions per subject, as in AI Hub


def test_meta_files_have_the_real_keys(sim):
    truth = _truth(sim)
    metas = sorted((sim / "META_DATA").glob("*_META.json"))
    assert {p.name.removesuffix("_META.json") for p in metas} == set(truth)
    for path in metas:
        meta = json.loads(path.read_text(encoding="utf-8"))
        assert list(meta) == META_KEYS
        assert meta["gender"] in ("남", "여") and meta["age"].endswith("대")
        assert meta["location"] == parse_image_stem(path.name.removesuffix("_META.json")).location
        assert all(isinstance(v, str) and v for v in meta.values())


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = simulate(tmp_path / "a", images=8, seed=5)
    simulate(tmp_path / "b", images=8, seed=5)
    simulate(tmp_path / "c", images=8, seed=6)
    assert sum(a.unique_images.values()) == 8 and min(a.unique_images.values()) > 0
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    assert _tree_digest(tmp_path / "a") != _tree_digest(tmp_path / "c")


@pytest.mark.parametrize("encoding", ["utf-8", "cp949"])
def test_zipped_download_with_korean_member_names(tmp_path, encoding):
    plain, zipped = tmp_path / "plain", tmp_path / "zipped"
    simulate(plain, images=8, seed=9)
    simulate(zipped, images=8, seed=9, zip_mode="all", zip_encoding=encoding)
    for split in SPLITS:
        entries = sorted((zipped / split).iterdir())
        assert entries and all(e.suffix == ".zip" for e in entries)
        for entry in entries:
            with zipfile.ZipFile(entry) as zf:
                for info in zf.infolist():
                    assert bool(info.flag_bits & 0x800) == (encoding == "utf-8")
                    if encoding == "cp949":
                        assert info.filename.encode("cp437") == zip_member_name(info).encode("cp949")
                    assert zip_member_name(info).startswith(entry.name.removesuffix(".zip") + "/")
        # zipped or not, the same seed gives the same files
        assert _folders(zipped, split) == _folders(plain, split)
    assert _tree_digest(zipped / "META_DATA") == _tree_digest(plain / "META_DATA")


def test_mixed_zip_mode_has_both_kinds(tmp_path):
    simulate(tmp_path / "m", images=6, seed=2, zip_mode="mixed", zip_encoding="cp949")
    entries = [e for split in SPLITS for e in (tmp_path / "m" / split).iterdir()]
    assert any(e.is_dir() for e in entries) and any(e.suffix == ".zip" for e in entries)
    assert all(parse_folder_name(e.name).zipped == (e.suffix == ".zip") for e in entries)


def test_cli_runs_and_refuses_bad_input(tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli_main(["simulate", "--out", str(out), "--images", "3", "--seed", "1"]) == 0
    assert "unique images" in capsys.readouterr().out
    assert len(_truth(out)) == 3
    # an existing simulation is kept unless --overwrite; bad values are named
    assert cli_main(["simulate", "--out", str(out), "--images", "3"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli_main(["simulate", "--out", str(out), "--images", "4", "--overwrite"]) == 0
    assert len(_truth(out)) == 4
    capsys.readouterr()
    assert cli_main(["simulate", "--out", str(tmp_path / "x"), "--images", "0"]) == 2
    captured = capsys.readouterr()
    assert "--images must be at least 1" in captured.err and captured.out == ""
    # --out naming an existing file: a clear refusal, not a traceback, and the file is kept
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    assert cli_main(["simulate", "--out", str(a_file), "--images", "2"]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert a_file.read_text() == "keep me"
    assert cli_main(["simulate", "--out", str(tmp_path / "y"), "--zip", "rar"]) == 2
    assert "--zip must be one of ('none', 'all', 'mixed'), got 'rar'" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
    with pytest.raises(SystemExit) as exit_info:  # argparse's refusal of an unknown flag
        cli_main(["simulate", "--out", str(tmp_path / "y"), "--push-to-hub", "me/x"])
    assert exit_info.value.code == 2 and "unrecognized arguments: --push-to-hub" in capsys.readouterr().err
    assert cli_main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_cli_help_keeps_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["simulate", "--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    for flag in (
        "--out", "--images", "--seed", "--zip", "--zip-encoding", "--validation-fraction",
        "--healthy-fraction", "--overwrite",
    ):
        assert flag in usage, flag
    assert "(default: 300)" in usage  # defaults are shown
    assert cli_main([]) == 2 and "simulate" in capsys.readouterr().out


def test_overwrite_never_deletes_a_foreign_folder(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="does not look like an earlier simulation"):
        simulate(precious, images=2, seed=0, overwrite=True)
    assert (precious / "thesis.txt").read_text() == "keep me"
