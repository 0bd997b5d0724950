"""Shared, dependency-light facts and helpers used by every stage; imports nothing else of the project.

- ``scalp_core.symptoms``: the six symptom specs, the grades and the class-name scheme;
- ``scalp_core.aihub_names``: the AI Hub file- and folder-name format;
- ``scalp_core.terms``: the AI Hub data terms;
- ``scalp_core.images``: the one RGB conversion; ``scalp_core.paths``: the cache folder;
- ``scalp_core.cli``: the help-text field of the command-line dataclasses.
"""

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
    severity_name,
    split_label,
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
    "severity_name",
    "split_label",
]
