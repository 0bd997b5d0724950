"""The project's layout stays true: stages import downwards only, with no circles and no private names.

Every module's imports are read with ``ast`` (imports inside functions count too) and checked
against the layers of ``docs/ARCHITECTURE.md``:

    0 scalp_core → 1 synthetic → 2 datasets_prep → 3 scalp_models
      → 4 photo_check | hub_upload | recommendation → 5 pipeline | ui → 6 app

A module may import its own package and lower layers only; packages on one layer do not import
each other; ``scalp_core`` imports nothing of the project; no module imports another module's
``_private`` name; no module is over :data:`MAX_LINES` lines; and no module imports a package that
only ``requirements-dev.txt`` installs (the app and a Space run on ``requirements.txt`` alone). The
checker itself is tested on small made-up trees, so a broken checker cannot pass silently.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {
    "scalp_core": 0,
    "synthetic": 1,
    "datasets_prep": 2,
    "scalp_models": 3,
    "photo_check": 4,
    "hub_upload": 4,
    "recommendation": 4,
    "pipeline": 5,
    "ui": 5,
    "app": 6,
}
MAX_LINES = 450


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported project module
    names: tuple[str, ...]  # names taken from it (``from target import a, b``), if any
    line: int


def project_modules(root: Path) -> dict[str, Path]:
    """Dotted module name → file, for every module of the layered packages under ``root``."""
    found = {}
    for package in LAYERS:
        if (root / f"{package}.py").is_file():
            found[package] = root / f"{package}.py"
        if (root / package).is_dir():
            for path in sorted((root / package).rglob("*.py")):
                parts = path.relative_to(root).with_suffix("").parts
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """The project imports of one module; ``from pkg import sub`` counts as importing ``pkg.sub``."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LAYERS:
                    yield Import(name, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] not in LAYERS:
                continue
            names = []
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    yield Import(name, f"{base}.{alias.name}", (), node.lineno)
                else:
                    names.append(alias.name)
            if names:
                yield Import(name, base, tuple(names), node.lineno)


# The import names of the packages requirements-dev.txt adds to requirements.txt.
DEV_ONLY_IMPORTS = {"pytest": "pytest", "pytest-timeout": "pytest_timeout", "pytest-xdist": "xdist",
                    "scikit-image": "skimage", "playwright": "playwright", "pypdfium2": "pypdfium2", "ruff": "ruff"}


def dev_only_packages(root: Path) -> set[str]:
    """The distributions pinned in requirements-dev.txt itself (its ``-r requirements.txt`` aside)."""
    lines = (root / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
    return {line.split("==")[0].strip().lower() for line in lines
            if line.strip() and not line.lstrip().startswith(("#", "-r"))}


def third_party_imports(path: Path) -> Iterator[tuple[str, int]]:
    """(top-level package, line) of every absolute import in one module, inside functions too."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module.split(".")[0], node.lineno


def import_graph(root: Path) -> tuple[dict[str, Path], list[Import]]:
    known = project_modules(root)
    return known, [imp for name, path in known.items() for imp in imports_of(name, path, known)]


def layer_problems(imports: list[Import], known: dict[str, Path]) -> list[str]:
    problems = []
    for imp in imports:
        if imp.target not in known:
            problems.append(f"{imp.module}:{imp.line} imports {imp.target}, which is not a module of the project")
            continue
        src, dst = imp.module.split(".")[0], imp.target.split(".")[0]
        if src != dst and LAYERS[dst] >= LAYERS[src]:
            problems.append(f"{imp.module}:{imp.line} imports {imp.target}: {dst} (layer {LAYERS[dst]}) is not "
                            f"below {src} (layer {LAYERS[src]})")
        private = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
        if private and imp.target != imp.module:
            problems.append(f"{imp.module}:{imp.line} imports the private name(s) {private} of {imp.target}")
    return problems


def import_circles(imports: list[Import], known: dict[str, Path]) -> list[list[str]]:
    """Strongly connected groups of more than one module (or a module importing itself)."""
    graph: dict[str, set[str]] = {name: set() for name in known}
    for imp in imports:
        if imp.target in graph:
            graph[imp.module].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph[v]:
                circles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


# ---- the real tree ---------------------------------------------------------------------------
def test_every_stage_imports_downwards_only_and_no_private_names():
    known, imports = import_graph(ROOT)
    assert {"scalp_core.symptoms", "app", "ui.api"} <= set(known)
    assert layer_problems(imports, known) == []


def test_no_import_circles():
    known, imports = import_graph(ROOT)
    assert import_circles(imports, known) == []


def test_scalp_core_imports_nothing_of_the_project():
    known, imports = import_graph(ROOT)
    outside = [f"{i.module}:{i.line} → {i.target}" for i in imports
               if i.module.startswith("scalp_core") and not i.target.startswith("scalp_core")]
    assert outside == []


def test_no_module_is_far_past_one_purpose():
    long = {name: n for name, path in project_modules(ROOT).items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules at their seams (at most {MAX_LINES} lines each)"


def test_no_module_imports_a_test_only_package():
    pinned = dev_only_packages(ROOT)
    assert pinned == set(DEV_ONLY_IMPORTS), "name the import of each requirements-dev.txt package here"
    dev_only = set(DEV_ONLY_IMPORTS.values())
    found = [f"{name}:{line} imports {package}" for name, path in project_modules(ROOT).items()
             for package, line in third_party_imports(path) if package in dev_only]
    assert found == [], "runtime code must run on requirements.txt alone"


# ---- the checker itself, on made-up trees ----------------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in LAYERS:
        if (tmp_path / package).is_dir():
            (tmp_path / package / "__init__.py").touch()
    return tmp_path


def test_checker_finds_circles_even_through_imports_inside_functions(tmp_path):
    root = _tree(tmp_path, {
        "scalp_models/a.py": "from scalp_models.b import f\n",
        "scalp_models/b.py": "def f():\n    from scalp_models import a\n",
        "scalp_models/c.py": "from scalp_models.b import f\n",
    })
    known, imports = import_graph(root)
    assert import_circles(imports, known) == [["scalp_models.a", "scalp_models.b"]]


def test_checker_finds_upward_and_sideways_imports_and_private_names(tmp_path):
    root = _tree(tmp_path, {
        "scalp_core/x.py": "import ui.views\n",
        "ui/views.py": "from app import demo\n",
        "hub_upload/push.py": "from recommendation.catalog import load\nfrom .card import _read_json\n",
        "hub_upload/card.py": "def _read_json(): ...\n",
        "recommendation/catalog.py": "from scalp_core.x import y\n",
        "app.py": "from ui.views import t\n",
    })
    known, imports = import_graph(root)
    problems = "\n".join(layer_problems(imports, known))
    assert "scalp_core.x:1 imports ui.views" in problems
    assert "ui.views:1 imports app" in problems
    assert "hub_upload.push:1 imports recommendation.catalog" in problems  # same layer: sideways
    assert "private name(s) ['_read_json'] of hub_upload.card" in problems
    assert "recommendation.catalog" not in problems.split("imports recommendation.catalog")[-1]
    assert not any(p.startswith(("app:", "recommendation.catalog:")) for p in layer_problems(imports, known))


def test_checker_finds_a_test_only_import_inside_a_function(tmp_path):
    root = _tree(tmp_path, {"synthetic/scenes.py": "def photo():\n    import skimage.data\n",
                            "ui/x.py": "from pypdfium2 import PdfDocument\nimport numpy\n"})
    found = {(package, line) for path in (root / "synthetic/scenes.py", root / "ui/x.py")
             for package, line in third_party_imports(path)}
    assert found == {("skimage", 2), ("pypdfium2", 1), ("numpy", 2)}


@pytest.mark.parametrize("relative, expected", [("from . import b", "scalp_models.b"),
                                                ("from .b import f", "scalp_models.b"),
                                                ("from . import f as g", "scalp_models")])
def test_checker_resolves_relative_imports(tmp_path, relative, expected):
    root = _tree(tmp_path, {"scalp_models/a.py": relative + "\n", "scalp_models/b.py": "f = 1\n"})
    known, imports = import_graph(root)
    assert [i.target for i in imports if i.module == "scalp_models.a"] == [expected]
