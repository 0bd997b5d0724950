"""Temperature scaling: fit T on validation NLL, fold it into the classifier, measure ECE.

A model's logits z become z / T. T is fitted by minimising the validation negative
log-likelihood over log T with scipy's bounded scalar minimiser; T = 1 is always a
candidate and the better one is kept, so the validation NLL never gets worse.
The fitted T is folded into the final linear layer (weight and bias divided by T) and
recorded in ``config.scalp`` (``temperature``, ``temperature_folded: true``), so a
model pulled from the Hub and run through ``pipeline("image-classification")``
returns calibrated probabilities as is.

    python -m scalp_models calibrate --model models/hair_loss --data prepared

(``calibrate`` refits on the validation split of ``--data``, its images preprocessed as served
(``scalp_models.evaluate.predict_logits``), and refolds, composing with any temperature already
folded in.) In the ``full`` protocol the validation subjects are neither in the training split nor
in the test split, so T is fitted on people the model has not seen and the ECE reported on the
test split is measured on other such people.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from scalp_core.contracts import read_prep_config
from scalp_models.evaluate import load_model_and_data, predict_logits
from scalp_models.metrics import expected_calibration_error, nll, softmax
from scalp_models.thresholds import VALIDATION_SPLIT_WORDS, choose_uncertain_threshold


@dataclass(frozen=True)
class TemperatureFit:
    temperature: float
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float

    def to_dict(self) -> dict:
        return asdict(self)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, bounds=(0.05, 20.0)) -> TemperatureFit:
    """Temperature minimising NLL of ``labels`` (validation) under softmax(logits / T)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    if logits.ndim != 2 or len(logits) != len(labels):
        raise ValueError(f"logits must be (n, classes) with n = len(labels); got {logits.shape} and {labels.shape}")
    before = nll(logits, labels, 1.0)
    best_t, best_nll = 1.0, before
    if len(labels) > 0:
        result = minimize_scalar(
            lambda log_t: nll(logits, labels, math.exp(log_t)),
            bounds=(math.log(bounds[0]), math.log(bounds[1])),
            method="bounded",
            options={"xatol": 1e-4},
        )
        t = float(math.exp(result.x))
        after = nll(logits, labels, t)
        if after < best_nll:  # T = 1 stays when the fit does not help (guarantee: NLL never rises)
            best_t, best_nll = t, after
    return TemperatureFit(
        temperature=best_t,
        nll_before=before,
        nll_after=best_nll,
        ece_before=expected_calibration_error(softmax(logits), labels),
        ece_after=expected_calibration_error(softmax(logits / best_t), labels),
    )


def classifier_layer(model) -> torch.nn.Linear:
    """The final linear layer producing the logits (``model.classifier`` for EfficientNet)."""
    head = getattr(model, "classifier", None)
    if isinstance(head, torch.nn.Linear):
        return head
    if isinstance(head, torch.nn.Sequential) and isinstance(head[-1], torch.nn.Linear):
        return head[-1]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear classifier to fold a temperature into")
    return linears[-1]


@torch.no_grad()
def fold_temperature(model, temperature: float) -> float:
    """Divide the classifier's weight and bias by T; record the total T in ``config.scalp``.

    Composes with an already-folded temperature (total = old × new). Returns the total.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    head = classifier_layer(model)
    head.weight.div_(temperature)
    if head.bias is not None:
        head.bias.div_(temperature)
    scalp = dict(getattr(model.config, "scalp", None) or {})
    previous = float(scalp.get("temperature", 1.0)) if scalp.get("temperature_folded") else 1.0
    total = previous * float(temperature)
    scalp.update(temperature=total, temperature_folded=True)
    model.config.scalp = scalp
    return total


def calibrate_model_folder(model_dir, data_dir) -> TemperatureFit:
    """Refit T on the validation split of ``data_dir`` for a saved model and refold it in place; the
    "uncertain" threshold is chosen again from the recalibrated validation probabilities."""
    model, processor, _, _, dd = load_model_and_data(model_dir, data_dir)
    logits, labels = predict_logits(model, processor, dd["validation"])
    fit = fit_temperature(logits, labels)
    fold_temperature(model, fit.temperature)
    uncertain = choose_uncertain_threshold(softmax(np.asarray(logits) / fit.temperature), labels)
    where = VALIDATION_SPLIT_WORDS.get(read_prep_config(data_dir).protocol, "the validation split")
    model.config.scalp = {**model.config.scalp, "uncertain_below": uncertain.uncertain_below,
                          "uncertain_rule": uncertain.rule(where)}
    model.save_pretrained(Path(model_dir))
    return fit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scalp_models calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="Model folder to recalibrate in place.")
    parser.add_argument("--data", required=True, help="Build output folder whose validation split is used.")
    args = parser.parse_args(argv)
    fit = calibrate_model_folder(args.model, args.data)
    print(json.dumps(fit.to_dict(), indent=2))
    print("refit on validation and folded; run `python -m scalp_models evaluate --write` to refresh eval_report.json")
    return 0
