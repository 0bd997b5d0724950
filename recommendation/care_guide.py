"""Care guide (원인 / 특징 / 관리방안) for a diagnosed scalp type, from OpenAI or built-in texts.

With ``OPENAI_API_KEY`` set, a Korean prompt goes to the chat completions API
through the real ``openai`` client (model ``SCALP_OPENAI_MODEL``, default
``gpt-4o-mini``; base URL ``OPENAI_BASE_URL``, read by the client). The answer
must contain the three sections 원인, 특징, 관리방안; sentences breaking the
MFDS wording rules (``compliance.py``) are removed, and a section left empty
means the built-in text is used instead. Built-in texts (``data/care_texts.yaml``)
are used with no key (immediately), and on any error or when the time budget
runs out.

The whole OpenAI attempt (retries included) runs in a worker thread under one
deadline, ``CareGuideConfig.timeout_s`` (production default 8 s, env
``SCALP_OPENAI_TIMEOUT``), so a slow server never delays the fallback past it.
Retries are ours, not the client's: at most ``max_retries`` after a connection
error, 429 or 5xx, each after a short pause (``retry_delay_s``), and none when the
server's ``Retry-After`` asks for longer. The openai client would otherwise honour
a ``Retry-After`` of up to two minutes, holding the fallback until the deadline.
An error answer (401, 429, 500, refused connection) therefore falls back in well
under a second even with the 8 s budget; only a server that stays silent uses it all.
OpenAI answers are cached in memory (LRU) per type, symptoms, severities and language.

    >>> g = care_guide(determine_scalp_type({"excess_sebum": 3}), lang="ko", config=CareGuideConfig(api_key=""))
    >>> g.source, sorted(g.sections)
    ('fallback', ['관리방안', '원인', '특징'])

Run ``python -m recommendation.care_guide --severity excess_sebum=3`` to print a guide.
"""

from __future__ import annotations

import argparse
import os
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import cache

from scalp_core.cli import help_field
from scalp_core.symptoms import get_symptom, severity_name

from .compliance import remove_violations
from .scalp_type import ScalpTypeResult, determine_scalp_type, type_label
from .texts import LANGS, read_yaml, symptom_name

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT_S = 8.0
DEFAULT_RETRY_DELAY_S = 0.25
SECTION_KEYS = ("원인", "특징", "관리방안")


def _env_timeout() -> float:
    try:
        return float(os.environ.get("SCALP_OPENAI_TIMEOUT", DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class CareGuideConfig:
    """How to ask OpenAI. ``None`` fields are read from the environment at call time."""

    model: str | None = help_field("chat model; env SCALP_OPENAI_MODEL, default gpt-4o-mini", default=None)
    api_key: str | None = help_field("env OPENAI_API_KEY; empty string = never call OpenAI", default=None)
    base_url: str | None = help_field("env OPENAI_BASE_URL (read by the openai client)", default=None)
    timeout_s: float | None = help_field("total time budget for the OpenAI attempt (s)", default=None)
    max_retries: int = help_field(
        "retries after a connection error, 429 or 5xx, inside the budget", default=1
    )
    retry_delay_s: float = help_field(
        "pause before a retry; a server Retry-After longer than this means no retry",
        default=DEFAULT_RETRY_DELAY_S,
    )
    temperature: float = help_field("sampling temperature", default=0.3)

    def __post_init__(self) -> None:
        if self.timeout_s is not None and not 0 < self.timeout_s <= 120:
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
    title: str
    cause: str
    features: str
    care_steps: tuple[str, ...]
    disclaimer: str
    source: str  # "openai" | "fallback"
    lang: str
    error: str | None = None  # why the fallback was used
    removed_sentences: tuple[str, ...] = ()

    @property
    def sections(self) -> dict[str, object]:
        return {"원인": self.cause, "특징": self.features, "관리방안": list(self.care_steps)}

    def to_markdown(self) -> str:
        heads = ("원인", "특징", "관리방안") if self.lang == "ko" else ("Cause", "Features", "Care")
        steps = "\n".join(f"{i}. {s}" for i, s in enumerate(self.care_steps, 1))
        return (
            f"### {self.title}\n\n**{heads[0]}:** {self.cause}\n\n**{heads[1]}:** {self.features}\n\n"
            f"**{heads[2]}:**\n{steps}\n\n> ⚠️ {self.disclaimer}"
        )


def load_care_texts() -> dict:
    return read_yaml("care_texts.yaml")


def _focus(result: ScalpTypeResult) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(result.types), tuple(result.main_findings)


def _title(result: ScalpTypeResult, lang: str) -> str:
    texts = load_care_texts()["types"]
    types = " · ".join(texts[t]["title"][lang] if t in texts else type_label(t, lang) for t in result.types)
    syms = ", ".join(symptom_name(k, lang) for k in result.main_findings)
    return f"{types} ({syms})" if syms else types


def fallback_guide(result: ScalpTypeResult, lang: str = "ko", error: str | None = None) -> CareGuide:
    """The built-in guide: type texts for 원인/특징, the main symptom's steps (else the type's) for 관리방안."""
    texts = load_care_texts()
    types, findings = _focus(result)
    type_parts = [texts["types"][t][lang] for t in types if t in texts["types"]]
    sym_parts = [texts["symptoms"][k][lang] for k in findings if k in texts["symptoms"]]
    cause = " ".join(p["cause"] for p in (type_parts + sym_parts)[:3])
    features = " ".join(p["features"] for p in (type_parts + sym_parts)[:3])
    steps_source = sym_parts[0] if sym_parts else type_parts[0]
    return CareGuide(
        title=_title(result, lang),
        cause=cause,
        features=features,
        care_steps=tuple(steps_source["care"]),
        disclaimer=texts["disclaimer"][lang],
        source="fallback",
        lang=lang,
        error=error,
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
        "화장품 광고 규정을 지켜 '치료', '예방', '발모', '탈모 방지' 같은 의약품 효능 표현은 쓰지 마세요."
    )


_HEADER = re.compile(
    r"^[ \t#>*\-]*(?:\*\*)?[ \t]*(원인|특징|관리[ \t]*방안|cause|features?|care)[ \t]*(?:\*\*)?[ \t]*(?:[:：][ \t]*(?:\*\*)?|$)",
    re.IGNORECASE | re.MULTILINE,
)
_STEP = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*(.+)$", re.MULTILINE)


def parse_sections(text: str) -> dict[str, str] | None:
    """Split an answer into 원인 / 특징 / 관리방안; None when any is missing or empty."""
    names = {
        "원인": "원인",
        "cause": "원인",
        "특징": "특징",
        "feature": "특징",
        "features": "특징",
        "관리방안": "관리방안",
        "care": "관리방안",
    }
    found: dict[str, str] = {}
    matches = list(_HEADER.finditer(text))
    for i, m in enumerate(matches):
        key = names.get(re.sub(r"\s+", "", m.group(1)).lower())
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[m.end() : end].strip()
        if key and key not in found and body:
            found[key] = body
    return found if all(found.get(k) for k in SECTION_KEYS) else None


def _steps(body: str) -> list[str]:
    steps = [s.strip() for s in _STEP.findall(body) if s.strip()]
    return steps or [line.strip() for line in body.splitlines() if line.strip()]


class _LRU:
    def __init__(self, size: int = 256) -> None:
        self.size, self.data, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
            return None

    def put(self, key, value) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


_CACHE = _LRU()
_EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="care-guide-openai")


def clear_cache() -> None:
    _CACHE.clear()


@cache
def _client(key: str, base_url: str | None, timeout: float):
    # Imported here, outside the deadline, so the first call's import time does not eat the budget.
    from openai import OpenAI

    # max_retries=0: _ask_openai retries itself, with pauses that fit the deadline.
    client = OpenAI(api_key=key, base_url=base_url or None, timeout=timeout, max_retries=0)
    _ = client.chat.completions  # resolve the lazily imported resource modules now, too
    return client


def _retry_after_s(exc: Exception) -> float | None:
    """The server's requested wait in seconds (inf when it sent one we cannot read), else None."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) / scale
            except ValueError:  # an HTTP date: some time in the future, too long for us
                return float("inf")
    return None


def _ask_openai(
    client, prompt: str, model: str, temperature: float, retries: int, retry_delay_s: float, deadline: float
) -> str:
    import openai

    attempt = 0
    while True:
        try:
            return _chat(client, prompt, model, temperature)
        except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
            server_wait = _retry_after_s(exc)
            if (
                attempt >= retries
                or (server_wait is not None and server_wait > retry_delay_s)
                or time.monotonic() + retry_delay_s >= deadline
            ):
                raise
            attempt += 1
            time.sleep(retry_delay_s)


def _chat(client, prompt: str, model: str, temperature: float) -> str:
    response = client.chat.completions.create(
        model=model,
        temperature=temperature,
        messages=[
            {
                "role": "system",
                "content": "당신은 두피 관리 정보를 주는 도우미입니다. 의학적 진단이나 치료 권고는 하지 않습니다.",
            },
            {"role": "user", "content": prompt},
        ],
    )
    return response.choices[0].message.content or ""


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
    client = _client(key, base_url, budget)
    deadline = time.monotonic() + budget
    future = _EXECUTOR.submit(
        _ask_openai,
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
        return fallback_guide(result, lang, error=f"OpenAI did not answer within {budget:g} s")
    except Exception as exc:  # noqa: BLE001 -- any API, network or response error means: use the fallback
        return fallback_guide(result, lang, error=f"OpenAI request failed: {type(exc).__name__}: {exc}"[:300])
    sections = parse_sections(answer)
    if sections is None:
        return fallback_guide(result, lang, error="OpenAI answer lacked the 원인/특징/관리방안 sections")
    removed: list[str] = []
    cleaned = {}
    for name, body in sections.items():
        text, violations = remove_violations(body)
        removed.extend(v.sentence for v in violations)
        cleaned[name] = text.strip()
    steps = [s for s in _steps(cleaned["관리방안"]) if s]
    if not cleaned["원인"] or not cleaned["특징"] or not steps:
        return fallback_guide(result, lang, error="OpenAI answer broke the MFDS wording rules")
    guide = CareGuide(
        title=_title(result, lang),
        cause=cleaned["원인"],
        features=cleaned["특징"],
        care_steps=tuple(steps[:5]),
        disclaimer=load_care_texts()["disclaimer"][lang],
        source="openai",
        lang=lang,
        removed_sentences=tuple(removed),
    )
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
        result = determine_scalp_type(severities)
    except ValueError as exc:
        parser.error(str(exc))
    guide = care_guide(result, lang=args.lang)
    print(guide.to_markdown())
    print(f"\n(source: {guide.source}{'; ' + guide.error if guide.error else ''})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
