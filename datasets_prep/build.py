"""Build honest per-symptom datasets from a real AI Hub '유형별 두피 이미지' download.

Reads ``Training/`` and ``Validation/`` (found case-insensitively, also one or two
levels down such as ``01.데이터/1.Training``) holding ``[원천]``/``[라벨]`` folders,
their ``.zip`` files, or any mix (zip member names in UTF-8 or CP949), and writes
the on-disk contract of ``docs/ARCHITECTURE.md``:

- ``OUT/images.parquet``: one row per unique image (the raw download repeats an image
  in every symptom folder where its grade is > 0, and the all-healthy images in all
  six ``0.양호`` folders);
- ``OUT/<symptom key>/``: a ``datasets.DatasetDict`` (train/validation/test) per symptom;
- ``OUT/report.json``, ``OUT/report.md``, ``OUT/prep_config.json``.

AI Hub's Validation stays ``validation``; ``test`` is carved out of Training by
subject. Every skipped file is named in the report with its reason, including
``[원천]``/``[라벨]`` folders lying outside Training/Validation (their split is unknown).
A build output (``prep_config.json``/``dataset_dict.json``) under the root is never read.

    python -m datasets_prep build --aihub-root ~/aihub216 --out prepared [--protocol full|folder]
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import re
import shutil
import sys
import time
import zipfile
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from datasets_prep.hub_push import PublicPushRefused, PushFailed, check_push_allowed
from scalp_core.aihub_names import (
    FolderName,
    ImageName,
    parse_folder_name,
    parse_image_stem,
    zip_member_name,
)
from scalp_core.cli import help_field
from scalp_core.symptoms import LABEL_SCHEMES, SYMPTOMS, SymptomSpec, class_names, grade_to_class

SPLIT_NAMES = {"training": "train", "validation": "validation"}
OUTPUT_SPLITS = ("train", "validation", "test")
VALUE_FIELDS = tuple(spec.json_field for spec in SYMPTOMS)
_SPLIT_DIR_RE = re.compile(r"(?:^|[^a-z])(training|validation)$", re.IGNORECASE)
_IMAGE_SUFFIXES = (".jpg", ".jpeg")




DEFAULT_WORKERS = max(1, (os.cpu_count() or 1) - 1)

@dataclass(frozen=True)
class BuildConfig:
    """Everything the build needs; saved as ``OUT/prep_config.json``."""

    aihub_root: Path = help_field("Folder holding the AI Hub download (Training/ and Validation/, zipped or not).")
    out: Path = help_field("Output folder for images.parquet, the per-symptom DatasetDicts and the report.")
    labels: int = help_field(
        "Label scheme: 3 (양호 / 경증·중등도 / 중증, the seed's) or 4 (all AI Hub grades).", default=3
    )
    protocol: str = help_field(
        "full: every unique image labelled by its JSON value (honest). "
        "folder: the seed's per-folder sets labelled by folder grade (seed-comparable).",
        default="full",
    )
    test_fraction: float = help_field(
        "Share of Training images moved to the test split, whole subjects at a time.", default=0.1
    )
    seed: int = help_field("Seed of the subject-wise test split.", default=0)
    image_size_override: int | None = help_field(
        "Resize every image so its shorter side is this many pixels instead of each spec's input_size "
        "(for tests and small runs, e.g. 64).",
        default=None,
    )
    workers: int = help_field(
        "Processes decoding images (1 = in this process). Default: one per core but one, since this "
        "process collects and writes the results; on 2 cores 1 worker measured faster than 2.",
        default=DEFAULT_WORKERS,
    )
    jpeg_quality: int = help_field("JPEG quality of the stored, resized images.", default=92)
    push_to_hub: str | None = help_field(
        "Push the DatasetDicts to this PRIVATE Hub dataset repo (owner/name).", default=None
    )
    private: bool = help_field(
        "Hub repo visibility; only private is allowed (AI Hub terms forbid redistribution).", default=True
    )

    def __post_init__(self):
        object.__setattr__(self, "aihub_root", Path(self.aihub_root))
        object.__setattr__(self, "out", Path(self.out))
        if self.labels not in LABEL_SCHEMES:
            raise ValueError(f"--labels must be one of {LABEL_SCHEMES}, got {self.labels!r}")
        if self.protocol not in ("full", "folder"):
            raise ValueError(f"--protocol must be 'full' or 'folder', got {self.protocol!r}")
        if not 0.0 <= self.test_fraction < 1.0:
            raise ValueError(f"--test-fraction must be in [0, 1), e.g. 0.1, got {self.test_fraction!r}")
        if self.image_size_override is not None and not 8 <= self.image_size_override <= 4096:
            raise ValueError(
                f"--image-size-override must be 8..4096 pixels, got {self.image_size_override!r}"
            )
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers!r}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"--jpeg-quality must be 1..100, got {self.jpeg_quality!r}")
        if self.push_to_hub is not None:
            check_push_allowed(self.private)  # refuse a public push before any work or network access
        if self.out.resolve() == self.aihub_root.resolve():
            raise ValueError("--out must differ from --aihub-root: the build writes its own folders there")
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(
                f"--out {self.out} exists and is not a folder; choose a folder for the build output"
            )

    def variant_for(self, spec: SymptomSpec) -> tuple[int, bool]:
        """(shorter side in pixels, grayscale) of the stored images for ``spec``."""
        return (self.image_size_override or spec.input_size, spec.grayscale)

    def to_json(self) -> dict:
        data = asdict(self)
        data["aihub_root"] = str(self.aihub_root)
        data["out"] = str(self.out)
        return data


class BuildError(RuntimeError):
    """Nothing usable remained; the message says why and what to check."""


@dataclass
class BuildResult:
    out: Path
    n_images: int
    split_counts: dict[str, int]
    report: dict
    pushed: list[str] = field(default_factory=list)  # symptom configs pushed to the private Hub repo


# ---------------------------------------------------------------------------------------------
# Label JSON


class LabelError(ValueError):
    """A label JSON that cannot be used; the message is the reason shown in the report."""


@dataclass(frozen=True)
class LabelRecord:
    stem: str
    image_id: str
    image_file_name: str
    values: tuple[int, ...]  # value_1..value_6 as grades 0..3
    warnings: tuple[str, ...] = ()


def read_label_json(data: bytes, file_name: str) -> LabelRecord:
    """Parse one AI Hub label JSON (``<image stem>.json``); raise :class:`LabelError` with the reason.

    Values must be "0".."3" (ints 0..3 are accepted too). The JSON's own ``image_file_name``
    and ``image_id`` are checked against the file name and disagreements become warnings.
    """
    stem = file_name.rsplit("/", 1)[-1]
    stem = stem[: -len(".json")] if stem.lower().endswith(".json") else stem
    name = parse_image_stem(stem)
    if name is None:
        raise LabelError(
            f"file name {file_name!r} is not <subject>_<device>_<ms>_<region>_<TH|LH|RH|BH>.json"
        )
    try:
        content = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LabelError(f"invalid JSON: {error}") from None
    if not isinstance(content, dict):
        raise LabelError(f"invalid JSON: expected an object, got {type(content).__name__}")
    values = []
    for key in VALUE_FIELDS:
        if key not in content:
            raise LabelError(f"missing key {key!r}")
        raw = content[key]
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            raise LabelError(f'{key} is {raw!r}, expected a string "0".."3"')
        text = str(raw).strip()
        if text not in ("0", "1", "2", "3"):
            raise LabelError(f'{key} is {raw!r}, expected "0".."3"')
        values.append(int(text))
    warnings = []
    json_file_name = content.get("image_file_name")
    if json_file_name is not None and str(json_file_name) != name.file_name:
        warnings.append(f"label {stem}.json names image_file_name {json_file_name!r}")
    json_image_id = content.get("image_id")
    if json_image_id is not None and str(json_image_id) != name.image_id:
        warnings.append(f"label {stem}.json names image_id {json_image_id!r}, expected {name.image_id!r}")
    return LabelRecord(
        stem, name.image_id, str(json_file_name or name.file_name), tuple(values), tuple(warnings)
    )


# ---------------------------------------------------------------------------------------------
# Discovery


@dataclass(frozen=True)
class Source:
    """One ``[원천]``/``[라벨]`` folder or zip inside a split."""

    split: str  # "train" or "validation" (AI Hub's Training / Validation)
    folder: FolderName
    path: Path

    @property
    def display(self) -> str:
        """The folder name without ``.zip``, e.g. ``[원천]피지과다_3.중증``."""
        return f"[{self.folder.kind}]{self.folder.stem}"


@dataclass(frozen=True)
class Member:
    source: Source
    name: str  # path inside the zip, or None-equivalent "" for a plain file
    file: Path | None  # plain file on disk

    @property
    def location(self) -> str:
        return f"{self.source.path}::{self.name}" if self.file is None else str(self.file)


class _Skips:
    def __init__(self):
        self.items: list[dict] = []

    def add(self, path, reason: str, category: str):
        self.items.append({"path": str(path), "reason": reason, "category": category})


# A folder holding one of these is a build output (or a saved DatasetDict), never AI Hub data:
# its per-symptom ``validation/`` folders must not be read as an AI Hub split.
_OUTPUT_MARKERS = ("prep_config.json", "dataset_dict.json")


def _is_excluded(path: Path, exclude: frozenset[Path]) -> bool:
    """True for the build's own output (``exclude``) and for any earlier build output."""
    if exclude and path.resolve() in exclude:
        return True
    return any((path / marker).is_file() for marker in _OUTPUT_MARKERS)


def find_split_dirs(
    root: Path, max_depth: int = 3, exclude: frozenset[Path] = frozenset()
) -> dict[str, list[Path]]:
    """``{"train": [...], "validation": [...]}``: Training/ and Validation/ folders under ``root``.

    Names match case-insensitively and may carry a prefix (``1.Training``, ``01_Validation``).
    Folders in ``exclude`` (resolved paths, e.g. the build's own output) are never entered.
    """
    found: dict[str, list[Path]] = {"train": [], "validation": []}
    frontier = [(root, 0)]
    while frontier:
        folder, depth = frontier.pop(0)
        if depth and _is_excluded(folder, exclude):
            continue
        match = _SPLIT_DIR_RE.search(folder.name)
        if match:
            found[SPLIT_NAMES[match.group(1).lower()]].append(folder)
            continue
        if depth >= max_depth:
            continue
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError:
            continue
        frontier.extend((child, depth + 1) for child in children)
    return found


def find_sources_outside_splits(
    root: Path, split_dirs: dict[str, list[Path]], skips: _Skips, max_depth: int = 3,
    exclude: frozenset[Path] = frozenset(),
) -> int:
    """Report ``[원천]``/``[라벨]`` folders and zips that lie outside every Training/Validation folder.

    Their split is unknown, so they are not used; each one is named in ``skips`` (category
    ``outside_split``) instead of being silently ignored. Returns how many were found.
    """
    inside = {d.resolve() for dirs in split_dirs.values() for d in dirs}
    if root.resolve() in inside:
        return 0
    found = 0
    where = f"outside any Training/ or Validation/ folder under {root}, so its split is unknown"
    frontier = [(root, 0)]
    while frontier:
        folder, depth = frontier.pop(0)
        try:
            with os.scandir(folder) as it:  # scandir: no extra stat per file in big META_DATA folders
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            is_dir = entry.is_dir()
            if entry.name.startswith("[") and (is_dir or entry.name.lower().endswith(".zip")):
                found += 1
                parsed = parse_folder_name(entry.name)
                if parsed is None:
                    skips.add(path, f"unknown folder name, {where}", "unknown_folder")
                else:
                    skips.add(
                        path,
                        f"[{parsed.kind}] folder {where}; move it into Training/ or Validation/ to use it",
                        "outside_split",
                    )
            elif is_dir and depth + 1 < max_depth:
                if path.resolve() not in inside and not _is_excluded(path, exclude):
                    frontier.append((path, depth + 1))
    return found


def discover_sources(
    split: str, split_dir: Path, skips: _Skips, exclude: frozenset[Path] = frozenset()
) -> list[Source]:
    """Every parsable ``[원천]``/``[라벨]`` folder or zip under ``split_dir``; the rest goes to ``skips``.

    Folders in ``exclude`` (resolved paths, e.g. the build's own output) are not entered.
    """
    sources = []
    for current, dirs, files in os.walk(split_dir):
        current_path = Path(current)
        keep_dirs = []
        for name in sorted(dirs):
            if _is_excluded(current_path / name, exclude):
                continue
            parsed = parse_folder_name(name)
            if parsed is not None:
                sources.append(Source(split, parsed, current_path / name))
            elif name.startswith("["):
                skips.add(
                    current_path / name,
                    "unknown folder name (not [원천]/[라벨]<symptom>_<n>.<grade>)",
                    "unknown_folder",
                )
            else:
                keep_dirs.append(name)
        dirs[:] = keep_dirs
        for name in sorted(files):
            path = current_path / name
            if name.lower().endswith(".zip"):
                parsed = parse_folder_name(name)
                if parsed is None:
                    skips.add(
                        path,
                        "unknown zip name (not [원천]/[라벨]<symptom>_<n>.<grade>.zip)",
                        "unknown_folder",
                    )
                else:
                    sources.append(Source(split, parsed, path))
            elif current_path != split_dir or not name.startswith("."):
                skips.add(path, "file outside any [원천]/[라벨] folder", "stray_file")
    return sources


def list_members(source: Source, skips: _Skips) -> list[Member]:
    """The files in a source folder or zip (without extracting); an unreadable zip is skipped."""
    if source.path.is_dir():
        return [
            Member(source, str(p.relative_to(source.path)), p)
            for p in sorted(source.path.rglob("*"))
            if p.is_file() and not p.name.startswith(".")
        ]
    try:
        with zipfile.ZipFile(source.path) as archive:
            return [
                Member(source, zip_member_name(info), None)
                for info in archive.infolist()
                if not info.is_dir()
            ]
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        skips.add(source.path, f"unreadable zip: {error}", "unreadable_zip")
        return []


def _member_raw_name(member: Member) -> str:
    return member.name.replace("\\", "/").rsplit("/", 1)[-1]


# ---------------------------------------------------------------------------------------------
# Image decoding (runs in worker processes)

_ZIP_CACHE: dict[str, tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]] = {}


def _read_member_bytes(path: str, member: str | None) -> bytes:
    if member is None:
        return Path(path).read_bytes()
    cached = _ZIP_CACHE.get(path)
    if cached is None:
        archive = zipfile.ZipFile(path)
        cached = (archive, {zip_member_name(info): info for info in archive.infolist()})
        _ZIP_CACHE[path] = cached
    archive, infos = cached
    return archive.read(infos[member])  # checks the CRC


def _target_size(width: int, height: int, shorter: int) -> tuple[int, int]:
    scale = shorter / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resize_shorter(image: Image.Image, shorter: int) -> Image.Image:
    """Resize so the shorter side is ``shorter``; integer reductions use the fast exact box ``reduce``."""
    target = _target_size(*image.size, shorter)
    if target == image.size:
        return image
    factor = min(image.size) // shorter
    if factor >= 2 and min(image.size) == factor * shorter and max(image.size) % factor == 0:
        return image.reduce(factor)
    return image.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)


def decode_variants(data: bytes, variants: tuple[tuple[int, bool], ...], quality: int) -> dict:
    """Decode a JPEG once and return ``{(shorter side, grayscale): (jpeg bytes, w, h)}``.

    The decode is complete (``load``), so a truncated file raises (PIL's
    ``LOAD_TRUNCATED_IMAGES`` is left False). ``draft`` lets libjpeg decode at a reduced
    DCT scale when every variant is much smaller than the original.
    """
    with Image.open(io.BytesIO(data)) as image:
        if image.format != "JPEG":
            raise ValueError(f"not a JPEG but {image.format}")
        largest = max(size for size, _ in variants)
        image.draft("RGB", _target_size(*image.size, largest))
        image.load()
        base = image.convert("RGB") if image.mode != "RGB" else image.copy()
    resized: dict[int, Image.Image] = {}
    out = {}
    for size, grayscale in sorted(variants, reverse=True):
        if size not in resized:
            # Never upscale: a 640×480 photo stays 480 px short for 모낭사이홍반's 600 px input; the
            # model's image processor does that resize. Upscaling here would store 1.6× the pixels
            # and was 40 % of the build's time, with nothing gained.
            resized[size] = _resize_shorter(base, min(size, min(base.size)))
        picture = resized[size].convert("L") if grayscale else resized[size]
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=quality)
        out[(size, grayscale)] = (buffer.getvalue(), picture.width, picture.height)
    return out


def _decode_task(task):
    """Worker: try each copy of one unique image; return the variants of the first that decodes."""
    stem, candidates, variants, quality = task
    failures = []
    for path, member in candidates:
        try:
            return stem, decode_variants(_read_member_bytes(path, member), variants, quality), failures
        except UnidentifiedImageError:
            location = f"{path}::{member}" if member is not None else path
            failures.append(
                (location, "corrupt image: not decodable image data (empty or not a JPEG)", "corrupt_image")
            )
        except zipfile.BadZipFile as error:  # e.g. "Bad CRC-32": the archive is damaged, not the JPEG
            failures.append((f"{path}::{member}", f"unreadable zip member: {error}", "unreadable_zip"))
        except Exception as error:  # noqa: BLE001 - any decoding failure means: skip this copy, say why
            location = f"{path}::{member}" if member is not None else path
            failures.append((location, f"corrupt image: {type(error).__name__}: {error}", "corrupt_image"))
    return stem, None, failures


# ---------------------------------------------------------------------------------------------
# The build


def _majority(items: list, key=lambda item: item):
    counts = Counter(key(item) for item in items)
    best = max(counts.values())
    for item in items:  # first among the most common, in discovery order
        if counts[key(item)] == best:
            return key(item), counts
    raise AssertionError("empty")


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


@dataclass
class _Index:
    """What the [원천]/[라벨] folders hold, keyed by image stem."""

    image_entries: dict[str, list[Member]] = field(default_factory=lambda: defaultdict(list))
    label_entries: dict[str, list[tuple[Member, LabelRecord]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    folder_entry_keys: set[tuple[str, str, str]] = field(default_factory=set)  # (split, [원천] folder, stem)
    label_entry_keys: set[tuple[str, str, str]] = field(default_factory=set)
    metadata_files: int = 0


def index_sources(sources: list[Source], skips: _Skips) -> _Index:
    """List every folder and zip, read every label JSON, and index image copies and labels by stem.

    The same folder present both zipped and unzipped counts once.
    """
    index = _Index()
    image_entries, label_entries = index.image_entries, index.label_entries
    folder_entry_keys, label_entry_keys = index.folder_entry_keys, index.label_entry_keys
    for source in tqdm(sources, desc="listing folders and zips", unit="folder"):
        members = list_members(source, skips)
        archive = zipfile.ZipFile(source.path) if members and not source.path.is_dir() else None
        infos = {zip_member_name(i): i for i in archive.infolist()} if archive else {}
        try:
            for member in members:
                raw = _member_raw_name(member)
                lower = raw.lower()
                if raw.startswith(".") or "__MACOSX" in member.name:
                    continue  # macOS resource forks and hidden files, not data
                if source.folder.is_label:
                    if lower.endswith("_meta.json"):
                        index.metadata_files += 1
                        continue
                    if not lower.endswith(".json"):
                        skips.add(member.location, "not a .json file in a [라벨] folder", "unexpected_file")
                        continue
                    try:
                        data = member.file.read_bytes() if member.file else archive.read(infos[member.name])
                        record = read_label_json(data, raw)
                    except LabelError as error:
                        skips.add(member.location, str(error), "invalid_label")
                        continue
                    except (zipfile.BadZipFile, OSError, KeyError) as error:
                        skips.add(member.location, f"unreadable zip member: {error}", "unreadable_zip")
                        continue
                    key = (source.split, f"[원천]{source.folder.stem}", record.stem)
                    if key in label_entry_keys:
                        continue  # the same folder present both zipped and unzipped
                    label_entry_keys.add(key)
                    label_entries[record.stem].append((member, record))
                else:
                    if not lower.endswith(_IMAGE_SUFFIXES):
                        skips.add(member.location, "not a .jpg file in a [원천] folder", "unexpected_file")
                        continue
                    stem = raw.rsplit(".", 1)[0]
                    if parse_image_stem(stem) is None:
                        skips.add(
                            member.location,
                            "image file name is not <subject>_<device>_<ms>_<region>_<TH|LH|RH|BH>.jpg",
                            "bad_file_name",
                        )
                        continue
                    key = (source.split, source.display, stem)
                    if key in folder_entry_keys:
                        continue
                    folder_entry_keys.add(key)
                    image_entries[stem].append(member)
        finally:
            if archive:
                archive.close()

    return index


def resolve_images(index: _Index, skips: _Skips) -> tuple[dict[str, dict], list[dict]]:
    """Pair image copies with labels per stem: unique images, their values, split, folders and conflicts.

    Label JSONs that differ between folders keep the majority (then the first) and record a
    conflict; images without labels and labels without images are skipped with the reason.
    """
    image_entries, label_entries = index.image_entries, index.label_entries
    records: dict[str, dict] = {}
    conflicts: list[dict] = []
    for stem in sorted(set(label_entries) - set(image_entries)):
        for member, _ in label_entries[stem]:
            skips.add(
                member.location,
                "label without image: no [원천] folder holds " + stem + ".jpg",
                "label_without_image",
            )
    for stem in sorted(image_entries):
        copies = image_entries[stem]
        labels = label_entries.get(stem)
        if not labels:
            for member in copies:
                skips.add(
                    member.location,
                    "image without label: no valid [라벨] JSON for " + stem,
                    "image_without_label",
                )
            continue
        notes = []
        values, value_counts = _majority(labels, key=lambda item: item[1].values)
        if len(value_counts) > 1:
            detail = ", ".join(
                f"{m.source.split}/{m.source.display}: {''.join(map(str, r.values))}" for m, r in labels
            )
            notes.append(f"label JSON differs between folders (kept {''.join(map(str, values))}): {detail}")
        for warning in sorted({w for _, r in labels for w in r.warnings}):
            notes.append(warning)
        split_votes = [m.source.split for m in copies] + [m.source.split for m, _ in labels]
        split_counts = Counter(split_votes)
        if len(split_counts) > 1:
            split = "validation" if split_counts["validation"] >= split_counts["train"] else "train"
            notes.append(f"found in both Training and Validation (kept {split})")
        else:
            split = split_votes[0]
        folders = sorted({m.source.display for m in copies})
        for folder_display in folders:
            folder = parse_folder_name(folder_display)
            spec_index = VALUE_FIELDS.index(folder.symptom.json_field)
            if values[spec_index] != folder.grade:
                notes.append(
                    f"folder {folder_display} says grade {folder.grade} "
                    f"but {folder.symptom.json_field} = {values[spec_index]}"
                )
        name = parse_image_stem(stem)
        records[stem] = {
            "stem": stem,
            "name": name,
            "values": values,
            "split": split,
            "folders": folders,
            "conflict": "; ".join(notes),
            "copies": copies,
        }
        if notes:
            conflicts.append({"image": stem, "conflict": "; ".join(notes)})

    return records, conflicts


def build(config: BuildConfig) -> BuildResult:
    """Run the whole build; raise :class:`BuildError` when nothing usable remains."""
    import pandas as pd

    from datasets_prep import report as report_mod

    skips = _Skips()
    warnings: list[str] = []
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if not config.aihub_root.is_dir():
        raise BuildError(f"--aihub-root {config.aihub_root} is not a folder; point it at the AI Hub download")
    config.out.mkdir(parents=True, exist_ok=True)
    # --out may lie inside --aihub-root: never read the build's own output (its per-symptom
    # ``validation/`` folders would look like an AI Hub split on the next run).
    exclude = frozenset({config.out.resolve()})
    split_dirs = find_split_dirs(config.aihub_root, exclude=exclude)
    sources: list[Source] = []
    for split, dirs in split_dirs.items():
        for split_dir in dirs:
            sources.extend(discover_sources(split, split_dir, skips, exclude))
    outside = find_sources_outside_splits(config.aihub_root, split_dirs, skips, exclude=exclude)
    found = {split: [str(d) for d in dirs] for split, dirs in split_dirs.items()}
    found["top_level_entries"] = sorted(p.name for p in config.aihub_root.iterdir())[:100]

    index = index_sources(sources, skips)
    records, conflicts = resolve_images(index, skips)

    # -- decode every unique image once -------------------------------------------------------
    variants = tuple(sorted({config.variant_for(spec) for spec in SYMPTOMS}))
    cache_dir = config.out / ".build_cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    cache_dir.mkdir(parents=True)
    timings["index_s"] = round(time.perf_counter() - started, 3)
    decode_started = time.perf_counter()
    decoded = _decode_all(records, variants, config, cache_dir, skips)
    timings["decode_s"] = round(time.perf_counter() - decode_started, 3)
    timings["decoded_images"] = len(decoded)
    for stem in list(records):
        if stem not in decoded:
            del records[stem]

    if not records:
        report = report_mod.make_report(
            config, found, sources, skips.items, conflicts, warnings, None, None, {}, index.metadata_files
        )
        report_mod.write_reports(config.out, report)
        shutil.rmtree(cache_dir, ignore_errors=True)
        reasons = Counter(item["category"] for item in skips.items)
        if not sources and outside:
            why = (
                f"{outside} [원천]/[라벨] folders or zips found under {config.aihub_root}, but none inside "
                "a Training/ or Validation/ folder, so no split is known; keep the download's "
                "Training/ and Validation/ folders (Training dirs: none, Validation dirs: none)"
            )
        elif not sources:
            why = (
                f"no [원천]/[라벨] folders or zips found under {config.aihub_root} "
                f"(Training dirs: {found['train'] or 'none'}, "
                f"Validation dirs: {found['validation'] or 'none'})"
            )
        else:
            why = f"{len(sources)} folders/zips found, but every image was skipped ({dict(reasons)})"
        raise BuildError(f"nothing usable to build: {why}. See {config.out / 'report.md'}.")

    # -- the unique-image table, test split, leakage ------------------------------------------
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
    aihub_leaks = subject_leaks(frame)
    validation_subjects = set(frame.loc[frame["split"] == "validation", "subject"])
    train_counts = frame.loc[frame["split"] == "train", "subject"].value_counts().to_dict()
    test_subjects = carve_test_split(train_counts, config.test_fraction, config.seed, validation_subjects)
    frame.loc[(frame["split"] == "train") & frame["subject"].isin(test_subjects), "split"] = "test"
    test_share = len(frame[frame["split"] == "test"]) / max(1, sum(train_counts.values()))
    if config.test_fraction > 0 and test_share < config.test_fraction / 2:
        warnings.append(
            f"test split holds only {test_share:.1%} of Training (asked {config.test_fraction:.0%}): "
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
    for column in VALUE_FIELDS + ("region_no",):
        frame[column] = frame[column].astype("int64")
    frame.to_parquet(config.out / "images.parquet", index=False)

    # -- per-symptom DatasetDicts --------------------------------------------------------------
    datasets_started = time.perf_counter()
    class_counts = _write_datasets(frame, config, cache_dir, warnings)
    shutil.rmtree(cache_dir, ignore_errors=True)
    timings["datasets_s"] = round(time.perf_counter() - datasets_started, 3)

    duplicates = {
        "folder_entries": len(index.folder_entry_keys),
        "label_entries": len(index.label_entry_keys),
        "unique_images": int(len(frame)),
        "unique_images_with_copies": int((frame["folders"].map(len) > 1).sum()),
    }
    split_counts = {split: int((frame["split"] == split).sum()) for split in OUTPUT_SPLITS}
    leakage = {
        "final": leaks,
        "aihub_training_vs_validation": aihub_leaks,
        "test_subjects": sorted(test_subjects),
    }
    report = report_mod.make_report(
        config,
        found,
        sources,
        skips.items,
        conflicts,
        warnings,
        duplicates,
        leakage,
        class_counts,
        index.metadata_files,
        split_counts=split_counts,
    )
    timings["total_s"] = round(time.perf_counter() - started, 3)
    report["timings"] = timings
    report_mod.write_reports(config.out, report)
    (config.out / "prep_config.json").write_text(
        json.dumps(report["config"], ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    if config.push_to_hub:
        from datasets_prep.hub_push import push_prepared

        pushed = push_prepared(config.out, config.push_to_hub, private=config.private)
    else:
        pushed = []
    return BuildResult(config.out, int(len(frame)), split_counts, report, pushed)


def _decode_all(records, variants, config: BuildConfig, cache_dir: Path, skips: _Skips) -> set[str]:
    """Decode each unique image once into every variant; write ``cache_dir/<variant>.arrow`` files."""
    import pyarrow as pa

    def candidates(copies: list[Member]):
        # Plain files first (cheapest), then zip members; sorted for a stable choice.
        return sorted(
            ((str(m.file), None) if m.file else (str(m.source.path), m.name) for m in copies),
            key=lambda c: (c[1] is not None, c[0], c[1] or ""),
        )

    tasks = [(stem, candidates(r["copies"]), variants, config.jpeg_quality) for stem, r in records.items()]
    tasks.sort(key=lambda t: t[1][0])  # group by zip so each worker reuses its open archives
    schema = pa.schema(
        [("stem", pa.string()), ("jpeg", pa.binary()), ("width", pa.int32()), ("height", pa.int32())]
    )
    writers = {v: pa.ipc.new_file(str(cache_dir / _variant_file(v)), schema) for v in variants}
    buffers = {v: [] for v in variants}
    done: set[str] = set()

    def flush(force=False):
        for v, rows in buffers.items():
            if rows and (force or len(rows) >= 256):
                writers[v].write_table(pa.Table.from_pylist(rows, schema=schema))
                rows.clear()

    if config.workers > 1 and len(tasks) > 1:
        # forkserver (spawn where it is missing): forking a process that already runs pyarrow's
        # threads can deadlock; the workers need only PIL and zipfile.
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        pool = multiprocessing.get_context(method).Pool(config.workers)
        iterator = pool.imap_unordered(
            _decode_task, tasks, chunksize=max(1, min(64, len(tasks) // (config.workers * 8)))
        )
    else:
        pool, iterator = None, map(_decode_task, tasks)
    try:
        for stem, result, failures in tqdm(iterator, total=len(tasks), desc="decoding images", unit="img"):
            for location, reason, category in failures:
                skips.add(location, reason, category)
            if result is None:
                continue
            done.add(stem)
            for v, (data, width, height) in result.items():
                buffers[v].append({"stem": stem, "jpeg": data, "width": width, "height": height})
            flush()
        flush(force=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        for writer in writers.values():
            writer.close()
        _ZIP_CACHE.clear()
    return done


class _quiet_datasets_progress:
    """Hide the per-split 'Saving the dataset' bars under our own per-symptom bar."""

    def __enter__(self):
        from datasets.utils import logging as ds_logging

        self._was_enabled = ds_logging.is_progress_bar_enabled()
        ds_logging.disable_progress_bar()

    def __exit__(self, *exc):
        from datasets.utils import logging as ds_logging

        if self._was_enabled:
            ds_logging.enable_progress_bar()


def _variant_file(variant: tuple[int, bool]) -> str:
    size, grayscale = variant
    return f"{size}_{'L' if grayscale else 'RGB'}.arrow"


def _write_datasets(frame, config: BuildConfig, cache_dir: Path, warnings: list[str]) -> dict:
    """Write ``OUT/<key>/`` for every symptom; return class counts per symptom and split."""
    import pyarrow as pa
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
    from datasets import Image as ImageFeature
    from datasets.arrow_writer import ArrowWriter

    names = list(class_names(config.labels))
    features = Features(
        {
            "image": ImageFeature(),
            "label": ClassLabel(names=names),
            "grade": Value("int64"),
            "image_id": Value("string"),
            "subject": Value("string"),
        }
    )
    tables = {}
    for variant in {config.variant_for(spec) for spec in SYMPTOMS}:
        source = pa.memory_map(str(cache_dir / _variant_file(variant)))
        table = pa.ipc.open_file(source).read_all()
        # stem -> (chunk, row in chunk): indexing a ChunkedArray by global row scans its chunks.
        where = {}
        for chunk_no, chunk in enumerate(table.column("stem").chunks):
            where.update((stem, (chunk_no, row)) for row, stem in enumerate(chunk.to_pylist()))
        tables[variant] = (table, where)

    stems = frame["file_name"].str.slice(0, -4)
    class_counts: dict = {}
    for spec in tqdm(SYMPTOMS, desc="writing per-symptom datasets", unit="symptom"):
        table, index = tables[config.variant_for(spec)]
        jpeg_chunks = table.column("jpeg").chunks
        target = config.out / spec.key
        shutil.rmtree(target, ignore_errors=True)
        splits = {}
        counts = {}
        for split in OUTPUT_SPLITS:
            rows = _protocol_rows(frame[frame["split"] == split], stems, spec, config.protocol, warnings)
            path = cache_dir / f"{spec.key}-{split}.arrow"
            with ArrowWriter(features=features, path=str(path)) as writer:
                for stem, image_id, subject, grade in rows:
                    example = {
                        "image": {"bytes": jpeg_chunks[index[stem][0]][index[stem][1]].as_py(), "path": None},
                        "label": grade_to_class(grade, config.labels),
                        "grade": grade,
                        "image_id": image_id,
                        "subject": subject,
                    }
                    writer.write(features.encode_example(example))
                writer.finalize()
            if rows:
                splits[split] = Dataset.from_file(str(path))
            else:  # an Arrow file without batches saves as 0 shards, which load_from_disk cannot read
                splits[split] = Dataset.from_dict({name: [] for name in features}, features=features)
            label_counts = Counter(grade_to_class(g, config.labels) for *_, g in rows)
            counts[split] = {names[i]: int(label_counts.get(i, 0)) for i in range(len(names))}
            counts[split]["grades"] = {
                str(g): int(c) for g, c in sorted(Counter(g for *_, g in rows).items())
            }
        with _quiet_datasets_progress():
            DatasetDict(splits).save_to_disk(
                str(target), num_shards={split: 1 for split, data in splits.items() if len(data) == 0} or None
            )
        class_counts[spec.key] = counts
        del splits
    return class_counts


def _protocol_rows(split_frame, stems, spec: SymptomSpec, protocol: str, warnings: list[str]):
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


# ---------------------------------------------------------------------------------------------
# CLI


def build_parser() -> argparse.ArgumentParser:
    helps = {f.name: f.metadata.get("help", "") for f in fields(BuildConfig)}
    parser = argparse.ArgumentParser(
        prog="python -m datasets_prep build",
        description="Turn an AI Hub '유형별 두피 이미지' download into honest per-symptom datasets.",
    )
    parser.add_argument("--aihub-root", required=True, type=Path, help=helps["aihub_root"])
    parser.add_argument("--out", required=True, type=Path, help=helps["out"])
    parser.add_argument("--labels", type=int, choices=LABEL_SCHEMES, default=3, help=helps["labels"])
    parser.add_argument("--protocol", choices=("full", "folder"), default="full", help=helps["protocol"])
    parser.add_argument("--test-fraction", type=float, default=0.1, help=helps["test_fraction"])
    parser.add_argument("--seed", type=int, default=0, help=helps["seed"])
    parser.add_argument("--image-size-override", type=int, default=None, help=helps["image_size_override"])
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help=helps["workers"])
    parser.add_argument("--jpeg-quality", type=int, default=92, help=helps["jpeg_quality"])
    parser.add_argument("--push-to-hub", default=None, metavar="REPO", help=helps["push_to_hub"])
    visibility = parser.add_mutually_exclusive_group()
    visibility.add_argument(
        "--private", dest="private", action="store_true", default=True, help=helps["private"]
    )
    visibility.add_argument(
        "--public", dest="private", action="store_false", help="Refused: AI Hub terms forbid redistribution."
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = BuildConfig(**{k: v for k, v in vars(args).items()})
    except ValueError as error:  # includes PublicPushRefused
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        result = build(config)
    except (BuildError, PublicPushRefused, PushFailed) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{k} {v}" for k, v in result.split_counts.items())
    print(
        f"built {result.n_images} unique images ({counts}) into {result.out}; see {result.out / 'report.md'}"
    )
    if result.pushed:
        print(f"pushed {', '.join(result.pushed)} to the PRIVATE dataset repo {config.push_to_hub}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
