"""The files the stages pass to each other, read and written in one place each.

``prep_config.json`` sits in every ``datasets_prep build`` output folder (docs/ARCHITECTURE.md).
``datasets_prep`` writes it with :func:`write_prep_config`; training, evaluation and the demo
build read it only through :func:`read_prep_config`, so nothing downstream looks back into the
raw download to learn how the data was made:

- ``protocol``: ``full`` (unique images, labelled by their JSON values, split by subject) or
  ``folder`` (the seed's per-folder sets);
- ``synthetic``: true when the download was written by ``synthetic.simulate`` (a generated
  miniature), so every model trained on it is marked as trained on synthetic pictures;
- ``labels``: the label scheme, 3 or 4;
- everything else the build was run with (sizes, seed, split fractions), kept for the record.

    >>> from scalp_core.contracts import read_prep_config
    >>> read_prep_config("prepared").protocol
    'full'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from scalp_core.symptoms import LABEL_SCHEMES

PREP_CONFIG_FILE = "prep_config.json"
PROTOCOLS = ("full", "folder")


class PrepConfigError(ValueError):
    """``prep_config.json`` is missing, unreadable or lacks a field; the message says what to do."""


@dataclass(frozen=True)
class PrepConfig:
    """What a prepared folder says about itself."""

    protocol: str
    synthetic: bool
    labels: int
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise PrepConfigError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if not isinstance(self.synthetic, bool):
            raise PrepConfigError(f"synthetic must be true or false, got {self.synthetic!r}")
        if self.labels not in LABEL_SCHEMES:
            raise PrepConfigError(f"labels must be one of {LABEL_SCHEMES}, got {self.labels!r}")

    def to_json(self) -> dict:
        return {**self.settings, "protocol": self.protocol, "synthetic": self.synthetic, "labels": self.labels}


def write_prep_config(folder: str | Path, config: PrepConfig) -> Path:
    """Write ``folder/prep_config.json`` (UTF-8, indented) and return its path."""
    path = Path(folder) / PREP_CONFIG_FILE
    path.write_text(json.dumps(config.to_json(), ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def read_prep_config(folder: str | Path) -> PrepConfig:
    """The :class:`PrepConfig` of a prepared folder, or :class:`PrepConfigError` saying what is wrong."""
    path = Path(folder) / PREP_CONFIG_FILE
    rebuild = f"run `python -m datasets_prep build --out {folder} ...` again"
    if not path.is_file():
        raise PrepConfigError(f"{path} not found: {folder} is not a `datasets_prep build` output; {rebuild}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise PrepConfigError(f"{path} cannot be read ({type(err).__name__}: {err}); {rebuild}") from None
    if not isinstance(data, dict):
        raise PrepConfigError(f"{path} must hold a JSON object; {rebuild}")
    missing = [key for key in ("protocol", "synthetic", "labels") if key not in data]
    if missing:
        raise PrepConfigError(f"{path} lacks {missing} (written by an older datasets_prep); {rebuild}")
    settings = {k: v for k, v in data.items() if k not in ("protocol", "synthetic", "labels")}
    return PrepConfig(protocol=data["protocol"], synthetic=data["synthetic"], labels=data["labels"], settings=settings)
