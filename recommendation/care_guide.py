"""Care guide (원인 / 특징 / 관리방안) for a diagnosed scalp type, from OpenAI or built-in texts.

With ``OPENAI_API_KEY`` set, a Korean prompt goes to the chat completions API
through the real ``openai`` client (``openai_chat``; model ``SCALP_OPENAI_MODEL``,
default ``gpt-4o-mini``; base URL ``OPENAI_BASE_URL``, read by the client). The answer
is first reduced to plain text (``llm_answer.plain_answer``: no HTML, images, links,
Markdown or secrets), so nothing else ever sees what the server sent. It must contain
the three sections 원인, 특징, 관리방안; sentences making medical or efficacy claims
(``compliance``) are removed, a step loses only its own sentences, and when 원인 or
특징 is left empty or fewer than two care steps remain, the built-in guide is used
instead, with a notice. Built-in texts (``builtin_guide``, ``data/care_texts.yaml``)
are used with no key (immediately), and on any error or when the time budget runs out.
An error is told by its type and HTTP status only ("AuthenticationError (401)"): its
message, headers and body may echo the key.

The whole OpenAI attempt (retries included) runs in a worker thread under one
deadline, ``CareGuideConfig.timeout_s`` (production default 8 s, env
``SCALP_OPENAI_TIMEOUT``), so a slow server never delays the fallback past it.
Retries are ours (``openai_chat.ask``): at most ``max_retries`` after a connection error,
429 or 5xx, each after a short pause (``retry_delay_s``), and none when the server's
``Retry-After`` asks for longer. An error answer (401, 429, 500, refused connection)
therefore falls back in well under a second even with the 8 s budget; only a server that
stays silent uses it all. A ``SCALP_OPENAI_TIMEOUT`` that is not a number of seconds in
(0, 120] makes :func:`check_environment` (call it at start-up) raise ``ValueError``; at
call time it is logged as a warning and the default used. OpenAI answers are cached in
memory (LRU) per type, symptoms, severities and language.

    >>> g = care_guide(determine_scalp_type({"excess_sebum": 3}), lang="ko", config=CareGuideConfig(api_key=""))
    >>> g.source, sorted(g.sections)
    ('fallback', ['관리방안', '원인', '특징'])

Run ``python -m recommendation.care_guide --severity excess_sebum=3`` to print a guide.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from scalp_core.cli import help_field
from scalp_core.symptoms import get_symptom, severity_name

from .builtin_guide import builtin_sections, care_texts
from .compliance import has_words, remove_violations
from .llm_answer import parse_sections, plain_answer, section_text, split_steps
from .openai_chat import LRU, ask, describe_error, openai_client
from .scalp_type import ScalpTypeResult, determine_scalp_type, type_label
from .texts import LANGS, symptom_name

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT_S = 8.0
MAX_TIMEOUT_S = 120.0
DEFAULT_RETRY_DELAY_S = 0.25
TIMEOUT_ENV = "SCALP_OPENAI_TIMEOUT"
MIN_CARE_STEPS = 2
MAX_CARE_STEPS = 5


def parse_timeout(value: str) -> float:
    """``SCALP_OPENAI_TIMEOUT``'s text as seconds; ValueError saying what is wrong and what to set."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= MAX_TIMEOUT_S:  # also false for nan and inf
        raise ValueError(
            f"{TIMEOUT_ENV}={value!r} is not a number of seconds in (0, {MAX_TIMEOUT_S:g}]; "
            f"set e.g. {TIMEOUT_ENV}=8, or unset it for the default {DEFAULT_TIMEOUT_S:g} s"
        )
    return seconds


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Raise ValueError for a care-guide setting in the environment that cannot work (call at start-up)."""
    environ = os.environ if environ is None else environ
    if environ.get(TIMEOUT_ENV) is not None:
        parse_timeout(environ[TIMEOUT_ENV])


def _env_timeout() -> float:
    value = os.environ.get(TIMEOUT_ENV)
    if value is None:
        return DEFAULT_TIMEOUT_S
    try:
        return parse_timeout(value)
    except ValueError as exc:
        log.warning("%s; using %g s", exc, DEFAULT_TIMEOUT_S)
        return DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class CareGuideConfig:
    """How to ask OpenAI. ``None`` fields are read from the environment at call time."""

    model: str | None = help_field("chat model; env SCALP_OPENAI_MODEL, default gpt-4o-mini", default=None)
    api_key: str | None = help_field("env OPENAI_API_KEY; empty string = never call OpenAI", default=None)
    base_url: str | None = help_field("env OPENAI_BASE_URL (read by the openai client)", default=None)
    timeout_s: float | None = help_field(
        "total time budget for the OpenAI attempt (s), in (0, 120]; env SCALP_OPENAI_TIMEOUT, default 8",
        default=None,
    )
    max_retries: int = help_field(
        "retries after a connection error, 429 or 5xx, inside the budget", default=1
    )
    retry_delay_s: float = help_field(
        "pause before a retry; a server Retry-After longer than this means no retry",
        default=DEFAULT_RETRY_DELAY_S,
    )
    temperature: float = help_field("sampling temperature", default=0.3)

    def __post_init__(self) -> None:
        if self.timeout_s is not None and not 0 < self.timeout_s <= MAX_TIMEOUT_S:
            raise ValueError(f"timeout_s must be in (0, 120] seconds, got {self.timeout_s}")
        if not 0 <= self.max_retries <= 3:
            raise ValueError(
                f"max_retries must be 0..3 (retries share the time budget), got {self.max_retries}"
            )
        if not 0 <= self.retry_delay_s <= 1:
            raise ValueError(f"retry_delay_s must be in [0, 1] seconds, got {self.retry_delay_s}")

    def resolved(self) -> tuple[str, str, str | None, float]:
        model = self.model or os.environ.get("SCALP_OPENAI_MODEL") or DEFAULT_MODEL
        key = self.api_key if self.api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        # Resolved here (not left to the client) so the cached client follows a changed env.
        base_url = self.base_url or os.environ.get("OPENAI_BASE_URL") or None
        return model, key, base_url, self.timeout_s if self.timeout_s is not None else _env_timeout()


@dataclass(frozen=True)
class CareGuide:
    """A care guide; an OpenAI one holds only plain text (``llm_answer.plain_answer``)."""

    title: str
    cause: str
    features: str
    care_steps: tuple[str, ...]
    disclaimer: str
    source: str  # "openai" | "fallback"
    lang: str
    error: str | None = None  # why the fallback was used (type and status only for API errors)
    removed_sentences: tuple[str, ...] = ()
    notice: str | None = None  # shown to the user: why the built-in guide stands in for OpenAI's

    @property
    def sections(self) -> dict[str, object]:
        return {"원인": self.cause, "특징": self.features, "관리방안": list(self.care_steps)}

    def to_markdown(self) -> str:
        heads = ("원인", "특징", "관리방안") if self.lang == "ko" else ("Cause", "Features", "Care")
        steps = "\n".join(f"{i}. {s}" for i, s in enumerate(self.care_steps, 1))
        notice = f"> ℹ️ {self.notice}\n\n" if self.notice else ""
        return (
            f"### {self.title}\n\n{notice}**{heads[0]}:** {self.cause}\n\n**{heads[1]}:** {self.features}\n\n"
            f"**{heads[2]}:**\n{steps}\n\n> ⚠️ {self.disclaimer}"
        )


def load_care_texts() -> dict:
    return care_texts()


def _title(result: ScalpTypeResult, lang: str) -> str:
    texts = care_texts()["types"]
    types = " · ".join(texts[t]["title"][lang] if t in texts else type_label(t, lang) for t in result.types)
    syms = ", ".join(symptom_name(k, lang) for k in result.main_findings)
    return f"{types} ({syms})" if syms else types


def fallback_guide(
    result: ScalpTypeResult, lang: str = "ko", error: str | None = None, notice: str | None = None
) -> CareGuide:
    """The built-in guide: every type's and main finding's text merged into one (``builtin_guide``)."""
    cause, features, steps = builtin_sections(result, lang)
    return CareGuide(
        title=_title(result, lang),
        cause=cause,
        features=features,
        care_steps=steps,
        disclaimer=care_texts()["disclaimer"][lang],
        source="fallback",
        lang=lang,
        error=error,
        notice=notice,
    )


def build_prompt(result: ScalpTypeResult, lang: str = "ko") -> str:
    types = ", ".join(result.types)
    symptoms = (
        ", ".join(
            f"{get_symptom(k).ko} {severity_name(v, scheme=result.scheme, lang='ko')}"
            for k, v in result.severities.items()
            if v > 0
        )
        or "뚜렷한 증상 없음"
    )
    main = result.main_finding_ko
    answer_lang = "한국어로" if lang == "ko" else "영어(English)로, 단 섹션 제목은 원인/특징/관리방안 그대로"
    return (
        f"두피 이미지 분석 결과 두피 타입은 {types}이고, 증상별 중증도는 {symptoms}입니다. 주요 소견은 {main}입니다.\n"
        f"이 두피 상태의 원인과 특징, 관리방안을 {answer_lang} 알려주세요.\n"
        "형식은 정확히 다음 세 섹션을 지켜 주세요:\n원인: (한두 문장)\n특징: (한두 문장)\n"
        "관리방안:\n1. ...\n2. ...\n3. ...\n"
        "HTML, 링크, 이미지, 마크다운 없이 평문으로만 써 주세요.\n"
        "화장품 광고 규정을 지켜 '치료', '예방', '발모', '탈모 방지' 같은 의약품 효능 표현은 쓰지 마세요."
    )


_CACHE = LRU()
_EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="care-guide-openai")


def clear_cache() -> None:
    _CACHE.clear()


def _fall_back(result: ScalpTypeResult, lang: str, error: str, notice: str | None = None) -> CareGuide:
    log.warning("care guide: using the built-in guide (%s)", error)
    return fallback_guide(result, lang, error=error, notice=notice)


def _guide_from_answer(result: ScalpTypeResult, lang: str, answer: str, key: str) -> CareGuide:
    """The guide an answer makes, or the built-in one (with its reason) when it cannot make one."""
    sections = parse_sections(plain_answer(answer, secrets=(key,)))
    if sections is None:
        return _fall_back(result, lang, "OpenAI answer lacked the 원인/특징/관리방안 sections")
    removed: list[str] = []

    def kept(text: str) -> str:
        cleaned, violations = remove_violations(text)
        removed.extend(v.sentence for v in violations)
        return cleaned.strip() if has_words(cleaned) else ""

    cause, features = kept(section_text(sections["원인"])), kept(section_text(sections["특징"]))
    steps = [step for step in (kept(s) for s in split_steps(sections["관리방안"])) if step]
    if not cause or not features or len(steps) < MIN_CARE_STEPS:
        notice = care_texts()["notices"]["wording_fallback"][lang] if removed else None
        reason = "broke the MFDS claims rules" if removed else "had too few care steps"
        return _fall_back(result, lang, f"OpenAI answer {reason}", notice)
    return CareGuide(
        title=_title(result, lang),
        cause=cause,
        features=features,
        care_steps=tuple(steps[:MAX_CARE_STEPS]),
        disclaimer=care_texts()["disclaimer"][lang],
        source="openai",
        lang=lang,
        removed_sentences=tuple(removed),
    )


def care_guide(result: ScalpTypeResult, lang: str = "ko", config: CareGuideConfig | None = None) -> CareGuide:
    """A care guide for ``result``; never raises for network or API problems (falls back instead)."""
    if lang not in LANGS:
        raise ValueError(f"lang must be 'ko' or 'en', got {lang!r}")
    config = config or CareGuideConfig()
    model, key, base_url, budget = config.resolved()
    if not key:
        return fallback_guide(result, lang, error="OPENAI_API_KEY is not set")
    cache_key = (
        tuple(result.types),
        tuple(sorted(result.severities.items())),
        result.scheme,
        lang,
        model,
        base_url,
    )
    cached = _CACHE.get(cache_key)
    if cached is not None:
        return cached
    client = openai_client(key, base_url, budget)
    deadline = time.monotonic() + budget
    future = _EXECUTOR.submit(
        ask,
        client,
        build_prompt(result, lang),
        model,
        config.temperature,
        config.max_retries,
        config.retry_delay_s,
        deadline,
    )
    try:
        answer = future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        future.cancel()
        return _fall_back(result, lang, f"OpenAI did not answer within {budget:g} s")
    except Exception as exc:  # noqa: BLE001 -- any API, network or response error means: use the fallback
        return _fall_back(result, lang, f"OpenAI request failed: {describe_error(exc)}")
    guide = _guide_from_answer(result, lang, answer, key)
    if guide.source == "openai":
        _CACHE.put(cache_key, guide)
    return guide


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print a care guide for given severities.")
    parser.add_argument("--severity", action="append", default=[], help="symptom=grade, e.g. excess_sebum=3")
    parser.add_argument("--lang", choices=("ko", "en"), default="ko")
    args = parser.parse_args(argv)
    severities = {}
    for item in args.severity:
        name, _, grade = item.partition("=")
        if not grade.strip().isdigit():
            parser.error(f"--severity {item!r}: expected symptom=grade with grade 0..3, e.g. excess_sebum=3")
        severities[name.strip()] = int(grade)
    try:
        check_environment()
        result = determine_scalp_type(severities)
    except ValueError as exc:
        parser.error(str(exc))
    guide = care_guide(result, lang=args.lang)
    print(guide.to_markdown())
    print(f"\n(source: {guide.source}{'; ' + guide.error if guide.error else ''})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
