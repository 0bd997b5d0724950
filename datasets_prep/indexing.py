"""Indexing a download's sources by image stem, and pairing every unique image with its label.

The second step of ``python -m datasets_prep build``. The raw download repeats an image in
every symptom folder where its grade is > 0 (and the all-healthy images in all six
``0.양호`` folders), each copy with its own label JSON. :func:`index_sources` lists every
folder and zip once, reads every label JSON and indexes the copies by stem;
:func:`resolve_images` turns that into one record per unique image: its six values (the
majority of its label copies), the AI Hub folders holding it (Training, Validation or both), the
symptom folders it sits in and any conflict.
Images without labels, labels without images and unreadable files go to the skip log.
"""

from __future__ import annotations

import zipfile
from collections import defaultdict
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from datasets_prep.discovery import FOLDER_OF_SPLIT, Member, SkipLog, Source, list_members
from datasets_prep.labels import VALUE_FIELDS, LabelError, LabelRecord, majority_vote, read_label_json
from scalp_core.aihub_names import parse_folder_name, parse_image_stem, zip_member_name

_IMAGE_SUFFIXES = (".jpg", ".jpeg")


@dataclass
class SourceIndex:
    """What the [원천]/[라벨] folders hold, keyed by image stem."""

    image_entries: dict[str, list[Member]] = field(default_factory=lambda: defaultdict(list))
    label_entries: dict[str, list[tuple[Member, LabelRecord]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    folder_entry_keys: set[tuple[str, str, str]] = field(default_factory=set)  # (split, [원천] folder, stem)
    label_entry_keys: set[tuple[str, str, str]] = field(default_factory=set)
    metadata_files: int = 0


def index_sources(sources: list[Source], skips: SkipLog) -> SourceIndex:
    """List every folder and zip, read every label JSON, and index image copies and labels by stem.

    The same folder present both zipped and unzipped counts once.
    """
    index = SourceIndex()
    image_entries, label_entries = index.image_entries, index.label_entries
    folder_entry_keys, label_entry_keys = index.folder_entry_keys, index.label_entry_keys
    for source in tqdm(sources, desc="listing folders and zips", unit="folder"):
        members = list_members(source, skips)
        archive = zipfile.ZipFile(source.path) if members and not source.path.is_dir() else None
        infos = {zip_member_name(i): i for i in archive.infolist()} if archive else {}
        try:
            for member in members:
                raw = member.file_name
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


def resolve_images(index: SourceIndex, skips: SkipLog) -> tuple[dict[str, dict], list[dict]]:
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
        values, value_counts = majority_vote(labels, key=lambda item: item[1].values)
        if len(value_counts) > 1:
            detail = ", ".join(
                f"{m.source.split}/{m.source.display}: {''.join(map(str, r.values))}" for m, r in labels
            )
            notes.append(f"label JSON differs between folders (kept {''.join(map(str, values))}): {detail}")
        for warning in sorted({w for _, r in labels for w in r.warnings}):
            notes.append(warning)
        # The real download holds 4,754 names in both Training and Validation (same labels): not a
        # conflict, a fact the split step needs (images.parquet's aihub_split).
        found_in = {m.source.split for m in copies} | {m.source.split for m, _ in labels}
        aihub_split = "+".join(FOLDER_OF_SPLIT[s] for s in FOLDER_OF_SPLIT if s in found_in)
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
            "aihub_split": aihub_split,
            "folders": folders,
            "conflict": "; ".join(notes),
            "copies": copies,
        }
        if notes:
            conflicts.append({"image": stem, "conflict": "; ".join(notes)})

    return records, conflicts

