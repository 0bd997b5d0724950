"""The synthetic demo models: built offline, loadable by plain transformers, honest about their data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from hub_upload.card import card_from_model_folder
from scalp_core.images import to_rgb
from scalp_core.symptoms import SYMPTOMS, class_names
from scalp_models.demo import STAMP_FILE, DemoConfig, ensure_demo_models
from scalp_models.hub_loading import NOVELTY_FILE
from scalp_models.novelty import (
    COLOUR_NAMES,
    NoveltyFeatures,
    NoveltyScorer,
    fit_novelty,
    read_novelty,
    write_novelty,
)
from synthetic.examples import render_symptom_examples


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
        # The floored head is not steep: plain standardisation gave weights up to 364 (after the
        # temperature), which turned a JPEG re-save into a 0.99 swing of probability.
        assert model.classifier.weight.abs().max() < 5, (spec.key, float(model.classifier.weight.abs().max()))


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


def test_floored_head_does_not_lean_on_a_feature_that_barely_varies():
    """A feature that separates the training pictures but barely varies gets a bounded weight, so a
    rounding-sized change of it (a JPEG re-save, int8) cannot flip the answer; plain standardisation
    gives it a huge weight and flips."""
    from scalp_models.demo import fit_head

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 60)
    x = rng.normal(0.0, 1.0, (len(y), 12)) + 0.8 * y[:, None]  # informative but noisy features
    x[:, 0] = 1e-3 * y + rng.normal(0.0, 1e-4, len(y))  # near-constant, separates the classes
    nudged = x.copy()
    nudged[:, 0] += 1.2e-3  # about one rounding step of a feature that size

    def answers(weight, bias, features):
        return (features @ weight.T + bias).argmax(axis=1)

    steep_w, steep_b = fit_head(x, y, c=1.0, scale_floor=0.0)
    flat_w, flat_b = fit_head(x, y, c=1.0, scale_floor=1.0)
    assert np.abs(steep_w[:, 0]).max() > 100 * np.abs(steep_w[:, 1:]).max()
    assert np.abs(flat_w).max() < 2
    assert np.mean(answers(steep_w, steep_b, x) != answers(steep_w, steep_b, nudged)) > 0.3
    assert np.mean(answers(flat_w, flat_b, x) != answers(flat_w, flat_b, nudged)) < 0.05
    assert np.mean(answers(flat_w, flat_b, x) == y) > 0.6  # it still learns from the other features
    with pytest.raises(ValueError, match="scale_floor"):
        DemoConfig(scale_floor=-1)


def test_onnx_features_match_the_pytorch_fallback(monkeypatch):
    """Demo features come from ONNX Runtime when it works and from PyTorch otherwise; both agree."""
    from scalp_models import demo
    from scalp_models.modeling import create_model
    from scalp_models.processing import create_image_processor

    spec = SYMPTOMS[0]
    model = create_model(spec, "tiny", image_size=64).eval()
    processor = create_image_processor(spec, "tiny", image_size=64)
    images, _, _ = render_symptom_examples(spec, 2, seed=0, size=(160, 120))
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


# -- the domain check that ships with the demo models ---------------------------------------------


@pytest.mark.slow
def test_demo_models_carry_one_domain_check_fitted_on_their_generated_pictures(demo_dir):
    config = DemoConfig()
    fits = [read_novelty(demo_dir / spec.key) for spec in SYMPTOMS]
    assert len({fit.fit_id for fit in fits}) == 1  # one fit per set, in every repo
    about = fits[0].about
    per_set = len(SYMPTOMS) * len(class_names(config.label_scheme))
    assert (about["n_train"], about["n_heldout"], about["n_test"]) == (
        per_set * config.n_train, per_set * config.n_calib, per_set * config.n_test)
    assert about["synthetic_training_data"] is True and "generated" in about["training_images"]
    assert about["heldout_in_domain_rate"] >= 0.95
    stamp = json.loads((demo_dir / STAMP_FILE).read_text(encoding="utf-8"))
    assert stamp["novelty"]["heldout_in_domain_rate"] == about["heldout_in_domain_rate"]

    # Fresh generated pictures at the demo's setting, from seeds the build never used.
    scorer = NoveltyScorer.from_folder(demo_dir)
    assert scorer.synthetic_training_data
    fresh = [im for spec in SYMPTOMS[::2]
             for im in render_symptom_examples(spec, 8, seed=777, size=config.render_size, keep_colour=True)[0]]
    in_domain = np.mean([r.in_domain for r in scorer.score(fresh)])
    assert in_domain >= 0.95, in_domain


@pytest.mark.slow
@pytest.mark.shared
def test_real_scalp_photos_are_out_of_domain_for_the_demo_models(demo_dir, shared_reference):
    """The demo models learned from generated pictures only: real microscope photos are unlike them."""
    folder = shared_reference / "bo-lim__OhMyHead"
    paths = sorted(folder.rglob("*.jpg"))
    if len(paths) != 5:
        pytest.skip(f"expected the five real scalp photos in {folder}, found {len(paths)}")
    photos = []
    for path in paths:  # read in place, never copied
        with Image.open(path) as image:
            image.load()
            photos.append(to_rgb(image))
    results = NoveltyScorer.from_folder(demo_dir).score(photos)
    assert not any(r.in_domain for r in results), {p.name: r.to_dict() for p, r in zip(paths, results)}
    assert min(r.score for r in results) > 1.2  # clearly out, not a near miss


def test_a_cache_without_a_usable_domain_check_is_rebuilt(tmp_path):
    from scalp_models.demo import _is_fresh

    config = DemoConfig()
    (tmp_path / STAMP_FILE).write_text(json.dumps({"fingerprint": config.fingerprint()}), encoding="utf-8")
    for spec in SYMPTOMS:
        (tmp_path / spec.key).mkdir()
        for name in ("config.json", "model.safetensors"):
            (tmp_path / spec.key / name).write_bytes(b"{}")
    assert not _is_fresh(tmp_path, config)  # built before the domain check existed
    rng = np.random.default_rng(0)

    def features(n):
        return NoveltyFeatures(rng.normal(size=(n, 1280)), rng.normal(size=(n, len(COLOUR_NAMES))))

    fit = fit_novelty(features(30), features(15), synthetic_training_data=True, training_images="random")
    for spec in SYMPTOMS:
        write_novelty(tmp_path / spec.key, fit)
    assert _is_fresh(tmp_path, config)
    (tmp_path / "dandruff" / NOVELTY_FILE).write_text('{"novelty_version": 0}', encoding="utf-8")
    assert not _is_fresh(tmp_path, config)  # written by another version of the check
