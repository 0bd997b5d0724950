"""Reading real AI Hub label tables, for ``python -m datasets_prep simulate --labels-from``.

A label table is a CSV with the six JSON values ``value_1``..``value_6`` and the image file name
(column ``img_name``, as in winston1214/ScalpVision's ``data/*_label.csv``, or ``image_file_name``
/ ``file_name``). Each table is named ``[Training=|Validation=]PATH``: the prefix says which AI Hub
folder its images sit in. Without a prefix the ScalpVision names are recognised (their
``train_label.csv`` and ``val_label.csv`` are AI Hub Training, which ScalpVision cut in two, and
``test_label.csv`` is AI Hub Validation; ``../shared/reference/SOURCES.md``). A name listed for
both folders sits in both, as 4,754 real names do. The tables hold AI Hub label data, so they
never ship with the project: they are read where they lie, and the simulation records only their
file names, row counts and SHA-256.

    python -m datasets_prep simulate --out /tmp/sim --images 300 \\
        --labels-from ../shared/reference/winston1214__ScalpVision/{train,val,test}_label.csv
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from scalp_core.aihub_names import SPLITS, ImageName, parse_image_stem
from scalp_core.symptoms import SYMPTOMS

TRAINING, VALIDATION = SPLITS
# winston1214/ScalpVision's table names -> the AI Hub folder their images sit in.
SCALPVISION_SPLITS = {"train_label.csv": TRAINING, "val_label.csv": TRAINING, "test_label.csv": VALIDATION}
NAME_COLUMNS = ("img_name", "image_file_name", "file_name")
VALUE_COLUMNS = tuple(spec.json_field for spec in SYMPTOMS)


class LabelTableError(ValueError):
    """A label table that cannot be used; the message names the file, the row and what to do."""


@dataclass(frozen=True)
class TableImage:
    """One unique image of the tables: its name, six values and the AI Hub folders it sits in."""

    name: ImageName
    grades: tuple[int, ...]  # value_1..value_6
    splits: tuple[str, ...]  # ("Training",), ("Validation",) or both, in SPLITS order


@dataclass(frozen=True)
class LabelTables:
    """Every unique image of the tables (sorted by stem) and what was read, for the record."""

    images: tuple[TableImage, ...]
    sources: tuple[dict, ...]  # {"split", "file", "rows", "sha256"} per table, in the order given

    def by_subject(self) -> dict[str, list[TableImage]]:
        """Subject -> its images, sorted by stem."""
        grouped: dict[str, list[TableImage]] = defaultdict(list)
        for image in self.images:
            grouped[image.name.subject].append(image)
        return dict(sorted(grouped.items()))


def table_split(item: str) -> tuple[str, Path]:
    """``"Validation=path.csv"`` -> ``("Validation", path)``; a bare ScalpVision name is recognised."""
    prefix, sep, rest = item.partition("=")
    if sep and prefix in SPLITS:
        return prefix, Path(rest)
    path = Path(item)
    if path.name in SCALPVISION_SPLITS:
        return SCALPVISION_SPLITS[path.name], path
    raise LabelTableError(
        f"--labels-from {item}: which AI Hub folder do its images sit in? Write Training={item} or "
        f"Validation={item} (bare names are recognised only for {', '.join(SCALPVISION_SPLITS)})"
    )


def _read_one(split: str, path: Path) -> tuple[list[tuple[ImageName, tuple[int, ...]]], dict]:
    if not path.is_file():
        raise LabelTableError(f"--labels-from {path}: no such file")
    data = path.read_bytes()
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    columns = reader.fieldnames or []
    name_column = next((c for c in NAME_COLUMNS if c in columns), None)
    missing = [c for c in VALUE_COLUMNS if c not in columns]
    if name_column is None or missing:
        raise LabelTableError(
            f"{path}: a label table needs the columns {', '.join(VALUE_COLUMNS)} and one of "
            f"{', '.join(NAME_COLUMNS)}; it has {', '.join(columns) or 'none'}"
        )
    rows = []
    for line_no, row in enumerate(reader, start=2):
        file_name = (row[name_column] or "").strip()
        stem = file_name[:-4] if file_name.lower().endswith(".jpg") else file_name
        name = parse_image_stem(stem)
        if name is None:
            raise LabelTableError(
                f"{path} line {line_no}: {file_name!r} is not <subject>_<device>_<ms>_<region>_<TH|LH|RH|BH>.jpg"
            )
        grades = []
        for column in VALUE_COLUMNS:
            text = (row[column] or "").strip()
            if text not in ("0", "1", "2", "3"):
                raise LabelTableError(f"{path} line {line_no}: {column} is {row[column]!r}, expected 0..3")
            grades.append(int(text))
        rows.append((name, tuple(grades)))
    source = {"split": split, "file": path.name, "rows": len(rows), "sha256": hashlib.sha256(data).hexdigest()}
    return rows, source


def read_label_tables(items: list[str] | tuple[str, ...]) -> LabelTables:
    """Read ``[Training=|Validation=]PATH`` tables into unique images; :class:`LabelTableError` says what is wrong.

    The same name may appear in several tables (both folders, or ScalpVision's two Training
    halves) only with the same six values.
    """
    if not items:
        raise LabelTableError("--labels-from needs at least one label table")
    grades_of: dict[str, tuple[int, ...]] = {}
    names: dict[str, ImageName] = {}
    splits_of: dict[str, set[str]] = defaultdict(set)
    sources = []
    for item in items:
        split, path = table_split(item)
        rows, source = _read_one(split, path)
        sources.append(source)
        for name, grades in rows:
            known = grades_of.setdefault(name.stem, grades)
            if known != grades:
                raise LabelTableError(
                    f"{path}: {name.file_name} has values {''.join(map(str, grades))} here but "
                    f"{''.join(map(str, known))} in an earlier table; one image has one label"
                )
            names[name.stem] = name
            splits_of[name.stem].add(split)
    images = tuple(
        TableImage(names[stem], grades_of[stem], tuple(s for s in SPLITS if s in splits_of[stem]))
        for stem in sorted(grades_of)
    )
    return LabelTables(images, tuple(sources))
