"""Care guide: real openai client against a local stub (200/401/429/500/timeout), fallback texts, MFDS wording."""

from __future__ import annotations

import dataclasses
import itertools
import socket
import time

import pytest
import yaml

from recommendation.care_guide import (
    CareGuideConfig,
    _client,
    care_guide,
    clear_cache,
    fallback_guide,
    load_care_texts,
    parse_sections,
)
from recommendation.care_guide import main as care_guide_main
from recommendation.compliance import find_violations, remove_violations
from recommendation.scalp_type import determine_scalp_type, type_order
from recommendation.survey import Survey
from recommendation.texts import DATA_DIR
from scalp_core.symptoms import SYMPTOMS, class_names, split_label
from scalp_models.diagnosis import Diagnosis, SymptomResult
from tests.openai_stub import start_stub
from ui.session import Session

BUDGET_S = 0.5  # the failure tests' OpenAI time budget; production default is 8 s
OK_BUDGET_S = 5.0  # successful answers get more room so a busy CI machine does not turn them into fallbacks


@pytest.fixture(scope="module")
def stub():
    server, state, url = start_stub()
    _client("sk-warm-up", url, 1.0)  # import openai once, so no timing below includes it
    yield state, url
    server.shutdown()
    server.server_close()


@pytest.fixture()
def config(stub):
    state, url = stub
    state.mode, state.requests, state.retry_after = "ok", 0, None
    clear_cache()
    return CareGuideConfig(api_key="sk-test", base_url=url, timeout_s=BUDGET_S, model="stub-model")


@pytest.fixture()
def ok_config(config):
    return dataclasses.replace(config, timeout_s=OK_BUDGET_S)


@pytest.fixture()
def oily():
    return determine_scalp_type({"excess_sebum": 3, "dandruff": 1})


def test_openai_answer_is_parsed_and_cached(stub, ok_config, oily):
    state, _ = stub
    config = ok_config
    guide = care_guide(oily, lang="ko", config=config)
    assert guide.source == "openai", guide.error
    assert "피지 분비" in guide.cause and "번들" in guide.features
    assert len(guide.care_steps) == 3 and guide.care_steps[0].startswith("저녁에")
    assert "피부과 전문의" in guide.disclaimer
    assert state.requests == 1
    body = state.last_body
    assert body["model"] == "stub-model"
    prompt = body["messages"][-1]["content"]
    assert "지성" in prompt and "피지과다 중증" in prompt and "비듬 경증" in prompt
    again = care_guide(oily, lang="ko", config=config)
    assert again == guide and state.requests == 1  # served from the cache
    care_guide(determine_scalp_type({"hair_loss": 2}), lang="ko", config=config)
    assert state.requests == 2  # a different input is asked anew


def test_model_comes_from_env(stub, config, oily, monkeypatch):
    state, _ = stub
    monkeypatch.setenv("SCALP_OPENAI_MODEL", "env-model")
    care_guide(oily, config=CareGuideConfig(api_key="k", base_url=config.base_url, timeout_s=OK_BUDGET_S))
    assert state.last_body["model"] == "env-model"


def test_everything_can_come_from_the_environment(stub, config, oily, monkeypatch):
    state, url = stub
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("SCALP_OPENAI_MODEL", "env-model-2")
    monkeypatch.setenv("SCALP_OPENAI_TIMEOUT", "5")
    assert CareGuideConfig().resolved() == ("env-model-2", "sk-env", url, 5.0)
    guide = care_guide(oily)
    assert guide.source == "openai", guide.error
    assert state.requests == 1 and state.last_body["model"] == "env-model-2"


@pytest.mark.parametrize("mode", ["401", "429", "500", "sleep", "no_sections"])
def test_failures_fall_back_within_one_second(stub, config, oily, mode):
    state, _ = stub
    state.mode = mode
    start = time.monotonic()
    guide = care_guide(oily, lang="ko", config=config)
    elapsed = time.monotonic() - start
    assert guide.source == "fallback"
    assert guide.error
    assert elapsed < 1.0, f"fallback took {elapsed:.2f} s for {mode}"
    assert state.requests >= 1  # the stub really was asked
    assert guide.cause and guide.features and len(guide.care_steps) == 3
    # failures are not cached: the next call asks again
    state.mode = "ok"
    assert (
        care_guide(oily, lang="ko", config=dataclasses.replace(config, timeout_s=OK_BUDGET_S)).source
        == "openai"
    )


@pytest.mark.parametrize(
    "mode, retry_after, requests",
    [
        ("401", None, 1),  # not retried
        ("500", None, 2),  # retried once after a short pause
        ("429", None, 2),
        ("429", "0.1", 2),  # a short Retry-After is fine
        ("429", "20", 1),  # a long one is not waited for (the openai client would wait 20 s)
        ("500", "Wed, 21 Oct 2099 07:28:00 GMT", 1),
    ],
)
def test_errors_fall_back_within_one_second_with_the_production_budget(
    stub, config, oily, monkeypatch, mode, retry_after, requests
):
    state, _ = stub
    state.mode, state.retry_after = mode, retry_after
    monkeypatch.delenv("SCALP_OPENAI_TIMEOUT", raising=False)
    production = dataclasses.replace(config, timeout_s=None)  # the default 8 s budget
    assert production.resolved()[3] == 8.0
    start = time.monotonic()
    guide = care_guide(oily, config=production)
    elapsed = time.monotonic() - start
    assert guide.source == "fallback" and mode in guide.error
    assert elapsed < 1.0, f"fallback took {elapsed:.2f} s for {mode} (Retry-After {retry_after})"
    assert state.requests == requests


def test_unreachable_server_falls_back_within_one_second(stub, oily):  # stub: openai already imported
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clear_cache()
    start = time.monotonic()
    guide = care_guide(oily, config=CareGuideConfig(api_key="k", base_url=f"http://127.0.0.1:{port}/v1"))
    assert guide.source == "fallback" and "Connection" in guide.error
    assert time.monotonic() - start < 1.0


def test_config_checks():
    for bad in ({"timeout_s": 0}, {"max_retries": -1}, {"max_retries": 10}, {"retry_delay_s": 5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            CareGuideConfig(**bad)


def test_no_key_falls_back_immediately(stub, oily, monkeypatch):
    state, url = stub
    state.requests = 0
    clear_cache()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    start = time.monotonic()
    guide = care_guide(oily)
    assert time.monotonic() - start < 0.2
    assert guide.source == "fallback" and "OPENAI_API_KEY" in guide.error
    assert state.requests == 0


def test_violating_answer_loses_its_offending_sentences(stub, ok_config, oily):
    state, _ = stub
    state.mode = "violating"
    guide = care_guide(oily, config=ok_config)
    assert guide.source == "openai"
    text = " ".join([guide.cause, guide.features, *guide.care_steps])
    assert "예방" not in text and "치료" not in text and "발모" not in text
    assert "두피가 번들거립니다." in guide.features
    assert len(guide.care_steps) == 2
    assert any("예방" in s for s in guide.removed_sentences)


def test_cli_prints_a_guide_and_refuses_bad_severities(capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert care_guide_main(["--severity", "excess_sebum=3"]) == 0
    out = capsys.readouterr().out
    assert "**원인:**" in out and "피부과 전문의" in out and "source: fallback" in out
    for bad, message in (("excess_sebum=x", "grade 0..3"), ("두통=2", "unknown symptom"), ("hair_loss=7", "0..3")):
        with pytest.raises(SystemExit) as exit_info:
            care_guide_main(["--severity", bad])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_english_fallback_and_markdown():
    guide = care_guide(determine_scalp_type({"dandruff": 2}), lang="en", config=CareGuideConfig(api_key=""))
    assert guide.source == "fallback"
    assert "dermatologist" in guide.disclaimer
    md = guide.to_markdown()
    assert "**Cause:**" in md and "1. " in md and "Dandruff" in guide.title


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def test_every_fallback_text_exists_and_passes_the_wording_check():
    texts = load_care_texts()
    for t in type_order():
        for lang in ("ko", "en"):
            entry = texts["types"][t][lang]
            assert entry["cause"] and entry["features"] and len(entry["care"]) == 3, (t, lang)
    for s in SYMPTOMS:
        for lang in ("ko", "en"):
            assert len(texts["symptoms"][s.key][lang]["care"]) == 3, (s.key, lang)
    raw = yaml.safe_load((DATA_DIR / "care_texts.yaml").read_text(encoding="utf-8"))
    strings = list(_strings(raw))
    assert len(strings) > 100
    bad = [(s, find_violations(s)) for s in strings if find_violations(s)]
    assert not bad
    assert "피부과 전문의" in texts["disclaimer"]["ko"] and "진단" in texts["disclaimer"]["ko"]


def test_fallback_exists_for_every_diagnosis_and_is_compliant():
    # Every combination of AI Hub grades 0..3 over the six symptoms, with each survey answer:
    # a full 3-section guide in both languages, within the MFDS wording rules, with the notice.
    seen_types, texts = set(), set()
    for grades in itertools.product(range(4), repeat=len(SYMPTOMS)):
        severities = dict(zip((s.key for s in SYMPTOMS), grades))
        for survey in (None, Survey("건성"), Survey("지성")):
            result = determine_scalp_type(severities, survey)
            seen_types.update(result.types)
            for lang in ("ko", "en"):
                guide = fallback_guide(result, lang)
                assert guide.cause and guide.features and len(guide.care_steps) == 3, (severities, lang)
                assert guide.disclaimer in guide.to_markdown()
                texts.add(" ".join([guide.cause, guide.features, *guide.care_steps]))
    assert seen_types == set(type_order()) - {"민감성"}  # no rule yields 민감성 (ingredient table only)
    assert not [t for t in texts if find_violations(t)]


@pytest.mark.parametrize(
    "text, ok",
    [
        ("이 샴푸는 탈모를 예방합니다.", False),
        ("탈모 치료에 좋습니다.", False),
        ("발모 효과가 있습니다.", False),
        ("탈모 방지 샴푸입니다.", False),
        ("탈모 증상 완화에 도움을 줍니다.", False),  # only registered functional cosmetics may say this
        ("식약처에 탈모 증상 완화 기능성화장품으로 등록된 제품인지 확인하세요.", True),
        ("This shampoo prevents hair loss.", False),
        ("It treats dandruff.", False),
        ("Promotes hair growth.", False),
        ("두피를 미온수로 꼼꼼히 헹굽니다.", True),
        ("Rinse the scalp well with lukewarm water.", True),
    ],
)
def test_wording_checker(text, ok):
    assert (not find_violations(text)) is ok
    assert not find_violations(text, functional_cosmetic=True) or "완화" not in text


def test_remove_violations_keeps_the_rest():
    cleaned, removed = remove_violations("두피를 씻습니다. 탈모를 예방합니다. 잘 말립니다.")
    assert cleaned == "두피를 씻습니다. 잘 말립니다."
    assert [v.sentence for v in removed] == ["탈모를 예방합니다."]


def test_parse_sections_needs_all_three():
    assert parse_sections("원인: a\n특징: b\n관리방안:\n1. c") == {
        "원인": "a",
        "특징": "b",
        "관리방안": "1. c",
    }
    assert parse_sections("**원인**: a\n### 특징\nb\n관리 방안: 1. c")["관리방안"] == "1. c"
    assert parse_sections("원인: a\n특징: b") is None


@pytest.mark.parametrize("mode", ["sleep", "ok"])
def test_app_shows_the_built_in_guide_at_once_then_the_final_one(stub, mode, monkeypatch):
    """The app's guide tab: with a key, the built-in guide is on screen within a second even when
    OpenAI is silent; the final text (OpenAI's, or the fallback after the timeout) replaces it."""
    import app  # heavy (gradio, the models): only this test needs it

    state, url = stub
    state.mode, state.requests, state.sleep_s = mode, 0, 3.0
    clear_cache()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-app")
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("SCALP_OPENAI_TIMEOUT", "1.5" if mode == "sleep" else str(OK_BUDGET_S))
    session = Session().with_answers("지성", ["excess_sebum"], ["샴푸"])
    session = session.with_diagnosis(_certain_diagnosis({"excess_sebum": 2}), low_confidence=False)
    steps = app.EVENTS.on_guide(session, "한국어")
    start = time.monotonic()
    _, first = next(steps)
    assert time.monotonic() - start < 1.0
    assert "기본 가이드를 먼저 보여 드립니다" in first
    assert "**관리방안:**" in first and "지성 두피" in first  # the whole built-in guide, not a spinner
    final_state, final = list(steps)[-1]
    assert "기본 가이드를 먼저" not in final
    if mode == "ok":
        assert "미온수로 꼼꼼히 감습니다" in final  # the stub's (OpenAI) answer replaced the built-in one
    else:
        assert "미온수로 꼼꼼히" not in final and final.strip()
    assert state.requests >= 1
    # cached in the session: the next visit shows the final guide at once, without asking again
    before = state.requests
    assert list(app.EVENTS.on_guide(final_state, "한국어"))[-1][1] == final and state.requests == before


def _certain_diagnosis(predicted: dict[str, int]) -> Diagnosis:
    """A ``Diagnosis`` (3-class scheme) that is sure of ``predicted``; other symptoms are 양호."""
    labels = class_names(3)
    results = []
    for spec in SYMPTOMS:
        level = predicted.get(spec.key, 0)
        severity_ko, severity_en = split_label(labels[level])
        probabilities = tuple(float(i == level) for i in range(len(labels)))
        results.append(SymptomResult(spec.key, spec.ko, spec.en, labels, probabilities, level, labels[level],
                                     severity_ko, severity_en, 1.0, False))
    return Diagnosis(tuple(results), uncertain_below=0.5)
