"""Reading AI Hub label JSONs (``[라벨]<증상>_<n>.<등급>/<image stem>.json``) and voting between copies.

Every label JSON holds the six symptom values ``value_1``..``value_6`` as strings "0".."3".
:func:`read_label_json` turns one file into a :class:`LabelRecord` or raises
:class:`LabelError` whose message is the reason the build report shows for skipping it;
:func:`majority_vote` picks the values most copies of an image's label agree on. Used by
``python -m datasets_prep build`` (see :mod:`datasets_prep.indexing`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from scalp_core.aihub_names import parse_image_stem
from scalp_core.symptoms import SYMPTOMS

# The label JSON keys of the six symptoms, in SYMPTOMS order (value_1..value_6).
VALUE_FIELDS = tuple(spec.json_field for spec in SYMPTOMS)


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


def majority_vote(items: list, key=lambda item: item) -> tuple[object, Counter]:
    """``(winning key, counts of every key)``: the most common ``key(item)``, ties going to the first seen.

    Ties go to discovery order so that the same download always gives the same labels.
    """
    counts = Counter(key(item) for item in items)
    best = max(counts.values())
    for item in items:
        if counts[key(item)] == best:
            return key(item), counts
    raise ValueError("majority_vote needs at least one item")
