"""`python -m scalp_models cache`: what the cache holds, and pruning what nothing has used for a while."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from scalp_models import cache_files
from scalp_models.__main__ import main as scalp_models_main

DAY = 86400


def _file(path: Path, size: int = 1000, age_days: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)  # sparse: a "large" file costs no disk
    _age(path, age_days)
    return path


def _age(path: Path, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(path, (then, then))


@pytest.fixture
def cache(tmp_path) -> Path:
    """A cache as a year of model updates leaves it: current files, old versions, a crashed build."""
    root = tmp_path / "cache"
    onnx = root / "onnx"
    _file(onnx / "current.onnx", 13_000_000, 1)
    _file(onnx / "current-int8-r2.onnx", 3_800_000, 1)
    _file(onnx / "current-int8-r2.shift.json", 60, 1)
    _file(onnx / "old.onnx", 13_000_000, 90)
    _file(onnx / "old-int8-r1.onnx", 3_800_000, 90)
    _file(onnx / "old-int8-r1.shift.json", 70, 2)  # widened lately: it goes with its copy all the same
    _file(onnx / "current-int8-r1.onnx", 3_800_000, 45)  # an earlier recipe's copy of a current model
    _file(onnx / "gone-int8-r1.shift.json", 50, 40)  # what serving learned about a copy removed by hand
    _file(onnx / ".export-abc123" / "model.onnx", 5_000_000, 0.5)  # an interrupted export, 12 h old
    _age(onnx / ".export-abc123", 0.5)
    _file(onnx / ".export-running" / "model.onnx", 5_000_000, 0.0)  # an export running now
    _file(onnx / ".old.onnx.1234.deadbeef", 100, 1)  # an interrupted atomic write
    _file(root / "int8" / "photos-8108-256-640x480.npz", 17_000_000, 100)
    _file(root / "int8" / "photos-8109-32-640x480.npz", 2_000_000, 3)
    _file(root / "demo-models" / "hair_loss" / "model.safetensors", 16_000_000, 200)
    _file(root / "lite0" / "imagenet" / "model.safetensors", 20_000_000, 200)
    return root


def names(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_prune_removes_what_nothing_used_for_the_given_days_and_keeps_the_rest(cache, capsys):
    before = names(cache)
    assert cache_files.main(["--cache", str(cache), "--prune", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert names(cache) == before  # a dry run removes nothing
    assert "--prune would remove 7 files" in out and "kept (needed offline)" in out
    marked = [line for line in out.splitlines() if line.endswith("| would be pruned |")]
    assert len(marked) == 7 and not [line for line in out.splitlines() if line.endswith("| pruned |")]

    assert cache_files.main(["--cache", str(cache), "--prune", "--older-than", "30"]) == 0
    out = capsys.readouterr().out
    assert names(cache) == {
        "onnx/current.onnx", "onnx/current-int8-r2.onnx", "onnx/current-int8-r2.shift.json",
        "onnx/.export-running/model.onnx",  # younger than an hour: perhaps a build running now
        "int8/photos-8109-32-640x480.npz",
        "demo-models/hair_loss/model.safetensors", "lite0/imagenet/model.safetensors",  # never pruned
    }
    freed = 13_000_000 + 3_800_000 + 70 + 3_800_000 + 50 + 5_000_000 + 100 + 17_000_000
    assert f"removed 7 files, {freed / 2**20:.1f} MB" in out
    assert len([line for line in out.splitlines() if line.endswith("| pruned |")]) == 7
    # a shorter horizon takes the rest of what may be pruned, the kept folders still stay
    cache_files.main(["--cache", str(cache), "--prune", "--older-than", "0.5"])
    assert names(cache) == {"onnx/.export-running/model.onnx", "demo-models/hair_loss/model.safetensors",
                            "lite0/imagenet/model.safetensors"}


def test_the_listing_shows_every_file_with_its_size_and_age(cache, capsys):
    assert scalp_models_main(["cache", "--cache", str(cache)]) == 0  # through the package's command line
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| "): line for line in out.splitlines() if line.startswith("| ")}
    assert "| int8 copy | 3.6 | 90.0 |" in rows["old-int8-r1.onnx"]
    assert "| fp32 export | 12.4 | 1.0 |" in rows["current.onnx"]
    assert "| int8 memory (copy gone) |" in rows["gone-int8-r1.shift.json"] and "| leftover |" in rows[".export-abc123"]
    assert ".export-running" not in rows  # may be a build running now: not listed as a leftover
    assert "| calibration photos | 16.2 | 100.0 |" in rows["photos-8108-256-640x480.npz"]
    assert "pruned" not in out  # listing only


def test_bad_settings_and_an_empty_cache_get_clear_answers(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cache_files.main(["--cache", str(tmp_path), "--prune", "--older-than", "-1"])
    assert exit_info.value.code == 2 and "--older-than must be a number of days ≥ 0, got -1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cache_files.main(["--older-than", "nan"])
    assert "got nan" in capsys.readouterr().err
    assert cache_files.main(["--cache", str(tmp_path / "none")]) == 0
    assert "no cache yet" in capsys.readouterr().out


def test_the_hint_appears_only_past_a_size(cache):
    assert cache_files.stale_hint(cache) is None  # ~40 MB to prune: not worth a line
    _file(cache / "onnx" / "big-old.onnx", 300 * 2**20, 60)
    hint = cache_files.stale_hint(cache)
    stale = cache_files.stale(cache_files.scan(cache), 30)
    assert len(stale) == 8 and "big-old.onnx" in {e.path.name for e in stale}
    assert hint.startswith(f"the cache holds {sum(e.size for e in stale) / 2**20:.0f} MB that nothing has used "
                           "for 30 days (8 files)")
    assert "python -m scalp_models cache --prune" in hint


def test_the_app_logs_the_hint_when_its_models_load(tmp_path, monkeypatch, caplog):
    """The app's model loader (ui.service) says, once its exports are marked, that the cache can be pruned."""
    pytest.importorskip("onnxruntime")
    from tiny_models import save_tiny_classifiers

    from ui.config import AppConfig
    from ui.service import ScalpService

    monkeypatch.setenv("SCALP_CACHE", str(tmp_path / "cache"))
    _file(tmp_path / "cache" / "onnx" / "a-year-old-model.onnx", 300 * 2**20, 365)
    models = save_tiny_classifiers(tmp_path / "models")
    with caplog.at_level(logging.INFO, logger="scalp_app"):
        ScalpService(AppConfig(models=str(models), backend="onnx")).diagnoser(timeout=120)
    hints = [r.getMessage() for r in caplog.records if "scalp_models cache --prune" in r.getMessage()]
    assert hints == ["the cache holds 300 MB that nothing has used for 30 days (1 file); "
                     "`python -m scalp_models cache --prune` removes them"]  # the new exports are not in it


def test_loading_a_cached_export_marks_it_used(tmp_path):
    """The real load paths mark their file: an export used every day is never pruned, however old."""
    pytest.importorskip("onnxruntime")
    import torch
    from tiny_models import SIZES, tiny_classifiers

    from scalp_models import onnx_backend, quantize

    key, (model, _) = next(iter(tiny_classifiers().items()))
    size = SIZES[key]
    folder = tmp_path / "cache" / "onnx"
    with torch.no_grad():
        path = onnx_backend.ensure_onnx(model, size, cache=folder)
    inode = path.stat().st_ino
    _age(path, 60)
    assert onnx_backend.ensure_onnx(model, size, cache=folder) == path and path.stat().st_ino == inode
    assert time.time() - path.stat().st_mtime < 60  # marked used, not exported again
    photos = quantize.generated_jpegs(1, seed=5, cache=tmp_path / "cache" / "int8")
    (npz,) = (tmp_path / "cache" / "int8").iterdir()
    _age(npz, 60)
    assert quantize.generated_jpegs(1, seed=5, cache=tmp_path / "cache" / "int8") == photos
    assert time.time() - npz.stat().st_mtime < 60
    assert cache_files.stale(cache_files.scan(tmp_path / "cache"), 30) == []


def test_a_copy_retired_while_serving_stays_retired_however_long_ago(cache, caplog):
    """A retired copy is never loaded again, but every start reads why it was retired: that marks the copy and
    its .shift.json used, so pruning cannot make the app forget the retirement and serve the copy again."""
    from scalp_models import int8_serving

    onnx = cache / "onnx"
    copy, kept = onnx / "current-int8-r2.onnx", onnx / "current-int8-r2.shift.json"
    kept.write_text('{"max_shift": 0.3, "retired": "a shadow re-check saw it move a probability by 0.300"}',
                    encoding="utf-8")
    for path in (copy, kept):
        _age(path, 400)
    assert copy in {e.path for e in cache_files.stale(cache_files.scan(cache), 30)}
    with caplog.at_level(logging.WARNING, logger="scalp_models.int8_serving"):
        assert "was retired to fp32 while serving" in int8_serving.retired_at_start(kept, "hair_loss")
    stale = {e.path for e in cache_files.stale(cache_files.scan(cache), 30)}
    assert copy not in stale and kept.is_file()
    copy.unlink()  # its copy removed by hand: what serving learned stays while starts still read it
    assert int8_serving.retired_at_start(kept, "hair_loss")
    assert kept not in {e.path for e in cache_files.stale(cache_files.scan(cache), 30)}
    _age(kept, 31)  # no start has read it for a month: the models it belonged to are gone
    assert kept in {e.path for e in cache_files.stale(cache_files.scan(cache), 30)}


def test_marking_a_file_that_cannot_be_touched_is_not_an_error(tmp_path):
    missing = tmp_path / "not-there.onnx"
    cache_files.mark_used(missing)  # no error: marking is best effort (as on a read-only or shared cache)
    assert not missing.exists()


def test_a_removal_that_fails_is_warned_about_and_not_counted(cache, monkeypatch, caplog):
    entries = cache_files.stale(cache_files.scan(cache), 30)
    target = next(e for e in entries if e.path.name == "old.onnx")

    def refuse(self, *args, **kwargs):
        if self.name == "old.onnx":
            raise PermissionError("read-only")
        return original(self, *args, **kwargs)

    original = Path.unlink
    monkeypatch.setattr(Path, "unlink", refuse)
    with caplog.at_level(logging.WARNING, logger="scalp_models.cache_files"):
        freed = cache_files.prune(entries)
    assert target.path.is_file() and "could not remove" in caplog.text
    assert freed == sum(e.size for e in entries) - target.size


def test_a_file_removed_while_scanning_is_left_out(cache, monkeypatch):
    """Another process may finish a build or prune the same cache meanwhile: the scan goes on without it."""
    real = cache_files._tree_size

    def vanishing(path):
        if path.name == "old.onnx":
            raise FileNotFoundError(path)
        return real(path)

    monkeypatch.setattr(cache_files, "_tree_size", vanishing)
    scanned = {e.path.name for e in cache_files.scan(cache)}
    assert "old.onnx" not in scanned and {"current.onnx", "old-int8-r1.onnx", "demo-models"} <= scanned
