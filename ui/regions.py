"""The four-region check-up's pure logic: region codes, their defaults from file names, and the overall result.

AI Hub photographs each head at four regions, coded in its file names (``…_TH.jpg``; see
``scalp_core.aihub_names``): TH 정수리 (crown), LH 좌측두 (left temporal), RH 우측두 (right
temporal), BH 후두부 (occipital). A check-up diagnoses up to four photos, one per region, each through
the single photo's own path (photo check, "Diagnose anyway", domain check); this module only decides
which region a photo is and what the regions add up to. No Gradio, no models::

    >>> default_regions(["0013_A2LEBJJDE00060O_1606550825417_3_TH.jpg", "back_bh.png", "x.jpg"])
    ['TH', 'BH', 'LH']
    >>> overall = aggregate({"TH": diagnosis_th, "BH": diagnosis_bh})
    >>> overall["hair_loss"].worst_region, overall["hair_loss"].probabilities

**The overall result of a symptom** is its worst region's severity, with the probabilities averaged
over the diagnosed regions (a user's care follows the worst place on the head; the average says how
the regions look together).

**What "worst" means when answers are uncertain.** An uncertain answer still counts: the single
photo shows its uncertain severity too (marked), and leaving it out could hide the one region where a
symptom shows. Between regions at the same severity a certain answer is named before an uncertain
one (then the more probable one), so the overall answer is marked uncertain exactly when the severity
it reports rests on uncertain answers only; ``uncertain_regions`` lists every region whose answer for
that symptom is uncertain. A region whose photo is unlike the models' training photos has all six
answers uncertain (``ui.service.marked_uncertain``) and is treated the same way. Regions that were not
diagnosed (a bad file, or a flagged photo still waiting for "Diagnose anyway") are left out of the
overall result and listed as such.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from recommendation.texts import region_name
from scalp_core.aihub_names import LOCATION_NAMES, parse_image_stem
from scalp_core.symptoms import SYMPTOMS, severity_name

REGION_CODES: tuple[str, ...] = tuple(LOCATION_NAMES)  # TH, LH, RH, BH: the order of tables and defaults
MAX_REGIONS = len(REGION_CODES)
# "…_TH.jpg", "scalp-bh.png": a region code as the last part of the stem (AI Hub names end this way)
_CODE_SUFFIX = re.compile(r"(?:^|[_\-. ])(TH|LH|RH|BH)$", re.IGNORECASE)


class RegionInputError(ValueError):
    """Bad region codes or counts; ``code`` and ``values`` name the ``regions_err_*`` text (ko/en)."""

    def __init__(self, code: str, **values):
        self.code = code
        self.values = values
        super().__init__(f"{code}: {values}")


def region_label(code: str, lang: str) -> str:
    """"TH 정수리" / "TH crown (정수리)": the code and the Korean name, as every region is labelled."""
    if lang == "en":
        return f"{code} {region_name(code, 'en')} ({region_name(code, 'ko')})"
    return f"{code} {region_name(code, 'ko')}"


def region_from_filename(name: str | None) -> str | None:
    """The region code an AI Hub-style file name carries (``…_3_TH.jpg``, ``scalp_bh.png``), else None."""
    if not name:
        return None
    stem = re.split(r"[\\/]", str(name))[-1].rsplit(".", 1)[0].strip()
    parsed = parse_image_stem(stem)
    if parsed is not None:
        return parsed.location
    match = _CODE_SUFFIX.search(stem)
    return match.group(1).upper() if match else None


def default_regions(file_names: Sequence[str | None]) -> list[str]:
    """One distinct region per photo (at most four): the code in its file name when that code is still
    free, else the first free region in :data:`REGION_CODES` order."""
    if len(file_names) > MAX_REGIONS:
        raise RegionInputError("too_many", n=len(file_names), max=MAX_REGIONS)
    named = [region_from_filename(n) for n in file_names]
    chosen: list[str | None] = [None] * len(named)
    for i, code in enumerate(named):  # a named code goes to the first photo that carries it
        if code and code not in chosen:
            chosen[i] = code
    free = [c for c in REGION_CODES if c not in chosen]
    return [code or free.pop(0) for code in chosen]


def relabel(codes: Sequence[str], index: int, new_code: str) -> list[str]:
    """The photos' regions after photo ``index`` is set to ``new_code``; a photo that had ``new_code`` takes
    the old region of photo ``index`` (a swap), so two photos never share a region."""
    if new_code not in REGION_CODES:
        raise RegionInputError("unknown", codes=str(new_code), allowed=", ".join(REGION_CODES))
    out = list(codes)
    old = out[index]
    out = [old if c == new_code else c for c in out]
    out[index] = new_code
    return out


def checked_regions(regions: Iterable | str, n_files: int) -> list[str]:
    """The region codes of an API call (upper-cased; one string may list them: "TH,BH"), or a
    RegionInputError: no photo, more than four, a count that differs from the photos', an unknown code,
    a duplicate."""
    if isinstance(regions, str):
        regions = [code for code in regions.split(",") if code.strip()]
    codes = [str(c).strip().upper() for c in regions]
    if n_files == 0:
        raise RegionInputError("no_photos")
    if n_files > MAX_REGIONS:
        raise RegionInputError("too_many", n=n_files, max=MAX_REGIONS)
    if len(codes) != n_files:
        raise RegionInputError("count_mismatch", n_files=n_files, n_regions=len(codes))
    unknown = [c for c in codes if c not in REGION_CODES]
    if unknown:
        raise RegionInputError("unknown", codes=", ".join(map(repr, unknown)), allowed=", ".join(REGION_CODES))
    duplicates = sorted({c for c in codes if codes.count(c) > 1}, key=REGION_CODES.index)
    if duplicates:
        raise RegionInputError("duplicate", codes=", ".join(duplicates))
    return codes


@dataclass(frozen=True)
class RegionPhoto:
    """One photo of a check-up: its region code and its own single-photo state (a ``ui.session.Session``
    holding that photo's preview, photo check, pending image, diagnosis, domain check and errors)."""

    code: str
    photo: object

    @property
    def diagnosis(self):
        return getattr(self.photo, "diagnosis", None)


@dataclass(frozen=True)
class OverallSymptom:
    """One symptom over the diagnosed regions (see the module docstring for the rule)."""

    symptom: str
    labels: tuple[str, ...]
    probabilities: tuple[float, ...]  # averaged over the regions
    predicted: int  # the worst region's class
    worst_region: str
    uncertain: bool  # the reported severity rests on uncertain answers only
    uncertain_regions: tuple[str, ...]
    per_region: Mapping[str, int]  # region code → that region's class

    @property
    def label(self) -> str:
        return self.labels[self.predicted]

    def severity(self, lang: str) -> str:
        return severity_name(self.predicted, scheme=len(self.labels), lang=lang)

    def to_dict(self) -> dict:
        mean_predicted = max(range(len(self.probabilities)), key=self.probabilities.__getitem__)
        return {
            "symptom": self.symptom, "label": self.label, "predicted": self.predicted,
            "severity_ko": self.severity("ko"), "severity_en": self.severity("en"),
            "labels": list(self.labels), "probabilities": [float(p) for p in self.probabilities],
            "mean_predicted": mean_predicted,  # the class of the averaged probabilities, for comparison
            "worst_region": self.worst_region, "worst_region_ko": region_name(self.worst_region, "ko"),
            "worst_region_en": region_name(self.worst_region, "en"),
            "uncertain": self.uncertain, "uncertain_regions": list(self.uncertain_regions),
            "per_region": dict(self.per_region),
        }


@dataclass(frozen=True)
class RegionsOverall:
    """The overall result of a check-up: one :class:`OverallSymptom` per symptom, in ``SYMPTOMS`` order."""

    symptoms: tuple[OverallSymptom, ...]
    regions: tuple[str, ...]  # the diagnosed regions, in REGION_CODES order

    def __getitem__(self, key: str) -> OverallSymptom:
        for entry in self.symptoms:
            if entry.symptom == key:
                return entry
        raise KeyError(f"no overall result for {key!r}; have {[s.symptom for s in self.symptoms]}")

    def __iter__(self):
        return iter(self.symptoms)

    @property
    def severities(self) -> dict[str, int]:
        """Symptom key → the worst region's class: what the scalp type is worked out from."""
        return {s.symptom: s.predicted for s in self.symptoms}

    @property
    def worst_regions(self) -> dict[str, str]:
        """Symptom key → the region where it is worst, for the symptoms seen (class > 0)."""
        return {s.symptom: s.worst_region for s in self.symptoms if s.predicted > 0}

    def to_dict(self) -> dict:
        return {s.symptom: s.to_dict() for s in self.symptoms}


def _worst(answers: Mapping[str, object]) -> str:
    """The region whose answer is the worst: highest class, then a certain answer, then the more probable."""
    def rank(code):
        answer = answers[code]
        return answer.predicted, not answer.uncertain, float(answer.probabilities[answer.predicted])
    return max(answers, key=rank)  # answers are in REGION_CODES order, so a full tie names the first region


def aggregate(diagnoses: Mapping[str, object]) -> RegionsOverall | None:
    """The overall result of ``{region code: Diagnosis}`` (the diagnosed regions only); None when empty."""
    codes = [c for c in REGION_CODES if diagnoses.get(c) is not None]
    unknown = set(diagnoses) - set(REGION_CODES)
    if unknown:
        raise RegionInputError("unknown", codes=", ".join(sorted(unknown)), allowed=", ".join(REGION_CODES))
    if not codes:
        return None
    symptoms = []
    for spec in SYMPTOMS:
        answers = {c: diagnoses[c][spec.key] for c in codes}
        first = answers[codes[0]]
        n_classes = len(first.probabilities)
        if any(len(a.probabilities) != n_classes for a in answers.values()):
            raise ValueError(f"{spec.key}: the regions' answers have different numbers of classes")
        mean = tuple(sum(float(a.probabilities[i]) for a in answers.values()) / len(answers) for i in range(n_classes))
        worst = _worst(answers)
        symptoms.append(OverallSymptom(
            symptom=spec.key, labels=tuple(first.labels), probabilities=mean, predicted=int(answers[worst].predicted),
            worst_region=worst, uncertain=bool(answers[worst].uncertain),
            uncertain_regions=tuple(c for c in codes if answers[c].uncertain),
            per_region={c: int(answers[c].predicted) for c in codes}))
    return RegionsOverall(tuple(symptoms), tuple(codes))
