"""Survey options and the symptom → scalp type rules (all four rules, ties, all-equal, 3-class)."""

from __future__ import annotations

import string

import pytest

from recommendation.scalp_type import determine_scalp_type, load_rules, survey_types
from recommendation.survey import Survey, option_labels, survey_summary
from recommendation.texts import (
    GRAMMAR_SPECS,
    fill,
    read_yaml,
    with_direction_particle,
    with_indefinite_article,
    with_subject_particle,
)
from scalp_core.symptoms import SYMPTOM_KEYS, SYMPTOMS

DRY_Q1 = "(건성)두피에 건조함이나 당김을 느낍니다."
OILY_Q1 = "(지성)머리를 감은지 하루 이내에 두피가 기름집니다."
Q3_OPTIONS = [
    "샴푸",
    "린스/컨디셔너",
    "샴푸바/드라이샴푸",
    "헤어오일/헤어세럼",
    "헤어워터",
    "두피팩/스케일러",
    "헤어토닉/두피토닉",
]


def test_options_follow_the_spec():
    labels = option_labels("ko")
    assert labels["q1"] == [DRY_Q1, OILY_Q1]
    assert sorted(labels["q2"]) == sorted(s.ko for s in SYMPTOMS)
    assert labels["q3"] == Q3_OPTIONS
    assert len(option_labels("en")["q1"]) == 2


def test_from_answers_accepts_korean_and_english():
    ko = Survey.from_answers(DRY_Q1, ["탈모", "모낭사이홍반"], ["샴푸", "린스/컨디셔너"])
    en = Survey.from_answers(
        "(Dry) My scalp feels dry or tight.",
        ["Hair loss", "Interfollicular erythema"],
        ["Shampoo", "conditioner"],
    )
    assert ko == en == Survey("건성", ("hair_loss", "interfollicular_erythema"), ("샴푸", "린스/컨디셔너"))
    assert Survey.from_answers("지성", "비듬, 피지과다", "헤어토닉/두피토닉").symptoms == (
        "dandruff",
        "excess_sebum",
    )
    assert Survey.from_answers(OILY_Q1, [], []).symptoms == ()


@pytest.mark.parametrize(
    "q1, q2, q3, bad",
    [
        ("중성", [], [], "중성"),
        (DRY_Q1, ["두통"], [], "두통"),
        (DRY_Q1, ["비듬"], ["립스틱"], "립스틱"),
    ],
)
def test_unknown_options_name_the_option_and_the_allowed_ones(q1, q2, q3, bad):
    with pytest.raises(ValueError) as err:
        Survey.from_answers(q1, q2, q3)
    message = str(err.value)
    assert repr(bad) in message and "allowed" in message


def test_direct_construction_is_checked_too():
    with pytest.raises(ValueError, match="건성 or 지성"):
        Survey("중성")
    with pytest.raises(ValueError, match="unknown symptom '두통'"):
        Survey("건성", ("두통",))
    with pytest.raises(ValueError, match="립스틱"):
        Survey("건성", (), ("립스틱",))


def test_summary_matches_the_seed_example():
    survey = Survey.from_answers(DRY_Q1, ["탈모", "모낭사이홍반"], ["샴푸"])
    assert (
        survey_summary(survey)
        == "당신의 두피가 🌟 건성 타입의 👤 탈모, 모낭사이홍반 증상이 있다고 선택하셨습니다."
    )
    assert (
        survey_summary(survey, "en")
        == "You said your scalp is 🌟 dry with 👤 hair loss, interfollicular erythema."
    )
    assert "선택하지 않으셨습니다" in survey_summary(Survey("지성"))


def test_rule_tables_are_data_and_cover_all_symptoms():
    rules = load_rules()
    assert set(rules["base_table"]) == set(SYMPTOM_KEYS) == set(rules["single_highest"])


DRY = Survey("건성")
OILY = Survey("지성")
ALL = SYMPTOM_KEYS


@pytest.mark.parametrize(
    "severities, survey, types, rule",
    [
        # all 양호
        ({}, DRY, ("양호",), "all_normal"),
        ({k: 0 for k in ALL}, None, ("양호",), "all_normal"),
        # exception 1: exactly one symptom highest
        ({"fine_scale": 2, "excess_sebum": 1}, OILY, ("건성",), "single_highest"),
        ({"excess_sebum": 3, "dandruff": 1}, DRY, ("지성",), "single_highest"),
        ({"follicular_erythema_pustule": 1}, DRY, ("지루성",), "single_highest"),
        ({"dandruff": 3, "fine_scale": 2}, OILY, ("비듬성",), "single_highest"),
        ({"hair_loss": 2, "excess_sebum": 1, "dandruff": 1}, None, ("탈모성",), "single_highest"),
        # 모낭사이홍반: survey decides when the image is neutral ...
        ({"interfollicular_erythema": 2}, DRY, ("건성",), "single_highest"),
        ({"interfollicular_erythema": 2}, OILY, ("지성",), "single_highest"),
        ({"interfollicular_erythema": 2, "excess_sebum": 1, "dandruff": 1}, DRY, ("건성",), "single_highest"),
        # ... and the image wins when it leans the other way
        ({"interfollicular_erythema": 2, "excess_sebum": 1}, DRY, ("지성",), "single_highest"),
        ({"interfollicular_erythema": 3, "fine_scale": 1}, OILY, ("건성",), "single_highest"),
        ({"interfollicular_erythema": 2}, None, ("지성",), "single_highest"),
        # exception 2: all six equal
        ({k: 1 for k in ALL}, DRY, ("건성",), "all_equal"),
        ({k: 1 for k in ALL}, OILY, ("지성",), "all_equal"),
        ({k: 3 for k in ALL}, OILY, ("지성",), "all_equal"),
        ({k: 2 for k in ALL}, None, ("건성", "지성"), "all_equal"),
        # exception 3: ties for the highest → union of base-table types
        ({"excess_sebum": 2, "dandruff": 2}, DRY, ("건성", "지성", "지루성", "비듬성"), "tie_union"),
        (
            {"hair_loss": 3, "follicular_erythema_pustule": 3, "fine_scale": 1},
            OILY,
            ("지루성", "탈모성"),
            "tie_union",
        ),
        ({"fine_scale": 1, "interfollicular_erythema": 1}, OILY, ("건성", "지성"), "tie_union"),
        ({k: 2 for k in ALL} | {"hair_loss": 1}, DRY, ("건성", "지성", "지루성", "비듬성"), "tie_union"),
    ],
)
def test_rules(severities, survey, types, rule):
    result = determine_scalp_type(severities, survey)
    assert (result.types, result.rule) == (types, rule)


def test_note_says_where_survey_and_image_disagree():
    survey = Survey.from_answers(DRY_Q1, ["탈모", "모낭사이홍반"], [])
    result = determine_scalp_type({"excess_sebum": 3, "dandruff": 1}, survey)
    note = result.note_ko
    assert (
        "설문조사에서 당신은 건성 타입이라고 선택하셨습니다. 그러나 두피이미지 분석 결과 지성 타입으로 판단됩니다."
        in note
    )
    assert result.main_finding_ko == "피지과다: 중증"
    assert "두피 이미지 분석 결과 당신은 피지과다: 중증으로 판단됩니다." in note  # the seed's sentence
    assert "탈모 증상은 두피 이미지에서 보이지 않았습니다" in note  # chosen, not seen
    assert "두피 이미지에서 비듬(경증)이 보입니다." in note  # seen, not chosen
    assert result.survey_agrees is False and result.image_type == "지성"
    assert result.unconfirmed_symptoms == ("interfollicular_erythema", "hair_loss")
    assert "However, the scalp image analysis points to an oily scalp." in result.note_en
    assert "Excess sebum: severe" in result.note_en


def test_note_when_they_agree_and_when_all_normal():
    agree = determine_scalp_type({"fine_scale": 2}, Survey("건성", ("fine_scale",)))
    assert agree.survey_agrees is True and "일치합니다" in agree.note_ko
    assert agree.unconfirmed_symptoms == () and agree.unreported_symptoms == ()
    healthy = determine_scalp_type({}, Survey("건성"))
    assert "모두 양호" in healthy.note_ko and healthy.main_findings == ()


def test_ties_name_every_main_finding():
    result = determine_scalp_type({"dandruff": 2, "hair_loss": 2})
    assert result.main_finding_ko == "비듬: 중등도, 탈모: 중등도"
    assert "탈모: 중등도로 판단됩니다." in result.note_ko  # 로 after a vowel, 으로 after a 받침


def test_note_particles_follow_the_final_syllable():
    note = determine_scalp_type({"dandruff": 1, "excess_sebum": 3}, Survey("지성", ("dandruff",))).note_ko
    assert "피지과다: 중증으로 판단됩니다." in note and "피지과다(중증)가 보입니다." in note
    assert "(으)로" not in note and "이(가)" not in note


def test_three_class_predictions_use_the_merged_names():
    result = determine_scalp_type({"excess_sebum": 1, "hair_loss": 2}, scheme=3)
    assert result.types == ("탈모성",) and result.main_finding_ko == "탈모: 중증"
    mild = determine_scalp_type({"excess_sebum": 1}, scheme=3)
    assert mild.main_finding_ko == "피지과다: 경증·중등도"
    with pytest.raises(ValueError, match="0..2"):
        determine_scalp_type({"excess_sebum": 3}, scheme=3)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"excess_sebum": 4}, "must be an integer 0..3"),
        ({"excess_sebum": -1}, "must be an integer 0..3"),
        ({"excess_sebum": 1.5}, "got 1.5"),
        ({"excess_sebum": "2"}, "got '2'"),
        ({"excess_sebum": True}, "got True"),
        ({"excess_sebum": None}, "got None"),
        ({"두통": 1}, "unknown symptom '두통'; expected one of: fine_scale"),
    ],
)
def test_bad_severities_are_refused(bad, message):
    with pytest.raises(ValueError) as err:
        determine_scalp_type(bad)
    assert message in str(err.value)


def test_korean_symptom_names_are_accepted():
    assert determine_scalp_type({"피지과다": 3}).types == ("지성",)


def test_survey_types_come_from_the_rule_table():
    assert survey_types() == ("건성", "지성")
    assert load_rules()["image_lean"]["default"] in survey_types()


@pytest.mark.parametrize(
    "word, direction, subject",
    [
        ("중증", "중증으로", "중증이"),
        ("중등도", "중등도로", "중등도가"),
        ("탈모: 경증·중등도", "탈모: 경증·중등도로", "탈모: 경증·중등도가"),
        ("비듬(경증)", "비듬(경증)으로", "비듬(경증)이"),  # a trailing "(…)" is not read aloud first
        ("피지과다(중증)", "피지과다(중증)로", "피지과다(중증)가"),
        ("서울", "서울로", "서울이"),  # a final ㄹ takes 로, but still 이
        ("hair loss", "hair loss로", "hair loss가"),  # no Hangul: as after a vowel
    ],
)
def test_korean_particles_follow_the_last_syllable(word, direction, subject):
    assert with_direction_particle(word) == direction
    assert with_subject_particle(word) == subject


def test_templates_name_their_particles_and_keep_plain_format_specs():
    assert with_indefinite_article("oily") == "an oily" and with_indefinite_article("dry") == "a dry"
    assert (
        fill("{a:(으)로} {b:이(가)} {c:a/an} {n:>3}", a="중증", b="비듬", c="oily", n=5)
        == "중증으로 비듬이 an oily   5"
    )


def _templates(node, where=""):
    """(where, entry) of every ``{ko: ..., en: ...}`` entry under ``node``."""
    if isinstance(node, dict) and "ko" in node:
        yield where, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _templates(value, f"{where}.{key}")


@pytest.mark.parametrize("table", ["analysis_note.yaml", "product_texts.yaml", "survey.yaml"])
def test_every_wording_entry_has_both_languages_and_known_particles(table):
    entries = list(_templates(read_yaml(table)))
    assert len(entries) >= (2 if table == "survey.yaml" else 6)
    for where, entry in entries:
        assert set(entry) == {"ko", "en"} and all(isinstance(v, str) and v for v in entry.values()), where
        for lang, text in entry.items():
            fields = {name: spec for _, name, spec, _ in string.Formatter().parse(text) if name is not None}
            assert set(fields.values()) <= {"", *GRAMMAR_SPECS}, (table, where, lang, fields)
            filled = fill(text, **dict.fromkeys(fields, "중증"))
            assert "(으)로" not in filled and "이(가)" not in filled and "{" not in filled, (where, lang)
