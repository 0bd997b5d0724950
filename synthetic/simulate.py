"""Write a miniature, synthetic AI Hub '유형별 두피 이미지' download, for offline work and tests.

The tree has the real shape (``../shared/reference/aihub216_FORMAT.md``)::

    DIR/Training/[원천]<증상>_<n>.<등급>/<stem>.jpg      (or the same as a .zip)
    DIR/Training/[라벨]<증상>_<n>.<등급>/<stem>.json
    DIR/Validation/...
    DIR/META_DATA/<stem>_META.json
    DIR/_simulation_truth.csv     (simulator only: a real download has no such file)

and the real quirks: the same all-healthy images (all six values "0") sit in every symptom's
``0.양호`` folder; any other image sits in the folder of each symptom k with value_k > 0, at grade
value_k, so one image can appear in several folders; about 2 % of the images have one folder copy
whose grade disagrees with their label JSON (``--disagreement-fraction``). Subjects straddle
Training and Validation and some names sit in both folders, as in the real download.

Without ``--labels-from`` the subjects, their sessions and their grades are made up
(:func:`synthetic.plan.plan_generated`; about 1 % all-healthy). With ``--labels-from`` real AI Hub
label tables (:mod:`synthetic.label_tables`) give real subjects with their real file names,
regions, six values and Training/Validation folders (:func:`synthetic.plan.plan_from_tables`); the
tables are read in place and never copied. Either way the pictures come from
:func:`synthetic.render.render_scalp`, and the same seed gives byte-identical files.
``_simulation_truth.csv`` lists every image with its folders (``split``: Training, Validation or
Training+Validation), its values and its misfiled folder, if any.

Zipped folders (``--zip all`` or ``mixed``) hold their files under a top folder of the
same name (``[원천]비듬_0.양호/<stem>.jpg``), with member names in UTF-8 (flag bit 11)
or, like Korean Windows, raw CP949 without the flag (``--zip-encoding cp949``).

Run::

    python -m datasets_prep simulate --out /tmp/aihub_sim --images 300 --seed 0
    python -m datasets_prep simulate --out /tmp/aihub_zip --images 300 --seed 0 --zip all --zip-encoding cp949
    python -m datasets_prep simulate --out /tmp/aihub_real --images 300 \\
        --labels-from ../shared/reference/winston1214__ScalpVision/{train,val,test}_label.csv
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

from scalp_core.aihub_names import LABEL_KIND, SOURCE_KIND, SPLITS, ImageName, folder_name
from scalp_core.cli import help_field, parse_dataclass_args
from scalp_core.symptoms import SYMPTOMS
from synthetic.label_tables import read_label_tables
from synthetic.plan import PlannedImage, misfile, plan_from_tables, plan_generated
from synthetic.render import render_scalp

TRUTH_FILE = "_simulation_truth.csv"
CONFIG_FILE = "_simulation_config.json"
META_DIR = "META_DATA"

ZIP_MODES = ("none", "all", "mixed")
ZIP_ENCODINGS = ("utf-8", "cp949")
DEFAULT_VALIDATION_FRACTION = 0.25  # real: 23,568 of 91,156 unique names sit in Validation
DEFAULT_HEALTHY_FRACTION = 0.01  # real: 0.75 % of the unique images are all-healthy
_ZIP_DATE = (2021, 3, 31, 12, 0, 0)  # fixed, so zips are byte-identical between runs
_JPEG_QUALITY = 90

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
    labels_from: list[str] = help_field(
        "real AI Hub label tables (CSV: value_1..value_6, img_name) to draw subjects, names, values and "
        "folders from, each as [Training=|Validation=]PATH (ScalpVision's train/val/test_label.csv are "
        "recognised without a prefix); read in place, never copied",
        default_factory=list,
    )
    subjects: int | None = help_field(
        "with --labels-from: how many real subjects to draw; None draws one per 8 images", default=None
    )
    validation_fraction: float | None = help_field(
        "without --labels-from: share of images that sit in Validation; None means "
        f"{DEFAULT_VALIDATION_FRACTION}. Most subjects have images in both folders, as in the real download",
        default=None,
    )
    healthy_fraction: float | None = help_field(
        "without --labels-from: share of images drawn all-healthy, filling every 0.양호 folder; None means "
        f"{DEFAULT_HEALTHY_FRACTION}",
        default=None,
    )
    disagreement_fraction: float = help_field(
        "share of images with one folder copy whose grade disagrees with the label JSON "
        "(real download: 0.01 to 0.03)",
        default=0.02,
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
        if self.labels_from:
            for flag, value in (("--validation-fraction", self.validation_fraction),
                                ("--healthy-fraction", self.healthy_fraction)):
                if value is not None:
                    raise ValueError(f"{flag} does not apply with --labels-from: the label tables decide it")
        else:
            if self.subjects is not None:
                raise ValueError("--subjects needs --labels-from (made-up subjects follow --images)")
            if self.validation_fraction is None:
                object.__setattr__(self, "validation_fraction", DEFAULT_VALIDATION_FRACTION)
            if self.healthy_fraction is None:
                object.__setattr__(self, "healthy_fraction", DEFAULT_HEALTHY_FRACTION)
            if not 0.0 <= self.validation_fraction < 1.0:
                raise ValueError(f"--validation-fraction must be in [0, 1), got {self.validation_fraction}")
            if not 0.0 <= self.healthy_fraction <= 1.0:
                raise ValueError(f"--healthy-fraction must be in [0, 1], got {self.healthy_fraction}")
        if not 0.0 <= self.disagreement_fraction <= 0.5:
            raise ValueError(f"--disagreement-fraction must be in [0, 0.5], e.g. 0.02, got {self.disagreement_fraction}")


@dataclass(frozen=True)
class SimulationSummary:
    """What :func:`simulate` wrote. Dicts are keyed by folder (Training / Validation); a name in both counts in both."""

    out: str
    unique_images: dict[str, int]
    healthy_images: dict[str, int]
    folder_entries: dict[str, int]
    subjects: dict[str, int]
    names_in_both_folders: int
    subjects_in_both_folders: int
    disagreements: int
    seconds: float


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


def plan_simulation(config: SimulateConfig) -> tuple[list[PlannedImage], dict]:
    """The images ``config`` asks for (nothing written yet) and the settings that record it.

    The settings hold no output path, no overwrite flag and no table paths (only the tables' file
    names, row counts and SHA-256): the same seed must give byte-identical trees anywhere.
    """
    rng = np.random.default_rng(config.seed)
    settings = {k: v for k, v in asdict(config).items() if k not in ("out", "overwrite", "labels_from")}
    if config.labels_from:
        tables = read_label_tables(config.labels_from)
        plan = plan_from_tables(tables, config.images, config.subjects, rng)
        settings["labels_from"] = list(tables.sources)
    else:
        plan = plan_generated(config.images, config.validation_fraction, config.healthy_fraction, rng)
    return misfile(plan, config.disagreement_fraction, rng), settings


def _render(image: PlannedImage) -> bytes:
    severities = {spec.key: grade for spec, grade in zip(SYMPTOMS, image.grades, strict=True)}
    picture = render_scalp(severities, np.random.default_rng(image.seed))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    return buffer.getvalue()


def run_simulation(config: SimulateConfig) -> SimulationSummary:
    """Write the simulated download described by ``config``."""
    start = time.perf_counter()
    images, settings = plan_simulation(config)  # before touching OUT: a bad table leaves it as it was
    out = _prepare_out(config)
    zip_rng = np.random.default_rng([config.seed, 1])

    # folder entries: (split, symptom index, grade) -> images
    entries: dict[tuple[str, int, int], list[PlannedImage]] = defaultdict(list)
    for im in images:
        for split in im.splits:
            for k, grade in im.folders():
                entries[(split, k, grade)].append(im)

    # Render and encode each unique image once; copies reuse the bytes.
    jpeg = {im.name.stem: _render(im) for im in images}

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
        writer.writerow(
            ["stem", "image_id", "split", "subject", *(s.json_field for s in SYMPTOMS), "misfiled_folder"]
        )
        for im in images:
            writer.writerow(
                [im.name.stem, im.name.image_id, im.split_label, im.name.subject, *im.grades, im.misfiled_folder()]
            )
    text = json.dumps(settings, ensure_ascii=False, indent=2) + "\n"
    (out / CONFIG_FILE).write_text(text, encoding="utf-8")

    subjects = {s: {im.name.subject for im in images if s in im.splits} for s in SPLITS}
    return SimulationSummary(
        out=str(out),
        unique_images={s: sum(s in im.splits for im in images) for s in SPLITS},
        healthy_images={s: sum(s in im.splits and im.healthy for im in images) for s in SPLITS},
        folder_entries=folder_entries,
        subjects={s: len(members) for s, members in subjects.items()},
        names_in_both_folders=sum(len(im.splits) > 1 for im in images),
        subjects_in_both_folders=len(set.intersection(*subjects.values())),
        disagreements=sum(im.misfiled is not None for im in images),
        seconds=round(time.perf_counter() - start, 2),
    )


def simulate(
    out: str | Path,
    images: int,
    seed: int,
    *,
    zip_mode: str = "none",
    zip_encoding: str = "utf-8",
    labels_from: list[str] | tuple[str, ...] = (),
    subjects: int | None = None,
    validation_fraction: float | None = None,
    healthy_fraction: float | None = None,
    disagreement_fraction: float = 0.02,
    overwrite: bool = False,
) -> SimulationSummary:
    """Plain-function form of the CLI; see :class:`SimulateConfig` for the options."""
    config = SimulateConfig(
        out=str(out), images=images, seed=seed, zip=zip_mode, zip_encoding=zip_encoding,
        labels_from=[str(item) for item in labels_from], subjects=subjects,
        validation_fraction=validation_fraction, healthy_fraction=healthy_fraction,
        disagreement_fraction=disagreement_fraction, overwrite=overwrite,
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
        f"folder entries {summary.folder_entries}, subjects {summary.subjects}; in both folders: "
        f"{summary.names_in_both_folders} names, {summary.subjects_in_both_folders} subjects; "
        f"{summary.disagreements} folder/JSON disagreements; {summary.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
