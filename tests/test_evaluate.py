"""Evaluation: metrics on hand-built predictions (QWK, ECE bins, majority baseline, intervals over subjects,
where a report files them, the confusion PNG) and the evaluate path against the PIL `pipeline()`."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from scalp_core.symptoms import class_names
from scalp_models.evaluate import plot_confusion_matrix
from scalp_models.metrics import classification_metrics, expected_calibration_error, majority_baseline

NAMES = list(class_names(3))


def logits_for(pred, n_classes=3, margin=5.0):
    z = np.zeros((len(pred), n_classes))
    z[np.arange(len(pred)), pred] = margin
    return z


def test_perfect_predictions():
    labels = np.array([0, 1, 2, 0, 1, 2])
    m = classification_metrics(logits_for(labels), labels, NAMES, train_labels=[0, 0, 0, 1])
    assert m["accuracy"] == 1.0 and m["macro_f1"] == 1.0 and m["qwk"] == pytest.approx(1.0)
    assert m["confusion_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    assert m["per_class"][NAMES[1]] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert m["n"] == 6


def test_qwk_punishes_far_errors_more_than_near_ones():
    labels = np.array([0, 0, 1, 1, 2, 2])
    near = np.array([0, 1, 1, 1, 2, 1])  # two off-by-one errors
    far = np.array([0, 2, 1, 1, 2, 0])  # two off-by-two errors
    m_near = classification_metrics(logits_for(near), labels, NAMES)
    m_far = classification_metrics(logits_for(far), labels, NAMES)
    assert m_near["accuracy"] == m_far["accuracy"]
    assert m_near["qwk"] > m_far["qwk"]
    # Hand computation for the far case: observed weighted disagreement 8/24 ... checked against sklearn's definition.
    from sklearn.metrics import cohen_kappa_score

    assert m_far["qwk"] == pytest.approx(cohen_kappa_score(labels, far, weights="quadratic"))
    assert m_near["confusion_matrix"][0] == [1, 1, 0]


def test_ece_known_cases():
    labels = np.array([0, 0, 0, 0])
    # Always confident 0.9 and always right: |1.0 - 0.9| = 0.1.
    probs = np.tile([0.9, 0.05, 0.05], (4, 1))
    assert expected_calibration_error(probs, labels) == pytest.approx(0.1)
    # Two bins: conf 0.6 right twice (gap 0.4), conf 0.8 wrong twice (gap 0.8) → 0.5·0.4 + 0.5·0.8.
    probs = np.array([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.6)
    # Perfectly calibrated in one bin: confidence 0.5, half right.
    probs = np.array([[0.5, 0.4, 0.1], [0.5, 0.4, 0.1]])
    assert expected_calibration_error(probs, np.array([0, 1])) == pytest.approx(0.0)


def test_uncalibrated_metrics_use_the_folded_temperature():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    raw = logits_for(labels, margin=4.0) + rng.normal(0, 3, (200, 3))
    m = classification_metrics(raw / 2.0, labels, NAMES, temperature=2.0)
    m_raw = classification_metrics(raw, labels, NAMES)
    assert m["ece_uncalibrated"] == pytest.approx(m_raw["ece"])
    assert m["nll_uncalibrated"] == pytest.approx(m_raw["nll"])
    assert m["accuracy"] == m_raw["accuracy"]  # scaling never changes the argmax


def test_majority_baseline_uses_the_train_split():
    train = [1, 1, 1, 0, 2]
    test = np.array([0, 0, 0, 1])  # test majority is 0, but the baseline must predict train's 1
    base = majority_baseline(train, test, 3)
    assert base["majority_class"] == 1
    assert base["majority_baseline_accuracy"] == pytest.approx(0.25)
    # F1 of class 1 = 2·(0.25·1)/(1.25) = 0.4; classes 0 and 2 score 0.
    assert base["majority_baseline_macro_f1"] == pytest.approx(0.4 / 3)
    m = classification_metrics(logits_for(test), test, NAMES, train_labels=train)
    assert m["majority_baseline_accuracy"] == pytest.approx(0.25)


def test_confusion_png_written(tmp_path):
    path = plot_confusion_matrix([[5, 1, 0], [2, 7, 1], [0, 1, 3]], NAMES, tmp_path / "cm" / "confusion_matrix.png", "t")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 100 and im.height > 100


def test_ece_has_15_bins_that_10_would_merge():
    """Confidences 0.62 and 0.68 share a bin at 10 bins (0.6, 0.7] but not at 15: 0.53, not 0.15."""
    probs = np.array([[0.62, 0.20, 0.18], [0.10, 0.68, 0.22]])
    labels = np.array([0, 0])  # the first is right, the second wrong
    assert expected_calibration_error(probs, labels) == pytest.approx(0.5 * 0.38 + 0.5 * 0.68)
    assert expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(abs(0.5 - 0.65))
    assert classification_metrics(np.log(probs), labels, NAMES)["ece"] == pytest.approx(0.53)


# -- intervals over subjects --------------------------------------------------------------
def clustered_predictions(n_subjects=10, per_subject=40, seed=0):
    """Each subject's images are all right or all wrong: half the subjects each way."""
    rng = np.random.default_rng(seed)
    subjects = np.repeat([f"s{i:02d}" for i in range(n_subjects)], per_subject)
    labels = rng.integers(0, 3, len(subjects))
    right = np.repeat(np.arange(n_subjects) % 2 == 0, per_subject)
    pred = np.where(right, labels, (labels + 1 + rng.integers(0, 2, len(labels))) % 3)
    return labels, pred, subjects


def test_intervals_resample_subjects_not_images():
    labels, pred, subjects = clustered_predictions()
    m = classification_metrics(logits_for(pred), labels, NAMES, subjects=subjects, n_boot=400)
    assert m["accuracy"] == pytest.approx(0.5) and m["n_subjects"] == 10 and m["n"] == 400
    lo, hi = m["ci95"]["accuracy"]
    # Ten independent people: about 0.5 ± 0.3. Resampling the 400 images would give about ± 0.05.
    assert lo < 0.3 and hi > 0.7
    for name in ("accuracy", "macro_f1", "qwk"):
        lo, hi = m["ci95"][name]
        assert lo <= m[name] <= hi, name
    # When every subject has one image, subjects and images are the same thing: a narrow interval.
    singles = classification_metrics(logits_for(pred), labels, NAMES, subjects=np.arange(len(labels)), n_boot=400)
    assert singles["n_subjects"] == 400
    assert singles["ci95"]["accuracy"][1] - singles["ci95"]["accuracy"][0] < 0.15


def test_intervals_are_percentiles_of_scikit_learn_metrics_on_resampled_subjects():
    """A slow reference: draw subjects (same generator), pool their images, score with scikit-learn."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    labels, pred, subjects = clustered_predictions(n_subjects=7, per_subject=5, seed=3)
    pred[:3] = labels[:3]  # a few stray hits so the replicates differ in every metric
    m = classification_metrics(logits_for(pred), labels, NAMES, subjects=subjects, n_boot=60, seed=11)
    names, subject_of = np.unique(subjects, return_inverse=True)
    draws = np.random.default_rng(11).integers(0, len(names), size=(60, len(names)))
    values = {"accuracy": [], "macro_f1": [], "qwk": []}
    for draw in draws:
        idx = np.concatenate([np.flatnonzero(subject_of == s) for s in draw])
        y, p = labels[idx], pred[idx]
        values["accuracy"].append(accuracy_score(y, p))
        values["macro_f1"].append(f1_score(y, p, labels=[0, 1, 2], average="macro", zero_division=0))
        values["qwk"].append(cohen_kappa_score(y, p, labels=[0, 1, 2], weights="quadratic"))
    for name, v in values.items():
        np.testing.assert_allclose(m["ci95"][name], np.percentile(v, [2.5, 97.5]), rtol=1e-12, err_msg=name)
    again = classification_metrics(logits_for(pred), labels, NAMES, subjects=subjects, n_boot=60, seed=11)
    assert again["ci95"] == m["ci95"]  # seeded


def test_confusion_metrics_agree_with_scikit_learn():
    from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score

    from scalp_models.metrics import confusion_metrics

    rng = np.random.default_rng(5)
    for _ in range(50):
        y = rng.integers(0, 4, 25)
        p = np.where(rng.random(25) < 0.6, y, rng.integers(0, 3, 25))  # class 3 never predicted
        got = confusion_metrics(confusion_matrix(y, p, labels=[0, 1, 2, 3]))
        assert float(got["accuracy"]) == pytest.approx(accuracy_score(y, p))
        assert float(got["macro_f1"]) == pytest.approx(f1_score(y, p, labels=[0, 1, 2, 3], average="macro", zero_division=0))
        assert float(got["qwk"]) == pytest.approx(cohen_kappa_score(y, p, labels=[0, 1, 2, 3], weights="quadratic"))
    assert np.isnan(confusion_metrics([[3, 0], [0, 0]])["qwk"])  # one class only: undefined, as the point estimate


def test_subjects_must_match_items():
    with pytest.raises(ValueError, match="one subject per item"):
        classification_metrics(logits_for([0, 1]), np.array([0, 1]), NAMES, subjects=["a"])
    m = classification_metrics(logits_for([0, 1]), np.array([0, 1]), NAMES)
    assert "ci95" not in m and "n_subjects" not in m  # no subjects given: no interval claimed


# -- where evaluate --write files an entry --------------------------------------------------
def test_a_validation_entry_never_replaces_the_test_entry():
    from scalp_models.metrics import file_metrics, report_evaluations, report_metrics

    test = {"split": "test", "n": 10, "accuracy": 0.7}
    validation = {"split": "validation", "n": 12, "accuracy": 0.9}
    report = file_metrics({"symptom": "hair_loss"}, "full", test)
    file_metrics(report, "full", validation)
    assert report["protocols"] == {"full": {"test": test, "validation": validation}}
    assert report_metrics(report) == {"full": test}
    assert report_metrics(report, "validation") == {"full": validation}
    # An old report (protocols.<p> = one entry) is read as it was, and moved under its split on write.
    old = {"protocols": {"folder": {**test, "accuracy": 0.8}, "synthetic": {**test, "split": "test (synthetic)"}}}
    assert report_metrics(old) == {"folder": {**test, "accuracy": 0.8}, "synthetic": {**test, "split": "test (synthetic)"}}
    file_metrics(old, "folder", validation)
    assert old["protocols"]["folder"] == {"test": {**test, "accuracy": 0.8}, "validation": validation}
    assert report_evaluations(old)["synthetic"] == {"test (synthetic)": {**test, "split": "test (synthetic)"}}
    # An old entry that was a validation run is not published as the test number.
    assert report_metrics({"protocols": {"full": validation}}) == {}


# -- evaluation as served ---------------------------------------------------------------
def photo_bytes(seed: int, exif_rotated: bool = False) -> bytes:
    """A 640×480 scalp-like JPEG as a user uploads it (optionally with an EXIF 'rotate 90°' tag)."""
    import io

    from synthetic.render import render_scalp

    image = render_scalp({"hair_loss": seed % 4, "dandruff": (seed + 1) % 4}, np.random.default_rng(seed))
    buffer = io.BytesIO()
    exif = Image.Exif()
    if exif_rotated:
        exif[0x0112] = 6  # Orientation: the camera was turned; viewers rotate 90° clockwise
    image.save(buffer, format="JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def as_the_old_build_stored_it(data: bytes) -> bytes:
    """What the build used to store for a 240 px model: box-halved to 320×240, JPEG quality 92."""
    import io

    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB").reduce(2)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def save_tiny_model(folder, key: str, seed: int):
    import torch

    from scalp_core.symptoms import get_symptom
    from scalp_models.modeling import create_model, fold_grayscale
    from scalp_models.processing import create_image_processor

    spec = get_symptom(key)
    torch.manual_seed(seed)
    model = create_model(spec, "tiny").eval()
    with torch.no_grad():  # peaked, distinct answers: a random head alone gives ~uniform probabilities
        model.classifier.weight.normal_(std=40.0)
        model.classifier.bias.normal_(std=0.5)
    if spec.grayscale:
        fold_grayscale(model)  # as training saves grayscale models: a colour photo goes in as is
    model.save_pretrained(folder)
    create_image_processor(spec, "tiny").save_pretrained(folder)
    return folder


def save_prepared(data_dir, key: str, test_photos: list[bytes]):
    """A build-shaped prepared folder whose test split holds the photos' original bytes."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
    from datasets import Image as ImageFeature

    from scalp_core.contracts import PrepConfig, write_prep_config

    features = Features({"image": ImageFeature(), "label": ClassLabel(names=NAMES), "grade": Value("int64"),
                         "image_id": Value("string"), "subject": Value("string")})

    def split(photos, labels, prefix):
        return Dataset.from_dict(
            {"image": [{"bytes": b, "path": None} for b in photos], "label": labels, "grade": labels,
             "image_id": [f"{prefix}{i}" for i in range(len(photos))],
             "subject": [f"{prefix}-person{i // 2}" for i in range(len(photos))]},
            features=features,
        )

    labels = [i % 3 for i in range(len(test_photos))]
    DatasetDict({
        "train": split(test_photos[:3], [0, 0, 1], "train"),
        "validation": split(test_photos[:2], [0, 2], "validation"),
        "test": split(test_photos, labels, "test"),
    }).save_to_disk(str(data_dir / key))
    write_prep_config(data_dir, PrepConfig(protocol="full", synthetic=True, labels=3))
    return labels


@pytest.mark.parametrize("key", ["hair_loss", "dandruff"])  # colour, and grayscale with a folded stem
def test_evaluate_gives_the_probabilities_of_the_pil_pipeline(tmp_path, key, one_torch_thread):
    from transformers import AutoImageProcessor, pipeline

    from scalp_models.evaluate import evaluate_model, load_model_folder, predict_logits
    from scalp_models.metrics import softmax

    folder = save_tiny_model(tmp_path / "model", key, seed=7)
    photos = [photo_bytes(seed, exif_rotated=seed == 2) for seed in range(6)]
    labels = save_prepared(tmp_path / "prepared", key, photos)
    paths = []
    for i, data in enumerate(photos):
        paths.append(tmp_path / f"photo{i}.jpg")
        paths[-1].write_bytes(data)

    processor = AutoImageProcessor.from_pretrained(folder, backend="pil")
    classifier = pipeline("image-classification", model=str(folder), image_processor=processor, device="cpu")
    label2id = classifier.model.config.label2id
    served = np.zeros((len(paths), 3))
    for i, path in enumerate(paths):
        for answer in classifier(str(path), top_k=3):
            served[i, label2id[answer["label"]]] = answer["score"]

    from datasets import load_from_disk

    test = load_from_disk(str(tmp_path / "prepared" / key))["test"]
    model, processor = load_model_folder(folder)
    logits, got_labels = predict_logits(model, processor, test)
    assert got_labels.tolist() == labels
    np.testing.assert_allclose(softmax(logits), served, atol=1e-6)
    assert np.ptp(served, axis=0).max() > 0.05  # the answers follow the photo, so pixel differences show

    metrics = evaluate_model(folder, tmp_path / "prepared", "test")
    assert metrics["nll"] == pytest.approx(-np.mean(np.log(served[np.arange(len(labels)), labels])), abs=1e-5)
    assert metrics["accuracy"] == pytest.approx(np.mean(served.argmax(axis=1) == labels))
    assert metrics["n_subjects"] == 3 and set(metrics["ci95"]) == {"accuracy", "macro_f1", "qwk"}

    # The comparison can tell: the re-encoded, halved copies the build used to store answer otherwise.
    from datasets import Dataset, Features

    stored = Dataset.from_dict(
        {"image": [{"bytes": as_the_old_build_stored_it(b), "path": None} for b in photos], "label": labels},
        features=Features({"image": test.features["image"], "label": test.features["label"]}),
    )
    old_logits, _ = predict_logits(model, processor, stored)
    assert np.abs(softmax(old_logits) - served).max() > 1e-2


def test_evaluation_loads_the_pil_image_processor(tmp_path, monkeypatch):
    from scalp_models import evaluate

    folder = save_tiny_model(tmp_path / "model", "hair_loss", seed=1)
    seen = {}
    original = evaluate.AutoImageProcessor.from_pretrained

    def spy(path, **kwargs):
        seen.update(kwargs)
        return original(path, **kwargs)

    monkeypatch.setattr(evaluate.AutoImageProcessor, "from_pretrained", spy)
    _, processor = evaluate.load_model_folder(folder)
    assert seen.get("backend") == "pil" and seen.get("trust_remote_code") is False
    assert type(processor).__name__ == "EfficientNetImageProcessorPil"
