"""Names in the AI Hub '유형별 두피 이미지' download: folders, image files and zip members.

Both the simulator (which writes them) and the build (which reads them) use these
helpers, so the two can never disagree. The formats are documented in
``../shared/reference/aihub216_FORMAT.md``:

- folders and zips: ``[원천]<증상>_<n>.<등급>`` (images) and ``[라벨]<증상>_<n>.<등급>`` (labels),
  e.g. ``[라벨]피지과다_3.중증.zip``;
- images: ``<subject>_<device>_<epoch ms>_<region no>_<TH|LH|RH|BH>.jpg``;
- label JSONs: ``<image stem>.json``; metadata: ``<image stem>_META.json``.

Zip archives made on Korean Windows store member names in CP949 without the
UTF-8 flag; :func:`zip_member_name` recovers them.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from dataclasses import dataclass

from scalp_core.symptoms import SymptomSpec, get_symptom, load_grades

SOURCE_KIND = "원천"
LABEL_KIND = "라벨"
SPLITS = ("Training", "Validation")

# Region number -> location code, as paired in every real file name seen.
REGION_LOCATIONS: dict[int, str] = {2: "TH", 3: "TH", 4: "LH", 5: "RH", 6: "BH"}
LOCATION_NAMES: dict[str, str] = {"TH": "정수리 (crown)", "LH": "좌측두 (left temporal)",
                                  "RH": "우측두 (right temporal)", "BH": "후두부 (occipital)"}

_FOLDER_RE = re.compile(
    r"^\[(?P<kind>원천|라벨)\](?P<symptom>[^_\]]+)_(?P<grade>[0-3])\.(?P<grade_name>[^.\s/\\]+?)(?P<zip>\.zip)?$"
)
# Real stems nearly all carry a 13-digit epoch-ms timestamp, but a few in the real
# download have 9 digits (e.g. 8781_A2LEBJJDE000906_539800941_5_RH), so accept any length.
_STEM_RE = re.compile(
    r"^(?P<subject>\d{3,5})_(?P<device>[A-Za-z0-9]+)_(?P<timestamp>\d+)_(?P<region>\d+)_(?P<location>TH|LH|RH|BH)$"
)


@dataclass(frozen=True)
class FolderName:
    """A parsed ``[원천]``/``[라벨]`` folder or zip name."""

    kind: str  # "원천" (images) or "라벨" (labels)
    symptom: SymptomSpec
    grade: int
    zipped: bool

    @property
    def is_label(self) -> bool:
        return self.kind == LABEL_KIND

    @property
    def stem(self) -> str:
        """The name without ``[kind]`` and ``.zip``, e.g. ``피지과다_3.중증``; pairs images with labels."""
        return f"{self.symptom.folder_name}_{self.grade}.{load_grades()[self.grade].ko}"


def folder_name(kind: str, symptom: SymptomSpec, grade: int, *, zipped: bool = False) -> str:
    """``folder_name("라벨", get_symptom("피지과다"), 3)`` -> ``[라벨]피지과다_3.중증``."""
    if kind not in (SOURCE_KIND, LABEL_KIND):
        raise ValueError(f"kind must be {SOURCE_KIND!r} or {LABEL_KIND!r}, got {kind!r}")
    name = f"[{kind}]{symptom.folder_name}_{grade}.{load_grades()[grade].ko}"
    return name + ".zip" if zipped else name


def parse_folder_name(name: str) -> FolderName | None:
    """Parse a folder or zip name; ``None`` when it is not an AI Hub symptom folder."""
    name = unicodedata.normalize("NFC", name.strip().rstrip("/"))
    match = _FOLDER_RE.match(name)
    if not match:
        return None
    try:
        symptom = get_symptom(match["symptom"])
    except KeyError:
        return None
    grade = int(match["grade"])
    if load_grades()[grade].ko != match["grade_name"]:
        return None
    return FolderName(match["kind"], symptom, grade, zipped=match["zip"] is not None)


@dataclass(frozen=True)
class ImageName:
    """The fields of an image stem such as ``0013_A2LEBJJDE00060O_1606550825417_3_TH``."""

    subject: str
    device: str
    timestamp_ms: int
    region_no: int
    location: str

    @property
    def stem(self) -> str:
        return f"{self.subject}_{self.device}_{self.timestamp_ms}_{self.region_no}_{self.location}"

    @property
    def image_id(self) -> str:
        """AI Hub's ``image_id``: the stem without the location suffix."""
        return f"{self.subject}_{self.device}_{self.timestamp_ms}_{self.region_no}"

    @property
    def file_name(self) -> str:
        return self.stem + ".jpg"


def parse_image_stem(stem: str) -> ImageName | None:
    """Parse an image stem (file name without ``.jpg``/``.json``); ``None`` if it does not match."""
    match = _STEM_RE.match(stem)
    if not match:
        return None
    return ImageName(
        subject=match["subject"],
        device=match["device"],
        timestamp_ms=int(match["timestamp"]),
        region_no=int(match["region"]),
        location=match["location"],
    )


def zip_member_name(info: zipfile.ZipInfo) -> str:
    """The real name of a zip member, whether it was written as UTF-8 or CP949.

    Python decodes names without the UTF-8 flag (bit 11) as CP437; undo that and
    try UTF-8 first (some tools omit the flag), then CP949 (Korean Windows).
    """
    name = info.filename
    if not info.flag_bits & 0x800:
        raw = name.encode("cp437")
        for encoding in ("utf-8", "cp949"):
            try:
                name = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    return unicodedata.normalize("NFC", name)
