"""Write a miniature, synthetic AI Hub '유형별 두피 이미지' download, for offline work and tests.

The tree has the real shape (``../shared/reference/aihub216_FORMAT.md``)::

    DIR/Training/[원천]<증상>_<n>.<등급>/<stem>.jpg      (or the same as a .zip)
    DIR/Training/[라벨]<증상>_<n>.<등급>/<stem>.json
    DIR/Validation/...
    DIR/META_DATA/<stem>_META.json
    DIR/_simulation_truth.csv     (simulator only: a real download has no such file)

and the real quirks: the same all-healthy images (all six values "0") sit in every
symptom's ``0.양호`` folder; any other image sits in the folder of each symptom k with
value_k > 0, at grade value_k, so one image can appear in several folders. Subjects
(first field of the file name) never straddle Training and Validation. Images come
from :func:`synthetic.render.render_scalp`. The same seed gives byte-identical files.

Zipped folders (``--zip all`` or ``mixed``) hold their files under a top folder of the
same name (``[원천]비듬_0.양호/<stem>.jpg``), with member names in UTF-8 (flag bit 11)
or, like Korean Windows, raw CP949 without the flag (``--zip-encoding cp949``).

Run::

    python -m datasets_prep simulate --out /tmp/aihub_sim --images 300 --seed 0
    python -m datasets_prep simulate --out /tmp/aihub_zip --images 300 --seed 0 --zip all --zip-encoding cp949
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
import time
import zipfile
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scalp_core.aihub_names import (
    LABEL_KIND,
    REGION_LOCATIONS,
    SOURCE_KIND,
    SPLITS,
    ImageName,
    folder_name,
)
from scalp_core.cli import help_field, parse_dataclass_args
from scalp_core.symptoms import SYMPTOMS
from synthetic.render import random_severities, render_scalp

TRUTH_FILE = "_simulation_truth.csv"
CONFIG_FILE = "_simulation_config.json"
META_DIR = "META_DATA"

ZIP_MODES = ("none", "all", "mixed")
ZIP_ENCODINGS = ("utf-8", "cp949")
_ZIP_DATE = (2021, 3, 31, 12, 0, 0)  # fixed, so zips are byte-identical between runs
_JPEG_QUALITY = 90

# Device serials seen in real file names start with these; the rest is made up.
_DEVICE_PREFIXES = ("A2LEBJJDE", "A1LCAIHDH")
_EPOCH_2020_MS = (1577836800000, 1609459199999)

# The seven survey questions of the real metadata JSONs (aihub216_FORMAT.md) and the
# answers the simulator draws from. answers4/answers5 are multi-select, comma-joined.
_META_QUESTIONS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("샴푸사용 빈도", ("1일 1회", "1일 2회", "2일 1회"), False),
    ("펌주기", ("하지않음", "1~3회/연", "4~6회/연", "7회 이상/연"), False),
    ("염색주기", ("하지않음", "1~3회/연", "4~6회/연", "7회 이상/연"), False),
    ("현재 모발 상태", ("기타", "염색 모발", "가발 사용(붙임머리 포함)", "모발이식/시술"), True),
    ("사용 중인 두피모발 제품", ("샴푸", "린스", "트리트먼트", "헤어에센스", "두피스케일러", "헤어토닉"), True),
    ("두피케어제품 사용 희망", ("예", "아니오"), False),
    ("샴푸 구매시 중요 고려 사항", ("세정력", "두피자극", "머리결", "향", "헹굼후느낌", "가격"), False),
)
_AGES = ("10대", "20대", "30대", "40대", "50대", "60대")


@dataclass(frozen=True)
class SimulateConfig:
    """Options of ``python -m datasets_prep simulate``."""

    out: str = help_field("folder to write the simulated download into (must be empty or new)")
    images: int = help_field("number of unique images to render", default=300)
    seed: int = help_field("random seed; the same seed gives byte-identical files", default=0)
    zip: str = help_field(
        "none (unzipped folders), all (every folder as .zip) or mixed (some zipped, some not)",
        default="none",
    )
    zip_encoding: str = help_field(
        "zip member names in utf-8 (flag bit 11) or cp949 (no flag, as Korean Windows writes them)",
        default="utf-8",
    )
    validation_fraction: float = help_field(
        "share of images (whole subjects) that go to Validation", default=0.25
    )
    healthy_fraction: float = help_field(
        "share of images drawn all-healthy (they fill every 0.양호 folder)", default=0.1
    )
    overwrite: bool = help_field(
        "replace OUT if it holds an earlier simulation (never anything else)", default=False
    )

    def __post_init__(self):
        if self.images < 1:
            raise ValueError(f"--images must be at least 1, got {self.images}")
        if self.images > 100_000:
            raise ValueError(f"--images {self.images} is more than the simulator supports (100000)")
        if self.zip not in ZIP_MODES:
            raise ValueError(f"--zip must be one of {ZIP_MODES}, got {self.zip!r}")
        if self.zip_encoding not in ZIP_ENCODINGS:
            raise ValueError(f"--zip-encoding must be one of {ZIP_ENCODINGS}, got {self.zip_encoding!r}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"--validation-fraction must be in [0, 1), got {self.validation_fraction}")
        if not 0.0 <= self.healthy_fraction <= 1.0:
            raise ValueError(f"--healthy-fraction must be in [0, 1], got {self.healthy_fraction}")


@dataclass(frozen=True)
class SimulationSummary:
    """What :func:`simulate` wrote. Dicts are keyed by split name (Training / Validation)."""

    out: str
    unique_images: dict[str, int]
    healthy_images: dict[str, int]
    folder_entries: dict[str, int]
    subjects: dict[str, int]
    seconds: float


@dataclass(frozen=True)
class _Image:
    name: ImageName
    split: str
    grades: tuple[int, ...]  # value_1..value_6
    seed: int

    @property
    def healthy(self) -> bool:
        return not any(self.grades)


# --------------------------------------------------------------------------- planning


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


def _plan_images(config: SimulateConfig, rng: np.random.Generator) -> list[_Image]:
    subjects = _plan_subjects(config.images, rng)
    # Whole subjects go to Validation while that brings it closer to its share of
    # images; Training always keeps at least one subject.
    target_val = round(config.validation_fraction * config.images)
    split_of = {subject: SPLITS[0] for subject, _ in subjects}
    n_val = n_subjects_val = 0
    for idx in rng.permutation(len(subjects)):
        subject, shots = subjects[int(idx)]
        closer = abs(n_val + len(shots) - target_val) < abs(n_val - target_val)
        if closer and n_subjects_val < len(subjects) - 1:
            split_of[subject] = SPLITS[1]
            n_val += len(shots)
            n_subjects_val += 1
    if n_val == 0 and target_val > 0 and len(subjects) > 1:
        smallest = min(subjects, key=lambda item: len(item[1]))[0]
        split_of[smallest] = SPLITS[1]

    planned: list[_Image] = []
    for subject, shots in subjects:
        # A subject's regions share a scalp condition, with some variation per region.
        base = random_severities(rng)
        for device, ts, region in shots:
            grades = tuple(
                int(np.clip(base[s.key] + rng.choice([-1, 0, 0, 0, 1]), 0, 3)) for s in SYMPTOMS
            )
            name = ImageName(subject, device, ts, region, REGION_LOCATIONS[region])
            planned.append(_Image(name, split_of[subject], grades, int(rng.integers(0, 2**63 - 1))))

    # The all-healthy set: each split gets its share (at least one image when it has two).
    result = []
    for split in SPLITS:
        in_split = [im for im in planned if im.split == split]
        n_healthy = round(config.healthy_fraction * len(in_split))
        if config.healthy_fraction > 0 and len(in_split) >= 2:
            n_healthy = max(n_healthy, 1)
        chosen = set(rng.choice(len(in_split), size=n_healthy, replace=False).tolist())
        for i, im in enumerate(in_split):
            grades = (0,) * len(SYMPTOMS) if i in chosen else im.grades
            result.append(_Image(im.name, im.split, grades, im.seed))
    result.sort(key=lambda im: (im.split, im.name.stem))
    return result


def _meta(subject_rng: np.random.Generator, location: str) -> dict[str, str]:
    meta = {
        "gender": "여" if subject_rng.random() < 0.58 else "남",
        "age": _AGES[int(subject_rng.choice(len(_AGES), p=(0.04, 0.3, 0.28, 0.2, 0.13, 0.05)))],
        "location": location,
    }
    for i, (question, options, multi) in enumerate(_META_QUESTIONS, start=1):
        if multi:
            k = int(subject_rng.integers(1, min(3, len(options)) + 1))
            picked = sorted(subject_rng.choice(len(options), size=k, replace=False).tolist())
            answer = ",".join(options[j] for j in picked)
        else:
            answer = options[int(subject_rng.integers(0, len(options)))]
        meta[f"question{i}"] = question
        meta[f"answers{i}"] = answer
    return meta


def label_json(image: ImageName, grades: tuple[int, ...]) -> str:
    """The label JSON text, keys and layout as in the real files (tab indent, string values)."""
    record = {"image_id": image.image_id, "image_file_name": image.file_name}
    for spec, grade in zip(SYMPTOMS, grades):
        record[spec.json_field] = str(grade)
    return json.dumps(record, ensure_ascii=False, indent="\t") + "\n"


# --------------------------------------------------------------------------- writing


class _CP949ZipInfo(zipfile.ZipInfo):
    """A ZipInfo whose name is stored as raw CP949 bytes without the UTF-8 flag (bit 11).

    zipfile always writes non-ASCII names as UTF-8 with the flag; Korean Windows tools
    write CP949 and no flag, which is what the real AI Hub zips may hold, so override
    the (private, stable since Python 3.0) name encoder.
    """

    def _encodeFilenameFlags(self):  # noqa: N802 - zipfile's name
        return self.filename.encode("cp949"), self.flag_bits & ~0x800


def _zip_info(name: str, encoding: str, compress: int) -> zipfile.ZipInfo:
    cls = _CP949ZipInfo if encoding == "cp949" else zipfile.ZipInfo
    info = cls(name, date_time=_ZIP_DATE)
    info.compress_type = compress
    info.create_system = 0  # as if made on Windows; also keeps bytes equal across platforms
    info.external_attr = 0x20  # FILE_ATTRIBUTE_ARCHIVE
    return info


def _write_folder(
    parent: Path, name: str, members: list[tuple[str, bytes]], zipped: bool, encoding: str
) -> None:
    if not zipped:
        folder = parent / name
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, data in members:
            (folder / file_name).write_bytes(data)
        return
    with zipfile.ZipFile(parent / f"{name}.zip", "w") as zf:
        for file_name, data in members:
            # JPEGs do not compress; JSON does.
            compress = zipfile.ZIP_STORED if file_name.endswith(".jpg") else zipfile.ZIP_DEFLATED
            zf.writestr(_zip_info(f"{name}/{file_name}", encoding, compress), data)


def _prepare_out(config: SimulateConfig) -> Path:
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} exists and is not a folder; choose a new --out folder")
    if out.exists() and any(out.iterdir()):
        if not config.overwrite:
            raise FileExistsError(
                f"{out} is not empty; choose a new --out or pass --overwrite to replace a simulation"
            )
        if not (out / TRUTH_FILE).is_file():
            raise FileExistsError(
                f"{out} has no {TRUTH_FILE}, so it does not look like an earlier simulation; "
                "refusing to delete it (choose a new --out)"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def run_simulation(config: SimulateConfig) -> SimulationSummary:
    """Write the simulated download described by ``config``."""
    start = time.perf_counter()
    out = _prepare_out(config)
    rng = np.random.default_rng(config.seed)
    images = _plan_images(config, rng)
    zip_rng = np.random.default_rng([config.seed, 1])

    # folder entries: (split, kind, symptom index, grade) -> [(file name, bytes)]
    entries: dict[tuple[str, int, int], list[_Image]] = defaultdict(list)
    for im in images:
        if im.healthy:
            for k in range(len(SYMPTOMS)):
                entries[(im.split, k, 0)].append(im)
        else:
            for k, grade in enumerate(im.grades):
                if grade > 0:
                    entries[(im.split, k, grade)].append(im)

    # Render and encode each unique image once; copies reuse the bytes.
    jpeg: dict[str, bytes] = {}
    for im in images:
        severities = {spec.key: grade for spec, grade in zip(SYMPTOMS, im.grades)}
        picture = render_scalp(severities, np.random.default_rng(im.seed))
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=_JPEG_QUALITY)
        jpeg[im.name.stem] = buffer.getvalue()

    folder_entries = {split: 0 for split in SPLITS}
    for split in SPLITS:
        split_dir = out / split
        split_dir.mkdir()
        for k, spec in enumerate(SYMPTOMS):
            for grade in range(4):
                members = sorted(entries.get((split, k, grade), []), key=lambda im: im.name.stem)
                folder_entries[split] += len(members)
                for kind in (SOURCE_KIND, LABEL_KIND):
                    zipped = config.zip == "all" or (config.zip == "mixed" and bool(zip_rng.random() < 0.5))
                    if kind == SOURCE_KIND:
                        files = [(im.name.file_name, jpeg[im.name.stem]) for im in members]
                    else:
                        files = [
                            (im.name.stem + ".json", label_json(im.name, im.grades).encode("utf-8"))
                            for im in members
                        ]
                    name = folder_name(kind, spec, grade)
                    _write_folder(split_dir, name, files, zipped, config.zip_encoding)

    meta_dir = out / META_DIR
    meta_dir.mkdir()
    for im in images:
        # Re-seeded per subject: a subject keeps gender, age and answers; only location varies.
        meta = _meta(np.random.default_rng([config.seed, 2, int(im.name.subject)]), im.name.location)
        text = json.dumps(meta, ensure_ascii=False, indent="\t") + "\n"
        (meta_dir / f"{im.name.stem}_META.json").write_text(text, encoding="utf-8")

    with open(out / TRUTH_FILE, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["stem", "image_id", "split", "subject", *(s.json_field for s in SYMPTOMS)])
        for im in images:
            writer.writerow([im.name.stem, im.name.image_id, im.split, im.name.subject, *im.grades])
    # No output path or overwrite flag: the same seed must give byte-identical trees anywhere.
    settings = {k: v for k, v in asdict(config).items() if k not in ("out", "overwrite")}
    text = json.dumps(settings, ensure_ascii=False, indent=2) + "\n"
    (out / CONFIG_FILE).write_text(text, encoding="utf-8")

    return SimulationSummary(
        out=str(out),
        unique_images={s: sum(im.split == s for im in images) for s in SPLITS},
        healthy_images={s: sum(im.split == s and im.healthy for im in images) for s in SPLITS},
        folder_entries=folder_entries,
        subjects={s: len({im.name.subject for im in images if im.split == s}) for s in SPLITS},
        seconds=round(time.perf_counter() - start, 2),
    )


def simulate(
    out: str | Path,
    images: int,
    seed: int,
    *,
    zip_mode: str = "none",
    zip_encoding: str = "utf-8",
    validation_fraction: float = 0.25,
    healthy_fraction: float = 0.1,
    overwrite: bool = False,
) -> SimulationSummary:
    """Plain-function form of the CLI; see :class:`SimulateConfig` for the options."""
    config = SimulateConfig(
        out=str(out), images=images, seed=seed, zip=zip_mode, zip_encoding=zip_encoding,
        validation_fraction=validation_fraction, healthy_fraction=healthy_fraction, overwrite=overwrite,
    )
    return run_simulation(config)


def parse_config(argv: list[str] | None = None) -> SimulateConfig:
    """The :class:`SimulateConfig` of a command line; ``ValueError`` (from its checks) for bad values."""
    return parse_dataclass_args(
        SimulateConfig, argv, prog="python -m datasets_prep simulate",
        description="Write a miniature synthetic AI Hub '유형별 두피 이미지' download.")


def main(argv: list[str] | None = None) -> int:
    try:
        summary = run_simulation(parse_config(argv))
    except (ValueError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"wrote {summary.out}: unique images {summary.unique_images}, all-healthy {summary.healthy_images}, "
        f"folder entries {summary.folder_entries}, subjects {summary.subjects} in {summary.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
