"""The synthetic demo models: built offline, loadable by plain transformers, honest about their data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hub_upload.card import card_from_model_folder
from scalp_core.symptoms import SYMPTOMS, class_names
from scalp_models.demo import STAMP_FILE, DemoConfig, ensure_demo_models


@pytest.fixture(scope="session")
def demo_dir(session_tmp):
    return ensure_demo_models(session_tmp / "demo-models")


@pytest.mark.slow
def test_demo_models_load_and_beat_the_majority_baseline(demo_dir):
    from transformers import AutoModelForImageClassification

    stamp = json.loads((demo_dir / STAMP_FILE).read_text(encoding="utf-8"))
    assert stamp["fingerprint"] == DemoConfig().fingerprint()
    for spec in SYMPTOMS:
        folder = demo_dir / spec.key
        model = AutoModelForImageClassification.from_pretrained(folder)
        scalp = model.config.scalp
        assert scalp["symptom"] == spec.key
        assert scalp["synthetic_training_data"] is True and "synthetic" in scalp["notice"]
        assert scalp["temperature_folded"] is True and scalp["temperature"] > 0
        assert [model.config.id2label[i] for i in range(3)] == list(class_names(3))
        # The build writes no card (hub_upload renders every card), only the files the card is made from.
        assert not (folder / "README.md").exists()
        assert (folder / "confusion_matrix.png").is_file() and (folder / "training_config.json").is_file()
        card = card_from_model_folder(folder, f"demo/{spec.repo_name}").render()
        assert "synthetic" in card.lower() and "not for diagnosis" in card.lower()
        assert "![Confusion matrix]" in card
        result = stamp["results"][spec.key]
        assert result["macro_f1"] > result["majority_baseline_macro_f1"] + 0.2, (spec.key, result)


@pytest.mark.slow
def test_demo_model_predicts_severity_through_pipeline(demo_dir):
    from transformers import pipeline

    from synthetic.render import render_scalp

    clf = pipeline("image-classification", model=str(demo_dir / "hair_loss"), device="cpu")
    rng = np.random.default_rng(99)
    severe = [clf(render_scalp({"hair_loss": 3}, rng, size=(320, 240)), top_k=None) for _ in range(4)]
    healthy = [clf(render_scalp({"hair_loss": 0}, rng, size=(320, 240)), top_k=None) for _ in range(4)]

    def p_severe(scores):
        return {s["label"]: s["score"] for s in scores}[class_names(3)[2]]

    assert np.mean([p_severe(s) for s in severe]) > np.mean([p_severe(s) for s in healthy]) + 0.3


@pytest.mark.slow
def test_cache_is_reused_and_stale_cache_rebuilt(demo_dir):
    stamp_path = demo_dir / STAMP_FILE
    before = stamp_path.stat().st_mtime_ns
    assert ensure_demo_models(demo_dir) == demo_dir
    assert stamp_path.stat().st_mtime_ns == before  # fresh cache: nothing rebuilt


def test_stale_stamp_triggers_rebuild(tmp_path):
    from scalp_models.demo import _is_fresh

    (tmp_path / STAMP_FILE).write_text(json.dumps({"fingerprint": "old"}), encoding="utf-8")
    assert not _is_fresh(tmp_path, DemoConfig())
    with pytest.raises(ValueError, match="demo base"):
        DemoConfig(base="b7")


def test_onnx_features_match_the_pytorch_fallback(monkeypatch):
    """Demo features come from ONNX Runtime when it works and from PyTorch otherwise; both agree."""
    from scalp_models import demo
    from scalp_models.modeling import create_model
    from scalp_models.processing import create_image_processor

    spec = SYMPTOMS[0]
    model = create_model(spec, "tiny", image_size=64).eval()
    processor = create_image_processor(spec, "tiny", image_size=64)
    images, _, _ = demo.render_symptom_examples(spec, 2, seed=0, size=(160, 120))
    run = demo._feature_runner(model, 64)
    assert run.__name__ == "run_onnx"
    fast = demo._features(run, processor, images, spec)

    def broken(*args, **kwargs):
        raise RuntimeError("no ONNX Runtime here")

    monkeypatch.setattr(demo, "create_session", broken)
    run = demo._feature_runner(model, 64)
    assert run.__name__ == "run_torch"
    slow = demo._features(run, processor, images, spec)
    assert fast.shape == slow.shape == (len(images), model.config.hidden_dim)
    assert np.abs(fast - slow).max() < 1e-4
    assert fast.std() > 0  # real features, not zeros
