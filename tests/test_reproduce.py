"""``python -m pipeline reproduce`` end to end at tiny scale on a simulated AI Hub download."""

from __future__ import annotations

import json

import pytest

from pipeline.__main__ import main as pipeline_main
from pipeline.reproduce import COLUMNS, ReproduceConfig
from scalp_core.contracts import read_prep_config
from scalp_core.symptoms import SYMPTOM_KEYS


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
    for protocol, rows in results["tables"].items():
        assert [row["symptom"] for row in rows] == list(SYMPTOM_KEYS)
        for row in rows:
            assert list(row) == list(COLUMNS)
            assert row["delta_vs_seed_pct"] == pytest.approx(100 * row["accuracy"] - row["seed_accuracy_pct"])
        for key in SYMPTOM_KEYS:
            folder = out / "models" / protocol / key
            assert (folder / "model.safetensors").is_file() and (folder / "eval_report.json").is_file()
            report = json.loads((folder / "eval_report.json").read_text(encoding="utf-8"))
            assert protocol in report["protocols"]
    md = (out / "results.md").read_text(encoding="utf-8")
    assert md.count("| symptom |") == 2 and "## Protocol `folder`" in md
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
    # --write files the metrics under the protocol that the data's prep_config.json names.
    folder_metrics = evaluate_model(model, out / "prepared" / "folder", "test", write=True)
    report = json.loads((model / "eval_report.json").read_text(encoding="utf-8"))
    assert set(report["protocols"]) == {"full", "folder"}
    assert json.dumps(report["protocols"]["folder"]) == json.dumps(folder_metrics)  # NaN-safe equality
    assert report["protocols"]["full"]["accuracy"] == pytest.approx(row["accuracy"])
    fit = calibrate_model_folder(model, data)
    assert fit.nll_after <= fit.nll_before + 1e-6
    with pytest.raises(ValueError, match="no scalp.symptom"):
        config = json.loads((model / "config.json").read_text(encoding="utf-8"))
        del config["scalp"]
        (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
        evaluate_model(model, data, "test")


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
