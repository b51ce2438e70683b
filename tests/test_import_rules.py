"""Layering rules from pyproject's [tool.importlinter]: detector never imports Qt, desktop uses the public API."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_lint_imports_contracts_hold():
    if not (REPO_ROOT / "desktop" / "__init__.py").is_file():
        pytest.skip("desktop/ is not written yet; the contracts name it as a root package")
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    result = subprocess.run([exe, "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_importing_every_detector_module_loads_no_qt():
    """The same rule, checked by running it: a headless server must not need Qt libraries."""
    code = (
        "import importlib, pkgutil, sys, detector\n"
        "for m in pkgutil.walk_packages(detector.__path__, 'detector.'):\n"
        "    if m.name != 'detector.__main__':\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('PySide6', 'shiboken6', 'desktop'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_importing_detector_is_quick_and_every_public_name_resolves():
    """`import detector` loads no torch (the app's splash shows first); each advertised name then works."""
    code = (
        "import sys, detector\n"
        "assert 'torch' not in sys.modules, 'import detector loaded torch'\n"
        "missing = [n for n in detector.__all__ if getattr(detector, n, None) is None]\n"
        "assert not missing, missing\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout + result.stderr


def test_listing_the_models_loads_no_torch_and_knows_the_same_backbones():
    """The app's model picker lists the manifests before torch has loaded (the window opens meanwhile)."""
    code = (
        "import sys\n"
        "from detector import list_models\n"
        "from detector.models.config import BACKBONE_NAMES\n"
        "names = [spec.name for spec in list_models()]\n"
        "assert 'torch' not in sys.modules, 'list_models loaded torch'\n"
        "from detector.models.backbone import BACKBONES\n"
        "assert tuple(BACKBONES) == BACKBONE_NAMES, (tuple(BACKBONES), BACKBONE_NAMES)\n"
        "print('ok', len(names))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stdout + result.stderr


def test_the_names_tools_see_are_the_names_detector_exports():
    """IDEs, type checkers and PyInstaller read the TYPE_CHECKING imports; they must list what __all__ does."""
    import ast

    import detector

    tree = ast.parse((REPO_ROOT / "detector" / "__init__.py").read_text())
    for_tools = {alias.asname or alias.name
                 for node in ast.walk(tree) if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
                 for statement in node.body if isinstance(statement, ast.ImportFrom)
                 for alias in statement.names}
    assert for_tools == set(detector.__all__)
