"""Word lists matched against product names and claims, as the tables in ``data/`` describe them.

``categories.yaml`` (a coarse category refined from the name) and ``concern_words.yaml``
(the scalp type a product's name says it is made for) hold lists of words; this module
matches them. English words match whole words, an "s" or "es" plural included, with
hyphens, underscores and slashes read as spaces; "…" stands for up to two words, so
"scalp … serum" fits "Scalp Soothing Serum". Korean words match inside compounds with
spaces ignored, so "토닉" fits "탈모토닉" and "두피 팩" fits "두피팩".

    >>> Words.of(["scalp … serum", "토닉"]).found_in(fold("ERHAIR Scalp Soothing Serum"))
    True
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_HANGUL = re.compile(r"[\uac00-\ud7a3]")
# "scalp … serum": up to two words may stand between.
_GAP = r"(?: \S+){0,2} "


def fold(text: str) -> str:
    """Case-folded, hyphens, underscores and slashes as spaces, spaces collapsed ("..." read as "…")."""
    text = unicodedata.normalize("NFKC", str(text)).casefold().replace("...", "…")
    return " ".join(re.sub(r"[-_/]", " ", text).split())


@dataclass(frozen=True)
class Words:
    """A compiled word list; ``found_in`` takes text already passed through :func:`fold`."""

    english: re.Pattern | None
    korean: tuple[str, ...]

    @classmethod
    def of(cls, words) -> Words:
        words = [fold(w) for w in words or ()]
        english = [_GAP.join(map(re.escape, w.split(" … "))) for w in words if not _HANGUL.search(w)]
        pattern = (
            re.compile(r"(?<![a-z0-9])(?:" + "|".join(english) + r")(?:e?s)?(?![a-z0-9])")
            if english
            else None
        )
        return cls(pattern, tuple(w.replace(" ", "") for w in words if _HANGUL.search(w)))

    def found_in(self, folded: str) -> bool:
        if self.english is not None and self.english.search(folded):
            return True
        squeezed = folded.replace(" ", "")
        return any(w in squeezed for w in self.korean)
