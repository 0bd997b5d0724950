"""두피 진단 · 두피케어 추천: the Gradio app (upload → survey → diagnosis → care guide → products) and its API.

Run it locally, with the built-in demo models and demo catalog (no network needed)::

    python app.py                       # http://127.0.0.1:7860
    gradio app.py                       # the same, with auto-reload
    python app.py --models me --models-revision v1 --catalog products.parquet --port 7861

Flags and environment variables are listed in ``ui/config.py`` (``SCALP_MODELS``, ``SCALP_CATALOG``,
``OPENAI_API_KEY``, ``SCALP_OPENAI_MODEL``, ``GRADIO_SERVER_NAME``/``PORT``; on a Hugging Face
Space ``SPACE_ID`` is set and the environment is read the same way).

This file holds the Blocks layout, the event wiring and ``launch``. The handlers are in
``ui.events``, what each tab shows in ``ui.render``, the visitor's session in ``ui.session`` and the
named API endpoints (``gradio_client``: ``/check_photo``, ``/survey_summary``, ``/diagnose``,
``/diagnose_regions``, ``/care_guide``, ``/recommend``; see the README) in ``ui.api``. The four-region
check-up's upload box and events are in ``ui.regions_tab``. The result tab's "Why?" heatmaps and
``/explain`` are in ``ui.explain_view``. The six models load in a background
thread started at launch; until they are ready the page shows "모델 준비 중". Uploaded photos are
decoded and their temp files deleted at once; the session keeps only a small JPEG preview (no EXIF)
in memory, forgotten when the tab closes. ``/diagnose`` always diagnoses (an API caller has insisted
by calling it) and adds ``photo_check`` and ``low_confidence`` to its JSON.
"""

from __future__ import annotations

import logging
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported
# Gradio's queue rebuilds a pandas summary of its last 10,000 events after every event, for a monitoring
# page this app does not use: 5-14 ms of CPU per diagnosis, growing with uptime. Once per 1,000 events.
# (Read when the queue is made, so it holds even where gradio was imported first.)
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from recommendation.care_guide import check_environment  # noqa: E402
from scalp_core.symptoms import SYMPTOMS  # noqa: E402
from ui import regions_tab, render, views  # noqa: E402
from ui.api import ApiEndpoints  # noqa: E402
from ui.config import AppConfig, parse_config  # noqa: E402
from ui.events import UiEvents, upload_label  # noqa: E402
from ui.explain_view import ExplainHandlers, build_why_panel
from ui.history_tab import HistoryUi
from ui.i18n import LANGUAGE_CHOICES, t  # noqa: E402
from ui.image_input import MAX_FILE_MB  # noqa: E402
from ui.service import ScalpService  # noqa: E402
from ui.session import Session  # noqa: E402
from ui.uploads import UploadGuard, UploadStore  # noqa: E402


def _config_from_env() -> AppConfig:
    """The environment's configuration; a bad value is reported by ``main`` (exit 2), not at import."""
    try:
        return AppConfig.from_env()
    except ValueError as exc:
        logging.getLogger("scalp_app").warning("%s (using the defaults until launch)", exc)
        return AppConfig()


SERVICE = ScalpService(_config_from_env())
UPLOADS = UploadStore(set())  # becomes demo.upload_file_set: the paths Gradio's upload route created
EVENTS = UiEvents(SERVICE, UPLOADS)
API = ApiEndpoints(SERVICE, UPLOADS)
HISTORY = HistoryUi(SERVICE)  # private history (browser only), the PDF report
EXPLAIN = ExplainHandlers(SERVICE, UPLOADS)  # "Why?" heatmaps: the result tab's panel and /explain
UPLOAD_TYPES = [".jpg", ".jpeg", ".png", ".webp", ".gif"]  # GIF: first frame
# Every event that runs the models (UI and API) shares one concurrency group, sized at launch by
# --model-concurrency (2 by default: measured best on 2 CPU cores, bench/load.py); the OpenAI-bound guide
# has its own group; the cheap events share the default limit.
MODEL_GROUP = {"concurrency_id": "models", "concurrency_limit": 2}
GUIDE_GROUP = {"concurrency_id": "guide", "concurrency_limit": 4}
DEFAULT_CONCURRENCY = 4


def _tab_title(key: str) -> str:
    return f"{t(key, 'ko')} · {t(key, 'en')[2:]}"  # the English text starts with the same icon


def build_demo() -> gr.Blocks:
    lang0 = "ko"
    q1c, q2c, q3c = render.survey_choices(lang0)
    with gr.Blocks(title=t("app_title", lang0), delete_cache=(600, 3600)) as demo:
        state = gr.State(Session(), time_to_live=SERVICE.config.session_ttl_s)
        with gr.Row():
            gr.Markdown(f"# {t('app_title', lang0)}\n{t('app_subtitle', lang0)}")
            lang = gr.Radio([c[0] for c in LANGUAGE_CHOICES], value="한국어", label=t("language_label", lang0),
                            scale=0, min_width=200)
        banner = gr.HTML(render.banner_html(SERVICE, lang0))
        model_status = gr.Markdown(t("model_loading", lang0))
        timer = gr.Timer(2.0)

        with gr.Tabs(selected="upload") as tabs:
            with gr.Tab(_tab_title("tab_upload"), id="upload"):
                photo_guide = gr.Markdown(t("photo_guide_md", lang0))
                mode = regions_tab.build_mode_radio(lang0)  # one photo, or the four-region check-up
                with gr.Column() as single_box:
                    upload = gr.File(label=upload_label(lang0), file_types=UPLOAD_TYPES, type="filepath",
                                     file_count="single")
                    upload_status = gr.Markdown(t("upload_none", lang0))
                    insist = gr.Button(t("btn_insist", lang0), variant="secondary", visible=False)
                    upload_preview = gr.HTML()
                regions_box = regions_tab.build_regions_box(lang0, UPLOAD_TYPES)
                HISTORY.build_consent(lang0)  # off by default
                with gr.Row():
                    next1 = gr.Button(t("btn_next", lang0), variant="primary")
            with gr.Tab(_tab_title("tab_survey"), id="survey"):
                survey_intro = gr.Markdown(t("survey_intro", lang0))
                q1 = gr.Dropdown(q1c, value=None, label=t("q1_label", lang0))
                q2 = gr.Dropdown(q2c, value=[], multiselect=True, label=t("q2_label", lang0))
                q3 = gr.Dropdown(q3c, value=[], multiselect=True, label=t("q3_label", lang0))
                submit = gr.Button(t("btn_submit", lang0), variant="primary")
                summary = gr.Markdown(t("survey_incomplete", lang0))
                with gr.Row():
                    prev2 = gr.Button(t("btn_prev", lang0))
                    next2 = gr.Button(t("btn_next", lang0), variant="primary")
            with gr.Tab(_tab_title("tab_result"), id="result"):
                result_header = gr.Markdown(t("result_intro", lang0))
                with gr.Row():
                    result_preview = gr.HTML()
                    severity_md = gr.Markdown()
                label_boxes = []
                for row in range(2):
                    with gr.Row():
                        for spec in SYMPTOMS[row * 3:(row + 1) * 3]:
                            label_boxes.append(gr.Label(label=f"{spec.ko} ({spec.en})", num_top_classes=3))
                note_md = gr.Markdown()
                why = build_why_panel(lang0)  # 왜 이렇게 판단했나요? / Why? (Grad-CAM heatmaps)
                HISTORY.build_report(lang0)
                reference_title = gr.Markdown(t("reference_title", lang0))
                gallery = gr.Gallery(label="illustrations", show_label=False, columns=6, height=230,
                                     allow_preview=True)
                with gr.Row():
                    home3 = gr.Button(t("btn_home", lang0))
                    prev3 = gr.Button(t("btn_prev", lang0))
                    next3 = gr.Button(t("btn_next", lang0), variant="primary")
            with gr.Tab(_tab_title("tab_guide"), id="guide") as guide_tab:
                guide_md = gr.Markdown(t("guide_need_result", lang0))
                with gr.Row():
                    home4 = gr.Button(t("btn_home", lang0))
                    prev4 = gr.Button(t("btn_prev", lang0))
                    next4 = gr.Button(t("btn_next", lang0), variant="primary")
            with gr.Tab(_tab_title("tab_products"), id="products"):
                gr.Markdown(t("products_title", lang0))
                products_html = gr.HTML()
                with gr.Row():
                    home5 = gr.Button(t("btn_home", lang0))
                    prev5 = gr.Button(t("btn_prev", lang0))
            HISTORY.build_tab(lang0)

        # What ui.render.render_all fills, in its order.
        rendered = [upload_status, upload_preview, summary, result_header, result_preview, *label_boxes,
                    severity_md, note_md, gallery, guide_md, products_html, insist, why.panel]

        # ---- UI events (private endpoints: they carry the session state)
        checkup = regions_tab.wire(regions_box, mode, single_box, state, lang, rendered, EVENTS, MODEL_GROUP)
        # preprocess=False: the handler gets Gradio's upload payload and reads the file itself (ui.uploads),
        # so Gradio leaves no temp copy behind
        uploaded = upload.upload(EVENTS.on_upload, [upload, state, lang], [state, upload, *rendered],
                                 preprocess=False, api_name="ui_upload", api_visibility="private", **MODEL_GROUP)
        insisted = insist.click(EVENTS.on_insist, [state, lang], [state, *rendered], api_name="ui_insist",
                                api_visibility="private", **MODEL_GROUP)
        for i, comp in enumerate((q1, q2, q3)):
            comp.change(EVENTS.on_survey, [q1, q2, q3, state, lang], [state, *rendered],
                        api_name=f"ui_survey_change_{i + 1}", api_visibility="private")
        submit.click(EVENTS.on_survey, [q1, q2, q3, state, lang], [state, *rendered],
                     api_name="ui_survey_submit", api_visibility="private")
        lang.change(EVENTS.on_language, [state, lang],
                    [photo_guide, upload, survey_intro, q1, q2, q3, banner, reference_title, model_status, *rendered],
                    api_name="ui_language", api_visibility="private")
        timer.tick(EVENTS.on_model_status, [lang], [model_status, timer],
                   api_name="ui_model_status", api_visibility="private")
        demo.load(EVENTS.on_model_status, [lang], [model_status, timer],
                  api_name="ui_model_status_load", api_visibility="private")
        demo.load(EVENTS.render_all, [state, lang], rendered, api_name="ui_render", api_visibility="private")
        guide_tab.select(EVENTS.on_guide, [state, lang], [state, guide_md],
                         api_name="ui_guide_tab", api_visibility="private", **GUIDE_GROUP)

        def goto(tab_id):
            return lambda: gr.Tabs(selected=tab_id)

        nav = [(next1, "survey"), (prev2, "upload"), (next2, "result"), (home3, "upload"), (prev3, "survey"),
               (home4, "upload"), (prev4, "result"), (next4, "products"), (home5, "upload"), (prev5, "guide")]
        for button, target in nav:
            button.click(goto(target), None, tabs, api_name=f"ui_nav_{target}_{button._id}",
                         api_visibility="private")
        next3.click(goto("guide"), None, tabs, api_name="ui_nav_guide", api_visibility="private").then(
            EVENTS.on_guide, [state, lang], [state, guide_md], api_name="ui_guide", api_visibility="private",
            **GUIDE_GROUP)

        HISTORY.wire(demo, state=state, lang=lang, note_md=note_md, diagnosing_events=[uploaded, insisted, *checkup.result_events])
        why.button.click(EXPLAIN.on_why, [state, why.symptom, lang], [state, why.panel], api_name="ui_why",
                         api_visibility="private", **MODEL_GROUP)

        # ---- the public API: plain inputs, JSON out (parameter names are the methods'; see ui/api.py)
        for endpoint, group in ((API.check_photo, MODEL_GROUP), (API.survey_summary, {}), (API.diagnose, MODEL_GROUP),
                                (API.diagnose_regions, MODEL_GROUP),
                                (API.care_guide, GUIDE_GROUP), (API.recommend, {})):
            gr.api(endpoint, api_name=endpoint.__name__, **group)
        gr.api(EXPLAIN.explain, api_name="explain", **MODEL_GROUP)  # Grad-CAM heatmap (ui/explain_view.py)
    return demo


demo = build_demo()
demo.upload_file_set = UPLOADS.paths  # Gradio adds every upload here; ui.uploads reads and deletes them
EXPLAIN.heatmaps.serve_from(demo)  # a deleted /explain heatmap leaves Gradio's temp-file list too


def launch(config: AppConfig, **overrides):
    """Start loading the models in the background, then serve.

    Returns ``(app, local_url, share_url)`` when ``prevent_thread_lock=True`` is passed,
    otherwise blocks until the server stops.
    """
    SERVICE.reconfigure(config)
    SERVICE.start()
    UPLOADS.start_sweeper()
    # One bounded queue: when it is full a caller is told "busy, try again" (HTTP 503, Gradio's "Queue is full").
    demo.queue(max_size=config.queue_size, default_concurrency_limit=DEFAULT_CONCURRENCY)
    for fn in demo.fns.values():
        if fn.concurrency_id == MODEL_GROUP["concurrency_id"]:
            fn.concurrency_limit = config.model_concurrency
    block = not overrides.pop("prevent_thread_lock", False)
    kwargs = dict(
        server_name=config.host,
        server_port=config.port,
        share=config.share,
        max_file_size=f"{MAX_FILE_MB}mb",
        css=views.CARD_CSS,
        footer_links=["api"],
        prevent_thread_lock=True,
        state_session_capacity=config.max_sessions,
        # file references in API requests must name this app's own uploads (no URLs, no other paths)
        app_kwargs={"middleware": [Middleware(UploadGuard, store=UPLOADS)]},
    )
    kwargs.update(overrides)
    try:
        result = demo.launch(**kwargs)
    except Exception as exc:
        if not kwargs.get("share"):
            raise
        print(f"Could not open a Gradio share link ({type(exc).__name__}: {exc}).", flush=True)
        kwargs["share"] = False
        result = demo.launch(**kwargs)
    if config.share and not getattr(demo, "share_url", None):
        # Offline or blocked tunnel: Gradio gives no URL; the app keeps serving locally.
        print(f"공유 링크를 열 수 없습니다 / No share link could be opened; serving locally only at "
              f"{getattr(demo, 'local_url', '')}", flush=True)
    if block:
        demo.block_thread()
    return result


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        config = parse_config(argv)
        check_environment()  # e.g. SCALP_OPENAI_TIMEOUT=abc: refused at start-up, not silently replaced
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    launch(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
