"""Run one build step in a fresh Python process, so its memory goes back to the system when it ends.

The app builds things once per cache: the demo models on a first start, and the int8 copies with
``--backend int8``. Done inside the serving process, a build leaves its heap behind (the allocator
keeps freed memory in fragmented arenas): a first start on an empty cache peaked at 2.3 GiB and served
slower afterwards. In a child process the build's memory is returned when the child exits, and a crash
in a native library (the quantizer, the exporter) fails the step instead of the app.

    run_isolated(build_demo_models_from_json, {"out": "/cache/.demo-build-x", "config": {...}})

``function`` must be a module-level function taking JSON-able keyword arguments and returning a JSON-able
value; the child imports its module (``python -m scalp_core.isolated``), calls it, and exits. The child
gets this interpreter and environment, runs at most ``timeout`` seconds and stops when this process ends.
Its log lines and warnings go to this process's stderr. A failure raises :class:`IsolatedError` with the
end of the child's output.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

OUTPUT_TAIL = 2000  # characters of the child's output kept in an error
RESULT_MARK = "scalp-isolated-result: "  # the child's last stdout line: the function's result as JSON
ROOT = Path(__file__).resolve().parents[1]  # the project, so the child imports the same code


class IsolatedError(RuntimeError):
    """The child process failed (its exit status and the end of its output are in the message)."""


def run_isolated(function: Callable, kwargs: dict | None = None, *, timeout: float | None = None):
    """``function(**kwargs)``, called in a fresh Python process."""
    target = f"{function.__module__}:{function.__qualname__}"
    if any(c in function.__qualname__ for c in ".<") or function.__module__ in (None, "__main__"):
        raise ValueError(f"{target} is not a module-level function of an importable module")
    payload = json.dumps({"target": target, "kwargs": kwargs or {}, "parent": os.getpid()})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "scalp_core.isolated"], input=payload, env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        raise IsolatedError(f"{target} did not finish within {timeout:.0f} s") from err
    if done.stderr:
        sys.stderr.write(done.stderr)
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines or not lines[-1].startswith(RESULT_MARK):
        output = (done.stdout + done.stderr).strip()[-OUTPUT_TAIL:]
        raise IsolatedError(f"{target} failed in its child process (exit status {done.returncode}):\n{output}")
    log.debug("%s finished in a child process in %.1f s", target, time.perf_counter() - start)
    return json.loads(lines[-1][len(RESULT_MARK):])


def _stop_with_parent(parent: int) -> None:
    """Exit when the process that started this one is gone (the app was stopped mid-build)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(3)


def main() -> int:
    request = json.loads(sys.stdin.read())
    threading.Thread(target=_stop_with_parent, args=(request["parent"],), daemon=True).start()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    module, name = request["target"].split(":")
    result = getattr(importlib.import_module(module), name)(**request["kwargs"])
    print(f"\n{RESULT_MARK}{json.dumps(result)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
