"""bench/load_parts.py: exclusive CPU counters per part, the 1.6× bound, and a small run through a real app."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "bench"))

import load_parts  # noqa: E402  (bench/ is scripts, not a package)


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_nested_part_is_counted_once_in_itself_on_every_thread():
    counters = load_parts.Counters()
    inner = counters.wrap("inner", lambda: _spin(0.02))

    def outer_body():
        _spin(0.03)
        inner()

    outer = counters.wrap("outer", outer_body)
    threads = [threading.Thread(target=outer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counters.calls == {"inner": 2, "outer": 2}
    assert counters.cpu["inner"] == pytest.approx(0.04, abs=0.01)
    assert counters.cpu["outer"] == pytest.approx(0.06, abs=0.01)  # its own 2 × 30 ms, not the inner 2 × 20
    counters.reset()
    assert not counters.cpu and not counters.calls


def test_every_counted_part_names_a_method_that_exists():
    """A renamed method would leave its part at zero; the bench refuses to start instead."""
    for part, target in load_parts.PARTS:
        module, _, attribute = target.partition(":")
        owner_name, method = attribute.split(".")
        assert callable(getattr(getattr(importlib.import_module(module), owner_name), method)), part
    assert set(load_parts.MODEL_PARTS) <= {part for part, _ in load_parts.PARTS}


def _result(models: float, shared: float) -> dict:
    parts = dict.fromkeys((p for p, _ in load_parts.PARTS), 0.0)
    parts["six models"] = models
    return {"process_ms": models + shared, "parts_ms": parts}


def test_the_bound_is_the_shared_cpu_at_which_int8_serves_exactly_the_goal():
    b = load_parts.bound(_result(70.0, 30.0), _result(35.0, 30.0))
    assert b["models_ratio"] == pytest.approx(2.0)
    allowed = b["shared_allowed_ms"]
    assert allowed == pytest.approx((70 - 1.6 * 35) / 0.6)
    assert (allowed + 70) / (allowed + 35) == pytest.approx(load_parts.GOAL)  # throughput ∝ 1 / CPU
    assert load_parts.bound(_result(60.0, 30.0), _result(40.0, 30.0))["shared_allowed_ms"] < 0  # 1.5×: never


def test_a_small_run_counts_every_part_of_a_real_diagnosis(tmp_path):
    out = tmp_path / "parts.json"
    proc = subprocess.run([sys.executable, "bench/load_parts.py", "--models", "tiny", "--backends", "onnx",
                           "--clients", "1", "--calls", "3", "--json", str(out)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text(encoding="utf-8"))["results"][0]
    assert result["diagnoses"] == 3
    parts = result["parts_ms"]
    for part in ("decode and upload claim", "photo check (Lite0 aside)", "Lite0 features", "six models",
                 load_parts.LOOP):
        assert parts[part] > 0, part
    assert parts["int8 re-check and shadows"] == 0  # fp32 serves: nothing to re-check
    assert sum(parts.values()) <= result["process_ms"] + 1.0
    assert "| photo check (Lite0 aside) |" in proc.stdout and "server CPU in all" in proc.stdout


def test_the_load_benches_share_one_photo_set_and_can_make_it_phone_sized(tmp_path):
    """bench/load.py and bench/load_parts.py diagnose the same generated photos; ``--photo_side`` rewrites
    them as phone-sized JPEGs (the decoding those cost is what the option measures)."""
    from load import distinct_photos
    from PIL import Image

    plain = distinct_photos(tmp_path / "plain", 3)
    phone = distinct_photos(tmp_path / "phone", 3, photo_side=1280)
    assert [p.name for p in plain] == [p.name for p in phone]
    for small, big in zip(plain, phone):
        with Image.open(small) as a, Image.open(big) as b:
            assert a.size == (640, 480) and b.size == (1280, 960) and b.format == "JPEG"
            assert np.asarray(b.resize(a.size)).astype(int).mean() == pytest.approx(
                np.asarray(a).astype(int).mean(), abs=3)  # the same photo, larger
    assert len({p.read_bytes() for p in plain}) == 3  # distinct photos
