"""Shared, dependency-light facts used by every stage: the six symptom specs and grades."""

from scalp_core.symptoms import (
    DEFAULT_LABEL_SCHEME,
    LABEL_SCHEMES,
    SYMPTOM_KEYS,
    SYMPTOMS,
    SymptomSpec,
    class_names,
    get_symptom,
    grade_to_class,
    load_grades,
)

__all__ = [
    "DEFAULT_LABEL_SCHEME",
    "LABEL_SCHEMES",
    "SYMPTOM_KEYS",
    "SYMPTOMS",
    "SymptomSpec",
    "class_names",
    "get_symptom",
    "grade_to_class",
    "load_grades",
]
