"""One visitor's session: what they uploaded and answered and what they were told, kept in ``gr.State``.

The diagnosis (a ``scalp_models`` ``Diagnosis``), the parsed survey (``recommendation.survey.Survey``)
and the scalp-type result (``recommendation.scalp_type.ScalpTypeResult``) stay objects here; they
become JSON only at the API boundary (``ui.api``). A :class:`Session` is immutable: every event
returns a new one through :meth:`Session.with_answers`, :meth:`Session.with_diagnosis` and friends,
which work out the scalp type once, when the diagnosis or the answers change, so the renderers only
read it.

Nothing here touches a file: the user's photo lives on as a small JPEG preview (no EXIF) and, while
the photo check waits for "그래도 진단하기 / Diagnose anyway", as the decoded image in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from PIL import Image

from recommendation.scalp_type import ScalpTypeResult, determine_scalp_type
from recommendation.survey import Survey

ANSWER_SCHEME = 3  # the diagnoser answers in the 3-class scheme: 0 양호, 1 경증·중등도, 2 중증


def parse_survey(q1: str | None, q2: Iterable[str] | None, q3: Iterable[str] | None) -> Survey | None:
    """The validated survey, or None while Q1 is unanswered; ValueError (a clear message) on an unknown option."""
    if not q1:
        if q2 or q3:
            Survey.from_answers("건성", q2 or [], q3 or [])  # still validate the other answers
        return None
    return Survey.from_answers(q1, q2 or [], q3 or [])


def severities_of(diagnosis) -> dict[str, int]:
    """Symptom key → predicted class (3-class scheme) of a ``Diagnosis``."""
    return {result.symptom: int(result.predicted) for result in diagnosis}


@dataclass(frozen=True)
class Session:
    """Everything the UI shows for one visitor; see the module docstring."""

    preview: bytes | None = None  # small JPEG of the photo (no EXIF), never a file
    upload_error: tuple[str, Mapping] | None = None  # (code, values) of the last refused upload
    photo_check: Mapping | None = None  # ``photo_check`` result of the current photo
    pending: Image.Image | None = None  # a flagged photo, in memory until "Diagnose anyway" or a new upload
    diagnosis: object | None = None  # ``scalp_models`` ``Diagnosis``
    low_confidence: bool = False  # diagnosed on a flagged photo because the user insisted
    diagnosis_error: str | None = None
    answers: tuple = (None, (), ())  # the raw (q1, q2, q3) as the dropdowns gave them
    survey: Survey | None = None
    survey_error: str | None = None
    scalp_type: ScalpTypeResult | None = None  # from the diagnosis and the survey, computed once per change
    domain: object | None = None  # ``ui.service.DomainCheck`` of the diagnosed photo
    guides: Mapping = field(default_factory=dict)  # (types, main findings, lang) → care-guide Markdown

    def with_answers(self, q1, q2, q3) -> Session:
        """The survey answers changed: parse them once and work out the scalp type again."""
        answers = (q1, tuple(q2 or ()), tuple(q3 or ()))
        try:
            survey, error = parse_survey(*answers), None
        except ValueError as exc:
            survey, error = None, str(exc)
        return replace(self, answers=answers, survey=survey, survey_error=error)._typed()

    def with_photo(self, preview: bytes, photo_check: Mapping | None, pending: Image.Image | None) -> Session:
        """A new photo: forget the last diagnosis and guides; ``pending`` when the check flagged it."""
        return replace(self, preview=preview, photo_check=photo_check, pending=pending, upload_error=None,
                       diagnosis=None, low_confidence=False, diagnosis_error=None, scalp_type=None, guides={},
                       domain=None)

    def with_upload_error(self, code: str, values: Mapping) -> Session:
        return replace(self, upload_error=(code, dict(values)), diagnosis_error=None)

    def with_diagnosis(self, diagnosis, *, low_confidence: bool, domain=None) -> Session:
        return replace(self, diagnosis=diagnosis, low_confidence=low_confidence, pending=None,
                       diagnosis_error=None, guides={}, domain=domain)._typed()

    def with_diagnosis_error(self, message: str) -> Session:
        return replace(self, diagnosis_error=message)

    def with_guide(self, key: tuple, markdown: str) -> Session:
        return replace(self, guides={**self.guides, key: markdown})

    @property
    def guide_key(self) -> tuple | None:
        """What a care guide depends on: the type(s), the main findings and (added by the caller) the language."""
        if self.scalp_type is None:
            return None
        return (self.scalp_type.types, self.scalp_type.main_findings)

    @property
    def waiting_for_insist(self) -> bool:
        """A flagged photo waits, undiagnosed, for "그래도 진단하기 / Diagnose anyway"."""
        return self.pending is not None and self.diagnosis is None

    def _typed(self) -> Session:
        if self.diagnosis is None:
            return replace(self, scalp_type=None)
        scalp_type = determine_scalp_type(severities_of(self.diagnosis), self.survey, scheme=ANSWER_SCHEME)
        return replace(self, scalp_type=scalp_type)
