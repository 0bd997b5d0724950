"""One visitor's session: what they uploaded and answered and what they were told, kept in ``gr.State``.

The diagnosis (a ``scalp_models`` ``Diagnosis``), the parsed survey (``recommendation.survey.Survey``)
and the scalp-type result (``recommendation.scalp_type.ScalpTypeResult``) stay objects here; they
become JSON only at the API boundary (``ui.api``). A :class:`Session` is immutable: every event
returns a new one through :meth:`Session.with_answers`, :meth:`Session.with_diagnosis` and friends,
which work out the scalp type once, when the diagnosis or the answers change, so the renderers only
read it.

Nothing here touches a file: the user's photo lives on as a small JPEG preview (no EXIF) and, while
the photo check waits for "그래도 진단하기 / Diagnose anyway", as the decoded image in memory.

**The four-region check-up** (``ui.regions``, ``ui.regions_tab``) keeps one photo per head region:

- ``session.region_photos``: ``ui.regions.RegionPhoto`` tuples ``(code, photo)`` in upload order, where
  ``photo`` is a ``Session`` of that one photo (its ``preview``, ``photo_check``, ``pending``,
  ``diagnosis``, ``low_confidence``, ``domain``, ``upload_error``, ``diagnosis_error``: the single-photo
  fields, filled by the single photo's own code); ``session.regions`` is the same as
  ``{code: RegionPhoto}``;
- ``session.overall``: ``ui.regions.RegionsOverall`` over the diagnosed regions (per symptom the worst
  region's class and name, the averaged probabilities, the uncertain regions), or None;
- ``session.scalp_type`` then comes from ``overall`` (its note names where each symptom is worst), and
  the top-level single-photo fields (``preview``, ``diagnosis``, ...) are empty. A check-up and a single
  photo replace each other: ``with_photo`` clears the regions, ``with_region_photos`` the single photo.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from PIL import Image

from recommendation.scalp_type import ScalpTypeResult, determine_scalp_type
from recommendation.survey import Survey
from ui.regions import RegionPhoto, RegionsOverall, aggregate

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
    region_photos: tuple[RegionPhoto, ...] = ()  # the four-region check-up, in upload order (module docstring)
    checkup: object | None = None  # identity of the check-up: new per check-up upload, kept by relabels and insists
    overall: RegionsOverall | None = None  # the check-up's overall result, computed once per change
    # ui.history_tab: (the result it belongs to, the previous history entry or None, saved in the browser?)
    history_note: tuple | None = None
    # "Why?" heatmaps (ui.explain_view): the diagnosed photo as each model saw it (a
    # scalp_models.explain.ServedViews, in memory only), the heatmaps last shown (overlay JPEG bytes) and the
    # code of why none could be shown
    served_views: object | None = None
    explanations: tuple = ()
    explain_note: str | None = None

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
                       domain=None, region_photos=(), checkup=None, overall=None, served_views=None,
                       explanations=(), explain_note=None)

    def with_upload_error(self, code: str, values: Mapping) -> Session:
        return replace(self, upload_error=(code, dict(values)), diagnosis_error=None)

    def with_diagnosis(self, diagnosis, *, low_confidence: bool, domain=None) -> Session:
        return replace(self, diagnosis=diagnosis, low_confidence=low_confidence, pending=None,
                       diagnosis_error=None, guides={}, domain=domain, served_views=None, explanations=(),
                       explain_note=None)._typed()

    def with_diagnosis_error(self, message: str) -> Session:
        return replace(self, diagnosis_error=message)

    def with_region_photos(self, photos: tuple[RegionPhoto, ...], *, keep_guides: bool = False) -> Session:
        """A check-up's photos (new, relabelled or one more diagnosed): forget the single photo, work out the
        overall result and the scalp type again; ``keep_guides`` when only the labels changed. The same
        check-up (``checkup``) goes on until the next check-up upload (:meth:`with_new_checkup`)."""
        return replace(self, preview=None, photo_check=None, pending=None, upload_error=None, diagnosis=None,
                       low_confidence=False, diagnosis_error=None, domain=None, region_photos=tuple(photos),
                       checkup=self.checkup if self.checkup is not None else object(),
                       guides=self.guides if keep_guides else {}, served_views=None, explanations=(),
                       explain_note=None)._typed()

    def with_new_checkup(self, photos: tuple[RegionPhoto, ...]) -> Session:
        """A new check-up upload: a new identity (the private history saves it as a new visit)."""
        return replace(self, checkup=object()).with_region_photos(photos)

    @property
    def regions(self) -> dict[str, RegionPhoto]:
        """The check-up's photos by region code (empty for a single photo)."""
        return {photo.code: photo for photo in self.region_photos}

    def with_guide(self, key: tuple, markdown: str) -> Session:
        return replace(self, guides={**self.guides, key: markdown})

    def with_history_note(self, subject, previous, saved: bool) -> Session:
        """What the private history said about the result ``subject`` (``ui.history.note_lines``)."""
        return replace(self, history_note=(subject, previous, saved))

    def with_served_views(self, views) -> Session:
        """The diagnosed photo as each model saw it (for "Why?"); forgets earlier heatmaps."""
        return replace(self, served_views=views, explanations=(), explain_note=None)

    def with_explanations(self, shown: tuple, note: str | None = None) -> Session:
        """The heatmaps "Why?" showed (``ui.explain_view.Shown``), or the code of why there are none."""
        return replace(self, explanations=tuple(shown), explain_note=note)

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
        if self.region_photos:
            overall = aggregate({photo.code: photo.diagnosis for photo in self.region_photos})
            scalp_type = None if overall is None else determine_scalp_type(
                overall.severities, self.survey, scheme=ANSWER_SCHEME, worst_regions=overall.worst_regions)
            return replace(self, overall=overall, scalp_type=scalp_type)
        if self.diagnosis is None:
            return replace(self, scalp_type=None, overall=None)
        scalp_type = determine_scalp_type(severities_of(self.diagnosis), self.survey, scheme=ANSWER_SCHEME)
        return replace(self, scalp_type=scalp_type, overall=None)
