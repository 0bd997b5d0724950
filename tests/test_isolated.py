"""``scalp_core.isolated.run_isolated``: one build step in a fresh Python process (real child processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from multiprocessing.connection import wait  # a module-level function that sleeps: wait([], timeout)
from pathlib import Path

import pytest

from scalp_core.isolated import IsolatedError, run_isolated

ROOT = Path(__file__).resolve().parents[1]


def children_of(pid: int) -> list[int]:
    try:
        return [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]
    except OSError:
        return []


def test_the_function_runs_in_another_process_and_its_result_comes_back():
    assert run_isolated(os.getpid) != os.getpid()
    assert run_isolated(json.loads, {"s": '{"a": [1, 2]}'}) == {"a": [1, 2]}


def test_a_failing_child_raises_with_the_end_of_its_output(capsys):
    with pytest.raises(IsolatedError, match=r"(?s)json:loads failed.*exit status 1.*JSONDecodeError"):
        run_isolated(json.loads, {"s": "not json"})


def test_only_importable_module_level_functions_are_accepted():
    def local():
        return 1

    for function in (local, lambda: 1):
        with pytest.raises(ValueError, match="not a module-level function"):
            run_isolated(function)


def test_a_child_that_runs_too_long_is_stopped():
    start = time.monotonic()
    with pytest.raises(IsolatedError, match="did not finish within 2 s"):
        run_isolated(wait, {"object_list": [], "timeout": 30}, timeout=2)
    assert time.monotonic() - start < 20


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find the child process")
def test_the_child_stops_when_the_process_that_started_it_is_killed():
    """The app stopped mid-build (a Space restart, Ctrl-C twice) leaves no build running behind it."""
    code = ("from multiprocessing.connection import wait; from scalp_core.isolated import run_isolated; "
            "run_isolated(wait, {'object_list': [], 'timeout': 60})")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not (kids := children_of(parent.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert kids, "the child process did not start"
        child = kids[0]
        time.sleep(1.5)  # past its imports, into the wait
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
            try:  # reaped by init once it exits; a zombie still has a /proc entry with state Z
                if "State:\tZ" in Path(f"/proc/{child}/status").read_text():
                    break
            except OSError:
                break
            time.sleep(0.2)
        state = Path(f"/proc/{child}/status").read_text() if Path(f"/proc/{child}").exists() else "gone"
        assert state == "gone" or "State:\tZ" in state, state
    finally:
        parent.kill()
