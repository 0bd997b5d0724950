"""MFDS wording check for scalp-care texts (built-in and OpenAI answers).

Rules are data (``data/mfds_wording.yaml``): forbidden patterns (treat, prevent,
발모, 탈모 방지 …) and phrases allowed only for registered functional cosmetics
("탈모 증상 완화"), which pass only when the same sentence talks about that
registration (기능성화장품). Texts are checked sentence by sentence so an
offending sentence can be removed and the rest kept.

    >>> find_violations("이 샴푸는 탈모를 예방합니다. 두피를 깨끗이 씻으세요.")[0].sentence
    '이 샴푸는 탈모를 예방합니다.'

Run ``python -m recommendation.compliance "text"`` to check a text.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from functools import cache

from .texts import read_yaml

# A sentence ends at . ! ? 。 or a line break; list markers stay with their sentence.
_SENTENCE = re.compile(r"[^.!?。\n]+(?:[.!?。]+|$)", re.MULTILINE)


@dataclass(frozen=True)
class Violation:
    sentence: str
    matched: str
    reason: str


@cache
def _rules() -> tuple[list[tuple[re.Pattern, str]], list[tuple[re.Pattern, re.Pattern]]]:
    raw = read_yaml("mfds_wording.yaml")
    forbidden = [(re.compile(r["pattern"], re.IGNORECASE), r["reason"]) for r in raw["forbidden"]]
    functional = [
        (re.compile(r["pattern"], re.IGNORECASE), re.compile(r["context"], re.IGNORECASE))
        for r in raw["functional_only"]
    ]
    return forbidden, functional


def sentences(text: str) -> list[str]:
    # Decimal points ("0.5%") must not end a sentence.
    protected = re.sub(r"(\d)\.(\d)", "\\1\x00\\2", text)
    return [s.strip().replace("\x00", ".") for s in _SENTENCE.findall(protected) if s.strip()]


def find_violations(text: str, functional_cosmetic: bool = False) -> list[Violation]:
    """Every sentence of ``text`` that breaks a rule, with the matched words and the reason."""
    forbidden, functional = _rules()
    found = []
    for sentence in sentences(text):
        for pattern, reason in forbidden:
            m = pattern.search(sentence)
            if m:
                found.append(Violation(sentence, m.group(0), reason))
                break
        else:
            for pattern, context in functional:
                m = pattern.search(sentence)
                if m and not functional_cosmetic and not context.search(sentence):
                    found.append(
                        Violation(
                            sentence, m.group(0), "기능성화장품만 쓸 수 있는 표현 (functional cosmetics only)"
                        )
                    )
                    break
    return found


def is_compliant(text: str, functional_cosmetic: bool = False) -> bool:
    return not find_violations(text, functional_cosmetic)


def remove_violations(text: str, functional_cosmetic: bool = False) -> tuple[str, list[Violation]]:
    """``text`` without its offending sentences, and what was removed."""
    violations = find_violations(text, functional_cosmetic)
    bad = {v.sentence for v in violations}
    if not bad:
        return text, []
    kept_lines = []
    for line in text.splitlines():
        kept = [s for s in sentences(line) if s not in bad]
        if kept:
            kept_lines.append(" ".join(kept))
    return "\n".join(kept_lines), violations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a text against the MFDS wording rules.")
    parser.add_argument("text")
    parser.add_argument(
        "--functional", action="store_true", help="the product is a registered functional cosmetic"
    )
    args = parser.parse_args(argv)
    violations = find_violations(args.text, args.functional)
    for v in violations:
        print(f"✗ {v.sentence}  [{v.matched}: {v.reason}]")
    print("OK" if not violations else f"{len(violations)} violation(s)")
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
