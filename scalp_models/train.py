"""Fine-tune one image classifier per symptom with the transformers ``Trainer``, calibrate, evaluate.

Reads ``DATA/<symptom key>/`` (a DatasetDict written by ``datasets_prep build``) and
``DATA/prep_config.json`` (protocol, synthetic or not) and writes ``OUT/<symptom key>/``: the model
(``save_pretrained``), its image processor, ``training_config.json``, ``eval_report.json``
(docs/ARCHITECTURE.md), ``eval_validation.json`` and ``confusion_matrix.png``. The model card is
rendered by ``hub_upload`` from these files.

Training: AdamW, cosine schedule with linear warmup, focal loss (``--focal-gamma``, 0 = plain
cross-entropy) and optional "dynamic" class weights from the train split's class frequencies
(``--class-weights auto`` follows ``spec.class_weighting``), augmentation from
:mod:`scalp_models.augment`, early stopping on validation macro-F1 with the best checkpoint
restored, bf16/fp16 on CUDA, seeded. Afterwards a temperature is fitted on validation NLL and
folded into the classifier, grayscale symptoms get their stem folded to luminance, and the
test split is evaluated.

    python -m scalp_models train --data prepared --symptom all --base auto --out models
    python -m scalp_models train --data prepared --symptom hair_loss --base tiny --image-size 64 --max-steps 300 --out /tmp/m

On several GPUs run it unchanged under ``accelerate launch -m scalp_models train ...`` or
``torchrun --nproc_per_node N -m scalp_models train ...``: the Trainer handles DDP and only the
main process writes files.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments, set_seed

from scalp_core.cli import help_field, parse_dataclass_args
from scalp_core.contracts import PrepConfig, read_prep_config
from scalp_core.symptoms import SYMPTOM_KEYS, SymptomSpec, get_symptom
from scalp_models.augment import augment_policy
from scalp_models.bases import resolve_base
from scalp_models.calibration import fit_temperature, fold_temperature
from scalp_models.data import class_counts, collate, label_scheme_of, load_symptom_dataset, make_transform
from scalp_models.evaluate import plot_confusion_matrix
from scalp_models.metrics import classification_metrics
from scalp_models.modeling import create_model, fold_grayscale
from scalp_models.processing import create_image_processor

CLASS_WEIGHT_CHOICES = ("none", "dynamic", "auto")


@dataclass(frozen=True)
class TrainConfig:
    """Options of ``python -m scalp_models train``; saved as ``training_config.json`` beside the model."""

    data: str = help_field("Build output folder of `datasets_prep build` (holds <symptom key>/ DatasetDicts).")
    out: str = help_field("Output folder; each symptom's model goes to OUT/<symptom key>/.")
    symptom: str = help_field("Symptom key, Korean name or 'all' (every symptom found under --data).", default="all")
    base: str = help_field(
        "Starting weights: a Hub id (google/efficientnet-b1), 'lite0' (offline ImageNet), 'tiny' (tests), "
        "'scratch-b1', or 'auto' (Hub if reachable, else lite0).",
        default="auto",
    )
    image_size: int | None = help_field("Square input size; default: the spec's input_size (64 for tiny).", default=None)
    epochs: float = help_field("Training epochs (ignored when --max-steps > 0).", default=15.0)
    max_steps: int = help_field("Stop after this many optimizer steps (-1 = use --epochs).", default=-1)
    batch_size: int = help_field("Per-device training batch size.", default=32)
    eval_batch_size: int = help_field("Per-device evaluation batch size.", default=64)
    gradient_accumulation_steps: int = help_field("Gradient accumulation steps.", default=1)
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


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float = 0.0, weight: torch.Tensor | None = None):
    """Mean of w_y · (1 − p_y)^γ · (−log p_y), normalised by Σ w_y; γ = 0 and no weights = cross-entropy."""
    log_p = torch.log_softmax(logits.float(), dim=-1).gather(1, labels.view(-1, 1)).squeeze(1)
    loss = -log_p
    if gamma > 0:
        loss = loss * (1.0 - log_p.exp()).clamp(min=0.0).pow(gamma)
    if weight is None:
        return loss.mean()
    w = weight.to(loss.device)[labels]
    return (loss * w).sum() / w.sum().clamp(min=1e-12)


class ScalpTrainer(Trainer):
    """``Trainer`` with focal loss and optional class weights."""

    def __init__(self, *args, focal_gamma: float = 0.0, class_weight: torch.Tensor | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.focal_gamma = focal_gamma
        self.class_weight = class_weight

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = focal_loss(outputs.logits, labels, self.focal_gamma, self.class_weight)
        return (loss, outputs) if return_outputs else loss


def compute_eval_metrics(eval_pred) -> dict:
    logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
    labels = np.asarray(eval_pred.label_ids, dtype=int)
    pred = np.asarray(logits).argmax(axis=1)
    k = np.asarray(logits).shape[1]
    return {
        "accuracy": float(accuracy_score(labels, pred)),
        "macro_f1": float(f1_score(labels, pred, labels=list(range(k)), average="macro", zero_division=0)),
    }


# --------------------------------------------------------------------------- training


def resolve_class_weighting(config: TrainConfig, spec: SymptomSpec) -> str:
    return spec.class_weighting if config.class_weights == "auto" else config.class_weights


def data_workers(requested: int | None) -> int:
    """DataLoader workers: as asked, else 0 on CPU (workers would compete with the model for the
    few cores) and on a GPU the CPU count shared among this node's processes, 8 at most."""
    if requested is not None:
        return requested
    if not torch.cuda.is_available():
        return 0
    per_process = (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(8, per_process - 1))


def mixed_precision() -> dict:
    if not torch.cuda.is_available():
        return {}
    return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}


def launcher_settings() -> dict:
    """Under ``torchrun`` (any launcher that sets ``WORLD_SIZE``) without CUDA: DDP over gloo on the CPU.

    (Left alone, transformers gives each CPU process a world of its own: N independent runs.)
    With GPUs the Trainer's defaults (NCCL) apply unchanged."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        return {"use_cpu": True, "ddp_backend": "gloo"}
    return {}


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


def _predict(trainer, dataset, num_classes: int) -> np.ndarray:
    """Logits of a split (gathered across processes); an empty split gives an empty array."""
    if len(dataset) == 0:
        return np.zeros((0, num_classes), dtype=np.float32)
    predictions = trainer.predict(dataset).predictions
    return np.asarray(predictions[0] if isinstance(predictions, tuple) else predictions, dtype=np.float32)


def train_symptom(config: TrainConfig, spec: SymptomSpec, dd, prep: PrepConfig) -> dict:
    """Train, calibrate, fold and evaluate one symptom's model on its DatasetDict ``dd``; returns its results.

    ``prep`` is what ``config.data`` says about itself (its ``prep_config.json``): the protocol
    the test metrics are filed under and whether the pictures were synthetic."""
    scheme = label_scheme_of(dd["train"])
    names = list(dd["train"].features["label"].names)
    counts = class_counts(dd["train"], len(names))
    train_labels = np.asarray(dd["train"]["label"], dtype=int)
    base = resolve_base(config.base)

    set_seed(config.seed)
    model = create_model(spec, base, label_scheme=scheme, image_size=config.image_size)
    size = int(model.config.scalp["input_size"])
    processor = create_image_processor(spec, base, image_size=size)
    policy = augment_policy(spec) if config.augment else None
    train_ds = dd["train"].with_transform(make_transform(spec, processor, policy))
    val_ds = dd["validation"].with_transform(make_transform(spec, processor, None))
    test_ds = dd["test"].with_transform(make_transform(spec, processor, None))

    weighting = resolve_class_weighting(config, spec)
    class_weight = dynamic_class_weights(counts) if weighting == "dynamic" else None

    out_dir = Path(config.out) / spec.key
    ckpt_dir = out_dir / "checkpoints"
    if config.max_steps > 0:
        strategy = {"eval_strategy": "steps", "save_strategy": "steps",
                    "eval_steps": config.eval_steps or max(1, config.max_steps // 5)}
        strategy["save_steps"] = strategy["eval_steps"]
    elif config.eval_steps:
        strategy = {"eval_strategy": "steps", "save_strategy": "steps",
                    "eval_steps": config.eval_steps, "save_steps": config.eval_steps}
    else:
        strategy = {"eval_strategy": "epoch", "save_strategy": "epoch"}
    has_validation = len(dd["validation"]) > 0
    if not has_validation:  # tiny smoke runs: nothing to select or stop on, so train to the end
        strategy = {"eval_strategy": "no", "save_strategy": "no"}
    workers = data_workers(config.num_workers)
    args = TrainingArguments(
        output_dir=str(ckpt_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        optim="adamw_torch",
        lr_scheduler_type="cosine",
        warmup_steps=config.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        logging_steps=config.logging_steps,
        load_best_model_at_end=has_validation,
        metric_for_best_model="macro_f1" if has_validation else None,
        greater_is_better=True,
        save_total_limit=2,
        seed=config.seed,
        data_seed=config.data_seed if config.data_seed is not None else config.seed,
        dataloader_num_workers=workers,
        # Keep the loader processes between epochs and evaluations instead of starting them again.
        dataloader_persistent_workers=workers > 0,
        dataloader_pin_memory=torch.cuda.is_available(),
        remove_unused_columns=False,  # the images are needed by the on-the-fly transform
        label_names=["labels"],
        report_to=config.report_to,
        disable_tqdm=config.quiet,
        **strategy,
        **mixed_precision(),
        **launcher_settings(),
    )
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
    val_logits = _predict(trainer, val_ds, len(names))
    val_labels = np.asarray(dd["validation"]["label"], dtype=int)
    fit = fit_temperature(val_logits, val_labels)
    temperature = fold_temperature(model, fit.temperature)
    if spec.grayscale:
        fold_grayscale(model)
    synthetic = prep.synthetic
    model.config.scalp = {**model.config.scalp, "synthetic_training_data": synthetic}

    test_logits = _predict(trainer, test_ds, len(names))
    val_logits_cal = _predict(trainer, val_ds, len(names))
    test_labels = np.asarray(dd["test"]["label"], dtype=int)
    protocol = prep.protocol
    test_metrics = classification_metrics(
        test_logits, test_labels, names, train_labels=train_labels, temperature=temperature, split="test"
    )
    val_metrics = classification_metrics(
        val_logits_cal, val_labels, names, train_labels=train_labels, temperature=temperature, split="validation"
    )
    report = {
        "symptom": spec.key,
        "label_scheme": scheme,
        "class_names": names,
        "seed_accuracy_pct": spec.seed_accuracy_pct,
        "protocols": {protocol: test_metrics},
    }
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
            json.dumps({"calibration": fit.to_dict(), "validation": val_metrics}, ensure_ascii=False, indent=2),
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
        "temperature": temperature,
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
    return {spec.key: train_symptom(config, spec, datasets[spec.key], prep) for spec in specs}


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
            f"ECE {t['ece']:.3f} (T={result['temperature']:.2f}) → {result['out_dir']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
