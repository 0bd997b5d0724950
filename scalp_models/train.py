"""Fine-tune one image classifier per symptom with the transformers ``Trainer``, calibrate, evaluate.

Reads ``DATA/<symptom key>/`` (a DatasetDict written by ``datasets_prep build``) and
``DATA/prep_config.json`` (protocol, synthetic or not) and writes ``OUT/<symptom key>/``: the model
(``save_pretrained``), its image processor, ``training_config.json``, ``eval_report.json``
(docs/ARCHITECTURE.md; the test and validation metrics under ``protocols.<protocol>.<split>``),
``eval_validation.json`` and ``confusion_matrix.png``. The model card is rendered by ``hub_upload``
from these files.

The starting weights are resolved once per run (``--base auto``: ``google/efficientnet-b1`` when
the Hub answers, else Lite0 on a CPU; on a GPU an unreachable Hub is an error unless ``--base
lite0`` is asked for) and the concrete id is recorded as ``training_config.json["base"]``.

Training: AdamW, cosine schedule with linear warmup, focal loss (``--focal-gamma``, 0 = plain
cross-entropy) and optional "dynamic" class weights from the train split's class frequencies
(``--class-weights auto`` follows ``spec.class_weighting``), augmentation from
:mod:`scalp_models.augment`, gradient accumulation that gives the update of one batch of
``batch size × steps``, early stopping on validation macro-F1 with the best checkpoint restored,
bf16/fp16 on CUDA, seeded. Afterwards a temperature is fitted on validation NLL and folded into
the classifier, grayscale symptoms get their stem folded to luminance, the "uncertain" threshold
is chosen on the calibrated validation split (:mod:`scalp_models.thresholds`) and stored in
``config.scalp``, and the test split is evaluated with subject-resampled 95% intervals. Validation
and test images go the way a user's photo goes (``scalp_models.evaluate.predict_logits``).

    python -m scalp_models train --data prepared --symptom all --base auto --out models
    python -m scalp_models train --data prepared --symptom hair_loss --base tiny --image-size 64 --max-steps 300 --out /tmp/m

On several GPUs run it unchanged under ``accelerate launch -m scalp_models train ...`` or
``torchrun --nproc_per_node N -m scalp_models train ...``: the Trainer handles DDP and only the
main process writes files.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import EarlyStoppingCallback, Trainer, set_seed

from scalp_core.cli import help_field, parse_dataclass_args
from scalp_core.contracts import PrepConfig, read_prep_config
from scalp_core.symptoms import SYMPTOM_KEYS, SymptomSpec, get_symptom
from scalp_models.augment import augment_policy
from scalp_models.bases import OFFLINE_BASE, resolve_base
from scalp_models.calibration import fit_temperature, fold_temperature
from scalp_models.data import class_counts, collate, label_scheme_of, load_symptom_dataset, make_transform
from scalp_models.evaluate import plot_confusion_matrix, predict_logits
from scalp_models.metrics import classification_metrics, file_metrics, softmax
from scalp_models.modeling import create_model, fold_grayscale
from scalp_models.novelty_fit import NoveltyFitConfig, fit_models_novelty
from scalp_models.processing import create_image_processor
from scalp_models.run_arguments import compute_eval_metrics, training_arguments
from scalp_models.thresholds import VALIDATION_SPLIT_WORDS, choose_uncertain_threshold

CLASS_WEIGHT_CHOICES = ("none", "dynamic", "auto")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Options of ``python -m scalp_models train``; saved as ``training_config.json`` beside the model."""

    data: str = help_field("Build output folder of `datasets_prep build` (holds <symptom key>/ DatasetDicts).")
    out: str = help_field("Output folder; each symptom's model goes to OUT/<symptom key>/.")
    symptom: str = help_field("Symptom key, Korean name or 'all' (every symptom found under --data).", default="all")
    base: str = help_field(
        "Starting weights: a Hub id (google/efficientnet-b1), 'lite0' (offline ImageNet), 'tiny' (tests), "
        "'scratch-b1', or 'auto' (the Hub model if reachable, else lite0 on a CPU and an error on a GPU). "
        "Resolved once per run; training_config.json records the one used.",
        default="auto",
    )
    image_size: int | None = help_field("Square input size; default: the spec's input_size (64 for tiny).", default=None)
    epochs: float = help_field("Training epochs (ignored when --max-steps > 0).", default=15.0)
    max_steps: int = help_field("Stop after this many optimizer steps (-1 = use --epochs).", default=-1)
    batch_size: int = help_field("Per-device training batch size.", default=32)
    eval_batch_size: int = help_field("Per-device evaluation batch size.", default=64)
    gradient_accumulation_steps: int = help_field(
        "Gradient accumulation steps: each optimizer step is the update of one batch of batch-size × this.", default=1
    )
    learning_rate: float = help_field("Peak AdamW learning rate.", default=3e-4)
    weight_decay: float = help_field("AdamW weight decay.", default=1e-4)
    warmup_ratio: float = help_field("Share of steps used for linear warmup before the cosine decay.", default=0.05)
    focal_gamma: float = help_field("Focal loss gamma; 0 = plain cross-entropy.", default=2.0)
    class_weights: str = help_field(
        "none | dynamic (inverse train-class frequency) | auto (the spec's class_weighting).", default="auto"
    )
    augment: bool = help_field("Random crops, flips, rotations and mild brightness/contrast on train images.", default=True)
    eval_steps: int | None = help_field(
        "Evaluate (and checkpoint) every N steps; default: every epoch, or max_steps/5 with --max-steps.",
        default=None,
    )
    early_stopping_patience: int = help_field("Stop after this many evaluations without a better val macro-F1.", default=4)
    seed: int = help_field("Seed of model init and training.", default=42)
    data_seed: int | None = help_field("Seed of data sampling (default: --seed).", default=None)
    num_workers: int | None = help_field(
        "DataLoader worker processes; default: 0 on CPU, on a GPU up to 8 per process (one loader "
        "process augments ~200 images/s at 240 px and ~40 at 600 px; an H100 trains b1 at ~900 and ~190).",
        default=None,
    )
    logging_steps: int = help_field("Log the training loss every N steps.", default=20)
    keep_checkpoints: bool = help_field("Keep OUT/<key>/checkpoints/ after training (default: removed).", default=False)
    report_to: str = help_field("Trainer integrations to log to (none, tensorboard, wandb, ...).", default="none")
    domain_check: bool = help_field(
        "After training, fit the domain check (novelty.json) on the training images' Lite0 features.", default=True)
    quiet: bool = help_field("No progress bars.", default=False)

    def __post_init__(self):
        if not self.data:
            raise ValueError("--data is required: the output folder of `python -m datasets_prep build`")
        if not self.out:
            raise ValueError("--out is required: where the trained models go")
        if self.symptom != "all":
            get_symptom(self.symptom)  # raises a KeyError listing the known symptoms
        if self.class_weights not in CLASS_WEIGHT_CHOICES:
            raise ValueError(f"--class-weights must be one of {CLASS_WEIGHT_CHOICES}, got {self.class_weights!r}")
        if self.focal_gamma < 0:
            raise ValueError(f"--focal-gamma must be >= 0 (0 = cross-entropy), got {self.focal_gamma}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.image_size is not None and self.image_size < 32:
            raise ValueError(f"--image-size must be at least 32 pixels, got {self.image_size}")
        for name in ("batch_size", "eval_batch_size", "gradient_accumulation_steps", "logging_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"--max-steps must be a positive number of steps or -1, got {self.max_steps}")
        if self.max_steps < 0 and self.epochs <= 0:
            raise ValueError(f"--epochs must be > 0, got {self.epochs}")
        if self.eval_steps is not None and self.eval_steps < 1:
            raise ValueError(f"--eval-steps must be >= 1, got {self.eval_steps}")
        if self.num_workers is not None and self.num_workers < 0:
            raise ValueError(f"--num-workers must be >= 0, got {self.num_workers}")


# --------------------------------------------------------------------------- loss


def dynamic_class_weights(counts) -> torch.Tensor:
    """Inverse-frequency weights n / (k · count_c) ("balanced"); classes absent from train get weight 0."""
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


def item_weights(labels: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Each item's loss weight: its class weight w_y, or 1 without class weights."""
    if weight is None:
        return torch.ones(labels.shape, dtype=torch.float32, device=labels.device)
    return weight.to(labels.device)[labels]


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float = 0.0, weight: torch.Tensor | None = None,
               normaliser: float | torch.Tensor | None = None):
    """Σ w_y · (1 − p_y)^γ · (−log p_y) divided by ``normaliser`` (default: this batch's Σ w_y, a weighted
    mean); γ = 0 and no weights = cross-entropy.

    Gradient accumulation passes the Σ w_y of all its micro-batches as ``normaliser``, so the
    micro-batches' losses add up to the loss of the one large batch they make."""
    log_p = torch.log_softmax(logits.float(), dim=-1).gather(1, labels.view(-1, 1)).squeeze(1)
    loss = -log_p
    if gamma > 0:
        loss = loss * (1.0 - log_p.exp()).clamp(min=0.0).pow(gamma)
    w = item_weights(labels, weight).to(loss.device)
    total = w.sum() if normaliser is None else torch.as_tensor(normaliser, dtype=loss.dtype, device=loss.device)
    return (loss * w).sum() / total.clamp(min=1e-12)


class ScalpTrainer(Trainer):
    """``Trainer`` with focal loss, optional class weights, and gradient accumulation that equals one big batch.

    The Trainer divides the loss by the number of accumulated micro-batches unless it believes the
    model normalised it by the accumulated item count itself ("loss kwargs", which EfficientNet's
    ``forward(**kwargs)`` seems to accept). Here the loss is computed in :meth:`compute_loss`, so:
    :meth:`get_batch_samples` totals the item weights of the micro-batches of one optimizer step,
    :meth:`compute_loss` divides each micro-batch's weighted loss sum by that total, and the Trainer
    is told not to divide again. k micro-batches of b items then give the gradient of one batch of
    k·b items, class weights and a short last step included. (Under DDP each process normalises by
    its own total and DDP averages the processes' gradients, as with any per-process mean.)
    """

    loss_is_scaled_for_ga = True  # compute_loss already divides by the whole step's weight

    def __init__(self, *args, focal_gamma: float = 0.0, class_weight: torch.Tensor | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.focal_gamma = focal_gamma
        self.class_weight = class_weight
        # The model never sees the labels or a loss kwarg; the step's normaliser comes from get_batch_samples.
        self.model_accepts_loss_kwargs = False

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        """The micro-batches of one optimizer step, and the sum of their item weights (handed to
        :meth:`compute_loss` as ``num_items_in_batch``)."""
        batches, _ = super().get_batch_samples(epoch_iterator, num_batches, device)
        total = sum(float(item_weights(b["labels"], self.class_weight).sum()) for b in batches if "labels" in b)
        return batches, (total if batches else None)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        # In training, num_items_in_batch is the step's total weight (get_batch_samples); in evaluation
        # it is None and the loss is this batch's weighted mean.
        loss = focal_loss(outputs.logits, labels, self.focal_gamma, self.class_weight, normaliser=num_items_in_batch)
        return (loss, outputs) if return_outputs else loss


# --------------------------------------------------------------------------- training


def resolve_class_weighting(config: TrainConfig, spec: SymptomSpec) -> str:
    return spec.class_weighting if config.class_weights == "auto" else config.class_weights


def symptoms_to_train(config: TrainConfig) -> list[SymptomSpec]:
    if config.symptom != "all":
        return [get_symptom(config.symptom)]
    found = [get_symptom(k) for k in SYMPTOM_KEYS if (Path(config.data) / k).is_dir()]
    if not found:
        raise FileNotFoundError(
            f"no symptom datasets under {config.data}; expected folders named {', '.join(SYMPTOM_KEYS)} "
            "(run `python -m datasets_prep build` first)"
        )
    return found


def resolve_run_base(config: TrainConfig) -> str:
    """The concrete starting weights of this run, resolved once for every symptom. On a GPU, ``auto``
    with an unreachable Hub raises ``BaseUnavailableError`` instead of training Lite0 unasked.

    (Under ``torchrun`` each process resolves it; processes that disagreed would build models of
    different shapes, which DDP refuses at once.)"""
    base = resolve_base(config.base, allow_offline_fallback=not torch.cuda.is_available())
    if base != config.base:
        level = logging.WARNING if base == OFFLINE_BASE else logging.INFO
        log.log(level, "--base %s: training every symptom from %s", config.base, base)
    return base


def subjects_of(dataset) -> list | None:
    """The split's ``subject`` column (the bootstrap resamples subjects), or None when it has none."""
    return dataset["subject"] if "subject" in dataset.column_names else None


def train_symptom(config: TrainConfig, spec: SymptomSpec, dd, prep: PrepConfig, base: str) -> dict:
    """Train, calibrate, fold and evaluate one symptom's model on its DatasetDict ``dd``; returns its results.

    ``prep`` is what ``config.data`` says about itself (its ``prep_config.json``): the protocol
    the test metrics are filed under and whether the pictures were synthetic. ``base`` is the
    run's concrete starting weights (:func:`resolve_run_base`)."""
    scheme = label_scheme_of(dd["train"])
    names = list(dd["train"].features["label"].names)
    counts = class_counts(dd["train"], len(names))
    train_labels = np.asarray(dd["train"]["label"], dtype=int)

    set_seed(config.seed)
    model = create_model(spec, base, label_scheme=scheme, image_size=config.image_size)
    size = int(model.config.scalp["input_size"])
    processor = create_image_processor(spec, base, image_size=size)
    policy = augment_policy(spec) if config.augment else None
    train_ds = dd["train"].with_transform(make_transform(spec, processor, policy))
    val_ds = dd["validation"].with_transform(make_transform(spec, processor, None))

    weighting = resolve_class_weighting(config, spec)
    class_weight = dynamic_class_weights(counts) if weighting == "dynamic" else None

    out_dir = Path(config.out) / spec.key
    ckpt_dir = out_dir / "checkpoints"
    has_validation = len(dd["validation"]) > 0
    args = training_arguments(config, ckpt_dir, has_validation=has_validation)
    trainer = ScalpTrainer(
        model=model,
        args=args,
        data_collator=collate,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        processing_class=processor,
        compute_metrics=compute_eval_metrics,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience)] if has_validation else [],
        focal_gamma=config.focal_gamma,
        class_weight=class_weight,
    )
    train_output = trainer.train()
    model = trainer.model

    # Calibrate on validation, fold T into the classifier, then make grayscale models luminance-only.
    # Every split is predicted as served (the stored image bytes, decoded and resized once).
    val_logits, val_labels = predict_logits(model, processor, dd["validation"], batch_size=config.eval_batch_size)
    fit = fit_temperature(val_logits, val_labels)
    temperature = fold_temperature(model, fit.temperature)
    if spec.grayscale:
        fold_grayscale(model)
    synthetic = prep.synthetic
    protocol = prep.protocol

    val_logits_cal, _ = predict_logits(model, processor, dd["validation"], batch_size=config.eval_batch_size)
    uncertain = choose_uncertain_threshold(softmax(val_logits_cal), val_labels)
    uncertain_rule = uncertain.rule(VALIDATION_SPLIT_WORDS.get(protocol, "the validation split"))
    model.config.scalp = {
        **model.config.scalp,
        "synthetic_training_data": synthetic,
        "uncertain_below": uncertain.uncertain_below,
        "uncertain_rule": uncertain_rule,
    }

    test_logits, test_labels = predict_logits(model, processor, dd["test"], batch_size=config.eval_batch_size)
    test_metrics = classification_metrics(
        test_logits, test_labels, names, train_labels=train_labels, temperature=temperature, split="test",
        subjects=subjects_of(dd["test"]),
    )
    val_metrics = classification_metrics(
        val_logits_cal, val_labels, names, train_labels=train_labels, temperature=temperature, split="validation",
        subjects=subjects_of(dd["validation"]),
    )
    report = {"symptom": spec.key, "label_scheme": scheme, "class_names": names,
              "seed_accuracy_pct": spec.seed_accuracy_pct}
    file_metrics(file_metrics(report, protocol, test_metrics), protocol, val_metrics)
    uncertain_record = {**uncertain.to_dict(), "rule": uncertain_rule}
    effective = {
        "config": asdict(config),
        "symptom": spec.key,
        "base": base,
        "input_size": size,
        "grayscale": spec.grayscale,
        "label_scheme": scheme,
        "protocol": protocol,
        "class_weighting": weighting,
        "class_weight": None if class_weight is None else class_weight.tolist(),
        "train_class_counts": counts.tolist(),
        "augment_policy": asdict(policy) if policy else None,
        "training_args": args.to_dict(),
        "global_step": int(train_output.global_step),
        # Trainer's own figures: train_runtime and train_samples_per_second (evaluation included).
        "train_metrics": {k: float(v) for k, v in train_output.metrics.items() if isinstance(v, (int, float))},
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_val_macro_f1": trainer.state.best_metric,
        "calibration": fit.to_dict(),
        "uncertain": uncertain_record,
        "synthetic_training_data": synthetic,
    }
    if trainer.is_world_process_zero():
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)
        (out_dir / "training_config.json").write_text(
            json.dumps(portable_paths(effective, out_dir.parent), ensure_ascii=False, indent=2, default=str),
            encoding="utf-8",
        )
        (out_dir / "eval_report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        (out_dir / "eval_validation.json").write_text(
            json.dumps({"calibration": fit.to_dict(), "uncertain": uncertain_record, "validation": val_metrics},
                       ensure_ascii=False, indent=2),
            encoding="utf-8",
        )
        plot_confusion_matrix(
            test_metrics["confusion_matrix"], names, out_dir / "confusion_matrix.png",
            title=f"{spec.display_name} · {protocol} · test",
        )
        if not config.keep_checkpoints:
            shutil.rmtree(ckpt_dir, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return {
        "symptom": spec.key,
        "out_dir": str(out_dir),
        "protocol": protocol,
        "base": base,
        "temperature": temperature,
        "uncertain": uncertain_record,
        "test": test_metrics,
        "validation": val_metrics,
        "calibration": fit.to_dict(),
    }


def portable_paths(value, root: Path):
    """``value`` with every absolute path made relative to ``root`` (or cut to ``<local>/name``).

    training_config.json is uploaded beside the model card, so it must not publish the trainer's
    home directory or file layout (``/home/alice/aihub/...``)."""
    if isinstance(value, dict):
        return {k: portable_paths(v, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable_paths(v, root) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        path = Path(value)
        try:
            return path.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            return f"<local>/{path.name}"
    return value


def train(config: TrainConfig) -> dict:
    """Train every requested symptom; returns ``{symptom key: results}``.

    Every dataset and ``prep_config.json`` are opened before the first model trains, so a missing
    or stale build fails at once (``load_from_disk`` maps the files; nothing is decoded yet)."""
    specs = symptoms_to_train(config)
    datasets = {spec.key: load_symptom_dataset(config.data, spec.key) for spec in specs}
    prep = read_prep_config(config.data)
    base = resolve_run_base(config)
    results = {spec.key: train_symptom(config, spec, datasets[spec.key], prep, base) for spec in specs}
    if config.domain_check and int(os.environ.get("RANK", "0")) == 0:
        fit_domain_check(config)
    return results


def fit_domain_check(config: TrainConfig) -> None:
    """``novelty.json`` (the domain check, ``scalp_models.novelty``) beside the trained models; a build without
    a colour symptom (the check reads colour images) or too few images is logged, not fatal."""
    try:
        fit_models_novelty(NoveltyFitConfig(data=config.data, models=config.out))
    except (FileNotFoundError, ValueError) as err:
        log.warning("no domain check fitted for %s: %s", config.out, err)


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    return parse_dataclass_args(TrainConfig, argv, prog="python -m scalp_models train",
                                description=__doc__.split("\n\n")[0])


def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    results = train(config)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # one summary per run, from the main process
    for key, result in results.items():
        t = result["test"]
        print(
            f"{key}: test acc {t['accuracy']:.3f} macro-F1 {t['macro_f1']:.3f} QWK {t['qwk']:.3f} "
            f"ECE {t['ece']:.3f} (T={result['temperature']:.2f}; uncertain below "
            f"{result['uncertain']['uncertain_below']:.2f}; base {result['base']}) → {result['out_dir']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
