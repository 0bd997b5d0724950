"""ScalpDiagnoser: same answers as plain transformers, one decode per image, clear load errors."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_models import UNFOLDED_GRAY, save_tiny_classifiers

from scalp_core import SYMPTOMS
from scalp_models.diagnoser import ScalpDiagnoser
from scalp_models.diagnoser import main as diagnoser_main
from scalp_models.diagnosis import Diagnosis
from scalp_models.hub_loading import REQUIRED_FILES, ModelsUnavailableError, download_model_snapshots
from scalp_models.shared_preprocessing import ImageDecodeError, plan_preprocessing, resized_tensor

REPO_ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return save_tiny_classifiers(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    try:
        from synthetic.render import render_scalp
    except ImportError:  # the renderer is another stage; a seeded random picture will do
        rng = np.random.default_rng(0)
        return Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
    return render_scalp({"hair_loss": 2, "dandruff": 1}, np.random.default_rng(0))


@pytest.fixture(scope="module")
def diagnoser(models_dir) -> ScalpDiagnoser:
    return ScalpDiagnoser.from_source(models_dir, num_threads=1)


def _reference_probabilities(folder: Path, image: Image.Image, grayscale_input: bool) -> np.ndarray:
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    processor = AutoImageProcessor.from_pretrained(folder)
    image = image.convert("L").convert("RGB") if grayscale_input else image
    with torch.no_grad():
        logits = model(**processor(images=image, return_tensors="pt")).logits
    return torch.softmax(logits.double(), -1)[0].numpy()


def test_matches_plain_transformers_and_pipeline(diagnoser, models_dir, photo):
    from transformers import pipeline

    diagnosis = diagnoser.diagnose(photo)
    assert isinstance(diagnosis, Diagnosis) and len(diagnosis) == 6
    predicted = set()
    for spec in SYMPTOMS:
        result = diagnosis[spec.key]
        ours = np.array(result.probabilities)
        reference = _reference_probabilities(models_dir / spec.key, photo, spec.key == UNFOLDED_GRAY)
        np.testing.assert_allclose(ours, reference, atol=1e-5)
        if spec.key != UNFOLDED_GRAY:  # a folded/colour model needs no custom code at all
            pipe = pipeline("image-classification", model=str(models_dir / spec.key), top_k=None)
            scores = {row["label"]: row["score"] for row in pipe(photo)}
            np.testing.assert_allclose(ours, [scores[label] for label in result.labels], atol=1e-5)
        assert result.label == result.labels[result.predicted]
        assert result.confidence == max(result.probabilities)
        assert abs(sum(result.probabilities) - 1.0) < 1e-9
        assert f"{result.severity_ko} ({result.severity_en})" == result.label
        predicted.add(result.probabilities)
    assert len(predicted) == 6  # six different models really ran
    assert diagnosis["탈모"] is diagnosis["hair_loss"]


def test_shared_preprocessing_equals_each_processor(diagnoser, photo):
    for spec in SYMPTOMS:
        model, processor = diagnoser.model_for(spec.key)
        resize, normalization = plan_preprocessing(processor)
        assert resize is not None, "the tiny processors are all shareable"
        gray = spec.key == UNFOLDED_GRAY
        source = photo.convert("L").convert("RGB") if gray else photo
        expected = processor(images=source, return_tensors="pt")["pixel_values"]
        key = type(resize)(resize.size, resize.resample, gray)
        a, b = normalization.affine()
        ours = resized_tensor([photo], key) * a + b
        torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)


def test_batch_equals_singles_and_input_types_agree(diagnoser, photo, tmp_path):
    other = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((500, 400))
    singles = [diagnoser.diagnose(photo), diagnoser.diagnose(other)]
    batch = diagnoser.diagnose_batch([photo, other])
    for single, batched in zip(singles, batch):
        for a, b in zip(single, batched):
            np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-6)
    assert diagnoser.diagnose([photo, other])[1].to_dict() == batch[1].to_dict()

    png = io.BytesIO()
    photo.save(png, format="PNG")
    path = tmp_path / "scalp.png"
    path.write_bytes(png.getvalue())
    as_inputs = [str(path), path, png.getvalue(), np.asarray(photo), photo.convert("RGBA")]
    for result in diagnoser.diagnose_batch(as_inputs):
        expected = singles[0]["hair_loss"].probabilities
        np.testing.assert_allclose(result["hair_loss"].probabilities, expected, atol=1e-6)
    assert diagnoser.diagnose_batch([]) == []


def test_exif_orientation_is_applied(diagnoser, photo):
    # a JPEG stored sideways with EXIF orientation 6 ("rotate 90° clockwise to display")
    stored = photo.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    jpeg = io.BytesIO()
    stored.save(jpeg, format="JPEG", quality=95, exif=exif)
    decoded = np.asarray(Image.open(io.BytesIO(jpeg.getvalue())))  # pixels only, no EXIF tag
    upright = Image.fromarray(decoded).transpose(Image.Transpose.ROTATE_270)
    assert upright.size == photo.size
    from_bytes = diagnoser.diagnose(jpeg.getvalue())
    from_upright = diagnoser.diagnose(upright)
    sideways = diagnoser.diagnose(Image.fromarray(decoded))  # what ignoring the tag would give
    for a, b, c in zip(from_bytes, from_upright, sideways):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-6)
        assert np.abs(np.subtract(a.probabilities, c.probabilities)).max() > 1e-4


def test_uncertain_flag_and_json(models_dir, diagnoser, photo):
    diagnosis = diagnoser.diagnose(photo)
    for result in diagnosis:  # the tiny models carry no threshold of their own: the default 0.5
        assert result.uncertain == (result.confidence < 0.5) and result.uncertain_below == 0.5
    never = ScalpDiagnoser.from_source(models_dir, uncertain_below=0.0, num_threads=1).diagnose(photo)
    always = ScalpDiagnoser.from_source(models_dir, uncertain_below=1.0, num_threads=1).diagnose(photo)
    assert not never.any_uncertain
    assert all(r.uncertain for r in always)
    payload = json.loads(json.dumps(diagnosis.to_dict(), ensure_ascii=False))
    assert set(payload) == {"symptoms"}
    assert set(payload["symptoms"]) == {s.key for s in SYMPTOMS}
    assert payload["symptoms"]["hair_loss"]["ko"] == "탈모"
    assert payload["symptoms"]["hair_loss"]["uncertain_below"] == 0.5
    with pytest.raises(ValueError, match="uncertain_below"):
        ScalpDiagnoser.from_source(models_dir, uncertain_below=1.5)


def test_each_model_is_judged_by_its_own_validated_threshold(models_dir, photo, tmp_path):
    """config.scalp.uncertain_below (chosen on each model's validation split) decides per symptom; a
    threshold of 1.0 (validation accuracy never reached the target) flags even a certain answer; a
    caller's uncertain_below overrides all six."""
    reference = ScalpDiagnoser.from_source(models_dir, num_threads=1, backend="torch").diagnose(photo)
    folder = tmp_path / "models"
    shutil.copytree(models_dir, folder)
    thresholds = {}
    for i, result in enumerate(reference):  # just above the answer for half of them, just below for the rest
        thresholds[result.symptom] = result.confidence + (1e-4 if i % 2 else -1e-4)
    thresholds["hair_loss"] = 1.0
    for key, threshold in thresholds.items():
        config_path = folder / key / "config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config["scalp"].update(uncertain_below=threshold, uncertain_rule="a test rule")
        config_path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    diagnoser = ScalpDiagnoser.from_source(folder, num_threads=1, backend="torch")
    assert diagnoser.thresholds == pytest.approx(thresholds)
    diagnosis = diagnoser.diagnose(photo)
    for i, result in enumerate(diagnosis):
        expected = result.symptom == "hair_loss" or i % 2 == 1
        assert result.uncertain is expected, (result.symptom, result.confidence, thresholds[result.symptom])
        assert result.uncertain_below == pytest.approx(thresholds[result.symptom])
    assert diagnosis.uncertain_below == pytest.approx(thresholds)
    assert diagnosis.to_dict()["symptoms"]["hair_loss"]["uncertain_below"] == 1.0
    overridden = ScalpDiagnoser.from_source(folder, uncertain_below=0.0, num_threads=1, backend="torch")
    assert overridden.thresholds == {key: 0.0 for key in thresholds}
    assert not overridden.diagnose(photo).any_uncertain

    config_path = folder / "dandruff" / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["scalp"]["uncertain_below"] = 1.7
    config_path.write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ValueError, match=r"dandruff model's config.scalp.uncertain_below .* got 1\.7"):
        ScalpDiagnoser.from_source(folder, num_threads=1, backend="torch")


def test_unfolded_temperature_is_applied(models_dir, photo, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(models_dir, folder)
    config_path = folder / "hair_loss" / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["scalp"].update(temperature=2.0, temperature_folded=False)
    config_path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    base = ScalpDiagnoser.from_source(models_dir, num_threads=1).diagnose(photo)["hair_loss"]
    hot = ScalpDiagnoser.from_source(folder, num_threads=1).diagnose(photo)["hair_loss"]
    logits = np.log(np.array(base.probabilities))
    expected = np.exp(logits / 2) / np.exp(logits / 2).sum()
    np.testing.assert_allclose(hot.probabilities, expected, atol=1e-9)


def test_missing_models_are_all_listed(models_dir, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(models_dir, folder)
    shutil.rmtree(folder / "dandruff")
    shutil.rmtree(folder / "fine_scale")
    (folder / "hair_loss" / "model.safetensors").unlink()
    with pytest.raises(ModelsUnavailableError) as caught:
        ScalpDiagnoser.from_source(folder)
    err = caught.value
    assert len(err.missing) == 3
    message = str(err)
    for expected in ("dandruff", "fine_scale", "hair_loss/model.safetensors", "미세각질", "비듬"):
        assert expected in message
    assert "excess_sebum" not in message
    with pytest.raises(ModelsUnavailableError, match="does not exist"):
        ScalpDiagnoser.from_source(tmp_path / "nowhere")


def test_bad_image_input_says_what_to_do(diagnoser):
    with pytest.raises(ImageDecodeError, match="JPEG or PNG"):
        diagnoser.diagnose(b"not an image")
    with pytest.raises(ImageDecodeError, match="PIL image"):
        diagnoser.diagnose(42)


CACHED_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _write_hub_cache(
    hf_home: Path, namespace: str, models_dir: Path, skip_repo: str, skip_file: tuple[str, str]
) -> None:
    """The layout huggingface_hub itself writes: models--NS--NAME/{refs/main, snapshots/<sha>/...}."""
    commit = CACHED_COMMIT
    for spec in SYMPTOMS:
        if spec.key == skip_repo:
            continue
        repo = hf_home / "hub" / f"models--{namespace}--{spec.repo_name}"
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(commit)
        shutil.copytree(models_dir / spec.key, repo / "snapshots" / commit)
        if spec.key == skip_file[0]:
            (repo / "snapshots" / commit / skip_file[1]).unlink()


@pytest.mark.slow
def test_hub_namespace_loads_offline_from_cache_and_lists_missing(models_dir, tmp_path, photo):
    """HF_HUB_OFFLINE=1 with the models in the Hub cache: real huggingface_hub/transformers loading."""
    complete, partial = tmp_path / "complete", tmp_path / "partial"
    _write_hub_cache(complete, "someone", models_dir, skip_repo="", skip_file=("", ""))
    _write_hub_cache(
        partial, "someone", models_dir, skip_repo="dandruff", skip_file=("hair_loss", "config.json")
    )
    photo_path = tmp_path / "photo.png"
    photo.save(photo_path)
    code = f"""
import json, sys
from scalp_models.diagnoser import ScalpDiagnoser, ModelsUnavailableError
if sys.argv[1].startswith("complete"):
    d = ScalpDiagnoser.from_source("someone", num_threads=1).diagnose({str(photo_path)!r})
    print(json.dumps(d.to_dict()))
else:
    try:
        ScalpDiagnoser.from_source("someone", num_threads=1)
    except ModelsUnavailableError as err:
        print(json.dumps({{"missing": err.missing, "message": str(err)}}))
"""
    results = {}
    offline = {"HF_HUB_OFFLINE": "1"}
    unreachable = {"HF_ENDPOINT": "http://127.0.0.1:9"}  # refused at once: the cache must serve
    for name, home, extra in (
        ("complete", complete, offline),
        ("complete-unreachable", complete, unreachable),
        ("partial", partial, offline),
    ):
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_ENDPOINT")}
        env.update(extra, HF_HOME=str(home), OMP_NUM_THREADS="1")
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
        out = subprocess.run(
            [sys.executable, "-c", code, name],
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])

    local = ScalpDiagnoser.from_source(models_dir, num_threads=1).diagnose(photo).to_dict()
    for name in ("complete", "complete-unreachable"):
        for key, result in results[name]["symptoms"].items():
            expected = local["symptoms"][key]["probabilities"]
            np.testing.assert_allclose(result["probabilities"], expected, atol=1e-6)

    missing = results["partial"]["missing"]
    assert len(missing) == 4, missing  # dandruff's three files + hair_loss/config.json
    assert sum("someone/scalp-dandruff/" in item for item in missing) == 3
    assert any("someone/scalp-hair-loss/config.json" in item for item in missing)
    assert "HF_HUB_OFFLINE" in results["partial"]["message"]


def test_hub_loading_finds_pins_offline_and_names_what_is_missing(models_dir, tmp_path, monkeypatch):
    """The one Hub loop, in process: HF_HUB_OFFLINE=1 sends no request, pins work by key or repo id."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    weights = "model.safetensors"
    _write_hub_cache(tmp_path, "someone", models_dir, skip_repo="", skip_file=("fine_scale", weights))
    cache = tmp_path / "hub"
    pins = {spec.key: CACHED_COMMIT for spec in SYMPTOMS if spec.key != "dandruff"}
    pins["someone/scalp-dandruff"] = CACHED_COMMIT
    with pytest.raises(ModelsUnavailableError) as caught:
        download_model_snapshots("someone", pins, cache_dir=cache)
    err, why = caught.value, "not in the local cache; HF_HUB_OFFLINE=1 allows no download"
    assert err.problems == {f"someone/scalp-fine-scale@{CACHED_COMMIT}": f"missing model.safetensors ({why})"}
    assert err.missing == [f"someone/scalp-fine-scale@{CACHED_COMMIT}/model.safetensors ({why})"]
    assert "1 of 6" in str(err) and "unset HF_HUB_OFFLINE" in str(err)

    shutil.copy(models_dir / "fine_scale" / "model.safetensors",
                cache / "models--someone--scalp-fine-scale" / "snapshots" / CACHED_COMMIT)
    folders = download_model_snapshots("someone", pins, cache_dir=cache)
    assert list(folders) == [spec.key for spec in SYMPTOMS]
    assert folders == download_model_snapshots("someone", cache_dir=cache)  # refs/main names the same commit
    for key, folder in folders.items():
        assert (folder / weights).read_bytes() == (models_dir / key / weights).read_bytes()

    with pytest.raises(ModelsUnavailableError) as caught:  # a branch never downloaded: all six, every file
        download_model_snapshots("someone", "v9", cache_dir=cache)
    assert len(caught.value.problems) == 6 and len(caught.value.missing) == 6 * len(REQUIRED_FILES)
    assert "6 of 6" in str(caught.value)


def test_command_line_prints_the_json_of_each_photo(models_dir, photo, tmp_path, capsys):
    path = tmp_path / "scalp.png"
    photo.save(path)
    args = ["--source", str(models_dir), "--backend", "torch", "--threads", "1", str(path)]
    assert diagnoser_main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    diagnoser = ScalpDiagnoser.from_source(models_dir, num_threads=1, backend="torch")
    expected = diagnoser.diagnose(photo).to_dict()
    assert payload == {str(path): expected}
    assert diagnoser_main(["--source", str(tmp_path / "nowhere"), str(path)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_unshareable_processor_falls_back_to_running_it(models_dir, photo):
    """A processor we cannot reproduce (center crop) is run as is, so results stay right."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    models = {}
    for spec in SYMPTOMS:
        folder = models_dir / spec.key
        models[spec.key] = (
            AutoModelForImageClassification.from_pretrained(folder),
            AutoImageProcessor.from_pretrained(folder),
        )
    cropping = models["hair_loss"][1]
    cropping.do_center_crop, cropping.crop_size = True, {"height": 48, "width": 48}
    assert plan_preprocessing(cropping) == (None, None)
    diagnoser = ScalpDiagnoser(models, num_threads=1)
    ours = diagnoser.diagnose(photo)["hair_loss"].probabilities
    with torch.no_grad():
        logits = models["hair_loss"][0](**cropping(images=photo, return_tensors="pt")).logits
    np.testing.assert_allclose(ours, torch.softmax(logits.double(), -1)[0].numpy(), atol=1e-6)
    with pytest.raises(ModelsUnavailableError, match="model for dandruff"):
        ScalpDiagnoser({k: v for k, v in models.items() if k != "dandruff"})


def test_a_folder_holding_only_a_pickle_is_refused_by_name(models_dir, tmp_path):
    """Weights load from safetensors only: a pickle pytorch_model.bin (unpickling can run code) is refused."""
    from safetensors.torch import load_file

    from scalp_models.evaluate import load_model_folder

    folder = tmp_path / "models"
    shutil.copytree(models_dir, folder)
    weights = folder / "dandruff" / "model.safetensors"
    torch.save(load_file(weights), folder / "dandruff" / "pytorch_model.bin")
    weights.unlink()
    with pytest.raises(ModelsUnavailableError) as caught:
        ScalpDiagnoser.from_source(folder)
    assert caught.value.missing == [
        f"{folder / 'dandruff'} (holds only a pickle pytorch_model.bin and no model.safetensors; the app "
        "loads safetensors only (unpickling a download can run code): re-save it with transformers' "
        "save_pretrained(), which writes model.safetensors, and push again)"
    ]
    with pytest.raises(FileNotFoundError, match="holds only a pickle pytorch_model.bin"):
        load_model_folder(folder / "dandruff")
    # Beside a model.safetensors, a stray .bin is ignored: the safetensors weights load.
    shutil.copy(models_dir / "dandruff" / "model.safetensors", weights)
    assert ScalpDiagnoser.from_source(folder, num_threads=1, backend="torch").specs == tuple(SYMPTOMS)


def test_read_pins_takes_the_hub_upload_file_and_names_every_problem(tmp_path, capsys):
    from scalp_models.hub_loading import PinsError, read_pins

    ids = {spec.key: f"me/{spec.repo_name}" for spec in SYMPTOMS}
    # As `hub_upload models --pins` writes it: repo id → commit sha.
    written = {repo_id: f"{i:040x}" for i, repo_id in enumerate(ids.values())}
    path = tmp_path / "pins.json"
    path.write_text(json.dumps(written))
    expected = {key: written[repo_id] for key, repo_id in ids.items()}
    assert read_pins(path, "me") == read_pins(path) == expected
    by_key = {**{key: "v1" for key in ids}, ids["dandruff"]: "v1"}  # symptom keys, and a repeated same pin
    path.write_text(json.dumps(by_key))
    assert read_pins(path, "me") == {key: "v1" for key in ids}

    bad_files = {
        "missing.json": (None, "does not exist"),
        "broken.json": ("{not json", "is not readable JSON"),
        "list.json": (json.dumps(list(written.values())), "must hold a JSON object"),
        "other-namespace.json": (json.dumps(written), "is neither a model repo id (you/scalp-<symptom>)"),
        "unknown.json": (json.dumps({**expected, "scalp": "v1"}), "'scalp' is neither"),
        "number.json": (json.dumps({**expected, "dandruff": 5}), "the pin of 'dandruff' must be a commit"),
        "empty.json": (json.dumps({**expected, "dandruff": ""}), "the pin of 'dandruff' must be a commit"),
        "twice.json": (json.dumps({**written, "dandruff": "v2"}), "pins dandruff twice"),
        "partial.json": (
            json.dumps({ids["hair_loss"]: "v1"}),
            "pins no revision for " + ", ".join(k for k in ids if k != "hair_loss"),
        ),
        "mixed.json": (
            json.dumps({"a/scalp-dandruff": expected["dandruff"], **expected,
                        "b/scalp-hair-loss": expected["hair_loss"]}),
            "mixes the namespaces ['a', 'b']",
        ),
    }
    for name, (content, message) in bad_files.items():
        if content is not None:
            (tmp_path / name).write_text(content)
        namespace = "you" if name == "other-namespace.json" else None
        with pytest.raises(PinsError, match=re.escape(message)):
            read_pins(tmp_path / name, namespace)

    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48)).save(photo)
    assert diagnoser_main(["--source", "me", "--pins", str(tmp_path / "partial.json"), str(photo)]) == 1
    assert "partial.json pins no revision for" in capsys.readouterr().err
