"""The simulated AI Hub download: real folder/file names, real label JSON layout, the
all-healthy-in-every-0.양호 quirk, the real folder structure (subjects and names in both
Training and Validation, about 1 % all-healthy, 1–3 % folder/JSON disagreements), zips with
UTF-8 or CP949 member names, byte-identical output for the same seed, and ``--labels-from``
real label tables (read in place from ../shared, skipped without it; made-up tables otherwise)."""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from datasets_prep.__main__ import main as cli_main
from scalp_core.aihub_names import (
    REGION_LOCATIONS,
    SPLITS,
    folder_name,
    parse_folder_name,
    parse_image_stem,
    zip_member_name,
)
from scalp_core.symptoms import SYMPTOMS
from synthetic.label_tables import LabelTableError, read_label_tables
from synthetic.plan import misfile, plan_from_tables, plan_generated
from synthetic.simulate import CONFIG_FILE, TRUTH_FILE, label_json, simulate

SCALPVISION = "winston1214__ScalpVision"
SCALPVISION_TABLES = ("train_label.csv", "val_label.csv", "test_label.csv")

META_KEYS = ["gender", "age", "location"] + [f"{k}{i}" for i in range(1, 8) for k in ("question", "answers")]


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "aihub"
    summary = simulate(out, images=40, seed=3)
    # A name in both folders counts in both.
    both = summary.names_in_both_folders
    assert summary.unique_images["Training"] + summary.unique_images["Validation"] - both == 40
    assert summary.unique_images["Validation"] > 0 and summary.healthy_images["Validation"] > 0
    assert both == 2 and summary.disagreements == 1  # round(40 × 4,754/91,156), round(40 × 0.02)
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


def _expected_folders(row: dict) -> set[tuple[str, int]]:
    """(symptom key, grade) of every folder holding the image: the real rule, plus its misfiled copy."""
    values = [int(row[s.json_field]) for s in SYMPTOMS]
    if any(values):
        expected = {(s.key, v) for s, v in zip(SYMPTOMS, values) if v > 0}
    else:
        expected = {(s.key, 0) for s in SYMPTOMS}
    if row["misfiled_folder"]:
        folder = parse_folder_name(row["misfiled_folder"])
        expected = {(k, g) for k, g in expected if k != folder.symptom.key} | {(folder.symptom.key, folder.grade)}
    return expected


def test_labels_are_strings_and_agree_with_folders_and_truth(sim):
    truth = _truth(sim)
    seen = defaultdict(lambda: defaultdict(set))
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
                assert split in truth[stem]["split"].split("+")
                # Every JSON copy tells the truth; only a misfiled folder disagrees with it.
                assert label[spec.json_field] == truth[stem][spec.json_field]
                misfiled = truth[stem]["misfiled_folder"] == folder_name("원천", spec, grade)
                assert (label[spec.json_field] == str(grade)) != misfiled
                seen[stem][split].add((key, grade))
    assert set(seen) == set(truth), "every image sits in at least one folder"
    for stem, row in truth.items():
        assert set(seen[stem]) == set(row["split"].split("+")), stem
        for split, folders in seen[stem].items():
            assert folders == _expected_folders(row), (stem, split)
    several = [stem for stem, row in truth.items() if sum(int(row[s.json_field]) > 0 for s in SYMPTOMS) >= 3]
    assert several, "the simulation should hold images with several symptoms"
    misfiled = [stem for stem, row in truth.items() if row["misfiled_folder"]]
    assert len(misfiled) == 1 and not all(int(truth[misfiled[0]][s.json_field]) == 0 for s in SYMPTOMS)


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


def test_subjects_and_names_straddle_the_folders_as_in_the_real_download(sim):
    truth = _truth(sim)
    folders_of_subject = defaultdict(set)
    per_subject = Counter()
    for row in truth.values():
        folders_of_subject[row["subject"]] |= set(row["split"].split("+"))
        per_subject[row["subject"]] += 1
    kinds = Counter("+".join(sorted(f)) for f in folders_of_subject.values())
    # Most subjects have images in both folders; at least one sits only in Training (the folder
    # protocol's test split needs one) and one only in Validation.
    assert kinds["Training+Validation"] > kinds["Training"] >= 1 and kinds["Validation"] >= 1
    both = [stem for stem, row in truth.items() if row["split"] == "Training+Validation"]
    assert len(both) == 2
    for stem in both:  # a name in both folders: the same bytes and label JSON in each
        copies = sorted(sim.rglob(stem + ".jpg")) + sorted(sim.rglob(stem + ".json"))
        assert {p.relative_to(sim).parts[0] for p in copies} == set(SPLITS)
        assert len({p.read_bytes() for p in copies if p.suffix == ".jpg"}) == 1
        assert len({p.read_bytes() for p in copies if p.suffix == ".json"}) == 1
    healthy = [row for row in truth.values() if all(row[s.json_field] == "0" for s in SYMPTOMS)]
    assert healthy and all("+" not in row["split"] for row in healthy)  # as in the real download
    assert max(per_subject.values()) >= 2  # several regions per subject, as in AI Hub


def test_generated_plan_has_the_real_proportions():
    """At scale (planned, not rendered): ~1 % all-healthy, ~25 % in Validation, ~5 % of names in both
    folders, nearly every Validation subject also in Training, 2 % folder/JSON disagreements."""
    plan = misfile(plan_generated(6000, 0.25, 0.01, np.random.default_rng(0)), 0.02, np.random.default_rng(1))
    n = len(plan)
    assert n == 6000 and len({im.name.stem for im in plan}) == n
    assert 0.005 <= sum(im.healthy for im in plan) / n <= 0.015
    assert 0.22 <= sum("Validation" in im.splits for im in plan) / n <= 0.28
    assert 0.04 <= sum(len(im.splits) == 2 for im in plan) / n <= 0.065
    assert sum(im.misfiled is not None for im in plan) == 120
    training = {im.name.subject for im in plan if "Training" in im.splits}
    validation = {im.name.subject for im in plan if "Validation" in im.splits}
    assert 0.9 <= len(training & validation) / len(validation) < 1.0
    assert training - validation  # Training-only subjects exist


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
    assert sum(a.unique_images.values()) - a.names_in_both_folders == 8 and min(a.unique_images.values()) > 0
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
        "--healthy-fraction", "--overwrite", "--labels-from", "--subjects", "--disagreement-fraction",
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


# --------------------------------------------------------------------------- --labels-from


def _write_table(path: Path, rows: list[tuple[str, tuple[int, ...]]], name_column: str = "img_name") -> Path:
    lines = [",".join([s.json_field for s in SYMPTOMS] + [name_column])]
    lines += [",".join([*map(str, values), name]) for name, values in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _made_up_tables(folder: Path) -> tuple[Path, Path]:
    """Two small made-up tables (never AI Hub data): 6 subjects, sessions of 4 regions, names in both."""
    rng = np.random.default_rng(0)
    training, validation = [], []
    for subject in range(1, 7):
        for session in range(3):
            ts = 1_600_000_000_000 + subject * 10**7 + session * 10**5
            for region in (2, 4, 5, 6):
                name = f"{subject:04d}_A2LEBJJDE00060O_{ts}_{region}_{REGION_LOCATIONS[region]}.jpg"
                values = tuple(int(v) for v in rng.integers(0, 4, size=6))
                row = (name, values)
                if subject == 1 or session < 2:
                    training.append(row)
                if subject == 2 or session >= 1:
                    validation.append(row)
    return (_write_table(folder / "train.csv", training),
            _write_table(folder / "valid.csv", validation, name_column="image_file_name"))


def test_labels_from_made_up_tables_keeps_their_names_values_and_folders(tmp_path, capsys):
    train, valid = _made_up_tables(tmp_path)
    tables = read_label_tables([f"Training={train}", f"Validation={valid}"])
    known = {im.name.stem: im for im in tables.images}
    out = tmp_path / "sim"
    assert cli_main(["simulate", "--out", str(out), "--images", "30", "--seed", "2", "--labels-from",
                     f"Training={train}", f"Validation={valid}"]) == 0
    assert "in both folders" in capsys.readouterr().out
    truth = _truth(out)
    assert len(truth) == 30
    for stem, row in truth.items():
        assert tuple(int(row[s.json_field]) for s in SYMPTOMS) == known[stem].grades
        assert row["split"] == "+".join(known[stem].splits)
    assert {row["split"] for row in truth.values()} == {"Training", "Validation", "Training+Validation"}
    # The record names the tables, never their paths: the same seed gives the same tree anywhere.
    config = json.loads((out / CONFIG_FILE).read_text(encoding="utf-8"))
    assert [t["file"] for t in config["labels_from"]] == ["train.csv", "valid.csv"]
    assert str(tmp_path) not in (out / CONFIG_FILE).read_text(encoding="utf-8")
    again = simulate(tmp_path / "again", 30, 2, labels_from=[f"Training={train}", f"Validation={valid}"])
    assert again.disagreements == 1
    assert _tree_digest(tmp_path / "again") == _tree_digest(out)


def test_labels_from_refuses_unusable_tables_clearly(tmp_path, capsys):
    train, valid = _made_up_tables(tmp_path)
    with pytest.raises(LabelTableError, match="Write Training=.*or Validation="):
        read_label_tables([str(train)])  # not a ScalpVision name: which folder is it?
    _write_table(tmp_path / "bad_value.csv", [("0001_A2LEBJJDE00060O_1600000000000_2_TH.jpg", (0, 1, 2, 3, 4, 0))])
    with pytest.raises(LabelTableError, match="line 2: value_5 is '4', expected 0..3"):
        read_label_tables([f"Training={tmp_path / 'bad_value.csv'}"])
    _write_table(tmp_path / "bad_name.csv", [("scalp.jpg", (0,) * 6)])
    with pytest.raises(LabelTableError, match="line 2: 'scalp.jpg' is not <subject>"):
        read_label_tables([f"Training={tmp_path / 'bad_name.csv'}"])
    (tmp_path / "no_names.csv").write_text("value_1,value_2\n0,1\n", encoding="utf-8")
    with pytest.raises(LabelTableError, match="needs the columns"):
        read_label_tables([f"Validation={tmp_path / 'no_names.csv'}"])
    name = "0001_A2LEBJJDE00060O_1600000000000_2_TH.jpg"
    _write_table(tmp_path / "a.csv", [(name, (0, 1, 0, 0, 0, 0))])
    _write_table(tmp_path / "b.csv", [(name, (0, 2, 0, 0, 0, 0))])
    with pytest.raises(LabelTableError, match="one image has one label"):
        read_label_tables([f"Training={tmp_path / 'a.csv'}", f"Validation={tmp_path / 'b.csv'}"])
    tables = [f"Training={train}", f"Validation={valid}"]
    for extra, message in (
        (["--validation-fraction", "0.3"], "--validation-fraction does not apply with --labels-from"),
        (["--images", "1000"], "more than the label tables hold"),
        (["--images", "20", "--subjects", "50"], "--subjects must be 1..6"),
        (["--labels-from", str(tmp_path / "missing.csv")], "Write Training="),
        (["--labels-from", f"Training={tmp_path / 'missing.csv'}"], "no such file"),
    ):
        argv = ["simulate", "--out", str(tmp_path / "x"), "--labels-from", *tables, *extra]
        assert cli_main(argv) == 2, extra
        assert message in capsys.readouterr().err, extra
        assert not (tmp_path / "x").exists(), "a refused simulation writes nothing"
    assert cli_main(["simulate", "--out", str(tmp_path / "x"), "--subjects", "3"]) == 2
    assert "--subjects needs --labels-from" in capsys.readouterr().err


@pytest.fixture(scope="module")
def real_tables(shared_reference):
    folder = shared_reference / SCALPVISION
    return [str(folder / name) for name in SCALPVISION_TABLES]


@pytest.mark.shared
def test_labels_from_the_real_tables_gives_real_subjects_names_values_and_folders(real_tables, tmp_path):
    tables = read_label_tables(real_tables)
    known = {im.name.stem: im for im in tables.images}
    summary = simulate(tmp_path / "real", 120, 0, labels_from=real_tables)
    truth = _truth(tmp_path / "real")
    assert len(truth) == 120 and summary.disagreements == 2  # round(120 × 0.02)
    # Every image is a real one: its name (subject, device, session, region), six values and folders.
    for stem, row in truth.items():
        assert tuple(int(row[s.json_field]) for s in SYMPTOMS) == known[stem].grades
        assert row["split"] == "+".join(known[stem].splits)
    subjects = Counter(row["subject"] for row in truth.values())
    assert len(subjects) == 15  # one subject per 8 images
    assert summary.subjects_in_both_folders >= 1
    # Whole sessions: most drawn images share their device and timestamp with another drawn image.
    sessions = Counter(stem.rsplit("_", 2)[0] for stem in truth)
    assert sum(n for n in sessions.values() if n >= 2) >= 0.8 * len(truth)
    misfiled = [row for row in truth.values() if row["misfiled_folder"]]
    for row in misfiled:
        folder = parse_folder_name(row["misfiled_folder"])
        assert str(folder.grade) != row[folder.symptom.json_field]


@pytest.mark.shared
def test_plan_from_the_real_tables_keeps_the_real_joint_distribution(real_tables):
    """Planned at 5,000 images (not rendered): the six values keep their real joint distribution.

    A uniform sample of 5,000 real rows lies about 0.09 (total variation over the 6-value
    combinations) from the whole; values drawn independently from the right marginals lie 0.28.
    """
    tables = read_label_tables(real_tables)
    real = np.array([im.grades for im in tables.images])
    plan = plan_from_tables(tables, 5000, None, np.random.default_rng(0))
    drawn = np.array([im.grades for im in plan])
    assert len({im.name.subject for im in plan}) == 190  # 5000 / 8 > 190: every subject, in proportion
    for grade in range(4):
        assert np.abs((drawn == grade).mean(axis=0) - (real == grade).mean(axis=0)).max() < 0.02
    real_combos, drawn_combos = Counter(map(tuple, real)), Counter(map(tuple, drawn))
    distance = 0.5 * sum(abs(real_combos[c] / len(real) - drawn_combos[c] / len(drawn))
                         for c in set(real_combos) | set(drawn_combos))
    assert distance < 0.15
    assert 0.004 <= (drawn.sum(axis=1) == 0).mean() <= 0.012  # real: 0.75 % all-healthy
    assert 0.035 <= np.mean([len(im.splits) == 2 for im in plan]) <= 0.07  # real: 5.2 % in both folders
