"""The built-in care guide's text for one or several scalp types and findings, merged into one text.

``data/care_texts.yaml`` holds a cause, features and three care steps per type and per symptom.
A result may name several types (a tie) and several main findings; :func:`builtin_sections`
writes one guide from all of them:

- 원인 and 특징: every type's text, then each main finding's, up to :data:`MAX_TEXT_PARTS` parts
  (types are never left out). A symptom marked ``repeats_type`` in the data says what that type's
  text says, so it adds nothing when its type is in the guide.
- 관리방안: the steps of the main findings, then of any type that no finding leads to (a survey
  type, 양호), taken in turn (each one's first step, then each one's second …), so each finding
  and type gets a step in before any gets a second; a step that repeats one already taken (the
  same heading in Korean or in English, or nearly the same words in both) is skipped; at most
  :data:`MAX_STEPS`. A finding's steps stand for the types it leads to (``scalp_type_rules.yaml``'s
  base table), so one type with its own symptom keeps that symptom's three steps.

Korean and English are merged by the same decisions, so both languages show the same guide.
Used by ``care_guide.fallback_guide``; there is nothing to run here.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from .scalp_type import ScalpTypeResult, healthy_type, load_rules
from .texts import LANGS, read_yaml

MAX_TEXT_PARTS = 5
MAX_STEPS = 5
# Steps whose words (headings aside) are this similar in both languages say the same thing.
SAME_STEP_RATIO = 0.7
_HEADING = re.compile(r"^\s*\*\*(.+?)\*\*")


def care_texts() -> dict:
    return read_yaml("care_texts.yaml")


def _parts(result: ScalpTypeResult) -> tuple[list[dict], list[dict]]:
    """(entries for 원인/특징, entries whose steps 관리방안 takes turns on), each entry with ko and en."""
    texts = care_texts()
    findings = [k for k in result.main_findings if k in texts["symptoms"]]
    types = [t for t in result.types if t in texts["types"]] or [healthy_type()]
    own_text = [k for k in findings if texts["symptoms"][k].get("repeats_type") not in types]
    text_parts = [texts["types"][t] for t in types]
    text_parts += [texts["symptoms"][k] for k in own_text][: max(0, MAX_TEXT_PARTS - len(types))]
    led_to = {t for k in findings for t in load_rules()["base_table"].get(k, [])}
    step_parts = [texts["symptoms"][k] for k in findings] + [
        texts["types"][t] for t in types if t not in led_to
    ]
    return text_parts, step_parts


def _heading(step: str) -> str:
    m = _HEADING.match(step)
    return m.group(1).strip().lower() if m else ""


def _words(step: str) -> str:
    return re.sub(r"\W+", " ", _HEADING.sub("", step)).strip().lower()


def _same_step(a: dict[str, str], b: dict[str, str]) -> bool:
    """Whether two steps (ko and en each) say the same thing."""
    if any(_heading(a[lang]) and _heading(a[lang]) == _heading(b[lang]) for lang in LANGS):
        return True
    return all(
        SequenceMatcher(None, _words(a[lang]), _words(b[lang])).ratio() >= SAME_STEP_RATIO for lang in LANGS
    )


def _merged_steps(parts: list[dict]) -> list[dict[str, str]]:
    queues = [
        [{lang: part[lang]["care"][i] for lang in LANGS} for i in range(len(part["ko"]["care"]))]
        for part in parts
    ]
    chosen: list[dict[str, str]] = []
    for round_ in range(max((len(q) for q in queues), default=0)):
        for queue in queues:
            if round_ < len(queue) and len(chosen) < MAX_STEPS:
                step = queue[round_]
                if not any(_same_step(step, taken) for taken in chosen):
                    chosen.append(step)
    return chosen


def builtin_sections(result: ScalpTypeResult, lang: str) -> tuple[str, str, tuple[str, ...]]:
    """(원인, 특징, 관리방안 steps) of the built-in guide for ``result`` in ``lang``."""
    text_parts, step_parts = _parts(result)
    cause = " ".join(part[lang]["cause"] for part in text_parts)
    features = " ".join(part[lang]["features"] for part in text_parts)
    return cause, features, tuple(step[lang] for step in _merged_steps(step_parts))
