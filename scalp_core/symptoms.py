"""The one table of the six AI Hub scalp symptoms, and the severity label schemes.

Every stage (datasets_prep, scalp_models, hub_upload, recommendation, app.py) reads
the symptoms from ``symptoms.csv`` beside this file and the grades from
``grades.csv``, so a correction made there reaches all of them. Nothing here
imports torch or any other heavy library.

    >>> from scalp_core.symptoms import SYMPTOMS, get_symptom
    >>> get_symptom("피지과다").json_field
    'value_2'
    >>> get_symptom("hair_loss").labels(3)
    ('양호 (normal)', '경증·중등도 (mild–moderate)', '중증 (severe)')
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent

LABEL_SCHEMES = (3, 4)
DEFAULT_LABEL_SCHEME = 3


@dataclass(frozen=True)
class Grade:
    """One AI Hub severity grade as written in the label JSON ("0".."3")."""

    grade: int
    ko: str
    en: str

    @property
    def label(self) -> str:
        return f"{self.ko} ({self.en})"


@cache
def load_grades() -> tuple[Grade, ...]:
    with open(_HERE / "grades.csv", encoding="utf-8", newline="") as f:
        grades = tuple(Grade(int(r["grade"]), r["ko"], r["en"]) for r in csv.DictReader(f))
    if [g.grade for g in grades] != [0, 1, 2, 3]:
        raise ValueError("grades.csv must list grades 0, 1, 2, 3 in order")
    return grades


def class_names(scheme: int = DEFAULT_LABEL_SCHEME) -> tuple[str, ...]:
    """Class names "한국어 (English)" for the 4-grade scheme or the seed's merged 3-class one.

    The merged scheme joins 경증 and 중등도, which the seed found impossible to tell apart
    by eye: 0 양호 / 1 경증·중등도 / 2 중증.
    """
    grades = load_grades()
    if scheme == 4:
        return tuple(g.label for g in grades)
    if scheme == 3:
        g0, g1, g2, g3 = grades
        return (g0.label, f"{g1.ko}·{g2.ko} ({g1.en}–{g2.en})", g3.label)
    raise ValueError(f"label scheme must be one of {LABEL_SCHEMES}, got {scheme!r}")


_LABEL = re.compile(r"^(?P<ko>.+?)\s*\((?P<en>.+)\)$")


def split_label(label: str) -> tuple[str, str]:
    """A class name ``"한국어 (English)"`` → ``("한국어", "English")``; a name without ``(…)`` is used for both.

    Every stage that shows a class name in one language (model cards, the diagnoser, the app,
    the analysis note) goes through this one parser.
    """
    match = _LABEL.match(label.strip())
    return (match["ko"], match["en"]) if match else (label, label)


def severity_name(level: int, *, scheme: int = DEFAULT_LABEL_SCHEME, lang: str = "ko") -> str:
    """``"경증·중등도"`` / ``"mild–moderate"``: class ``level`` of the label ``scheme`` in ``lang``."""
    ko, en = split_label(class_names(scheme)[level])
    return en if lang == "en" else ko


def grade_to_class(grade: int, scheme: int = DEFAULT_LABEL_SCHEME) -> int:
    """Map an AI Hub grade 0..3 onto a class index of the given scheme."""
    if grade not in (0, 1, 2, 3):
        raise ValueError(f"severity grade must be 0..3, got {grade!r}")
    if scheme == 4:
        return grade
    if scheme == 3:
        return (0, 1, 1, 2)[grade]
    raise ValueError(f"label scheme must be one of {LABEL_SCHEMES}, got {scheme!r}")


@dataclass(frozen=True)
class SymptomSpec:
    """One row of ``symptoms.csv``: how a symptom is named, labelled and preprocessed."""

    key: str
    ko: str
    en: str
    json_field: str
    folder_name: str
    seed_model: str
    input_size: int
    grayscale: bool
    class_weighting: str
    repo_suffix: str
    seed_accuracy_pct: float

    @property
    def display_name(self) -> str:
        return f"{self.ko} ({self.en})"

    @property
    def repo_name(self) -> str:
        """Hub repo name, e.g. ``scalp-hair-loss``; a namespace is prepended by hub_upload."""
        return f"scalp-{self.repo_suffix}"

    def labels(self, scheme: int = DEFAULT_LABEL_SCHEME) -> tuple[str, ...]:
        return class_names(scheme)


def _parse_bool(value: str, where: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(f"{where}: expected true/false, got {value!r}")


@cache
def load_symptoms() -> tuple[SymptomSpec, ...]:
    specs = []
    with open(_HERE / "symptoms.csv", encoding="utf-8", newline="") as f:
        for line_no, row in enumerate(csv.DictReader(f), start=2):
            where = f"symptoms.csv line {line_no}"
            specs.append(
                SymptomSpec(
                    key=row["key"],
                    ko=row["ko"],
                    en=row["en"],
                    json_field=row["json_field"],
                    folder_name=row["folder_name"],
                    seed_model=row["seed_model"],
                    input_size=int(row["input_size"]),
                    grayscale=_parse_bool(row["grayscale"], where),
                    class_weighting=row["class_weighting"],
                    repo_suffix=row["repo_suffix"],
                    seed_accuracy_pct=float(row["seed_accuracy_pct"]),
                )
            )
    if len(specs) != 6 or len({s.key for s in specs}) != 6:
        raise ValueError("symptoms.csv must hold six symptoms with distinct keys")
    return tuple(specs)


SYMPTOMS: tuple[SymptomSpec, ...] = load_symptoms()
SYMPTOM_KEYS: tuple[str, ...] = tuple(s.key for s in SYMPTOMS)


def get_symptom(name: str) -> SymptomSpec:
    """Find a symptom by key, Korean name, English name, JSON field or repo name."""
    wanted = name.strip()
    for spec in SYMPTOMS:
        if wanted in (spec.key, spec.ko, spec.json_field, spec.repo_name, spec.repo_suffix) or (
            wanted.lower() == spec.en.lower()
        ):
            return spec
    # Some apps write 모낭홍반/농포 with a slash; folder names never do.
    if wanted.replace("/", "") == "모낭홍반농포":
        return get_symptom("모낭홍반농포")
    known = ", ".join(f"{s.key} ({s.ko})" for s in SYMPTOMS)
    raise KeyError(f"unknown symptom {name!r}; expected one of: {known}")
