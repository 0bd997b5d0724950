"""Temperature scaling: never raises validation NLL, and folding equals softmax(logits / T)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scalp_core.symptoms import get_symptom
from scalp_models.calibration import fit_temperature, fold_temperature
from scalp_models.metrics import expected_calibration_error, nll, softmax


def overconfident_logits(n=400, seed=0, scale=6.0):
    """Logits of a 70 %-accurate classifier that is far too sure of itself."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    pred = np.where(rng.random(n) < 0.7, labels, rng.integers(0, 3, n))
    logits = rng.normal(0, 0.3, (n, 3))
    logits[np.arange(n), pred] += scale
    return logits, labels


def test_overconfident_model_gets_t_above_one_and_better_nll_and_ece():
    logits, labels = overconfident_logits()
    fit = fit_temperature(logits, labels)
    assert fit.temperature > 1.5
    assert fit.nll_after < fit.nll_before
    assert fit.nll_after == pytest.approx(nll(logits, labels, fit.temperature))
    assert fit.ece_after < fit.ece_before
    # It is the minimum: nudging T either way does not improve NLL.
    for factor in (0.9, 1.1):
        assert nll(logits, labels, fit.temperature * factor) >= fit.nll_after - 1e-9


def test_underconfident_model_gets_t_below_one():
    logits, labels = overconfident_logits(scale=0.5, seed=1)
    pred_is_right = logits.argmax(1) == labels
    logits = logits + 2.0 * np.eye(3)[labels] * pred_is_right[:, None]  # mostly right, but timid
    logits = logits * 0.2
    fit = fit_temperature(logits, labels)
    assert fit.temperature < 1.0
    assert fit.nll_after <= fit.nll_before


@pytest.mark.parametrize("seed", range(5))
def test_validation_nll_never_rises(seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, rng.uniform(0.1, 5), (int(rng.integers(3, 60)), 3))
    labels = rng.integers(0, 3, len(logits))
    fit = fit_temperature(logits, labels)
    assert fit.nll_after <= fit.nll_before + 1e-12


def test_a_fit_no_better_than_t_one_keeps_t_one():
    """All-zero logits give the same NLL at every T, so the fit gains nothing and T = 1 stays."""
    labels = np.arange(30) % 3
    fit = fit_temperature(np.zeros((30, 3)), labels)
    assert fit.temperature == 1.0
    assert fit.nll_after == fit.nll_before == pytest.approx(np.log(3))


def test_ece_is_zero_for_perfectly_calibrated_bins():
    probs = np.array([[1.0, 0.0, 0.0]] * 5)
    assert expected_calibration_error(probs, np.zeros(5, dtype=int)) == 0.0


def test_folded_model_outputs_softmax_of_logits_over_t():
    from scalp_models.modeling import create_model

    torch.manual_seed(0)
    model = create_model(get_symptom("hair_loss"), "tiny").eval()
    with torch.no_grad():  # a trained head has a bias; folding T into the weights alone must show
        model.classifier.bias.copy_(torch.tensor([2.0, -1.0, 0.5]))
    pixels = torch.randn(6, 3, 64, 64)
    with torch.no_grad():
        before = model(pixel_values=pixels).logits.numpy()
    total = fold_temperature(model, 2.5)
    np.testing.assert_allclose(model.classifier.bias.detach().numpy(), np.array([2.0, -1.0, 0.5]) / 2.5, rtol=1e-6)
    assert total == pytest.approx(2.5)
    assert model.config.scalp["temperature"] == pytest.approx(2.5)
    assert model.config.scalp["temperature_folded"] is True
    with torch.no_grad():
        after = model(pixel_values=pixels).logits.numpy()
    np.testing.assert_allclose(softmax(after), softmax(before / 2.5), atol=1e-6)
    # Folding again composes: the total temperature is the product.
    assert fold_temperature(model, 2.0) == pytest.approx(5.0)
    with torch.no_grad():
        again = model(pixel_values=pixels).logits.numpy()
    np.testing.assert_allclose(softmax(again), softmax(before / 5.0), atol=1e-6)


def test_folded_model_round_trips_through_save_pretrained(tmp_path):
    from transformers import AutoModelForImageClassification

    from scalp_models.modeling import create_model

    torch.manual_seed(0)
    model = create_model(get_symptom("dandruff"), "tiny").eval()
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([1.5, 0.0, -2.0]))
    fold_temperature(model, 3.0)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.scalp["temperature"] == pytest.approx(3.0)
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(loaded(pixel_values=pixels).logits, model(pixel_values=pixels).logits, atol=1e-6)


def test_bad_temperature_is_refused():
    from scalp_models.modeling import create_model

    model = create_model(get_symptom("hair_loss"), "tiny")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        fold_temperature(model, 0.0)
