"""The History tab, the consent checkbox and the report button: layout and events (``app.py`` calls
:meth:`HistoryUi.build_consent`, :meth:`HistoryUi.build_report`, :meth:`HistoryUi.build_tab` where
each belongs, then :meth:`HistoryUi.wire`).

- **Consent first.** A result is stored only while the checkbox "이 브라우저에 진단 기록 저장하기" is
  ticked (off by default). Ticking it after a diagnosis stores that result.
- **In the browser only.** The history is a ``gr.BrowserState`` (localStorage, key
  :data:`STORAGE_KEY`). Gradio encrypts the value with a secret that the page itself carries, so this is
  obfuscation, not protection: the privacy comes from the data never leaving the user's browser except
  for the request that reads or changes it. A fixed key and secret keep the history across reloads and
  app restarts. Every value that comes back is validated (``ui.history.validate_history``).
- **Downloads from memory.** Export (JSON/CSV) and the PDF report are built in memory and handed to the
  browser as base64 in a hidden textbox; a few lines of JavaScript turn them into a download (a Blob
  URL). No file is written on the server, so none can linger.
- **Deleting** asks for a confirmation, then removes the localStorage key in the browser itself.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from scalp_core.symptoms import SYMPTOM_KEYS
from ui import history, render
from ui.errors import safe_endpoint
from ui.i18n import lang_code, t
from ui.report import build_report_pdf, report_data, report_file_name
from ui.service import ScalpService
from ui.session import Session

STORAGE_KEY = "scalp-care-history"
# Sent to every page (Gradio's BrowserState decrypts in the browser): it hides nothing, it only has to stay
# the same so that a restarted app can still read what a browser stored before.
STORAGE_SECRET = "scalp-care-history-v1"
ALL_SYMPTOMS = "all"

# The browser's local time with its UTC offset, put into the last input of the event (the "clock" box).
CLOCK_JS = """(...args) => {
  const d = new Date(), pad = (n) => String(n).padStart(2, "0"), off = -d.getTimezoneOffset();
  args[args.length - 1] = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    `${off >= 0 ? "+" : "-"}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return args;
}"""
# A payload {"name", "mime", "data": base64} becomes a download; the bytes never touch the server's disk.
DOWNLOAD_JS = """(payload) => {
  if (!payload) return [];
  const p = JSON.parse(payload), bin = atob(p.data), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const url = URL.createObjectURL(new Blob([bytes], {type: p.mime}));
  const a = document.createElement("a");
  a.href = url; a.download = p.name; document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return [];
}"""
DELETE_JS = f"""(...args) => {{ localStorage.removeItem("{STORAGE_KEY}"); return args; }}"""


def download_payload(name: str, mime: str, data: bytes) -> str:
    return json.dumps({"name": name, "mime": mime, "data": base64.b64encode(data).decode("ascii")})


def symptom_choices(lang: str) -> list[tuple[str, str]]:
    return [(t("history_plot_all", lang), ALL_SYMPTOMS), *((history.symptom_name(k, lang), k) for k in SYMPTOM_KEYS)]


def trend_frame(entries, lang: str, symptom: str | None) -> pd.DataFrame:
    records = history.trend_records(entries, lang, None if symptom == ALL_SYMPTOMS else symptom)
    columns = ["date", "symptom", "score", "severity"]
    frame = pd.DataFrame(records, columns=columns)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def table_frame(entries, lang: str) -> pd.DataFrame:
    headers, rows = history.table_rows(entries, lang)
    return pd.DataFrame(rows, columns=headers)


@dataclass
class HistoryComponents:
    """The components the history feature adds to the page."""

    consent: gr.Checkbox
    consent_status: gr.Markdown
    report_button: gr.Button
    report_status: gr.Markdown
    stored: gr.BrowserState
    clock: gr.Textbox
    payload: gr.Textbox
    intro: gr.Markdown
    status: gr.Markdown
    symptom: gr.Dropdown
    plot: gr.LinePlot
    table: gr.Dataframe
    export_json: gr.Button
    export_csv: gr.Button
    delete: gr.Button
    confirm_row: gr.Row
    confirm_text: gr.Markdown
    delete_yes: gr.Button
    delete_no: gr.Button


class HistoryUi:
    """Builds the history's components in ``app.py``'s layout and handles their events."""

    def __init__(self, service: ScalpService):
        self.service = service
        self._parts: dict = {}

    # ---- layout (called inside app.py's Blocks, where each part belongs)
    def build_consent(self, lang: str) -> None:
        """The consent checkbox (off by default) and its "saved" line: in the upload tab."""
        self._parts["consent"] = gr.Checkbox(value=False, label=t("history_consent_label", lang),
                                             info=t("history_consent_info", lang), elem_id="history-consent")
        self._parts["consent_status"] = gr.Markdown(elem_id="history-consent-status")

    def build_report(self, lang: str) -> None:
        """The "리포트 내려받기 / Download my report" button: in the result tab."""
        self._parts["report_button"] = gr.Button(t("report_button", lang), variant="secondary",
                                                 elem_id="report-button")
        self._parts["report_status"] = gr.Markdown(elem_id="report-status")

    def build_tab(self, lang: str) -> None:
        """The History tab (inside ``gr.Tabs``)."""
        with gr.Tab(f"{t('history_tab', 'ko')} · {t('history_tab', 'en')[2:]}", id="history") as tab:
            self._parts["intro"] = gr.Markdown(t("history_intro", lang))
            self._parts["status"] = gr.Markdown(t("history_empty", lang), elem_id="history-status")
            self._parts["symptom"] = gr.Dropdown(symptom_choices(lang), value=ALL_SYMPTOMS,
                                                 label=t("history_plot_symptom", lang), elem_id="history-symptom")
            self._parts["plot"] = gr.LinePlot(trend_frame((), lang, ALL_SYMPTOMS), x="date", y="score",
                                              color="symptom", y_lim=[0, 2], label=t("history_plot_title", lang),
                                              x_title=t("history_plot_x", lang), y_title=t("history_plot_y", lang),
                                              color_title=t("history_col_symptom", lang), tooltip="all", height=320,
                                              elem_id="history-plot")
            self._parts["table"] = gr.Dataframe(table_frame((), lang), interactive=False, wrap=True,
                                                elem_id="history-table")
            with gr.Row():
                self._parts["export_json"] = gr.Button(t("history_btn_export_json", lang), elem_id="history-export-json")
                self._parts["export_csv"] = gr.Button(t("history_btn_export_csv", lang), elem_id="history-export-csv")
                self._parts["delete"] = gr.Button(t("history_btn_delete", lang), variant="stop",
                                                  elem_id="history-delete")
            with gr.Row(visible=False) as confirm_row:
                self._parts["confirm_text"] = gr.Markdown(t("history_delete_confirm", lang))
                self._parts["delete_yes"] = gr.Button(t("history_btn_delete_yes", lang), variant="stop",
                                                      elem_id="history-delete-yes")
                self._parts["delete_no"] = gr.Button(t("history_btn_delete_no", lang), elem_id="history-delete-no")
            self._parts["confirm_row"] = confirm_row
        self._tab = tab

    def _build_helpers(self) -> None:
        """The invisible helpers: the stored history, the browser's clock, the download hand-over."""
        self._parts["stored"] = gr.BrowserState(None, storage_key=STORAGE_KEY, secret=STORAGE_SECRET)
        self._parts["clock"] = gr.Textbox(visible="hidden", elem_id="history-clock")
        self._parts["payload"] = gr.Textbox(visible="hidden", elem_id="history-download")

    @property
    def parts(self) -> HistoryComponents:
        return HistoryComponents(**self._parts)

    # ---- wiring
    def wire(self, demo: gr.Blocks, *, state: gr.State, lang: gr.Radio, note_md: gr.Markdown,
             diagnosing_events: Iterable) -> None:
        """Connect the events; ``diagnosing_events`` are the dependencies after which a new result may exist
        (the upload, "Diagnose anyway", a check-up), each followed by saving it when consent is given."""
        self._build_helpers()
        p = self.parts
        shown = [p.status, p.plot, p.table]
        record_inputs = [state, p.stored, p.consent, p.symptom, lang, p.clock]
        record_outputs = [state, p.stored, note_md, p.consent_status, *shown]
        for i, event in enumerate(diagnosing_events):
            event.success(self.on_record, record_inputs, record_outputs, js=CLOCK_JS,
                          api_name=f"ui_history_record_{i}", api_visibility="private")
        p.consent.change(self.on_record, record_inputs, record_outputs, js=CLOCK_JS,
                         api_name="ui_history_consent", api_visibility="private")
        for trigger, name in ((p.stored.change, "stored"), (p.symptom.change, "symptom"),
                              (self._tab.select, "tab"), (demo.load, "load")):
            trigger(self.on_show, [p.stored, p.symptom, lang], shown, api_name=f"ui_history_show_{name}",
                    api_visibility="private")
        for button, fmt in ((p.export_json, "json"), (p.export_csv, "csv")):
            button.click(self.on_export(fmt), [p.stored], [p.payload], api_name=f"ui_history_export_{fmt}",
                         api_visibility="private").then(None, [p.payload], None, js=DOWNLOAD_JS)
        p.delete.click(lambda: gr.Row(visible=True), None, p.confirm_row, api_name="ui_history_delete_ask",
                       api_visibility="private")
        p.delete_no.click(lambda: gr.Row(visible=False), None, p.confirm_row, api_name="ui_history_delete_no",
                          api_visibility="private")
        p.delete_yes.click(self.on_delete, [lang], [p.stored, p.confirm_row, p.consent_status, *shown], js=DELETE_JS,
                           api_name="ui_history_delete", api_visibility="private")
        p.report_button.click(self.on_report, [state, lang, p.clock], [p.payload, p.report_status], js=CLOCK_JS,
                              api_name="ui_report", api_visibility="private").then(
            None, [p.payload], None, js=DOWNLOAD_JS)
        lang.change(self.on_language, [p.stored, p.symptom, lang],
                    [p.consent, p.report_button, p.intro, p.symptom, p.delete, p.export_json, p.export_csv,
                     p.confirm_text, p.delete_yes, p.delete_no, *shown],
                    api_name="ui_history_language", api_visibility="private")

    # ---- handlers
    def shown(self, loaded: history.LoadedHistory, symptom, lang: str, extra: str = "") -> list:
        """(status line, plot, table) of the History tab."""
        lines = [t("history_count", lang, n=len(loaded.entries), max=history.MAX_ENTRIES) if loaded.entries
                 else t("history_empty", lang)]
        if loaded.dropped:
            lines.append(t("history_dropped", lang, n=loaded.dropped))
        if extra:
            lines.append(extra)
        plot = gr.update(value=trend_frame(loaded.entries, lang, symptom), label=t("history_plot_title", lang),
                         x_title=t("history_plot_x", lang), y_title=t("history_plot_y", lang),
                         color_title=t("history_col_symptom", lang))
        return ["\n\n".join(lines), plot, table_frame(loaded.entries, lang)]

    @safe_endpoint
    def on_show(self, stored, symptom, lang_value):
        return self.shown(history.validate_history(stored), symptom, lang_code(lang_value))

    @safe_endpoint
    def on_record(self, session: Session | None, stored, consent, symptom, lang_value, clock):
        """Look at the history for the session's current result (the note's "compare with last time") and,
        with consent, add the result to it once."""
        session, lang = session or Session(), lang_code(lang_value)
        loaded = history.validate_history(stored)
        snapshot = history.snapshot_of(session)
        if snapshot is None:
            return [session, gr.skip(), gr.skip(), gr.skip(), *self.shown(loaded, symptom, lang)]
        mark = session.history_note
        if mark is None or mark[0] is not snapshot.subject:
            previous = loaded.entries[-1] if loaded.entries else None
            session = session.with_history_note(snapshot.subject, previous, False)
        stored_out, saved_line = gr.skip(), gr.skip()
        saved = session.history_note[2]  # False, or the entry this result was saved as
        if consent and not saved:
            entry = history.make_entry(snapshot, history.now_iso(clock))
            entries = history.appended(loaded, entry)
            session = session.with_history_note(snapshot.subject, session.history_note[1], entry)
            loaded = history.LoadedHistory(tuple(entries), loaded.dropped)
            stored_out, saved_line = entries, t("history_saved", lang)
        elif consent and loaded.entries and loaded.entries[-1] == saved:
            # the same check-up changed (a region relabelled or diagnosed later): its entry is updated, not added
            entry = history.make_entry(snapshot, saved["date"])
            if entry != saved:
                entries = [*loaded.entries[:-1], entry]
                session = session.with_history_note(snapshot.subject, session.history_note[1], entry)
                loaded = history.LoadedHistory(tuple(entries), loaded.dropped)
                stored_out, saved_line = entries, t("history_updated", lang)
        note = render.result(session, lang)[3]
        return [session, stored_out, note, saved_line, *self.shown(loaded, symptom, lang)]

    def on_export(self, fmt: str):
        @safe_endpoint
        def export(stored):
            entries = history.validate_history(stored).entries
            if fmt == "json":
                return download_payload("scalp-history.json", "application/json",
                                        history.export_json(entries).encode("utf-8"))
            return download_payload("scalp-history.csv", "text/csv", history.export_csv(entries).encode("utf-8"))

        export.__name__ = f"export_{fmt}"
        return export

    @safe_endpoint
    def on_delete(self, lang_value):
        lang = lang_code(lang_value)
        shown = self.shown(history.LoadedHistory(()), ALL_SYMPTOMS, lang, extra=t("history_deleted", lang))
        return [None, gr.Row(visible=False), "", *shown]

    @safe_endpoint
    def on_report(self, session: Session | None, lang_value, clock):
        lang = lang_code(lang_value)
        session = session or Session()
        data = report_data(session, lang, self.service, history.now_iso(clock))
        if data is None:
            gr.Warning(t("report_need_result", lang))
            return "", t("report_need_result", lang)
        pdf = build_report_pdf(data)
        return (download_payload(report_file_name(lang, history.now_iso(clock)), "application/pdf", pdf),
                t("report_ready", lang, kb=max(1, round(len(pdf) / 1024))))

    @safe_endpoint
    def on_language(self, stored, symptom, lang_value):
        lang = lang_code(lang_value)
        return [
            gr.update(label=t("history_consent_label", lang), info=t("history_consent_info", lang)),
            gr.update(value=t("report_button", lang)),
            gr.update(value=t("history_intro", lang)),
            gr.update(choices=symptom_choices(lang), label=t("history_plot_symptom", lang)),
            gr.update(value=t("history_btn_delete", lang)),
            gr.update(value=t("history_btn_export_json", lang)),
            gr.update(value=t("history_btn_export_csv", lang)),
            gr.update(value=t("history_delete_confirm", lang)),
            gr.update(value=t("history_btn_delete_yes", lang)),
            gr.update(value=t("history_btn_delete_no", lang)),
            *self.shown(history.validate_history(stored), symptom, lang),
        ]
