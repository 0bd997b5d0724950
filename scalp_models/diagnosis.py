"""What ``ScalpDiagnoser`` answers: a ``SymptomResult`` per symptom, six of them in a ``Diagnosis``.

Plain frozen dataclasses (no torch), so the UI and the API can hold and render a diagnosis
without loading the models; ``Diagnosis.to_dict()`` is the JSON the API returns. Each symptom
carries the threshold it was judged by (``uncertain_below``): the model's own, chosen on its
validation split (``scalp_models.thresholds``), or the one a caller imposed on all six.

    >>> diagnosis["hair_loss"].label, diagnosis["탈모"].probabilities
    >>> diagnosis.to_dict()      # {"symptoms": {"hair_loss": {..., "uncertain_below": 0.62}, ...}}
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

# The threshold of a model that carries no validated one (trained before thresholds were chosen).
DEFAULT_UNCERTAIN_BELOW = 0.5


def check_uncertain_below(value, what: str) -> float:
    """``value`` as a float in [0, 1], or a ValueError naming ``what`` it came from."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be a probability in [0, 1], got {value!r}")
    return float(value)


def is_uncertain(confidence: float, uncertain_below: float) -> bool:
    """Below the threshold; every answer at a threshold of 1.0 (what a model whose validation accuracy
    never reached its target carries, see ``scalp_models.thresholds``); and a NaN confidence."""
    return bool(confidence < uncertain_below) or uncertain_below >= 1.0 or math.isnan(confidence)


@dataclass(frozen=True)
class SymptomResult:
    """One symptom's answer for one image."""

    symptom: str  # spec key, e.g. "hair_loss"
    ko: str  # 탈모
    en: str  # Hair loss
    labels: tuple[str, ...]  # class names "한국어 (English)", index order
    probabilities: tuple[float, ...]  # calibrated, sums to 1
    predicted: int  # class index of the highest probability
    label: str  # labels[predicted]
    severity_ko: str  # e.g. 경증·중등도
    severity_en: str  # e.g. mild–moderate
    confidence: float  # probabilities[predicted]
    uncertain: bool  # confidence < uncertain_below (always when uncertain_below is 1.0)
    uncertain_below: float = DEFAULT_UNCERTAIN_BELOW  # the threshold this answer was judged by

    def to_dict(self) -> dict:
        out = asdict(self)
        out["labels"] = list(self.labels)
        out["probabilities"] = [float(p) for p in self.probabilities]
        return out


@dataclass(frozen=True)
class Diagnosis:
    """The six symptoms' answers for one image, in ``SYMPTOMS`` order."""

    results: tuple[SymptomResult, ...]
    _by_key: dict = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_key", {r.symptom: r for r in self.results})

    def __getitem__(self, key: str) -> SymptomResult:
        """By symptom key (``hair_loss``) or Korean name (``탈모``)."""
        if key in self._by_key:
            return self._by_key[key]
        for result in self.results:
            if key == result.ko:
                return result
        raise KeyError(f"no result for {key!r}; have {sorted(self._by_key)}")

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @property
    def any_uncertain(self) -> bool:
        return any(r.uncertain for r in self.results)

    @property
    def uncertain_below(self) -> dict[str, float]:
        """Symptom key → the threshold its answer was judged by."""
        return {r.symptom: r.uncertain_below for r in self.results}

    def to_dict(self) -> dict:
        return {"symptoms": {r.symptom: r.to_dict() for r in self.results}}
