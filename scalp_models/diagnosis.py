"""What ``ScalpDiagnoser`` answers: a ``SymptomResult`` per symptom, six of them in a ``Diagnosis``.

Plain frozen dataclasses (no torch), so the UI and the API can hold and render a diagnosis
without loading the models; ``Diagnosis.to_dict()`` is the JSON the API returns.

    >>> diagnosis["hair_loss"].label, diagnosis["탈모"].probabilities
    >>> diagnosis.to_dict()      # {"uncertain_below": 0.5, "symptoms": {"hair_loss": {...}, ...}}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


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
    uncertain: bool  # confidence < the diagnoser's uncertain_below

    def to_dict(self) -> dict:
        out = asdict(self)
        out["labels"] = list(self.labels)
        out["probabilities"] = [float(p) for p in self.probabilities]
        return out


@dataclass(frozen=True)
class Diagnosis:
    """The six symptoms' answers for one image, in ``SYMPTOMS`` order."""

    results: tuple[SymptomResult, ...]
    uncertain_below: float
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

    def to_dict(self) -> dict:
        return {
            "uncertain_below": float(self.uncertain_below),
            "symptoms": {r.symptom: r.to_dict() for r in self.results},
        }
