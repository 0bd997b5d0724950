"""Finding the AI Hub data in a download: split folders, ``[원천]``/``[라벨]`` sources and their files.

The first step of ``python -m datasets_prep build``. :func:`find_split_dirs` finds
``Training/`` and ``Validation/`` (case-insensitively, also one or two levels down such as
``01.데이터/1.Training``); :func:`discover_sources` lists the ``[원천]``/``[라벨]`` folders and
zips inside each; :func:`find_sources_outside_splits` names the ones lying elsewhere (their
split is unknown); :func:`list_members` lists a source's files without extracting a zip.
Whatever cannot be used goes to a :class:`SkipLog` with its reason, for the build report.
An earlier build output (``prep_config.json``/``dataset_dict.json``) is never entered.
:func:`is_synthetic_download` tells a ``datasets_prep simulate`` miniature from a real download.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from scalp_core.aihub_names import FolderName, parse_folder_name, zip_member_name
from synthetic.simulate import CONFIG_FILE, TRUTH_FILE

SPLIT_NAMES = {"training": "train", "validation": "validation"}
# The AI Hub folder of each of our split names, as images.parquet's ``aihub_split`` names it.
FOLDER_OF_SPLIT = {"train": "Training", "validation": "Validation"}
_SPLIT_DIR_RE = re.compile(r"(?:^|[^a-z])(training|validation)$", re.IGNORECASE)
# A folder holding one of these is a build output (or a saved DatasetDict), never AI Hub data:
# its per-symptom ``validation/`` folders must not be read as an AI Hub split.
_OUTPUT_MARKERS = ("prep_config.json", "dataset_dict.json")


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
    """One file of a source: a zip member or a plain file in a source folder."""

    source: Source
    name: str  # path inside the zip, or relative to the source folder for a plain file
    file: Path | None  # plain file on disk; None for a zip member

    @property
    def location(self) -> str:
        """Where the report says the file is: ``<zip>::<member>`` or the plain file's path."""
        return f"{self.source.path}::{self.name}" if self.file is None else str(self.file)

    @property
    def file_name(self) -> str:
        """The name without any folder (zips made on Windows may separate folders with ``\\``)."""
        return self.name.replace("\\", "/").rsplit("/", 1)[-1]


class SkipLog:
    """Every file or folder the build does not use, with its reason; the report lists them all."""

    def __init__(self):
        self.items: list[dict] = []

    def add(self, path, reason: str, category: str):
        self.items.append({"path": str(path), "reason": reason, "category": category})


# A folder holding one of these is a build output (or a saved DatasetDict), never AI Hub data:


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
    root: Path, split_dirs: dict[str, list[Path]], skips: SkipLog, max_depth: int = 3,
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
    split: str, split_dir: Path, skips: SkipLog, exclude: frozenset[Path] = frozenset()
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


def list_members(source: Source, skips: SkipLog) -> list[Member]:
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




@dataclass(frozen=True)
class Download:
    """What :func:`discover_download` found under ``--aihub-root``."""

    split_dirs: dict[str, list[Path]]  # {"train": [Training/ folders], "validation": [...]}
    sources: list[Source]  # the [원천]/[라벨] folders and zips inside them
    outside_splits: int  # [원천]/[라벨] folders or zips elsewhere (skipped: their split is unknown)
    synthetic: bool  # written by ``datasets_prep simulate``, not AI Hub


def discover_download(root: Path, skips: SkipLog, exclude: frozenset[Path] = frozenset()) -> Download:
    """Find the split folders and every source under ``root``; name everything unusable in ``skips``.

    Folders in ``exclude`` (resolved paths: the build's own output, which may lie inside
    ``root``) and earlier build outputs are never entered.
    """
    split_dirs = find_split_dirs(root, exclude=exclude)
    sources: list[Source] = []
    for split, dirs in split_dirs.items():
        for split_dir in dirs:
            sources.extend(discover_sources(split, split_dir, skips, exclude))
    outside = find_sources_outside_splits(root, split_dirs, skips, exclude=exclude)
    return Download(split_dirs, sources, outside, is_synthetic_download(root))


def is_synthetic_download(root: Path) -> bool:
    """True when ``root`` was written by ``datasets_prep simulate``: it holds the simulator's marker files.

    A real AI Hub download has neither file, so models trained on it are never marked synthetic.
    """
    return any((Path(root) / name).exists() for name in (CONFIG_FILE, TRUTH_FILE))
