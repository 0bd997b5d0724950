"""The "uncertain" threshold of one symptom model, chosen on its validation split to a stated rule.

The app flags an answer as uncertain when its top (calibrated) probability is below the
model's ``config.scalp["uncertain_below"]``. :func:`choose_uncertain_threshold` picks it:

    the lowest top probability t such that, of the validation images whose top probability is
    at least t, at least 90% are answered correctly, counting at least 10 images;

so the answers shown as certain are right at least 90% of the time on the validation subjects,
and as many answers as possible are shown as certain. Images with the same top probability are
kept together. When no t reaches 90% (or the split has fewer than 10 images), the threshold is
1.0, which the diagnoser reads as "every answer is uncertain". Training calls this on the
validation split after calibration (in the ``full`` protocol its subjects are neither in the
training nor in the test split) and stores the threshold and its rule (:meth:`UncertainThreshold.rule`,
one sentence the model card prints) in ``config.scalp``.

    >>> from scalp_models.thresholds import choose_uncertain_threshold
    >>> choice = choose_uncertain_threshold(validation_probabilities, validation_labels)
    >>> choice.uncertain_below, choice.rule("the validation split")
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

TARGET_ACCURACY = 0.9
MIN_ANSWERED = 10  # fewer images than this say too little about an accuracy of 90%
ALWAYS_UNCERTAIN = 1.0  # the threshold that flags every answer (see ScalpDiagnoser)


@dataclass(frozen=True)
class UncertainThreshold:
    """A chosen threshold and what it did on the split it was chosen on."""

    uncertain_below: float  # top probability below which an answer is flagged uncertain; 1.0 = always
    target_accuracy: float
    min_answered: int
    reached: bool  # False: no threshold gave the target accuracy, so every answer is flagged
    n: int  # images in the split
    answered: int  # images at or above the threshold (shown as certain)
    answered_accuracy: float | None  # accuracy on those; None when none is answered

    def to_dict(self) -> dict:
        return asdict(self)

    def rule(self, split: str) -> str:
        """The rule and its outcome in one sentence, naming ``split`` (on whose images it was chosen)."""
        target = f"{self.target_accuracy:.0%}"
        rule = (
            f"the lowest top probability at which the answers at or above it are at least {target} correct "
            f"on {split} (at least {self.min_answered} images answered)"
        )
        if not self.reached:
            return (
                f"{rule}; no threshold reached {target} there ({self.n} images), so every answer of this model "
                "is shown as uncertain."
            )
        return (
            f"{rule}. Of its {self.n} images, {self.answered / self.n:.0%} are at or above it, and "
            f"{self.answered_accuracy:.1%} of those are right."
        )


# Whose images the validation split holds, per protocol: the "uncertain" threshold's rule names them.
VALIDATION_SPLIT_WORDS = {
    "full": "the validation split, whose subjects are in neither the training nor the test split",
    "folder": "AI Hub Validation, whose subjects also appear in training (folder protocol)",
}


def choose_uncertain_threshold(
    probabilities,
    labels,
    *,
    target_accuracy: float = TARGET_ACCURACY,
    min_answered: int = MIN_ANSWERED,
) -> UncertainThreshold:
    """The lowest top probability whose answers at or above it reach ``target_accuracy`` (see the module).

    ``probabilities``: (N, classes) calibrated probabilities of the validation images; ``labels``:
    their true classes.
    """
    if not 0.0 < target_accuracy <= 1.0:
        raise ValueError(f"target_accuracy must be in (0, 1], got {target_accuracy!r}")
    if min_answered < 1:
        raise ValueError(f"min_answered must be at least 1, got {min_answered!r}")
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(
            f"expected (N, classes) probabilities and N labels, got {probabilities.shape} and {labels.shape}"
        )
    n = len(labels)
    confidence = probabilities.max(axis=1) if n else np.zeros(0)
    correct = (probabilities.argmax(axis=1) == labels) if n else np.zeros(0, dtype=bool)

    # Most confident first; answering the first k images means the threshold confidence[k - 1].
    order = np.argsort(-confidence, kind="stable")
    confidence, correct = confidence[order], correct[order]
    answered = np.arange(1, n + 1)
    accuracy = np.cumsum(correct) / np.maximum(answered, 1)
    # A cut may not split images of equal confidence: the threshold answers all of them or none.
    ends_a_tie_group = np.append(confidence[1:] < confidence[:-1], True) if n else np.zeros(0, dtype=bool)
    # The comparison allows for float rounding: 9 of 10 correct is 0.9 "exactly".
    good = ends_a_tie_group & (answered >= min_answered) & (accuracy >= target_accuracy - 1e-12)
    if not good.any():
        return UncertainThreshold(ALWAYS_UNCERTAIN, target_accuracy, min_answered, False, n, 0, None)
    k = int(answered[good].max())  # the most answers, so the lowest threshold
    return UncertainThreshold(
        uncertain_below=float(confidence[k - 1]),
        target_accuracy=target_accuracy,
        min_answered=min_answered,
        reached=True,
        n=n,
        answered=k,
        answered_accuracy=float(accuracy[k - 1]),
    )
