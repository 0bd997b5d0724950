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
    # the selection is the project's own: a finding of a selected rule fails the check
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n", encoding="utf-8")
    flagged = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                              str(REPO_ROOT / "pyproject.toml"), str(bad)], capture_output=True, text=True, timeout=60)
    assert flagged.returncode == 1 and "F401" in flagged.stdout
