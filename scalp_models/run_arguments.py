"""The transformers ``TrainingArguments`` of one ``scalp_models train`` run, fitted to the machine,
and the metrics its evaluations report.

:func:`training_arguments` turns a :class:`scalp_models.train.TrainConfig` into the Trainer's
arguments: optimizer and schedule, when to evaluate and checkpoint (every epoch, every
``--eval-steps``, or five times in a ``--max-steps`` run; never without a validation split),
DataLoader workers (:func:`data_workers`), bf16/fp16 on CUDA (:func:`mixed_precision`) and DDP over
gloo when ``torchrun`` starts CPU processes (:func:`launcher_settings`). The checkpoint kept at the
end is the one of the best validation macro-F1 (:func:`compute_eval_metrics`).

    args = training_arguments(config, out_dir / "checkpoints", has_validation=True)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score
from transformers import TrainingArguments


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


def evaluation_schedule(max_steps: int, eval_steps: int | None, has_validation: bool) -> dict:
    """When to evaluate and checkpoint: every ``eval_steps``, five times in a ``max_steps`` run, else
    every epoch; never without a validation split (tiny smoke runs: nothing to select or stop on)."""
    if not has_validation:
        return {"eval_strategy": "no", "save_strategy": "no"}
    if max_steps > 0 or eval_steps:
        every = eval_steps or max(1, max_steps // 5)
        return {"eval_strategy": "steps", "save_strategy": "steps", "eval_steps": every, "save_steps": every}
    return {"eval_strategy": "epoch", "save_strategy": "epoch"}


def training_arguments(config, output_dir: str | Path, *, has_validation: bool) -> TrainingArguments:
    """The Trainer's arguments for ``config`` (a ``TrainConfig``), checkpointing into ``output_dir``."""
    workers = data_workers(config.num_workers)
    return TrainingArguments(
        output_dir=str(output_dir),
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
        **evaluation_schedule(config.max_steps, config.eval_steps, has_validation),
        **mixed_precision(),
        **launcher_settings(),
    )


def compute_eval_metrics(eval_pred) -> dict:
    """Accuracy and macro-F1 (``metric_for_best_model``) of one Trainer evaluation."""
    logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
    labels = np.asarray(eval_pred.label_ids, dtype=int)
    pred = np.asarray(logits).argmax(axis=1)
    k = np.asarray(logits).shape[1]
    return {
        "accuracy": float(accuracy_score(labels, pred)),
        "macro_f1": float(f1_score(labels, pred, labels=list(range(k)), average="macro", zero_division=0)),
    }
