"""Evaluate a scalp model folder on a prepared split, as served: the metrics the spec says to always report.

Accuracy, macro-F1, quadratic-weighted kappa (each with a 95% interval from a bootstrap over
subjects when the split has a ``subject`` column), per-class precision/recall/F1, the confusion
matrix (JSON and PNG), ECE (15 bins) and NLL before and after the folded temperature, and the
majority-class baseline (the most frequent *train* class predicted for every item); all computed
in :mod:`scalp_models.metrics`. The images go the way a user's photo goes through
``ScalpDiagnoser``: the stored file bytes (the test split holds the original files) are decoded by
``scalp_models.shared_preprocessing.decode_image``, resized once and normalised by the model's
own image processor, loaded with the PIL backend as the diagnoser loads it.

    python -m scalp_models evaluate --model models/hair_loss --data prepared [--split test] [--write]

``--write`` merges the result into ``MODEL/eval_report.json`` under ``protocols.<protocol>.<split>``
(the protocol, ``full``/``folder``, read from ``DATA/prep_config.json`` by ``scalp_core.contracts``),
so a validation run never replaces the test metrics a model card publishes; a test run also
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
from scalp_models.data import load_symptom_dataset
from scalp_models.hub_loading import pickle_only_reason
from scalp_models.metrics import classification_metrics, file_metrics
from scalp_models.shared_preprocessing import ResizeKey, decode_image, plan_preprocessing, resized_tensor


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


def served_pixels(images, processor, scalp: dict) -> torch.Tensor:
    """The (N, 3, H, W) input ``ScalpDiagnoser`` gives a model for decoded RGB ``images``.

    One PIL resize per image and the processor's normalisation as one affine step
    (``shared_preprocessing``); a grayscale model whose stem is not folded sees luminance, as
    served. A processor that is not a plain square resize runs as is, as the diagnoser runs it.
    """
    gray = bool(scalp.get("grayscale")) and not scalp.get("grayscale_folded")
    resize, normalization = plan_preprocessing(processor)
    if resize is None:
        inputs = [image.convert("L").convert("RGB") for image in images] if gray else list(images)
        return processor(images=inputs, return_tensors="pt")["pixel_values"]
    a, b = normalization.affine()
    return resized_tensor(images, ResizeKey(resize.size, resize.resample, gray=gray)) * a + b


def undecoded(dataset):
    """The split with its images left as stored: file bytes (the test split holds the original files),
    so each is decoded once the way an upload is (EXIF orientation, RGB)."""
    # Heavy (pyarrow) and only needed to evaluate: the demo build imports this module for its plot.
    from datasets import Image as ImageFeature

    feature = dataset.features["image"]
    if isinstance(feature, ImageFeature) and feature.decode:
        return dataset.cast_column("image", ImageFeature(decode=False))
    return dataset


def _stored_source(value):
    """A stored ``datasets.Image`` value (``{"bytes", "path"}``) → what ``decode_image`` reads."""
    if isinstance(value, dict):
        return value.get("bytes") or value.get("path")
    return value


@torch.no_grad()
def predict_logits(model, processor, dataset, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels of a (raw, untransformed) split, with the images preprocessed as served."""
    model.eval()
    device = next(model.parameters()).device
    scalp = dict(getattr(model.config, "scalp", None) or {})
    stored = undecoded(dataset)
    all_logits = []
    for start in range(0, len(stored), batch_size):  # one batch of file bytes in memory at a time
        batch = stored[start : start + batch_size]["image"]
        images = [decode_image(_stored_source(value)) for value in batch]
        pixels = served_pixels(images, processor, scalp).to(device)
        all_logits.append(model(pixel_values=pixels).logits.float().cpu().numpy())
    num_labels = int(model.config.num_labels)
    logits = np.concatenate(all_logits) if all_logits else np.zeros((0, num_labels))
    return logits, np.asarray(dataset["label"], dtype=int)


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
    # The PIL backend, as ScalpDiagnoser loads it: with torchvision installed, transformers would
    # otherwise pick its torchvision processor, whose resize gives other pixels.
    processor = AutoImageProcessor.from_pretrained(model_dir, backend="pil", trust_remote_code=False)
    return model, processor


def load_model_and_data(model_dir: str | Path, data_dir: str | Path):
    """``(model, processor, scalp config dict, spec, DatasetDict)``: a saved scalp model (on the GPU when
    there is one: a test split of original photos is large) and the prepared data of its own symptom
    (read from ``config.scalp.symptom``)."""
    model, processor = load_model_folder(model_dir)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    scalp = dict(getattr(model.config, "scalp", None) or {})
    if "symptom" not in scalp:
        raise ValueError(f"{model_dir}/config.json has no scalp.symptom; is this a scalp_models model?")
    spec = get_symptom(scalp["symptom"])
    return model, processor, scalp, spec, load_symptom_dataset(data_dir, spec.key)


def evaluate_model(model_dir: str | Path, data_dir: str | Path, split: str = "test", write: bool = False) -> dict:
    """Metrics of the model in ``model_dir`` on ``split`` of ``data_dir/<its symptom>``, as served."""
    model, processor, scalp, spec, dd = load_model_and_data(model_dir, data_dir)
    if split not in dd:
        raise ValueError(f"split {split!r} not in {list(dd)}")
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if list(dd[split].features["label"].names) != names:
        raise ValueError(f"the data's class names {dd[split].features['label'].names} differ from the model's {names}")
    logits, labels = predict_logits(model, processor, dd[split])
    temperature = float(scalp.get("temperature", 1.0) or 1.0)
    if not scalp.get("temperature_folded"):
        logits = logits / temperature  # the diagnoser divides an unfolded temperature out, so do we
    subjects = dd[split]["subject"] if "subject" in dd[split].column_names else None
    metrics = classification_metrics(
        logits, labels, names, train_labels=dd["train"]["label"], temperature=temperature, split=split,
        subjects=subjects,
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
        file_metrics(report, protocol, metrics)
        report_path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        if split == "test":  # the picture the card shows is the test split's
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
    parser.add_argument("--write", action="store_true", help="Merge into MODEL/eval_report.json under protocols.<protocol>.<split> (test: redraw the PNG).")
    args = parser.parse_args(argv)
    metrics = evaluate_model(args.model, args.data, args.split, write=args.write)
    print(json.dumps(metrics, ensure_ascii=False, indent=2))
    return 0
