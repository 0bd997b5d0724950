"""The app's named API endpoints (``gradio_client``): plain inputs in, JSON out.

``/check_photo``, ``/survey_summary``, ``/diagnose``, ``/diagnose_regions`` (the four-region
check-up, ``ui.regions``), ``/care_guide`` and ``/recommend`` are the methods of :class:`ApiEndpoints`, registered with ``gr.api`` in ``app.py``: their parameter names and
defaults are the API's. This is where the session's objects (``Diagnosis``, ``ScalpTypeResult``)
become JSON, and where a client's JSON becomes objects again; every bad input is a ``gr.Error`` with
a Korean and an English message. See the README for a client example.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import gradio as gr
import numpy as np
from gradio import FileData

from recommendation.scalp_type import determine_scalp_type, type_label, type_order
from recommendation.survey import CATEGORY_KEYS, resolve_category, survey_summary
from scalp_core.symptoms import SYMPTOM_KEYS
from ui.errors import public_error, safe_endpoint, user_error
from ui.events import client_key
from ui.i18n import both, lang_code, t
from ui.image_input import ImageInputError, LoadedImage, load_image
from ui.regions import REGION_CODES, RegionInputError, aggregate, checked_regions
from ui.resources import Unavailable
from ui.service import ModelsNotReady, PhotoCheckUnavailable, ScalpService
from ui.session import ANSWER_SCHEME, parse_survey, severities_of
from ui.uploads import UploadStore
from ui.views import domain_message, photo_flagged

MAX_TOP_K = 20


def jsonable(value):
    """``value`` with numpy scalars/arrays as plain Python and NaN as None (JSON-safe)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def diagnosis_json(diagnosis) -> dict:
    """``{"symptoms": {key: SymptomResult.to_dict()}}`` of a ``Diagnosis`` (each entry has its own
    ``uncertain_below``, the threshold chosen for that model on held-out validation images)."""
    return diagnosis.to_dict()


def scalp_type_json(result) -> dict | None:
    """The ``scalp_type`` part of a ``/diagnose`` answer, from a ``ScalpTypeResult``."""
    if result is None:
        return None
    return {
        "types": list(result.types),
        "types_en": [type_label(x, "en") for x in result.types],
        "rule": result.rule,
        "main_findings": list(result.main_findings),
        "main_finding_ko": result.main_finding_ko,
        "main_finding_en": result.main_finding_en,
        "survey_type": result.survey_type,
        "survey_agrees": result.survey_agrees,
        "note_ko": result.note_ko,
        "note_en": result.note_en,
    }


def survey_json(survey) -> dict | None:
    """The ``survey`` part of a ``/diagnose`` answer: the parsed answers (keys, not labels)."""
    if survey is None:
        return None
    return {"scalp_type": survey.scalp_type, "symptoms": list(survey.symptoms), "categories": list(survey.categories)}


def severities_from_json(diagnosis: Mapping) -> dict[str, int]:
    """Symptom → class index 0..2 from a ``/diagnose`` answer or a plain ``{symptom name: class}`` map.

    A ``/diagnose`` answer must hold all six symptoms; in a plain map missing symptoms count as 양호.
    """
    if "symptoms" in diagnosis:
        symptoms = diagnosis["symptoms"]
        missing = [k for k in SYMPTOM_KEYS if not isinstance(symptoms, Mapping) or k not in symptoms]
        if missing:
            raise ValueError(f"the diagnosis lacks the symptoms {missing}")
        pairs = [(k, symptoms[k].get("predicted") if isinstance(symptoms[k], Mapping) else symptoms[k])
                 for k in SYMPTOM_KEYS]
    else:
        pairs = list(diagnosis.items())
    severities = {}
    for key, value in pairs:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 2:
            raise ValueError(f"severity of {key!r} must be a class index 0..2 (0 양호, 1 경증·중등도, 2 중증), "
                             f"got {value!r}")
        severities[key] = value
    return severities


class ApiEndpoints:
    """The public endpoints over one :class:`ui.service.ScalpService` and one upload store."""

    def __init__(self, service: ScalpService, uploads: UploadStore):
        self.service = service
        self.uploads = uploads

    # ---- input parsing shared by the endpoints
    def _image(self, upload) -> LoadedImage:
        """Decode the uploaded file of a ``FileData`` parameter (Gradio passes its dict: ``{"path": ...}``);
        the file is read once and deleted."""
        try:
            return load_image(self.uploads.claim(upload))
        except ImageInputError as exc:
            raise user_error(str(exc)) from None

    @staticmethod
    def _survey(q1, q2, q3):
        try:
            return parse_survey(q1 or None, q2 or [], q3 or [])
        except ValueError as exc:
            raise user_error(f"{t('survey_error', 'ko', error=exc)} / {t('survey_error', 'en', error=exc)}") from None

    # ---- the endpoints
    @safe_endpoint
    def check_photo(self, image_path: FileData) -> dict:
        """Photo check of one upload: verdict ok / retake / not_scalp, reasons and messages (ko, en)."""
        loaded = self._image(image_path)
        try:
            check = self.service.check_photo(loaded.image, original_size=loaded.original_size)
        except PhotoCheckUnavailable as exc:
            raise user_error(both("err_photo_check_unavailable", error=exc)) from None
        return jsonable({"photo_check": check, "input": loaded.info()})

    @safe_endpoint
    def survey_summary(self, q1: str, q2: list[str] = [], q3: list[str] = [], lang: str = "ko") -> str:  # noqa: B006
        """The survey's echo line, e.g. '당신의 두피가 🌟 건성 타입의 👤 탈모 증상이 있다고 선택하셨습니다.'"""
        survey = self._survey(q1, q2, q3)
        if survey is None:
            raise user_error(f"{t('survey_incomplete', 'ko')} / {t('survey_incomplete', 'en')}")
        return survey_summary(survey, lang_code(lang))

    @safe_endpoint
    def diagnose(self, image_path: FileData, q1: str, q2: list[str] = [], q3: list[str] = []) -> dict:  # noqa: B006
        """Six symptoms: calibrated probabilities, severity, uncertain flag; plus scalp type(s) and the note.

        Also ``photo_check``: the ``/check_photo`` result of the same photo (``verdict`` ok / retake /
        not_scalp, ``reasons``, ``messages_ko``/``messages_en``, ``low_confidence``, ...), or null when the
        check is unavailable, with ``photo_check_error`` saying why (Korean / English); and
        ``low_confidence``: true when the check flagged the photo or could not check it, i.e. this
        diagnosis should be treated as unreliable. ``in_domain`` and ``novelty_score`` (with
        ``domain_check``: the same plus a Korean and an English message): whether the photo is like the
        photos the models learned from (score ≤ 1); when it is not, all six answers are marked uncertain
        and ``low_confidence`` is true. ``in_domain`` is null when the model set carries no domain check.
        """
        loaded = self._image(image_path)  # first: the upload is deleted even when the survey is refused
        survey = self._survey(q1, q2, q3)
        return self._diagnosis_answer(loaded, survey)[1]

    def _diagnosis_answer(self, loaded: LoadedImage, survey) -> tuple[object, dict]:
        """``(Diagnosis, the /diagnose JSON)`` of one decoded photo: also each region of /diagnose_regions."""
        try:
            diagnosis, domain = self.service.diagnose_image(loaded.image)
        except ModelsNotReady as exc:
            raise user_error(f"{both('err_models_not_ready')} ({exc})") from None
        scalp_type = determine_scalp_type(severities_of(diagnosis), survey, scheme=ANSWER_SCHEME)
        try:
            check, check_error = self.service.check_photo(loaded.image, original_size=loaded.original_size), None
        except PhotoCheckUnavailable as exc:
            check, check_error = None, public_error(both("err_photo_check_unavailable", error=exc))
        out = diagnosis_json(diagnosis)
        out["scalp_type"] = scalp_type_json(scalp_type)
        out["survey"] = survey_json(survey)
        out["demo_models"] = self.service.uses_synthetic_models
        out["input"] = loaded.info()
        out["photo_check"] = check
        out["photo_check_error"] = check_error
        # The domain check: is this photo like the ones the models learned from? When not, all six
        # answers are already marked uncertain and the message says why.
        out["in_domain"] = domain.in_domain
        out["novelty_score"] = domain.score
        out["domain_check"] = {**domain.to_dict(), "message_ko": domain_message(domain, "ko"),
                               "message_en": domain_message(domain, "en")}
        out["low_confidence"] = check is None or photo_flagged(check) or domain.in_domain is False
        return diagnosis, jsonable(out)

    @safe_endpoint
    def diagnose_regions(self, files: list[FileData], regions: list[str], q1: str,
                         q2: list[str] = [], q3: list[str] = []) -> dict:  # noqa: B006
        """A check-up of up to four head regions (TH 정수리, LH 좌측두, RH 우측두, BH 후두부), one photo each.

        ``regions[i]`` is the region code of ``files[i]``. Returns ``regions``: per code the ``/diagnose``
        answer of its photo, or ``{"error", "error_code"}`` when that photo cannot be used (the other regions
        are still diagnosed); ``overall``: per symptom the worst region's ``label``/``predicted``, named in
        ``worst_region`` (+ ``_ko``/``_en``), the ``probabilities`` averaged over the diagnosed regions,
        ``uncertain`` (the reported severity rests on uncertain answers only) and ``uncertain_regions``;
        ``scalp_type`` from the overall result, its note naming where each symptom is worst; ``survey``,
        ``demo_models``, ``diagnosed_regions``, ``failed_regions``, and ``low_confidence`` (any diagnosed
        region's is). A duplicate or unknown code, a count mismatch, no photo or more than four is an error.
        """
        photos = []
        for upload in list(files or []):  # first: every upload is read and deleted, whatever else is wrong
            try:
                photos.append(self.uploads.claim(upload))
            except ImageInputError as exc:
                photos.append(exc)
        try:
            codes = checked_regions(regions or [], len(photos))
        except RegionInputError as exc:
            raise user_error(both(f"regions_err_{exc.code}", **exc.values)) from None
        survey = self._survey(q1, q2, q3)
        answers, diagnoses = {}, {}
        for code, photo in zip(codes, photos):
            try:
                if isinstance(photo, ImageInputError):
                    raise photo
                loaded = load_image(photo)
            except ImageInputError as exc:  # this region fails with its own message; the others go on
                answers[code] = {"error": str(exc), "error_code": exc.code}
                continue
            diagnoses[code], answers[code] = self._diagnosis_answer(loaded, survey)
        overall = aggregate(diagnoses)
        if overall is None:
            raise user_error(f"{both('regions_err_none_diagnosed')}: "
                             + "; ".join(f"{code}: {answer['error']}" for code, answer in answers.items()))
        scalp_type = determine_scalp_type(overall.severities, survey, scheme=ANSWER_SCHEME,
                                          worst_regions=overall.worst_regions)
        ordered = {code: answers[code] for code in REGION_CODES if code in answers}
        return jsonable({
            "regions": ordered, "overall": overall.to_dict(), "scalp_type": scalp_type_json(scalp_type),
            "survey": survey_json(survey), "demo_models": self.service.uses_synthetic_models,
            "diagnosed_regions": list(overall.regions), "failed_regions": [c for c in ordered if c not in diagnoses],
            "low_confidence": any(answers[c]["low_confidence"] for c in diagnoses)})

    @safe_endpoint
    def care_guide(self, diagnosis: dict, q1: str, lang: str = "ko", request: gr.Request = None) -> str:
        """Care guide (원인 / 특징 / 관리방안 + disclaimer) for a /diagnose result (or a {symptom: class} map)."""
        if not isinstance(diagnosis, dict):
            raise user_error("diagnosis must be the JSON returned by /diagnose or a {symptom key: class 0..2} map")
        survey = self._survey(q1, [], [])
        try:
            result = determine_scalp_type(severities_from_json(diagnosis), survey, scheme=ANSWER_SCHEME)
        except (KeyError, ValueError) as exc:
            raise user_error(f"diagnosis: {exc}") from None
        lang = lang_code(lang)
        guide, limited = self.service.care_guide(result, lang, client=client_key(request))
        return guide.to_markdown() + ("\n\n" + t("guide_rate_limited", lang) if limited else "")

    @safe_endpoint
    def recommend(self, types: list[str] = [], categories: list[str] = [], top_k: int = 3) -> list[dict]:  # noqa: B006
        """Top products per category for the given scalp type(s), with the matched ingredients."""
        types = list(types or [])
        unknown = [x for x in types if x not in type_order()]
        if unknown or not types:
            raise user_error(f"types: unknown or missing {unknown}; choose from {type_order()}")
        resolved = []
        for c in categories or []:
            key = resolve_category(c)
            if key is None:
                raise user_error(f"categories: unknown {c!r}; choose from {list(CATEGORY_KEYS)}")
            resolved.append(key)
        if not resolved:
            raise user_error("categories: choose at least one product category")
        k = int(top_k or 3)
        if not 1 <= k <= MAX_TOP_K:
            raise user_error(f"top_k must be 1..{MAX_TOP_K}, got {top_k}")
        try:
            sections = self.service.product_sections(types, resolved, top_k=k)
        except Unavailable as exc:
            raise user_error(f"{t('catalog_failed_status', 'ko', error=exc.error or exc)} / "
                             f"{t('catalog_failed_status', 'en', error=exc.error or exc)}") from None
        return jsonable(sections)

