"""``python -m pipeline reproduce`` end to end at tiny scale on a simulated AI Hub download, and its tables:
no seed column in the protocol tables, a seed-comparable table with a difference only for real data."""

from __future__ import annotations

import json

import pytest

from pipeline.__main__ import main as pipeline_main
from pipeline.reproduce import COLUMNS, SEED_COLUMNS, ReproduceConfig, markdown_table, result_row, seed_row
from scalp_core.contracts import read_prep_config
from scalp_core.symptoms import SYMPTOM_KEYS, get_symptom
from scalp_models.metrics import report_metrics


@pytest.mark.slow
def test_reproduce_on_simulated_download(tmp_path, capsys):
    from synthetic.simulate import SimulateConfig, run_simulation

    sim = tmp_path / "sim"
    run_simulation(SimulateConfig(out=str(sim), images=80, seed=3))
    out = tmp_path / "repro"
    rc = pipeline_main(["reproduce", "--aihub_root", str(sim), "--out", str(out), "--base", "tiny", "--image_size", "32",
               "--max_steps", "3", "--batch_size", "8", "--quiet", "true"])
    assert rc == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert set(results["tables"]) == {"full", "folder"}
    assert results["base"] == {"full": "tiny", "folder": "tiny"}  # the base used, from training_config.json
    for protocol, rows in results["tables"].items():
        assert [row["symptom"] for row in rows] == list(SYMPTOM_KEYS)
        for row in rows:
            assert list(row) == list(COLUMNS)  # no seed column, no difference from the seed
            assert row["test_images"] > 0
        for key in SYMPTOM_KEYS:
            folder = out / "models" / protocol / key
            assert (folder / "model.safetensors").is_file() and (folder / "eval_report.json").is_file()
            report = json.loads((folder / "eval_report.json").read_text(encoding="utf-8"))
            assert protocol in report_metrics(report)
    # The seed-comparable table: the folder models on the folder protocol's evaluation split, AI Hub Validation,
    # evaluated as served and filed beside (not over) the test metrics; generated data: no difference.
    seed = results["seed_comparable"]
    assert seed["split"] == "validation" and seed["synthetic"] is True
    assert [row["symptom"] for row in seed["rows"]] == list(SYMPTOM_KEYS)
    for row in seed["rows"]:
        assert list(row) == list(SEED_COLUMNS) and row["split"] == "validation"
        assert row["delta_vs_seed_pct"] is None and row["seed_accuracy_pct"] == get_symptom(row["symptom"]).seed_accuracy_pct
        report = json.loads((out / "models" / "folder" / row["symptom"] / "eval_report.json").read_text(encoding="utf-8"))
        assert report_metrics(report, "validation")["folder"]["accuracy"] == pytest.approx(row["accuracy"])
        assert report_metrics(report)["folder"]["split"] == "test"
    md = (out / "results.md").read_text(encoding="utf-8")
    assert md.count("| symptom |") == 3 and "## Protocol `folder`" in md and "## Seed-comparable" in md
    assert "no difference from the seed is given" in md and "base used: full: `tiny`, folder: `tiny`" in md
    printed = capsys.readouterr().out
    assert "Protocol full" in printed and "Protocol folder" in printed

    # The stand-alone evaluate / calibrate commands on the same model and data agree with the table.
    from scalp_models.calibration import calibrate_model_folder
    from scalp_models.evaluate import evaluate_model

    key = SYMPTOM_KEYS[-1]
    model, data = out / "models" / "full" / key, out / "prepared" / "full"
    row = next(r for r in results["tables"]["full"] if r["symptom"] == key)
    assert evaluate_model(model, data, "test")["accuracy"] == pytest.approx(row["accuracy"])
    # The build marked its simulated download as synthetic, and training carried that into the model.
    assert read_prep_config(data).synthetic is True
    assert json.loads((model / "config.json").read_text(encoding="utf-8"))["scalp"]["synthetic_training_data"] is True
    # --write files the metrics under the protocol that the data's prep_config.json names, and the split.
    folder_metrics = evaluate_model(model, out / "prepared" / "folder", "test", write=True)
    report = json.loads((model / "eval_report.json").read_text(encoding="utf-8"))
    assert set(report["protocols"]) == {"full", "folder"}
    assert json.dumps(report_metrics(report)["folder"]) == json.dumps(folder_metrics)  # NaN-safe equality
    assert report_metrics(report)["full"]["accuracy"] == pytest.approx(row["accuracy"])
    # A validation run is filed beside the test metrics the card publishes, never over them.
    validation = evaluate_model(model, data, "validation", write=True)
    report = json.loads((model / "eval_report.json").read_text(encoding="utf-8"))
    assert report_metrics(report)["full"]["accuracy"] == pytest.approx(row["accuracy"])
    assert json.dumps(report["protocols"]["full"]["validation"]) == json.dumps(validation)
    assert set(report["protocols"]["full"]) == {"test", "validation"}
    fit = calibrate_model_folder(model, data)
    assert fit.nll_after <= fit.nll_before + 1e-6
    with pytest.raises(ValueError, match="no scalp.symptom"):
        config = json.loads((model / "config.json").read_text(encoding="utf-8"))
        del config["scalp"]
        (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
        evaluate_model(model, data, "test")


def test_seed_difference_only_for_real_data_and_never_in_the_protocol_tables():
    metrics = {"split": "validation", "n": 40, "n_subjects": 6, "accuracy": 0.9, "macro_f1": 0.6, "qwk": 0.5,
               "ece": 0.05, "ece_uncalibrated": 0.12, "majority_baseline_accuracy": 0.8,
               "ci95": {"accuracy": [0.8, 0.95], "macro_f1": [0.5, 0.7], "qwk": [0.3, 0.6]}}
    real = seed_row("hair_loss", metrics, synthetic=False)
    assert real["delta_vs_seed_pct"] == pytest.approx(90.0 - 93.5)
    assert seed_row("hair_loss", metrics, synthetic=True)["delta_vs_seed_pct"] is None
    assert seed_row("interfollicular_erythema", metrics, synthetic=False)["seed_macro_f1"] == [0.67, 0.71]
    assert seed_row("hair_loss", metrics, synthetic=False)["seed_macro_f1"] is None  # not reported by the seed
    table = markdown_table([real], SEED_COLUMNS)
    assert table.splitlines()[-1] == (
        "| hair_loss | 탈모 | validation | 6 | 40 | 0.900 | [0.800, 0.950] | 0.600 | 0.800 | 93.5 | – | -3.5 |"
    )
    row = result_row("hair_loss", {**metrics, "split": "test"})
    assert not any("seed" in column for column in row)
    assert markdown_table([row]).splitlines()[-1] == (
        "| hair_loss | 탈모 | 6 | 40 | 0.900 | [0.800, 0.950] | 0.600 | [0.500, 0.700] | 0.500 | [0.300, 0.600] "
        "| 0.120 | 0.050 | 0.800 |"
    )
    # A report written before intervals existed still makes a row; what it lacks shows as –.
    old = {k: v for k, v in metrics.items() if k not in ("ci95", "n_subjects")}
    assert markdown_table([result_row("hair_loss", old)]).splitlines()[-1].startswith("| hair_loss | 탈모 | – | 40 | 0.900 | – |")


def test_reproduce_config_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="aihub-root"):
        ReproduceConfig(aihub_root=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="protocols"):
        ReproduceConfig(aihub_root=str(tmp_path), protocols="full,seed")


def test_pipeline_command_lists_reproduce_and_refuses_unknown(capsys):
    assert pipeline_main(["--help"]) == 0
    assert "reproduce" in capsys.readouterr().out
    assert pipeline_main(["train"]) == 2
    assert "unknown command 'train'" in capsys.readouterr().err
