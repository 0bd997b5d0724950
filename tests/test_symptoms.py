"""The shared symptom table: one row per AI Hub symptom, in label-JSON order."""

import pytest

from scalp_core import SYMPTOMS, class_names, get_symptom, grade_to_class


def test_six_symptoms_in_json_field_order():
    assert [s.json_field for s in SYMPTOMS] == [f"value_{i}" for i in range(1, 7)]
    assert [s.ko for s in SYMPTOMS] == ["미세각질", "피지과다", "모낭사이홍반", "모낭홍반농포", "비듬", "탈모"]


def test_seed_preprocessing_is_carried():
    assert get_symptom("모낭사이홍반").input_size == 600
    assert {s.ko for s in SYMPTOMS if s.grayscale} == {"미세각질", "피지과다", "비듬"}
    assert get_symptom("탈모").class_weighting == "dynamic"


@pytest.mark.parametrize("scheme,grades,expected", [(3, [0, 1, 2, 3], [0, 1, 1, 2]), (4, [0, 1, 2, 3], [0, 1, 2, 3])])
def test_grade_schemes(scheme, grades, expected):
    assert [grade_to_class(g, scheme) for g in grades] == expected
    assert len(class_names(scheme)) == scheme


def test_bad_values_are_refused_clearly():
    with pytest.raises(ValueError, match="0..3"):
        grade_to_class(4)
    with pytest.raises(ValueError, match="label scheme"):
        class_names(5)
    with pytest.raises(KeyError, match="unknown symptom"):
        get_symptom("여드름")


def test_lookup_by_any_name():
    spec = get_symptom("hair_loss")
    assert get_symptom("탈모") is spec is get_symptom("value_6") is get_symptom("scalp-hair-loss")
    assert get_symptom("모낭홍반/농포").key == "follicular_erythema_pustule"
