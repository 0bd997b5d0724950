"""create_model / create_image_processor / fold_grayscale: labels, shapes, exactness, round trips."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from scalp_core import SYMPTOMS, class_names, get_symptom
from scalp_models.architecture import efficientnet_config, same_padding_blocks
from scalp_models.bases import DEFAULT_BASE, BaseUnavailableError, resolve_base
from scalp_models.modeling import LUMA_WEIGHTS, create_model, fold_grayscale
from scalp_models.processing import create_image_processor, pixel_values

pytestmark = pytest.mark.usefixtures("one_torch_thread")


GRAY = next(s for s in SYMPTOMS if s.grayscale)
COLOUR = next(s for s in SYMPTOMS if not s.grayscale)


def test_package_import_is_lightweight_and_names_where_things_live():
    code = (
        "import sys, scalp_models; assert 'torch' not in sys.modules, 'torch imported'; "
        "assert not hasattr(scalp_models, '__getattr__'), 'a lazy front'; print(scalp_models.__doc__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    named = re.findall(r"``scalp_models\.(\w+)\.(\w+)``", out.stdout)
    assert ("diagnoser", "ScalpDiagnoser") in named and ("modeling", "create_model") in named
    for module, name in named:  # every name the package docstring points to is really there
        where = f"scalp_models.{module}"
        assert hasattr(importlib.import_module(where), name), f"{where}.{name}"


@pytest.mark.parametrize("scheme", [3, 4])
def test_labels_are_korean_and_english(scheme):
    model = create_model(get_symptom("hair_loss"), "tiny", label_scheme=scheme)
    names = class_names(scheme)
    assert model.config.num_labels == scheme
    assert [model.config.id2label[i] for i in range(scheme)] == list(names)
    assert model.config.label2id == {name: i for i, name in enumerate(names)}
    assert model.config.id2label[0] == "양호 (normal)"
    assert model.config.id2label[scheme - 1] == "중증 (severe)"


def test_tiny_forward_backward_shapes_and_speed():
    spec = get_symptom("dandruff")
    model = create_model(spec, "tiny").train()
    pixels, labels = torch.randn(32, 3, 64, 64), torch.randint(0, 3, (32,))
    times = []
    for _ in range(3):  # one thread (fixture); the first run warms up; keep the best
        start = time.perf_counter()
        out = model(pixel_values=pixels, labels=labels)
        out.loss.backward()
        times.append(time.perf_counter() - start)
    elapsed = min(times)
    assert out.logits.shape == (32, 3)
    assert torch.isfinite(out.loss)
    assert all(p.grad is not None for p in model.classifier.parameters())
    assert elapsed < 1.0, f"tiny forward+backward took {elapsed:.2f} s"
    assert sum(p.numel() for p in model.parameters()) < 100_000


def test_tiny_model_learns():
    """A few steps on a colour-separable toy task drive the loss down (the init is trainable)."""
    torch.manual_seed(0)
    model = create_model(COLOUR, "tiny").train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    labels = torch.arange(24) % 3
    pixels = torch.randn(24, 3, 64, 64) * 0.3
    for c in range(3):
        pixels[labels == c, c] += 1.0
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = model(pixel_values=pixels, labels=labels).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_scalp_config_round_trip(tmp_path):
    spec = get_symptom("모낭사이홍반")
    model = create_model(spec, "tiny", label_scheme=4, image_size=96)
    expected = {
        "symptom": "interfollicular_erythema",
        "label_scheme": 4,
        "input_size": 96,
        "grayscale": False,
        "temperature": 1.0,
        "temperature_folded": False,
        "grayscale_folded": False,
        "synthetic_training_data": False,
        "base_model": "tiny",
    }
    assert model.config.scalp == expected
    model.save_pretrained(tmp_path)
    from transformers import AutoConfig, AutoModelForImageClassification

    assert AutoConfig.from_pretrained(tmp_path).scalp == expected
    reloaded = AutoModelForImageClassification.from_pretrained(tmp_path)
    assert reloaded.config.scalp == expected
    assert reloaded.config.id2label[3] == "중증 (severe)"


def test_grayscale_fold_is_exact_for_gray_and_projects_colour():
    torch.manual_seed(0)
    model = create_model(GRAY, "tiny").eval()
    processor = create_image_processor(GRAY, "tiny")
    assert len(set(processor.image_mean)) == 1 and len(set(processor.image_std)) == 1
    rng = np.random.default_rng(0)
    colour = Image.fromarray(rng.integers(0, 256, (80, 100, 3), dtype=np.uint8))
    gray = colour.convert("L").convert("RGB")
    gray_pixels = processor(images=gray, return_tensors="pt")["pixel_values"]
    colour_pixels = processor(images=colour, return_tensors="pt")["pixel_values"]
    luma = torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)
    projected = (colour_pixels * luma).sum(dim=1, keepdim=True).expand(-1, 3, -1, -1)

    with torch.no_grad():
        before_gray = model(pixel_values=gray_pixels).logits
        before_projected = model(pixel_values=projected).logits
        before_colour = model(pixel_values=colour_pixels).logits
        fold_grayscale(model)
        after_gray = model(pixel_values=gray_pixels).logits
        after_colour = model(pixel_values=colour_pixels).logits
    assert model.config.scalp["grayscale_folded"] is True
    # exact for gray-replicated inputs (how the grayscale symptoms are trained)
    torch.testing.assert_close(after_gray, before_gray, atol=1e-5, rtol=1e-5)
    # a colour input now gives exactly the unfolded model's answer for its luminance
    torch.testing.assert_close(after_colour, before_projected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(before_colour, before_projected, atol=1e-4)
    # idempotent
    stem = model.efficientnet.embeddings.convolution.weight.clone()
    fold_grayscale(model)
    assert torch.equal(stem, model.efficientnet.embeddings.convolution.weight)


def test_processor_squashes_to_square_and_normalises():
    spec = get_symptom("hair_loss")
    processor = create_image_processor(spec, "tiny")
    image = Image.new("RGB", (640, 480), (255, 0, 128))
    pixels = processor(images=image, return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 3, 64, 64)
    torch.testing.assert_close(pixels[0, :, 10, 10], torch.tensor([1.0, -1.0, 128 / 255 * 2 - 1]))
    assert processor.do_center_crop is False
    assert create_image_processor(spec, "google/efficientnet-b1").size == {"height": 240, "width": 240}
    erythema = create_image_processor(get_symptom("모낭사이홍반"), "lite0")
    assert erythema.size == {"height": 600, "width": 600}


@pytest.mark.parametrize("base", ["tiny", "scratch-b1", "lite0", "google/efficientnet-b1"])
def test_fast_pixel_values_match_the_processor(base):
    """The training/evaluation fast path gives the processor's numbers (resize or not, gray specs too)."""
    rng = np.random.default_rng(0)
    photos = [Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)) for _ in range(2)]
    for spec in (get_symptom("dandruff"), get_symptom("interfollicular_erythema")):  # gray, colour
        processor = create_image_processor(spec, base, image_size=40)
        images = [im.convert("L").convert("RGB") if spec.grayscale else im for im in photos]
        images.append(images[0].resize((40, 40)))  # already at the input size (augmented views)
        expected = processor(images=images, return_tensors="pt")["pixel_values"]
        got = pixel_values(images, processor)
        assert got.shape == expected.shape == (3, 3, 40, 40) and got.dtype == torch.float32
        assert torch.allclose(got, expected, atol=1e-6, rtol=0)


def test_fast_pixel_values_defer_to_the_processor_when_unsure():
    """A processor configured any other way (here: with a centre crop) is called as it is."""
    processor = create_image_processor(get_symptom("hair_loss"), "tiny", image_size=32)
    processor.do_center_crop, processor.crop_size = True, {"height": 16, "width": 16}
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    got = pixel_values([image], processor)
    assert got.shape == (1, 3, 16, 16)
    assert torch.equal(got, processor(images=[image], return_tensors="pt")["pixel_values"])


def test_same_padding_blocks_follow_tensorflow():
    # the Hub's google/efficientnet-b1 config lists block 16 (15 px input at 240 px)
    assert same_padding_blocks(efficientnet_config("b1", 240), 240) == [16]
    assert same_padding_blocks(efficientnet_config("b0", 224), 224) == []
    assert same_padding_blocks(efficientnet_config("b0", 240), 240) == [11]


def test_resolve_base_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_base(None) == "lite0"
    assert resolve_base("auto") == "lite0"
    assert resolve_base("tiny") == "tiny"


def test_resolve_base_unreachable_endpoint(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused
    start = time.perf_counter()
    assert resolve_base("auto") == "lite0"
    assert time.perf_counter() - start < 5


def test_resolve_base_without_offline_fallback_refuses_to_pick_lite0(monkeypatch):
    """What a GPU run asks for: an unreachable Hub is an error, unless lite0 (or a Hub id, which may be
    in the local cache) is named outright."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BaseUnavailableError, match="HF_HUB_OFFLINE.*--base lite0"):
        resolve_base("auto", allow_offline_fallback=False)
    with pytest.raises(BaseUnavailableError):
        resolve_base(None, allow_offline_fallback=False)
    assert resolve_base("lite0", allow_offline_fallback=False) == "lite0"
    assert resolve_base(DEFAULT_BASE, allow_offline_fallback=False) == DEFAULT_BASE
    monkeypatch.setattr("scalp_models.bases.hub_reachable", lambda repo, **kwargs: True)
    assert resolve_base("auto", allow_offline_fallback=False) == DEFAULT_BASE


def test_hub_base_path_loads_any_efficientnet_checkpoint(tmp_path):
    """The Hub-id branch (from_pretrained + new head) works on a local checkpoint folder."""
    base_dir = tmp_path / "base"
    base = create_model(COLOUR, "tiny", label_scheme=4)
    base.save_pretrained(base_dir)
    model = create_model(COLOUR, str(base_dir), image_size=64)
    assert model.config.num_labels == 3
    assert model.config.scalp["base_model"] == str(base_dir)
    torch.testing.assert_close(
        model.efficientnet.embeddings.convolution.weight, base.efficientnet.embeddings.convolution.weight
    )
