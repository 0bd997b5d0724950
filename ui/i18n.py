"""Korean/English texts of the app, read from ``ui/strings.yaml`` and ``ui/strings/*.yaml`` (tables a
translator can edit; one file per feature, and a key may be defined only once across them).

    >>> from ui.i18n import t
    >>> t("upload_ok", "ko")
    '이미지가 성공적으로 업로드되었습니다. 🎉'

``lang`` is ``"ko"`` (default) or ``"en"``; the UI's language radio maps to these codes
through :func:`lang_code`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

STRINGS_PATH = Path(__file__).resolve().parent / "strings.yaml"
STRINGS_DIR = STRINGS_PATH.with_name("strings")
LANGUAGES = ("ko", "en")
LANGUAGE_CHOICES = (("한국어", "ko"), ("English", "en"))


def _read_table(path: Path) -> dict[str, dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        table = yaml.safe_load(f) or {}
    for key, entry in table.items():
        missing = [lang for lang in LANGUAGES if not isinstance(entry, dict) or lang not in entry]
        if missing:
            raise ValueError(f"{path.name}: key {key!r} lacks the language(s) {missing}; add them")
    return table


@cache
def load_strings(path: Path = STRINGS_PATH, extra_dir: Path | None = STRINGS_DIR) -> dict[str, dict[str, str]]:
    table = _read_table(path)
    for extra in sorted(extra_dir.glob("*.yaml")) if extra_dir and extra_dir.is_dir() else ():
        for key, entry in _read_table(extra).items():
            if key in table:
                raise ValueError(f"{extra.name}: key {key!r} is already defined; give it another name")
            table[key] = entry
    return table


def lang_code(value: str | None) -> str:
    """``"en"``/``"English"`` → ``"en"``; anything else (None, ``"ko"``, ``"한국어"``) → ``"ko"``."""
    if value and value.strip().lower() in ("en", "english", "영어"):
        return "en"
    return "ko"


def t(key: str, lang: str = "ko", **values) -> str:
    """The text ``key`` in ``lang`` with ``{placeholders}`` filled from ``values``."""
    entry = load_strings()[key]
    text = entry[lang_code(lang)]
    return text.format(**values) if values else text


def both(key: str, **values) -> str:
    """Korean, then English, on one line: used in error messages that reach API clients."""
    return f"{t(key, 'ko', **values)} / {t(key, 'en', **values)}"
