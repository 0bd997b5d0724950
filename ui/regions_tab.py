"""The upload tab's four-region check-up: the mode choice, the multi-photo upload and one slot per photo.

``app.py`` builds the mode radio (:func:`build_mode_radio`) above the single-photo upload, the check-up
box (:func:`build_regions_box`) below it, and calls :func:`wire` once the ``rendered`` list exists.
Each uploaded photo goes through the single photo's own code (``UiEvents.take_photo``: read once and
deleted, photo check, a flagged photo waits for its own "Diagnose anyway" button
(``UiEvents.diagnose_pending``), the domain check), into a ``Session`` of its own held in
``session.region_photos`` (see ``ui.session``). A photo's region defaults to the code in its file name
(``…_TH.jpg``) and can be changed in its dropdown; choosing a region another photo has swaps the two.
The result tab shows the overall result (``ui.regions_view`` through ``ui.render``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import gradio as gr

from ui import render
from ui.errors import safe_endpoint
from ui.events import UiEvents
from ui.i18n import lang_code, t
from ui.image_input import MAX_FILE_MB, ImageInputError
from ui.regions import MAX_REGIONS, RegionInputError, RegionPhoto, default_regions, region_label, relabel
from ui.regions_view import region_choices, thumbnail_html
from ui.session import Session

SINGLE, CHECKUP = "single", "regions"


def mode_choices(lang: str) -> list[tuple[str, str]]:
    return [(t("regions_mode_single", lang), SINGLE), (t("regions_mode_checkup", lang), CHECKUP)]


def build_mode_radio(lang: str) -> gr.Radio:
    return gr.Radio(mode_choices(lang), value=SINGLE, label=t("regions_mode_label", lang), elem_id="scalp-mode")


@dataclass
class Slot:
    """One photo of the check-up in the upload tab."""

    row: gr.Row
    thumbnail: gr.HTML
    region: gr.Dropdown
    status: gr.Markdown
    insist: gr.Button

    @property
    def components(self) -> list:
        return [self.row, self.thumbnail, self.region, self.status, self.insist]


@dataclass
class RegionsBox:
    box: gr.Column
    guide: gr.Markdown
    upload: gr.File
    status: gr.Markdown
    slots: list[Slot]

    @property
    def slot_components(self) -> list:
        return [c for slot in self.slots for c in slot.components]


def build_regions_box(lang: str, file_types: list[str]) -> RegionsBox:
    """The check-up's components (hidden until the mode radio chooses the check-up)."""
    with gr.Column(visible=False, elem_id="scalp-regions") as box:
        guide = gr.Markdown(t("regions_guide_md", lang))
        upload = gr.File(label=t("regions_upload_label", lang, max_mb=MAX_FILE_MB), file_types=file_types,
                         type="filepath", file_count="multiple", elem_id="scalp-regions-upload")
        status = gr.Markdown(t("regions_none", lang))
        slots = []
        for i in range(MAX_REGIONS):
            with gr.Row(visible=False, elem_id=f"scalp-region-slot-{i}") as row:
                thumbnail = gr.HTML(min_width=180)
                with gr.Column(scale=3):
                    region = gr.Dropdown(region_choices(lang), label=t("regions_slot_label", lang, n=i + 1),
                                         interactive=True)
                    status_md = gr.Markdown()
                    insist = gr.Button(visible=False, variant="secondary")
            slots.append(Slot(row, thumbnail, region, status_md, insist))
    return RegionsBox(box, guide, upload, status, slots)


# ---- what the slots show for a session
def slot_updates(session: Session, lang: str) -> list:
    """The values of every slot's components (``RegionsBox.slot_components`` order)."""
    out = []
    photos = session.region_photos
    for i in range(MAX_REGIONS):
        if i >= len(photos):
            out += [gr.update(visible=False), "", gr.update(value=None), "", gr.update(visible=False)]
            continue
        photo = photos[i]
        label = region_label(photo.code, lang)
        out += [
            gr.update(visible=True),
            thumbnail_html(photo, lang),
            gr.update(choices=region_choices(lang), value=photo.code, label=t("regions_slot_label", lang, n=i + 1)),
            render.upload_status(photo.photo, lang),
            gr.update(visible=photo.photo.waiting_for_insist, value=t("regions_btn_insist", lang, region=label)),
        ]
    return out


def status_text(session: Session, lang: str, error: str | None = None) -> str:
    if error:
        return "❗ " + error
    photos = session.region_photos
    if not photos:
        return t("regions_none", lang)
    diagnosed = [region_label(p.code, lang) for p in photos if p.diagnosis is not None]
    return t("regions_received", lang, n=len(photos), diagnosed=", ".join(diagnosed) or t("regions_none_yet", lang))


def _payloads(files) -> list:
    """Gradio's multi-file upload payload as a list of ``{"path", "orig_name", ...}`` dicts."""
    if isinstance(files, dict) and "root" in files:
        files = files["root"]
    if files is None:
        return []
    return list(files) if isinstance(files, (list, tuple)) else [files]


class RegionEvents:
    """The check-up's handlers, over the single photo's ``UiEvents``."""

    def __init__(self, events: UiEvents):
        self.events = events
        self.result_events: list = []  # the dependencies after which a new check-up result may exist

    def _outputs(self, session: Session, lang_value, error: str | None = None) -> list:
        lang = lang_code(lang_value)
        return [status_text(session, lang, error), *slot_updates(session, lang),
                *self.events.render_all(session, lang_value)]

    @safe_endpoint
    def on_upload(self, files, session: Session | None, lang_value, progress=gr.Progress()):  # noqa: B008
        """New check-up photos: each one through the single photo's path, in its default region."""
        lang = lang_code(lang_value)
        session = session or Session()
        payloads = _payloads(files)
        try:
            codes = default_regions([p.get("orig_name") if isinstance(p, dict) else None for p in payloads])
        except RegionInputError as exc:
            for payload in payloads:  # delete them all the same: nothing stays on disk
                _discard(self.events, payload)
            message = t(f"regions_err_{exc.code}", lang, **exc.values)
            gr.Warning(message)
            return [session, None, *self._outputs(session, lang_value, message)]
        photos = tuple(RegionPhoto(code, self.events.take_photo(Session(), payload, lang, progress))
                       for code, payload in zip(codes, payloads))
        session = session.with_new_checkup(photos)
        return [session, None, *self._outputs(session, lang_value)]

    @safe_endpoint
    def on_region(self, index: int, code, session: Session | None, lang_value):
        """Photo ``index`` is of region ``code`` now (a photo that had it takes the old region)."""
        session = session or Session()
        photos = session.region_photos
        if index < len(photos) and code:
            codes = relabel([p.code for p in photos], index, code)
            session = session.with_region_photos(
                tuple(replace(p, code=c) for p, c in zip(photos, codes)), keep_guides=True)
        return [session, *self._outputs(session, lang_value)]

    @safe_endpoint
    def on_insist(self, index: int, session: Session | None, lang_value, progress=gr.Progress()):  # noqa: B008
        """"Diagnose anyway" for photo ``index`` (marked low-confidence), the others unchanged."""
        session = session or Session()
        photos = list(session.region_photos)
        if index < len(photos):
            photo = photos[index]
            photos[index] = replace(photo, photo=self.events.diagnose_pending(photo.photo, lang_code(lang_value),
                                                                              progress))
            session = session.with_region_photos(tuple(photos), keep_guides=True)
        return [session, *self._outputs(session, lang_value)]

    def on_mode(self, mode, session: Session | None, lang_value):
        """Show the single-photo upload or the check-up; the slots show the session's check-up."""
        session = session or Session()
        lang = lang_code(lang_value)
        checkup = mode == CHECKUP
        return [gr.update(visible=not checkup), gr.update(visible=checkup), status_text(session, lang),
                *slot_updates(session, lang)]

    def on_language(self, session: Session | None, lang_value):
        session = session or Session()
        lang = lang_code(lang_value)
        return [gr.update(choices=mode_choices(lang), label=t("regions_mode_label", lang)),
                t("regions_guide_md", lang), gr.update(label=t("regions_upload_label", lang, max_mb=MAX_FILE_MB)),
                status_text(session, lang), *slot_updates(session, lang)]


def _discard(events: UiEvents, payload) -> None:
    """Read and delete one upload that will not be used (``UploadStore.claim`` deletes it)."""
    with contextlib.suppress(ImageInputError):  # a refused or vanished file: nothing left to delete
        events.uploads.claim(payload)


def wire(ui: RegionsBox, mode: gr.Radio, single_box, state, lang, rendered: list, events: UiEvents,
         model_group: dict) -> RegionEvents:
    """Connect the check-up's events (all private: they carry the session state)."""
    handlers = RegionEvents(events)
    shown = [ui.status, *ui.slot_components, *rendered]
    # preprocess=False: the handler reads each upload itself (ui.uploads), so Gradio keeps no temp copy
    handlers.result_events.append(ui.upload.upload(handlers.on_upload, [ui.upload, state, lang], [state, ui.upload, *shown], preprocess=False,
                     api_name="ui_regions_upload", api_visibility="private", **model_group))
    for i, slot in enumerate(ui.slots):
        handlers.result_events.append(slot.region.input(
            _region_handler(handlers, i), [slot.region, state, lang], [state, *shown],
            api_name=f"ui_regions_region_{i}", api_visibility="private"))
        handlers.result_events.append(slot.insist.click(
            _insist_handler(handlers, i), [state, lang], [state, *shown],
            api_name=f"ui_regions_insist_{i}", api_visibility="private", **model_group))
    mode.change(handlers.on_mode, [mode, state, lang], [single_box, ui.box, ui.status, *ui.slot_components],
                api_name="ui_regions_mode", api_visibility="private")
    lang.change(handlers.on_language, [state, lang], [mode, ui.guide, ui.upload, ui.status, *ui.slot_components],
                api_name="ui_regions_language", api_visibility="private")
    return handlers


def _region_handler(handlers: RegionEvents, index: int):
    def on_region(code, session, lang_value):
        return handlers.on_region(index, code, session, lang_value)
    return on_region


def _insist_handler(handlers: RegionEvents, index: int):
    def on_insist(session, lang_value, progress=gr.Progress()):  # noqa: B008 (Gradio's progress tracker)
        return handlers.on_insist(index, session, lang_value, progress)
    return on_insist
