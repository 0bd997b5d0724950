"""Evaluate a scalp model folder on a prepared split: the metrics the spec says to always report.

Accuracy, macro-F1, quadratic-weighted kappa, per-class precision/recall/F1, the confusion
matrix (JSON and PNG), ECE (15 bins) and NLL before and after the folded temperature, and the
majority-class baseline (the most frequent *train* class predicted for every item). All
metrics except ECE and NLL come from scikit-learn (all are computed in :mod:`scalp_models.metrics`).

    python -m scalp_models evaluate --model models/hair_loss --data prepared [--split test] [--write]

``--write`` merges the result into ``MODEL/eval_report.json`` under the data's protocol
(``full``/``folder``, read from ``DATA/prep_config.json`` by ``scalp_core.contracts``) and
redraws ``confusion_matrix.png``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
from transformers import AutoImageProcessor, AutoModelForImageClassification

from scalp_core.contracts import read_prep_config
from scalp_core.symptoms import get_symptom
from scalp_models.data import load_symptom_dataset, to_model_input
from scalp_models.hub_loading import pickle_only_reason
from scalp_models.metrics import classification_metrics
from scalp_models.processing import pixel_values


def plot_confusion_matrix(matrix, class_names, path: str | Path, title: str = "") -> Path:
    """Write the confusion matrix (counts, row-normalised colours) as a PNG with matplotlib Agg."""
    # Heavy, and only the writers of a model folder draw: evaluation without --write never loads it.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    # Korean class names need a CJK font; fall back to the English part when none is installed.
    cjk_fonts = sorted(
        {f.name for f in font_manager.fontManager.ttflist
         if any(tag in f.name for tag in ("Noto Sans CJK", "NanumGothic", "Noto Sans KR", "Malgun"))}
    )
    labels = [n if cjk_fonts else (n.split("(", 1)[-1].rstrip(")") if "(" in n else n) for n in class_names]
    title = title if cjk_fonts else "".join(ch for ch in title if ord(ch) < 0x1100 or ord(ch) > 0xD7AF)
    rc = {"font.family": [cjk_fonts[0], "DejaVu Sans"]} if cjk_fonts else {}
    with plt.rc_context(rc):
        return _draw_confusion(plt, labels, matrix, path, title)


def _draw_confusion(plt, labels, matrix, path, title) -> Path:
    m = np.asarray(matrix, dtype=float)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(labels), 1.2 + 1.1 * len(labels)), dpi=110)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


@torch.no_grad()
def predict_logits(model, processor, dataset, spec, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels of a (raw, untransformed) split, evaluated as at inference time."""
    model.eval()
    device = next(model.parameters()).device
    all_logits, all_labels = [], []
    for start in range(0, len(dataset), batch_size):
        batch = dataset[start : start + batch_size]
        images = [to_model_input(im, spec) for im in batch["image"]]
        pixels = pixel_values(images, processor).to(device)
        all_logits.append(model(pixel_values=pixels).logits.float().cpu().numpy())
        all_labels.extend(int(v) for v in batch["label"])
    num_labels = int(model.config.num_labels)
    logits = np.concatenate(all_logits) if all_logits else np.zeros((0, num_labels))
    return logits, np.asarray(all_labels, dtype=int)


def load_model_folder(model_dir: str | Path):
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} is not a model folder (no config.json); train one with `python -m scalp_models train`")
    pickled = pickle_only_reason(os.listdir(model_dir))
    if pickled:
        raise FileNotFoundError(f"{model_dir} {pickled}")
    # Safetensors weights only, and no code from the folder: a model folder may come from anywhere.
    model = AutoModelForImageClassification.from_pretrained(
        model_dir, trust_remote_code=False, use_safetensors=True
    )
    processor = AutoImageProcessor.from_pretrained(model_dir, trust_remote_code=False)
    return model, processor


def load_model_and_data(model_dir: str | Path, data_dir: str | Path):
    """``(model, processor, scalp config dict, spec, DatasetDict)``: a saved scalp model and the prepared
    data of its own symptom (read from ``config.scalp.symptom``)."""
    model, processor = load_model_folder(model_dir)
    scalp = dict(getattr(model.config, "scalp", None) or {})
    if "symptom" not in scalp:
        raise ValueError(f"{model_dir}/config.json has no scalp.symptom; is this a scalp_models model?")
    spec = get_symptom(scalp["symptom"])
    return model, processor, scalp, spec, load_symptom_dataset(data_dir, spec.key)


def evaluate_model(model_dir: str | Path, data_dir: str | Path, split: str = "test", write: bool = False) -> dict:
    """Metrics of the model in ``model_dir`` on ``split`` of ``data_dir/<its symptom>``."""
    model, processor, scalp, spec, dd = load_model_and_data(model_dir, data_dir)
    if split not in dd:
        raise ValueError(f"split {split!r} not in {list(dd)}")
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if list(dd[split].features["label"].names) != names:
        raise ValueError(f"the data's class names {dd[split].features['label'].names} differ from the model's {names}")
    logits, labels = predict_logits(model, processor, dd[split], spec)
    temperature = float(scalp.get("temperature", 1.0)) if scalp.get("temperature_folded") else 1.0
    metrics = classification_metrics(
        logits, labels, names, train_labels=dd["train"]["label"], temperature=temperature, split=split
    )
    if write:
        protocol = read_prep_config(data_dir).protocol
        report_path = Path(model_dir) / "eval_report.json"
        report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else {}
        report.update(
            symptom=spec.key,
            label_scheme=int(scalp.get("label_scheme", len(names))),
            class_names=names,
            seed_accuracy_pct=spec.seed_accuracy_pct,
        )
        report.setdefault("protocols", {})[protocol] = metrics
        report_path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        plot_confusion_matrix(
            metrics["confusion_matrix"], names, Path(model_dir) / "confusion_matrix.png",
            title=f"{spec.display_name} · {protocol} · {split}",
        )
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scalp_models evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="Model folder (config.json, model.safetensors, ...).")
    parser.add_argument("--data", required=True, type=Path, help="Build output folder of `datasets_prep build`.")
    parser.add_argument("--split", default="test", choices=("train", "validation", "test"), help="Split to evaluate.")
    parser.add_argument("--write", action="store_true", help="Merge into MODEL/eval_report.json and redraw the PNG.")
    args = parser.parse_args(argv)
    metrics = evaluate_model(args.model, args.data, args.split, write=args.write)
    print(json.dumps(metrics, ensure_ascii=False, indent=2))
    return 0
