"""The code passes ruff with the rule selection in pyproject.toml (ruff pinned in requirements-dev.txt)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_the_code_passes_ruff_with_the_projects_rules(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    # the selection is the project's own, not ruff's defaults: E402 is in it and not in 0.17's defaults, and
    # B905 (zip without strict=) is in bugbear but ignored
    late = tmp_path / "late.py"
    late.write_text("import os\n\nLATE = 1\nimport sys\n\nprint(os.sep, sys.argv, LATE, list(zip(sys.argv, sys.argv)))\n",
                    encoding="utf-8")

    def ruff(*options: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
                               *options, str(late)], capture_output=True, text=True, timeout=60)

    flagged = ruff("--config", str(REPO_ROOT / "pyproject.toml"))
    assert flagged.returncode == 1 and "E402" in flagged.stdout and "B905" not in flagged.stdout, flagged.stdout
    assert ruff("--isolated").returncode == 0  # ruff's own defaults pass it
