"""hub_upload against a real HTTP Hub: the local Hub-compatible server in tests/hub_server.py.

The CLI and the clients (transformers ``pipeline``, ``snapshot_download``) run in
subprocesses whose ``HF_ENDPOINT`` points at the server, because huggingface_hub reads it
at import time. Six tiny EfficientNets (scalp_models ``create_model(spec, "tiny")``) stand
in for trained models.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hub_server import HubServer, Repo, hub_server  # noqa: F401  (hub_server is a fixture)

from scalp_core.contracts import PrepConfig, write_prep_config
from scalp_core.symptoms import SYMPTOMS, class_names, get_symptom

REPO_ROOT = Path(__file__).resolve().parents[1]
WRITER = "hf_test_writer_token"
NS = "tester"
PLANTED = "hf_PlantedSecretToken0123456789abcd"
UNSEEN = "hf_NeverGivenToTheTool0123456789xyz"  # a token no run of the tool was given


# -- helpers ---------------------------------------------------------------------------
def build_tiny_models(root: Path, seed: int = 0, only: str | None = None) -> Path:
    """Six tiny model folders in the on-disk contract (docs/ARCHITECTURE.md), with fake reports."""
    import torch
    from PIL import Image

    from scalp_models.modeling import create_model, fold_grayscale
    from scalp_models.processing import create_image_processor

    names = list(class_names(3))
    for i, spec in enumerate(SYMPTOMS):
        if only and spec.key != only:
            continue
        torch.manual_seed(seed * 100 + i)
        folder = root / spec.key
        model = create_model(spec, "tiny").eval()
        with torch.no_grad():  # peaked, model-specific probabilities so comparisons are not vacuous
            model.classifier.weight.mul_(40.0)
            model.classifier.bias.copy_(torch.randn_like(model.classifier.bias))
        if spec.grayscale:
            fold_grayscale(model)
        model.config.scalp = {
            **model.config.scalp,
            "temperature": 1.3,
            "temperature_folded": True,
            "synthetic_training_data": True,
        }
        model.save_pretrained(folder)
        create_image_processor(spec, "tiny").save_pretrained(folder)
        metrics = {
            "split": "test",
            "n": 60,
            "accuracy": 0.8 + i / 100,
            "macro_f1": 0.7,
            "qwk": 0.65,
            "ece": 0.04,
            "ece_uncalibrated": 0.09,
            "nll": 0.5,
            "nll_uncalibrated": 0.6,
            "per_class": {n: {"precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 20} for n in names},
            "confusion_matrix": [[14, 4, 2], [3, 15, 2], [1, 3, 16]],
            "majority_baseline_accuracy": 0.34,
            "majority_baseline_macro_f1": 0.17,
        }
        report = {
            "symptom": spec.key,
            "label_scheme": 3,
            "class_names": names,
            "seed_accuracy_pct": spec.seed_accuracy_pct,
            "protocols": {"full": metrics, "folder": {**metrics, "accuracy": 0.9}},
        }
        (folder / "eval_report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
        (folder / "training_config.json").write_text(
            json.dumps({"base": "tiny", "epochs": 1, "learning_rate": 0.001, "batch_size": 8}),
            encoding="utf-8",
        )
        Image.new("RGB", (24, 24), (200, 30 * i, 90)).save(folder / "confusion_matrix.png")
    return root


def run_cli(args: list[str], env: dict, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hub_upload", *map(str, args)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_client(code: str, env: dict, *args: str, timeout: int = 240):
    """Run client code in a fresh interpreter; return the JSON it prints after 'RESULT'."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT") :])


COMPARE = r"""
import json, sys
import numpy as np
from PIL import Image
from transformers import pipeline
jobs = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
image = Image.fromarray((rng.random((96, 128, 3)) * 255).astype("uint8"))
out = {}
for key, job in jobs.items():
    hub = pipeline("image-classification", model=job["repo"], revision=job.get("revision"))(image, top_k=3)
    loc = pipeline("image-classification", model=job["local"])(image, top_k=3)
    h = {d["label"]: d["score"] for d in hub}
    l = {d["label"]: d["score"] for d in loc}
    out[key] = {"labels": sorted(h), "local_labels": sorted(l),
                "max_diff": max(abs(h[k] - l.get(k, -1.0)) for k in h), "scores": h}
print("RESULT" + json.dumps(out, ensure_ascii=False))
"""

PULL = r"""
import json, sys
from hub_upload.pull import ModelsUnavailableError, download_models
namespace, revision = sys.argv[1], (json.loads(sys.argv[2]) if len(sys.argv) > 2 else None)
try:
    folders = download_models(namespace, revision=revision)
    print("RESULT" + json.dumps({"ok": {k: str(v) for k, v in folders.items()}}))
except ModelsUnavailableError as err:
    print("RESULT" + json.dumps({"error": str(err), "problems": err.problems}))
"""


def free_closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def no_hub_env(tmp_path: Path) -> dict:
    """A client environment whose Hub is a closed port (any request fails) and whose token is planted."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    closed = f"http://127.0.0.1:{free_closed_port()}"
    env.update(HF_ENDPOINT=closed, HF_HOME=str(tmp_path / "home"), HF_TOKEN=PLANTED)
    return env


def _assert_nothing_holds(server: HubServer, secrets: list[str]) -> int:
    """No file of any commit of any repo on ``server`` holds one of ``secrets``; returns the files read."""
    files = server.stored_files()
    for repo, path, data in files:
        for secret in secrets:
            assert secret.encode() not in data, f"{repo.repo_type} {repo.repo_id}: {path} holds a secret"
    return len(files)


# -- fixtures --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> Path:
    return build_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with HubServer(tmp_path_factory.mktemp("hub"), tokens={WRITER: NS, PLANTED: NS}) as server:
        yield server


@pytest.fixture(scope="module")
def first_push(hub, tiny_models, tmp_path_factory):
    """The six models pushed once through the CLI; returns the commit pins."""
    pins = tmp_path_factory.mktemp("pins") / "pins.json"
    env = hub.client_env(token=WRITER, hf_home=tmp_path_factory.mktemp("push_home"))
    proc = run_cli(["models", "--source", tiny_models, "--namespace", NS, "--pins", pins], env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(pins.read_text())


# -- models ----------------------------------------------------------------------------
def test_naming_scheme_is_one_repo_per_symptom():
    from hub_upload import model_repo_ids

    ids = model_repo_ids("me")
    assert list(ids) == [s.key for s in SYMPTOMS]
    assert ids["hair_loss"] == "me/scalp-hair-loss"
    assert all(re.fullmatch(r"me/scalp-[a-z-]+", v) for v in ids.values()) and len(set(ids.values())) == 6
    with pytest.raises(ValueError, match="namespace"):
        model_repo_ids("me/you")


@pytest.mark.slow
def test_round_trip_pipeline_matches_local_model(hub, tiny_models, first_push, tmp_path):
    assert set(first_push) == {f"{NS}/scalp-{s.repo_suffix}" for s in SYMPTOMS}
    for spec in SYMPTOMS:
        repo = hub.repo(f"{NS}/{spec.repo_name}")
        head = repo.resolve("main")
        assert head.sha == first_push[repo.repo_id]
        assert {
            "README.md",
            "config.json",
            "model.safetensors",
            "preprocessor_config.json",
            "eval_report.json",
            "confusion_matrix.png",
            "training_config.json",
        } <= set(head.files)
        assert head.files["model.safetensors"].lfs  # went through the LFS batch API + PUT
        assert head.author == NS
    assert {
        r["user"]
        for r in hub.store.log
        if r["method"] in ("POST", "PUT") and "/_lfs/" not in r["path"] and r["path"] != "/api/validate-yaml"
    } == {NS}
    # Each card went through the Hub's card check (POST /api/validate-yaml) before the push.
    checks = [r for r in hub.store.log if r["path"] == "/api/validate-yaml" and r["status"] == 200]
    assert len(checks) >= 6

    jobs = {s.key: {"repo": f"{NS}/{s.repo_name}", "local": str(tiny_models / s.key)} for s in SYMPTOMS}
    result = run_client(COMPARE, hub.client_env(hf_home=tmp_path / "home"), json.dumps(jobs))
    for key, r in result.items():
        assert r["labels"] == r["local_labels"] == sorted(class_names(3)), key
        assert r["max_diff"] < 1e-6, (key, r)
    # The weights came the Hub way: resolve answered 302 and the blob store saw no auth header.
    blob_gets = [r for r in hub.store.log if r["method"] == "GET" and r["path"].startswith("/_lfs/")]
    assert len(blob_gets) >= 6 and all(r["user"] is None for r in blob_gets)
    distinct = {tuple(round(v, 4) for _, v in sorted(r["scores"].items())) for r in result.values()}
    assert len(distinct) == 6  # six different models, not one answer for all


@pytest.mark.slow
def test_second_push_is_a_new_commit_and_revision_pins_the_old(hub, tiny_models, first_push, tmp_path):
    changed = tmp_path / "models"
    shutil.copytree(tiny_models, changed)
    shutil.rmtree(changed / "hair_loss")
    build_tiny_models(changed, seed=7, only="hair_loss")
    env = hub.client_env(token=WRITER, hf_home=tmp_path / "push_home")
    pins2 = tmp_path / "pins2.json"
    proc = run_cli(
        [
            "models",
            "--source",
            changed,
            "--namespace",
            NS,
            "--pins",
            pins2,
            "--commit-message",
            "Retrain hair_loss",
        ],
        env,
    )
    assert proc.returncode == 0, proc.stderr
    pins2 = json.loads(pins2.read_text())
    for repo_id, old_sha in first_push.items():
        repo = hub.repo(repo_id)
        assert pins2[repo_id] != old_sha and repo.resolve("main").sha == pins2[repo_id]
        history = hub.store.history(repo, "main")
        assert len(history) >= 3 and history[1].sha == old_sha  # initial + first push + this one
        assert history[0].title == "Retrain hair_loss"

    # --revision pushes to a branch (created on the fly) and leaves main alone. The candidate is
    # another retrain: identical files would (rightly) make no commit, leaving the branch at main.
    candidate = tmp_path / "candidate"
    shutil.copytree(changed, candidate)
    shutil.rmtree(candidate / "hair_loss")
    build_tiny_models(candidate, seed=8, only="hair_loss")
    proc = run_cli(["models", "--source", candidate, "--namespace", NS, "--revision", "v2-candidate"], env)
    assert proc.returncode == 0, proc.stderr
    assert "v2-candidate" in proc.stdout
    repo = hub.repo(f"{NS}/scalp-hair-loss")
    assert repo.branches["v2-candidate"] != repo.branches["main"] == pins2[repo.repo_id]

    repo_id = f"{NS}/scalp-hair-loss"
    jobs = {
        "old_pin": {
            "repo": repo_id,
            "revision": first_push[repo_id],
            "local": str(tiny_models / "hair_loss"),
        },
        "main": {"repo": repo_id, "local": str(changed / "hair_loss")},
        "branch": {"repo": repo_id, "revision": "v2-candidate", "local": str(candidate / "hair_loss")},
    }
    result = run_client(COMPARE, hub.client_env(hf_home=tmp_path / "home"), json.dumps(jobs))
    assert all(r["max_diff"] < 1e-6 for r in result.values()), result
    assert result["old_pin"]["scores"] != result["main"]["scores"] != result["branch"]["scores"]


@pytest.mark.slow
def test_pull_then_offline_cache_and_one_clear_error_for_missing(hub, first_push, tmp_path):
    home = tmp_path / "home"
    online = run_client(PULL, hub.client_env(hf_home=home), NS, json.dumps(first_push))
    assert set(online["ok"]) == {s.key for s in SYMPTOMS}

    # Offline, from the cache only: same folders; the server is not asked.
    before = len(hub.store.log)
    offline_env = hub.client_env(hf_home=home, HF_HUB_OFFLINE="1")
    offline = run_client(PULL, offline_env, NS, json.dumps(first_push))
    assert offline["ok"] == online["ok"]
    assert len(hub.store.log) == before
    for folder in offline["ok"].values():
        assert (Path(folder) / "model.safetensors").is_file()

    # transformers, offline, by repo id and pinned commit: served from the same cache.
    repo_id = f"{NS}/scalp-hair-loss"
    pin, local = first_push[repo_id], offline["ok"]["hair_loss"]
    jobs = {"hair_loss": {"repo": repo_id, "revision": pin, "local": local}}
    result = run_client(COMPARE, offline_env, json.dumps(jobs))
    assert result["hair_loss"]["max_diff"] < 1e-6 and len(hub.store.log) == before

    # One repo gone from the cache: one error naming exactly that repo.
    shutil.rmtree(home / "hub" / f"models--{NS}--scalp-dandruff")
    missing = run_client(PULL, offline_env, NS, json.dumps(first_push))
    assert list(missing["problems"]) == [f"{NS}/scalp-dandruff@{first_push[f'{NS}/scalp-dandruff']}"]
    assert "not in the local cache" in missing["error"] and "1 of 6" in missing["error"]

    # Online, a namespace with nothing: all six listed in one error.
    nothing = run_client(PULL, hub.client_env(hf_home=tmp_path / "home2"), "nobody")
    assert sorted(nothing["problems"]) == sorted(f"nobody/{s.repo_name}" for s in SYMPTOMS)
    assert "6 of 6" in nothing["error"] and "repository not found" in nothing["error"]


# -- cards -----------------------------------------------------------------------------
UNCERTAIN_RULE = "the lowest top probability at which accuracy on the validation subjects reaches 90%."


def _as_real_model(tiny_models: Path, tmp_path: Path, key: str = "hair_loss") -> Path:
    """A copy of a tiny model folder that says what a model trained on AI Hub data (full protocol) would say,
    with a report in today's shape: protocols.<protocol>.<split>, intervals over subjects on the test entry,
    and the folder protocol evaluated on AI Hub Validation too."""
    from scalp_models.metrics import file_metrics

    folder = tmp_path / key
    shutil.copytree(tiny_models / key, folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["scalp"].update(base_model="google/efficientnet-b1", synthetic_training_data=False,
                           uncertain_below=0.62, uncertain_rule=UNCERTAIN_RULE)
    (folder / "config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    training = json.loads((folder / "training_config.json").read_text(encoding="utf-8"))
    training.update(base="google/efficientnet-b1", protocol="full")
    (folder / "training_config.json").write_text(json.dumps(training), encoding="utf-8")
    report = json.loads((folder / "eval_report.json").read_text(encoding="utf-8"))
    full = report["protocols"]["full"]
    full.update(n_subjects=9, ci95={"accuracy": [0.712, 0.93], "macro_f1": [0.55, 0.81], "qwk": [0.4, float("nan")]})
    file_metrics(report, "full", full)
    file_metrics(report, "folder", {**report["protocols"]["folder"]["test"], "split": "validation", "accuracy": 0.88})
    (folder / "eval_report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    return folder


def test_card_matches_stored_pattern(tiny_models, tmp_path):
    from huggingface_hub import ModelCard

    from hub_upload.card import card_from_model_folder, validate_card

    folder = _as_real_model(tiny_models, tmp_path)
    card = card_from_model_folder(folder, f"{NS}/scalp-hair-loss", dataset_repo=f"{NS}/scalp-aihub216")
    text = card.render()
    assert "synthetic" not in text.lower() and "aihub-216-scalp" not in text
    patterns = [
        ln
        for ln in (REPO_ROOT / "tests" / "expected_card_pattern.txt").read_text(encoding="utf-8").splitlines()
        if ln and not ln.startswith("#")
    ]
    lines, pos = text.splitlines(), 0
    for pattern in patterns:
        while pos < len(lines) and not re.search(pattern, lines[pos]):
            pos += 1
        assert pos < len(lines), f"no line (in order) matches {pattern!r}"
        pos += 1

    metadata = validate_card(text)
    assert metadata["pipeline_tag"] == "image-classification" and metadata["library_name"] == "transformers"
    results = {(r.dataset_config, r.metric_type): r.metric_value for r in ModelCard(text).data.eval_results}
    report = json.loads((tiny_models / "hair_loss" / "eval_report.json").read_text())["protocols"]
    for protocol, metrics in report.items():
        for key, metric_type in (
            ("accuracy", "accuracy"),
            ("macro_f1", "f1"),
            ("qwk", "cohen_kappa"),
            ("ece", "ece"),
        ):
            assert results[(f"hair_loss-{protocol}", metric_type)] == pytest.approx(metrics[key])
    assert {r.dataset_split for r in ModelCard(text).data.eval_results} == {"test"}  # never the validation entry
    assert {r.dataset_type for r in ModelCard(text).data.eval_results} == {f"{NS}/scalp-aihub216"}
    with pytest.raises(ValueError, match="not a Hub dataset id"):
        validate_card(text.replace(f"type: {NS}/scalp-aihub216", "type: aihub-216-scalp"))

    # Without a Hub dataset id the card has no model-index (the Hub would link a dataset page that does not
    # exist) and links the AI Hub page instead; the metrics stay in the body.
    text = card_from_model_folder(folder, f"{NS}/scalp-hair-loss").render()
    validate_card(text)
    assert "model-index" not in ModelCard(text).data.to_dict() and "aihub-216-scalp" not in text
    assert "Training data: [AI Hub 유형별 두피 이미지 (dataSetSn=216)](https://www.aihub.or.kr/" in text
    assert "| full | test | 60 | 0.850 | 0.700 | 0.650 | 0.040 |" in text


def test_card_compares_with_the_seed_only_like_for_like(tiny_models, tmp_path):
    """The seed's number gets a difference only beside the folder protocol; a card of the full protocol
    alone, or of generated data, gives none."""
    from hub_upload.card import card_from_model_folder

    folder = _as_real_model(tiny_models, tmp_path)
    report = json.loads((folder / "eval_report.json").read_text(encoding="utf-8"))
    report["protocols"] = {"full": report["protocols"]["full"]}
    (folder / "eval_report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    text = card_from_model_folder(folder, "me/scalp-hair-loss").render()
    assert "93.5% validation accuracy for 탈모" in text and "points)" not in text
    assert "not comparable with the seed's, so no difference is given" in text
    # Old reports (protocols.<p> = one entry) still make cards; an old validation entry is never shown as test.
    report["protocols"] = {"full": {**report["protocols"]["full"]["test"], "split": "validation"}}
    (folder / "eval_report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="no evaluated protocols with test metrics"):
        card_from_model_folder(folder, "me/scalp-hair-loss")


def test_card_describes_the_domain_check_when_the_folder_ships_one(tiny_models, tmp_path):
    from hub_upload.card import card_from_model_folder

    folder = _as_real_model(tiny_models, tmp_path)
    assert "## Domain check" not in card_from_model_folder(folder, "me/scalp-hair-loss").render()
    (folder / "novelty.json").write_text(json.dumps({
        "novelty_version": 1, "features": "efficientnet-lite0-imagenet-pooled (1280)",
        "rule": "in domain when score <= 1.", "quantile": 0.99, "n_train": 540, "heldout_in_domain_rate": 0.987,
        "lite0": {"mean": [0.25] * 8},
    }), encoding="utf-8")
    text = card_from_model_folder(folder, "me/scalp-hair-loss").render()
    section = text.split("## Domain check", 1)[1].split("## Intended use", 1)[0]
    assert "- Features: efficientnet-lite0-imagenet-pooled (1280)." in section
    assert "- Rule: in domain when score <= 1." in section
    assert "- Fitted on 540 training images; 98.7% of held-out images of the training distribution" in section
    assert "0.25" not in text  # the fitted arrays stay in the file


def test_card_rejects_broken_yaml_and_missing_report(tiny_models, tmp_path):
    from hub_upload.card import card_from_model_folder, validate_card

    with pytest.raises(ValueError, match="model-index|metadata|lacks"):
        validate_card("---\nlicense: apache-2.0\n---\n# no metrics\n")
    folder = tmp_path / "hair_loss"
    shutil.copytree(tiny_models / "hair_loss", folder)
    (folder / "eval_report.json").unlink()
    with pytest.raises(FileNotFoundError, match="eval_report.json"):
        card_from_model_folder(folder, "me/scalp-hair-loss")


def test_card_of_a_folder_without_confusion_matrix_shows_no_image(tiny_models, tmp_path):
    """No confusion_matrix.png in the model folder: the card still renders and points at no image."""
    from hub_upload.model_push import stage_model_repo

    folder = tmp_path / "hair_loss"
    shutil.copytree(tiny_models / "hair_loss", folder)
    (folder / "confusion_matrix.png").unlink()
    staged = tmp_path / "staged"
    text = stage_model_repo(folder, "me/scalp-hair-loss", staged)
    assert "confusion_matrix" not in text.lower() and "Confusion matrix" not in text
    assert not (staged / "confusion_matrix.png").exists()
    assert sorted(p.name for p in staged.iterdir()) == sorted(
        ["README.md", "config.json", "model.safetensors", "preprocessor_config.json", "eval_report.json",
         "training_config.json"]
    )
    assert "| full | test | 60 | 0.850 | 0.700 | 0.650 | 0.040 |" in text  # the rest of the card is intact


# -- dry run ---------------------------------------------------------------------------
def test_dry_run_touches_no_network(tiny_models, tmp_path):
    env = no_hub_env(tmp_path)
    proc = run_cli(["models", "--source", tiny_models, "--namespace", "me", "--dry-run"], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("[dry-run] would push 7 files to model repo me/scalp-") == 6
    assert "model.safetensors" in proc.stdout and "pipeline_tag: image-classification" in proc.stdout
    assert PLANTED not in proc.stdout + proc.stderr

    root = _space_project(tmp_path / "project")
    proc = run_cli(["space", "--repo", "me/scalp-care", "--project-root", root, "--dry-run"], env)
    assert proc.returncode == 0, proc.stderr
    assert "app.py" in proc.stdout and "sdk: gradio" in proc.stdout


# -- dataset ---------------------------------------------------------------------------
def _prepared_dataset(root: Path) -> Path:
    """A hand-made prepared folder: one symptom's DatasetDict and prep_config.json, no images."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features(
        {
            "label": ClassLabel(names=list(class_names(3))),
            "grade": Value("int32"),
            "image_id": Value("string"),
        }
    )
    split = Dataset.from_dict(
        {"label": [0, 1, 2], "grade": [0, 1, 3], "image_id": ["a", "b", "c"]}, features=features
    )
    DatasetDict(train=split, validation=split, test=split).save_to_disk(str(root / "hair_loss"))
    write_prep_config(root, PrepConfig(protocol="full", synthetic=True, labels=3))
    return root


def _folder_state(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


LOAD_DATASET = r"""
import json, sys
from datasets import load_dataset
repo, keys = sys.argv[1], json.loads(sys.argv[2])
out = {}
for key in keys:
    dataset = load_dataset(repo, key)
    out[key] = {split: sorted(dataset[split]["image_id"]) for split in dataset}
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def built_prepared(tmp_path_factory) -> Path:
    """A real prepared folder: `synthetic.simulate` download → `python -m datasets_prep build`."""
    from synthetic.simulate import simulate

    root = tmp_path_factory.mktemp("prepared")
    simulate(root / "raw", 12, 4)
    proc = subprocess.run(
        [sys.executable, "-m", "datasets_prep", "build", "--aihub-root", root / "raw", "--out", root / "out",
         "--image-size-override", "32", "--workers", "1"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root / "out"


def test_dataset_public_push_refused_before_any_request(hub_server, tmp_path):  # noqa: F811
    source = _prepared_dataset(tmp_path / "prepared")
    proc = run_cli(
        ["dataset", "--source", source, "--repo", f"{NS}/scalp-data", "--public"],
        hub_server.client_env(token="hf_test_writer", hf_home=tmp_path / "home"),
    )
    assert proc.returncode == 2
    assert "AI Hub" in proc.stderr and "dataSetSn=216" in proc.stderr and "redistribut" in proc.stderr
    assert hub_server.store.log == []  # nothing reached the server
    assert hub_server.store.repos == {}


def test_public_push_is_refused_citing_the_aihub_terms(tmp_path, capsys):
    """Refused before anything else: no folder is read (this one does not even exist), no token looked up."""
    from hub_upload.cli import main
    from hub_upload.dataset_push import DatasetPushConfig, PublicPushRefused, push_dataset

    missing = tmp_path / "never-built"
    with pytest.raises(PublicPushRefused, match="redistribut"):
        push_dataset(DatasetPushConfig(source=missing, repo="me/scalp", public=True))
    code = main(["dataset", "--source", str(missing), "--repo", "me/scalp", "--public"])
    err = capsys.readouterr().err
    assert code == 2 and "AI Hub" in err and "Korean" in err and "Traceback" not in err
    assert not missing.exists()


def test_dataset_dry_run_lists_configs_and_card_without_network(built_prepared, tmp_path):
    env = no_hub_env(tmp_path)
    proc = run_cli(["dataset", "--source", built_prepared, "--repo", "me/scalp-aihub216", "--dry-run"], env)
    assert proc.returncode == 0, proc.stderr
    assert "[dry-run] would push 6 configs and 5 files to PRIVATE dataset repo me/scalp-aihub216" in (
        proc.stdout
    )
    for spec in SYMPTOMS:
        assert f"  config {spec.key}: train " in proc.stdout
        assert f"| `{spec.key}` | {spec.ko} | {spec.en} | train " in proc.stdout
    for name in ("README.md", "images.parquet", "report.md", "report.json", "prep_config.json"):
        assert f"  {name}" in proc.stdout
    assert f'load_dataset("me/scalp-aihub216", "{SYMPTOMS[0].key}")' in proc.stdout
    assert "(protocol `full`, 3-class label scheme)" in proc.stdout and "- synthetic-data" in proc.stdout
    assert "**Synthetic data.**" in proc.stdout  # the build says so in prep_config.json; so does the card
    assert "license_link: https://www.aihub.or.kr" in proc.stdout and "Keep this repo private" in proc.stdout
    assert PLANTED not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_dataset_private_push_and_public_repo_refused(hub, tmp_path):
    source = _prepared_dataset(tmp_path / "prepared")
    # The token from the huggingface_hub login (`hf auth login` writes HF_HOME/token), no HF_TOKEN.
    login = "hf_LoginFileToken0123456789abcdefgh"
    hub.store.tokens[login] = NS
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "token").write_text(login, encoding="utf-8")
    env = hub.client_env(hf_home=tmp_path / "home")
    assert "HF_TOKEN" not in env
    proc = run_cli(["dataset", "--source", source, "--repo", f"{NS}/scalp-aihub216"], env)
    assert proc.returncode == 0, proc.stderr
    assert login in hub.store.tokens_seen and login not in proc.stdout + proc.stderr
    repo = hub.repo(f"{NS}/scalp-aihub216", "dataset")
    files = repo.resolve("main").files
    assert repo.private is True
    assert {"README.md", "prep_config.json"} <= set(files)
    for split in ("train", "validation", "test"):  # config hair_loss as parquet; save_to_disk files stay home
        shards = [e for p, e in files.items() if re.fullmatch(rf"hair_loss/{split}-.*\.parquet", p)]
        assert shards and all(e.lfs for e in shards), split
    assert not any(p.endswith((".arrow", "dataset_dict.json", "state.json")) for p in files)

    # An existing PUBLIC dataset repo is refused, and no commit lands there.
    public = Repo("dataset", f"{NS}/public-data", private=False, owner=NS)
    hub.store.repos[("dataset", public.repo_id)] = public
    hub.store.add_commit(public, "main", {}, "initial commit", "", NS)
    proc = run_cli(["dataset", "--source", source, "--repo", public.repo_id], env)
    assert proc.returncode == 2 and "PUBLIC" in proc.stderr and "AI Hub" in proc.stderr
    assert len(public.commits) == 1


@pytest.mark.slow
def test_private_push_round_trip_and_public_repo_refused(built_prepared, hub_server, tmp_path):  # noqa: F811
    """A built folder pushed as one config per symptom, loaded back with load_dataset; every failure clear."""
    from datasets import load_from_disk

    from hub_upload.dataset_push import DatasetPushConfig, PublicPushRefused, push_dataset

    before = _folder_state(built_prepared)
    env = hub_server.client_env(token="hf_test_writer", hf_home=tmp_path / "home")
    done = run_cli(["dataset", "--source", built_prepared, "--repo", f"{NS}/scalp-aihub216"], env)
    assert done.returncode == 0, done.stderr
    assert f"pushed PRIVATE dataset {NS}/scalp-aihub216" in done.stdout
    repo = hub_server.repo(f"{NS}/scalp-aihub216", "dataset")
    assert repo.private is True
    head = repo.resolve("main")
    files = set(head.files)
    for spec in SYMPTOMS:  # one config per symptom, every split
        for split in ("train", "validation", "test"):
            assert any(f.startswith(f"{spec.key}/{split}-") and f.endswith(".parquet") for f in files), (
                spec.key,
                split,
            )
    assert {"README.md", "images.parquet", "report.md", "report.json", "prep_config.json"} <= files
    assert head.title == "Upload prepared AI Hub 216 scalp data (private)"  # the card and files: one commit
    for name in ("images.parquet", "report.json", "prep_config.json"):
        assert hub_server.store.read_blob(head.files[name].sha256) == before[name]
    card = hub_server.store.read_blob(head.files["README.md"].sha256).decode("utf-8")
    front = yaml.safe_load(card.split("---")[1])
    assert sorted(c["config_name"] for c in front["configs"]) == sorted(s.key for s in SYMPTOMS)
    assert front["license"] == "other" and "private" in front["tags"] and "dataset_info" in front
    assert "Keep this repo private." in card and "redistribut" in card

    # Loaded back the way the card says, with the reader's token: the same images per split.
    keys = ["hair_loss", "fine_scale"]
    loaded = run_client(LOAD_DATASET, env, f"{NS}/scalp-aihub216", json.dumps(keys))
    for key in keys:
        local = load_from_disk(str(built_prepared / key))
        assert loaded[key] == {split: sorted(local[split]["image_id"]) for split in local}, key

    # An existing PUBLIC repo: creating it "private" would not hide it, so nothing is uploaded.
    public = Repo("dataset", f"{NS}/public-data", private=False, owner=NS)
    hub_server.store.repos[("dataset", public.repo_id)] = public
    hub_server.store.add_commit(public, "main", {}, "initial commit", "", NS)
    refused = run_cli(["dataset", "--source", built_prepared, "--repo", public.repo_id], env)
    assert refused.returncode == 2
    assert "PUBLIC" in refused.stderr and "AI Hub" in refused.stderr and "Traceback" not in refused.stderr
    assert len(public.commits) == 1

    # A token the Hub does not accept: a clear failure that says the prepared folder is complete.
    bad = hub_server.client_env(token="hf_unknown_token", hf_home=tmp_path / "home2")
    failed = run_cli(["dataset", "--source", built_prepared, "--repo", f"{NS}/other"], bad)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "failed" in failed.stderr and "prepared folder is complete" in failed.stderr
    assert f"python -m hub_upload dataset --source {built_prepared} --repo {NS}/other" in failed.stderr
    assert ("dataset", f"{NS}/other") not in hub_server.store.repos
    # No Hub reachable at all (connection refused): the same clear failure, no traceback.
    dead = f"http://127.0.0.1:{free_closed_port()}"
    offline = run_cli(
        ["dataset", "--source", built_prepared, "--repo", f"{NS}/x"],
        hub_server.client_env(token="hf_test_writer", hf_home=tmp_path / "home3", HF_ENDPOINT=dead),
    )
    assert offline.returncode == 1 and "Traceback" not in offline.stderr
    assert "Connect" in offline.stderr and "prepared folder is complete" in offline.stderr
    with pytest.raises(PublicPushRefused):
        push_dataset(DatasetPushConfig(source=built_prepared, repo=f"{NS}/scalp-aihub216", public=True))
    assert _folder_state(built_prepared) == before  # no push, failed or not, changed the prepared folder
    assert get_symptom("탈모").key == "hair_loss"


# -- space -----------------------------------------------------------------------------
def _space_project(root: Path, with_app: bool = True) -> Path:
    """A TEMP copy of the project to upload (never touches the repo's own app.py), with files that
    must stay home: a package the app does not run, caches, tests, a stray note and an env file."""
    from hub_upload.space_push import SPACE_PACKAGES

    root.mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "requirements.txt", root / "requirements.txt")
    for package in (*SPACE_PACKAGES, "hub_upload"):
        shutil.copytree(REPO_ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "hub_upload" / "__pycache__").mkdir(exist_ok=True)
    (root / "hub_upload" / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    (root / "scalp_core" / "__pycache__").mkdir(exist_ok=True)
    (root / "scalp_core" / "__pycache__" / "symptoms.cpython-311.pyc").write_bytes(b"\0")
    (root / "scalp_core" / "tests").mkdir()
    (root / "scalp_core" / "tests" / "test_x.py").write_text("")
    (root / "recommendation" / "data" / "my_notes.txt").write_text(f"catalog from {root}/private.csv\n")
    (root / ".env").write_text(f"HF_TOKEN={PLANTED}\n")
    if with_app:
        (root / "app.py").write_text("import gradio as gr\ndemo = gr.Blocks()\n", encoding="utf-8")
    return root


def _expected_space_files(root: Path) -> set[str]:
    """What the Space needs from ``root``, listed independently of hub_upload's own walk."""
    from hub_upload.space_push import SPACE_PACKAGES

    files = {"app.py", "requirements.txt", "README.md", "space_config.json"}
    for package, patterns in SPACE_PACKAGES.items():
        files |= {p.relative_to(root).as_posix() for p in (root / package).rglob("*.py")
                  if "__pycache__" not in p.parts and "tests" not in p.relative_to(root / package).parts}
        files |= {p.relative_to(root).as_posix() for pat in patterns for p in (root / package).glob(pat)}
    return files


@pytest.mark.slow
def test_space_upload_has_app_requirements_and_front_matter(hub, tmp_path):
    root = _space_project(tmp_path / "project")
    env = hub.client_env(token=WRITER, hf_home=tmp_path / "home")
    proc = run_cli(
        ["space", "--repo", f"{NS}/scalp-care", "--models-namespace", "modelns", "--project-root", root,
         "--private"],
        env,
    )
    assert proc.returncode == 0, proc.stderr
    repo = hub.repo(f"{NS}/scalp-care", "space")
    head = repo.resolve("main")
    assert repo.sdk == "gradio" and repo.private is True
    # Exactly the allow-list: the packages the app runs with their data files, nothing else.
    assert set(head.files) == _expected_space_files(root) | {".gitattributes"}
    data_files = {"scalp_core/symptoms.csv", "recommendation/data/survey.yaml", "ui/strings.yaml"}
    assert data_files <= head.files.keys()
    assert {"hub_upload/model_push.py", ".env", "recommendation/data/my_notes.txt"}.isdisjoint(head.files)
    assert not any("__pycache__" in p or "/tests/" in p for p in head.files)

    readme = hub.store.read_blob(head.files["README.md"].sha256).decode("utf-8")
    front = yaml.safe_load(readme.split("---")[1])
    pin = re.search(r"^gradio==(\S+)", (REPO_ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert front["sdk"] == "gradio" and front["app_file"] == "app.py" and front["sdk_version"] == pin
    assert front["models"] == [f"modelns/{s.repo_name}" for s in SYMPTOMS]
    for key in ("title", "emoji", "colorFrom", "colorTo", "license", "short_description"):
        assert front.get(key), key
    config = json.loads(hub.store.read_blob(head.files["space_config.json"].sha256))
    assert config["models"] == "modelns"
    assert repo.variables["SCALP_MODELS"]["value"] == "modelns"

    # A file an earlier push left (before the allow-list) goes with the next push.
    old_file = "datasets_prep/build.py"
    stale = {**head.files, old_file: hub.store.entry_for(old_file, b"x = 1\n")}
    hub.store.add_commit(repo, "main", stale, "an older push", "", NS)
    again = run_cli(["space", "--repo", repo.repo_id, "--project-root", root, "--private"], env)
    assert again.returncode == 0, again.stderr
    assert set(repo.resolve("main").files) == set(head.files) and repo.private is True
    _assert_nothing_holds(hub, [WRITER, PLANTED, str(root)])

    # An existing PUBLIC Space is refused with --private, before anything is uploaded.
    public = Repo("space", f"{NS}/public-space", private=False, owner=NS, sdk="gradio")
    hub.store.repos[("space", public.repo_id)] = public
    hub.store.add_commit(public, "main", {}, "initial commit", "", NS)
    refused = run_cli(["space", "--repo", public.repo_id, "--project-root", root, "--private"], env)
    assert refused.returncode == 1 and "PUBLIC" in refused.stderr and "Traceback" not in refused.stderr
    assert len(public.commits) == 1 and public.private is False


def test_space_without_app_fails_clearly(hub, tmp_path):
    root = _space_project(tmp_path / "project", with_app=False)
    before = len(hub.store.log)
    proc = run_cli(
        ["space", "--repo", f"{NS}/scalp-care2", "--project-root", root],
        hub.client_env(token=WRITER, hf_home=tmp_path / "home"),
    )
    assert proc.returncode == 1 and "app.py not found" in proc.stderr
    assert "Traceback" not in proc.stderr and len(hub.store.log) == before


RUN_STAGED = r"""
import json, os, sys
import app  # what the Space starts; ui.service imports the rest in its loader thread:
import photo_check.check, scalp_models.diagnoser, scalp_models.lite0  # noqa: E401
here = os.getcwd() + os.sep
files = {getattr(m, "__file__", None) or "" for m in list(sys.modules.values())}
ours = sorted(f for f in files if os.path.isabs(f) and not f.startswith((sys.prefix, sys.base_prefix)))
print("RESULT" + json.dumps({"outside": [f for f in ours if not f.startswith(here)],
                             "inside": [f for f in ours if f.startswith(here)]}))
"""


@pytest.mark.slow
def test_space_stage_dir_holds_exactly_what_the_app_runs(tmp_path):
    """`space --stage-dir` writes the real project's Space files, with no network: the app starts from them
    alone, every project import in them is staged, and no token or local path is among them."""
    import ast

    from hub_upload.space_push import SPACE_PACKAGES

    env = no_hub_env(tmp_path)  # a closed Hub port and a planted HF_TOKEN: no request may work
    stage = tmp_path / "stage"
    proc = run_cli(["space", "--repo", "me/scalp-care", "--stage-dir", stage], env)
    assert proc.returncode == 0, proc.stderr
    staged = {p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file()}
    assert staged == _expected_space_files(REPO_ROOT)
    assert proc.stdout.count("\n  ") == len(staged) and f"staged {len(staged)} files" in proc.stdout
    assert {p.split("/")[0] for p in staged if "/" in p} == set(SPACE_PACKAGES)
    assert "photo_check/fitted/photo_check.json" in staged  # the shipped photo-check fit: no fitting at start
    # Every data file of a shipped package is shipped: a new one must be added to SPACE_PACKAGES.
    for package in SPACE_PACKAGES:
        for path in (REPO_ROOT / package).rglob("*"):
            rel = path.relative_to(REPO_ROOT)
            shipped_kind = not {"__pycache__", "tests"} & set(rel.parts) and not path.name.startswith(".")
            if path.is_file() and shipped_kind:
                assert rel.as_posix() in staged, f"{rel} is not on the Space allow-list (SPACE_PACKAGES)"
    for name in staged:
        text = (stage / name).read_bytes()
        assert PLANTED.encode() not in text and str(REPO_ROOT).encode() not in text, name
        assert not re.search(rb"\bhf_[A-Za-z0-9]{16,}\b", text), name

    # Every project import in a staged file, at module level or inside a function, is staged too.
    project = {p.parent.name for p in REPO_ROOT.glob("*/__init__.py")}
    for name in (n for n in staged if n.endswith(".py")):
        for node in ast.walk(ast.parse((stage / name).read_text(encoding="utf-8"))):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for module in modules:
                top = module.split(".")[0]
                assert top not in project or top in SPACE_PACKAGES, f"{name} imports {module}: not staged"

    # Started from the stage alone, the app and the model code import only staged project files.
    run_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", RUN_STAGED], cwd=stage, env=run_env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT", 1)[1])
    assert result["outside"] == [] and len(result["inside"]) >= len(SPACE_PACKAGES) + 1, result

    again = run_cli(["space", "--repo", "me/scalp-care", "--stage-dir", stage], env)
    assert again.returncode == 1 and "not empty" in again.stderr and "Traceback" not in again.stderr


# -- tokens ----------------------------------------------------------------------------
@pytest.mark.slow
def test_planted_token_never_printed_on_success_or_error(tiny_models, tmp_path):
    with HubServer(tmp_path / "hub", tokens={PLANTED: NS}) as server:
        env = server.client_env(token=PLANTED, hf_home=tmp_path / "home", HF_HUB_VERBOSITY="debug")
        ok = run_cli(["models", "--source", tiny_models, "--namespace", NS], env)
        assert ok.returncode == 0, ok.stderr
        assert PLANTED in server.store.tokens_seen  # it really was the token used

        server.store.fail_next = {
            "status": 500,
            "path_contains": "/commit/",
            "message": f"boom, header was Bearer {PLANTED}",
        }
        failed = run_cli(["models", "--source", tiny_models, "--namespace", NS], env)
        assert failed.returncode == 1 and "error:" in failed.stderr and "500" in failed.stderr

        # A token the tool never saw (not HF_TOKEN, not after "Bearer") in the Hub's error: masked by shape.
        revoked = f"token {UNSEEN} is revoked"
        server.store.fail_next = {"status": 403, "path_contains": "/commit/", "message": revoked}
        unseen = run_cli(["models", "--source", tiny_models, "--namespace", NS], env)
        assert unseen.returncode == 1 and "token hf_*** is revoked" in unseen.stderr, unseen.stderr

        bad = "hf_PlantedButUnknownToken987654321zz"
        refused = run_cli(
            ["models", "--source", tiny_models, "--namespace", NS],
            server.client_env(token=bad, hf_home=tmp_path / "home2", HF_HUB_VERBOSITY="debug"),
        )
        assert refused.returncode == 1 and "401" in refused.stderr and "HF_TOKEN" in refused.stderr
        assert bad in server.store.tokens_seen
        assert _assert_nothing_holds(server, [PLANTED, UNSEEN, bad]) >= 6 * 8  # every file of the push read

    for proc in (ok, failed, unseen, refused):
        captured = proc.stdout + proc.stderr
        assert PLANTED not in captured and bad not in captured and UNSEEN not in captured
        assert "Traceback" not in captured


def test_scrub_masks_known_tokens_token_shapes_and_bearer_values():
    from hub_upload.secrets import remember_token, scrub

    remember_token("plain-secret-without-shape")
    text = scrub(f"a {UNSEEN}, b plain-secret-without-shape, c hf_transfer, d Authorization: Bearer abc.def")
    assert text == "a hf_***, b hf_***, c hf_transfer, d Authorization: Bearer hf_***"


def test_card_of_demo_model_skips_nan_metrics(tiny_models, tmp_path):
    """Demo models report one "synthetic" protocol; a NaN QWK stays out of model-index (Hub rejects it)."""
    from hub_upload.card import card_from_model_folder, validate_card

    folder = tmp_path / "hair_loss"
    shutil.copytree(tiny_models / "hair_loss", folder)
    report = json.loads((folder / "eval_report.json").read_text())
    metrics = {**report["protocols"]["full"], "split": "test (synthetic)", "qwk": float("nan")}
    report["protocols"] = {"synthetic": metrics}
    (folder / "eval_report.json").write_text(json.dumps(report))
    text = card_from_model_folder(folder, "me/scalp-hair-loss", dataset_repo="me/scalp-demo-images").render()
    types = [m["type"] for m in validate_card(text)["model-index"][0]["results"][0]["metrics"]]
    assert types == ["accuracy", "f1", "ece"]
    assert "| synthetic | test (synthetic) | 60 | 0.850 | 0.700 | – | 0.040 |" in text
    assert "Demo model trained on synthetic images only" in text


# -- cards of models that scalp_models really wrote --------------------------------------
def _train_one_real_model(root: Path, key: str, synthetic: bool) -> Path:
    """``scalp_models`` training (tiny base, a few steps) on a build-shaped dataset; returns OUT/<key>."""
    import torch

    from scalp_models.train import TrainConfig, train
    from synthetic.examples import render_symptom_dataset_dict

    torch.set_num_threads(1)
    data = root / "prepared"
    dd = render_symptom_dataset_dict(
        get_symptom(key), {"train": 6, "validation": 3, "test": 4}, seed=3, size=(160, 120), out_short_side=48
    )
    dd.save_to_disk(str(data / key))
    # What the build writes: `synthetic` is true for a `datasets_prep simulate` download, and training
    # marks its models as trained on synthetic images from that flag alone.
    write_prep_config(data, PrepConfig(protocol="full", synthetic=synthetic, labels=3))
    config = TrainConfig(
        data=str(data), out=str(root / "models"), symptom=key, base="tiny", image_size=48, max_steps=2,
        eval_steps=1, batch_size=8, quiet=True,
    )
    train(config)
    return root / "models" / key


@pytest.mark.slow
def test_card_of_a_really_trained_model_tells_its_metrics_and_settings(tmp_path):
    from huggingface_hub import ModelCard

    from hub_upload.model_push import stage_model_repo
    from scalp_models.metrics import report_metrics

    folder = _train_one_real_model(tmp_path, "dandruff", synthetic=False)
    staged = tmp_path / "staged"
    text = stage_model_repo(folder, "me/scalp-dandruff", staged, dataset_repo="me/scalp-aihub216")
    report = json.loads((folder / "eval_report.json").read_text(encoding="utf-8"))
    full = report_metrics(report)["full"]  # the test entry: the one the card publishes

    card = ModelCard(text)
    assert card.data.datasets == ["me/scalp-aihub216"]
    results = {r.metric_type: r for r in card.data.eval_results}
    for key, metric_type in (("accuracy", "accuracy"), ("macro_f1", "f1"), ("ece", "ece")):
        assert results[metric_type].metric_value == pytest.approx(full[key], abs=1e-4)
        assert results[metric_type].dataset_config == "dandruff-full"
    assert results["accuracy"].dataset_type == "me/scalp-aihub216"
    # The metrics table carries the report's numbers, to three decimals.
    row = next(ln for ln in text.splitlines() if ln.startswith("| full | test |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == str(full["n"]) and cells[3] == f"{full['accuracy']:.3f}"
    assert cells[4] == f"{full['macro_f1']:.3f}" and cells[6] == f"{full['ece']:.3f}"
    # Training settings: curated and readable, no local paths or dumped TrainingArguments.
    training = text.split("## Training", 1)[1].split("## Evaluation", 1)[0]
    assert "| learning rate | `0.0003` |" in training and "| max steps | `2` |" in training
    assert "Starting weights: `tiny`: a tiny randomly initialised" in training
    assert "| epochs |" not in training  # scalp_models ignores epochs when max steps is set
    assert str(tmp_path) not in text and "training_args" not in text and "hub_token" not in text
    assert "Grayscale" in text and "folded into the first convolution" in text  # 비듬 is a grayscale model
    assert "Demo model trained on synthetic images only" not in text
    assert "AI Hub '유형별 두피 이미지'" in text
    assert "(prepared copy in the private dataset repo `me/scalp-aihub216`)" in text
    assert (staged / "confusion_matrix.png").is_file() and "![Confusion matrix]" in text


@pytest.mark.slow
def test_cards_of_synthetic_and_demo_models_say_synthetic(tmp_path):
    from hub_upload.card import card_from_model_folder
    from hub_upload.model_push import stage_model_repo
    from scalp_models.demo import DemoConfig, build_demo_model

    # A model trained by `scalp_models train` on `datasets_prep simulate` output.
    trained = _train_one_real_model(tmp_path / "trained", "hair_loss", synthetic=True)
    text = card_from_model_folder(trained, "me/scalp-hair-loss").render()
    assert "Demo model trained on synthetic images only" in text
    assert "**synthetic** scalp images" in text and "synthetic-data" in text

    # A demo model (scalp_models demo): like a trained folder, it holds its confusion matrix and no card;
    # hub_upload renders every card.
    assert not (trained / "README.md").exists()
    demo = tmp_path / "demo" / "fine_scale"
    config = DemoConfig(base="tiny", input_size=32, render_size=(96, 72), n_train=3, n_calib=2, n_test=2)
    build_demo_model(get_symptom("fine_scale"), demo, config)
    assert (demo / "confusion_matrix.png").is_file() and not (demo / "README.md").exists()
    staged = tmp_path / "staged"
    text = stage_model_repo(demo, "me/scalp-fine-scale", staged)
    assert "Demo model trained on synthetic images only" in text and "합성(가상) 두피 이미지" in text
    # No Hub dataset holds generated pictures: no model-index naming one, and the metrics in the body.
    assert "synthetic-scalp-images" not in text and "model-index" not in text
    assert re.search(r"^\| synthetic \| test \| 6 \| [0-9.]+ \| ", text, re.MULTILINE)  # 2 per class
    assert "T was fitted on generated images held out from training" in text
    assert "| generated training images per class | `3` |" in text
    assert "Trained on synthetic images only: it shows that the app works" in text
    assert "so its accuracy is not comparable with the seed's at all" in text and "points)" not in text
    from PIL import Image

    with Image.open(staged / "confusion_matrix.png") as image:  # the demo build's plot, copied as is
        assert image.size[0] > 100
    assert (staged / "confusion_matrix.png").read_bytes() == (demo / "confusion_matrix.png").read_bytes()
    assert "![Confusion matrix](confusion_matrix.png)" in text


# -- ScalpDiagnoser (what the app uses) by repo id ---------------------------------------
DIAGNOSE = r"""
import json, sys
import numpy as np
from PIL import Image
from scalp_models.diagnoser import ModelsUnavailableError, ScalpDiagnoser
namespace, revision = sys.argv[1], (sys.argv[2] or None)
rng = np.random.default_rng(0)
image = Image.fromarray((rng.random((96, 128, 3)) * 255).astype("uint8"))
try:
    diagnosis = ScalpDiagnoser.from_source(namespace, revision=revision).diagnose([image])[0]
    print("RESULT" + json.dumps({r.symptom: list(r.probabilities) for r in diagnosis.results}))
except ModelsUnavailableError as err:
    print("RESULT" + json.dumps({"error": str(err), "missing": err.missing}))
"""


@pytest.mark.slow
def test_scalp_diagnoser_loads_by_namespace_pinned_offline_and_lists_missing(hub, tiny_models, tmp_path):
    """What the app does (ui.service → ScalpDiagnoser.from_source(SCALP_MODELS, revision=...))."""
    proc = run_cli(
        ["models", "--source", tiny_models, "--namespace", NS, "--revision", "v1"],
        hub.client_env(token=WRITER, hf_home=tmp_path / "push_home"),
    )
    assert proc.returncode == 0, proc.stderr
    home = tmp_path / "home"
    before = len(hub.store.log)
    online = run_client(DIAGNOSE, hub.client_env(hf_home=home), NS, "v1")
    assert set(online) == {s.key for s in SYMPTOMS}, online
    fetched = [r["path"] for r in hub.store.log[before:] if "/resolve/" in r["path"]]
    v1_heads = {hub.repo(f"{NS}/{s.repo_name}").branches["v1"] for s in SYMPTOMS}
    assert v1_heads.isdisjoint(hub.repo(f"{NS}/{s.repo_name}").branches["main"] for s in SYMPTOMS)
    revisions = {path.split("/resolve/")[1].split("/")[0] for path in fetched}
    assert fetched and revisions <= {"v1"} | v1_heads, revisions  # really from the server, pinned to v1
    local = run_client(DIAGNOSE, hub.client_env(hf_home=home), str(tiny_models), "")
    for key, probabilities in online.items():  # the same answers as from the local model folders
        assert probabilities == pytest.approx(local[key], abs=1e-6), key
    assert len({tuple(round(p, 4) for p in v) for v in online.values()}) == 6

    before = len(hub.store.log)
    offline = run_client(DIAGNOSE, hub.client_env(hf_home=home, HF_HUB_OFFLINE="1"), NS, "v1")
    assert offline == online and len(hub.store.log) == before

    nothing = run_client(DIAGNOSE, hub.client_env(hf_home=tmp_path / "home2"), "nobody", "")
    assert len(nothing["missing"]) == 6 and all("repository not found" in m for m in nothing["missing"])
    named = sorted(m.split()[0] for m in nothing["missing"])
    assert named == sorted(f"nobody/{s.repo_name}" for s in SYMPTOMS)
    assert hub.store.errors == []  # the server answered every request it got


# -- private pushes, and what is uploaded --------------------------------------------------
@pytest.mark.slow
def test_private_pushes_store_private_repos_and_no_token(tiny_models, tmp_path):
    """Pushed with --private, all six model repos (and the Space) are private on the Hub, and no file of any
    repo (models, dataset, Space) holds the token; an existing PUBLIC model repo is refused before any
    upload."""
    with HubServer(tmp_path / "hub", tokens={PLANTED: NS}) as server:
        env = server.client_env(token=PLANTED, hf_home=tmp_path / "home")
        models = run_cli(["models", "--source", tiny_models, "--namespace", NS, "--private"], env)
        assert models.returncode == 0, models.stderr
        space = run_cli(["space", "--repo", f"{NS}/scalp-care", "--project-root",
                         _space_project(tmp_path / "project"), "--private"], env)
        assert space.returncode == 0, space.stderr
        dataset = run_cli(["dataset", "--source", _prepared_dataset(tmp_path / "prepared"),
                           "--repo", f"{NS}/scalp-aihub216"], env)
        assert dataset.returncode == 0, dataset.stderr
        model_repos = [server.repo(f"{NS}/{s.repo_name}") for s in SYMPTOMS]
        assert [r.private for r in model_repos] == [True] * 6
        assert server.repo(f"{NS}/scalp-care", "space").private is True
        assert server.repo(f"{NS}/scalp-aihub216", "dataset").private is True
        assert {r.repo_type for r, _, _ in server.stored_files()} == {"model", "dataset", "space"}
        assert _assert_nothing_holds(server, [PLANTED]) > 6 * 8

        # Pushing again --private into the (private) repos works; into one made PUBLIC meanwhile it does not.
        server.repo(f"{NS}/scalp-dandruff").private = False
        heads = [r.resolve("main").sha for r in model_repos]
        refused = run_cli(["models", "--source", tiny_models, "--namespace", NS, "--private"], env)
        assert refused.returncode == 1
        assert f"{NS}/scalp-dandruff already exists and is PUBLIC" in refused.stderr
        assert [r.resolve("main").sha for r in model_repos] == heads  # not one repo got a commit
        for proc in (models, space, dataset, refused):
            assert PLANTED not in proc.stdout + proc.stderr


def test_files_holding_a_token_or_a_local_path_are_never_pushed(tiny_models, tmp_path):
    """The models' staged files are searched before any upload (here a dry run: no network at all)."""
    source = tmp_path / "models"
    shutil.copytree(tiny_models, source)
    # args.yaml (a dump of the command line) is not uploaded at all, whatever it holds.
    (source / "hair_loss" / "args.yaml").write_text(f"data: {source}/prepared\nhub_token: {PLANTED}\n")
    env = no_hub_env(tmp_path)
    ok = run_cli(["models", "--source", source, "--namespace", "me", "--dry-run"], env)
    assert ok.returncode == 0, ok.stderr
    assert "args.yaml" not in ok.stdout and ok.stdout.count("would push 7 files") == 6

    training = json.loads((source / "dandruff" / "training_config.json").read_text())
    with_path = {**training, "data": f"{source}/prep"}
    (source / "dandruff" / "training_config.json").write_text(json.dumps(with_path))
    report = json.loads((source / "fine_scale" / "eval_report.json").read_text())
    (source / "fine_scale" / "eval_report.json").write_text(json.dumps({**report, "note": f"token {UNSEEN}"}))
    refused = run_cli(["models", "--source", source, "--namespace", "me", "--dry-run"], env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr and "[dry-run]" not in refused.stdout
    problems = [line.strip() for line in refused.stderr.splitlines() if line.startswith("  ")]
    assert sorted(problems) == [  # every problem of every repo at once
        f"me/scalp-dandruff/training_config.json holds the local path {source.resolve()}",
        "me/scalp-fine-scale/eval_report.json holds a Hugging Face token (hf_...)",
    ]
    assert UNSEEN not in refused.stdout + refused.stderr


# -- safetensors only ----------------------------------------------------------------------
def _plant_model_repos(server: HubServer, namespace: str, models: Path, pickled: str) -> None:
    """The six repos of ``namespace`` written straight into the server's store; the ``pickled`` one holds
    its weights only as a pickle pytorch_model.bin (as older transformers wrote them)."""
    import torch
    from safetensors.torch import load_file

    for spec in SYMPTOMS:
        repo = Repo("model", f"{namespace}/{spec.repo_name}", private=False, owner=namespace)
        server.store.repos[("model", repo.repo_id)] = repo
        files = {}
        for name in ("config.json", "preprocessor_config.json", "model.safetensors"):
            data = (models / spec.key / name).read_bytes()
            if spec.key == pickled and name == "model.safetensors":
                buffer = io.BytesIO()
                torch.save(load_file(models / spec.key / name), buffer)
                name, data = "pytorch_model.bin", buffer.getvalue()
            files[name] = server.store.entry_for(name, data)
        server.store.add_commit(repo, "main", files, "upload", "", namespace)


@pytest.mark.slow
def test_a_repo_holding_only_a_pickle_is_refused_by_the_diagnoser_and_pull(hub, tiny_models, tmp_path):
    _plant_model_repos(hub, "pickler", tiny_models, pickled="dandruff")
    before = len(hub.store.log)
    result = run_client(DIAGNOSE, hub.client_env(hf_home=tmp_path / "home"), "pickler", "")
    assert len(result["missing"]) == 1, result
    assert result["missing"][0].startswith("pickler/scalp-dandruff (holds only a pickle pytorch_model.bin")
    assert "safetensors only" in result["error"] and "save_pretrained" in result["error"]

    pull = run_cli(["pull", "--namespace", "pickler"], hub.client_env(hf_home=tmp_path / "home2"))
    assert pull.returncode == 1 and "Traceback" not in pull.stderr
    assert "pickler/scalp-dandruff (holds only a pickle pytorch_model.bin" in pull.stderr
    assert "1 of 6" in pull.stderr
    fetched = [r["path"] for r in hub.store.log[before:]]
    assert any("/pickler/scalp-hair-loss/resolve/" in p for p in fetched)  # the others really were fetched
    pickle_blob = hub.repo("pickler/scalp-dandruff").resolve("main").files["pytorch_model.bin"].sha256
    assert not any(p.endswith(("pytorch_model.bin", pickle_blob)) for p in fetched)  # never downloaded


# -- per-repo pins -----------------------------------------------------------------------
DIAGNOSE_PINNED = r"""
import json, sys
import numpy as np
from PIL import Image
from scalp_models.diagnoser import ScalpDiagnoser
from scalp_models.hub_loading import read_pins
image = Image.fromarray((np.random.default_rng(0).random((96, 128, 3)) * 255).astype("uint8"))
out = {}
for name, (source, pins_file) in json.loads(sys.argv[1]).items():
    pins = read_pins(pins_file, source) if pins_file else None
    diagnosis = ScalpDiagnoser.from_source(source, revision=pins, backend="torch").diagnose(image)
    out[name] = {r.symptom: list(r.probabilities) for r in diagnosis.results}
print("RESULT" + json.dumps(out))
"""


@pytest.mark.slow
def test_scalp_diagnoser_loads_each_repo_at_its_own_pin(hub, tiny_models, tmp_path):
    """Pins of two different pushes in one file (as `hub_upload models --pins` writes them, one edited by
    hand): each repo loads at its own commit, not main."""
    namespace, token = "pinner", "hf_PinnerWriterToken0123456789abc"
    hub.store.tokens[token] = namespace
    push_env = hub.client_env(token=token, hf_home=tmp_path / "push_home")
    retrained = tmp_path / "retrained"
    shutil.copytree(tiny_models, retrained)
    shutil.rmtree(retrained / "hair_loss")
    build_tiny_models(retrained, seed=5, only="hair_loss")
    pins = {}
    for name, source in (("old", tiny_models), ("new", retrained)):
        pins[name] = tmp_path / f"{name}.json"
        proc = run_cli(
            ["models", "--source", source, "--namespace", namespace, "--pins", pins[name]], push_env
        )
        assert proc.returncode == 0, proc.stderr
    old, new = (json.loads(pins[n].read_text()) for n in ("old", "new"))
    hair_loss = f"{namespace}/scalp-hair-loss"
    mixed = {**new, hair_loss: old[hair_loss]}  # everything from the new push except hair_loss
    (tmp_path / "mixed.json").write_text(json.dumps(mixed))
    assert old[hair_loss] != new[hair_loss] == hub.repo(hair_loss).branches["main"]

    before = len(hub.store.log)
    env = hub.client_env(hf_home=tmp_path / "home")
    jobs = {"pinned": (namespace, str(tmp_path / "mixed.json")), "at_main": (namespace, None),
            "old_local": (str(tiny_models), None), "new_local": (str(retrained), None)}
    result = run_client(DIAGNOSE_PINNED, env, json.dumps(jobs))
    pinned, at_main, old_local, new_local = (result[name] for name in jobs)
    revisions = {}
    for r in hub.store.log[before:]:
        if "/resolve/" in r["path"]:
            repo_id, rest = r["path"].lstrip("/").split("/resolve/")
            revisions.setdefault(repo_id, set()).add(rest.split("/")[0])
    # Files came at the pins, and at main's head for the load at main: hair_loss at two commits.
    assert revisions == {repo_id: {sha, new[repo_id]} for repo_id, sha in mixed.items()}, revisions
    assert revisions[hair_loss] == {old[hair_loss], new[hair_loss]}
    assert pinned["hair_loss"] == pytest.approx(old_local["hair_loss"], abs=1e-6)
    assert at_main["hair_loss"] == pytest.approx(new_local["hair_loss"], abs=1e-6)
    assert max(abs(a - b) for a, b in zip(pinned["hair_loss"], at_main["hair_loss"])) > 1e-3
    for key in (s.key for s in SYMPTOMS if s.key != "hair_loss"):
        assert pinned[key] == pytest.approx(new_local[key], abs=1e-6), key

    # The same file through `hub_upload pull --pins`; a file for another namespace is refused clearly.
    pulled = run_cli(["pull", "--namespace", namespace, "--pins", tmp_path / "mixed.json"], env)
    assert pulled.returncode == 0, pulled.stderr
    folders = dict(line.split("\t") for line in pulled.stdout.splitlines() if "\t" in line)
    assert folders["hair_loss"].endswith(f"snapshots/{old[hair_loss]}")
    assert folders["dandruff"].endswith(f"snapshots/{new[f'{namespace}/scalp-dandruff']}")
    wrong = run_cli(["pull", "--namespace", NS, "--pins", tmp_path / "mixed.json"], env)
    assert wrong.returncode == 1 and "neither a model repo id (tester/scalp-<symptom>)" in wrong.stderr
    assert "Traceback" not in wrong.stderr
