"""The import rules of docs/architecture.md, read from the source (so a violation fails here,
not in a user's import)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ib_nlp"
# What the modality-free core may use of the package.
CORE_MAY_IMPORT = {"errors", "io", "options", "interrupt", "statistics", "bottleneck", "core"}
# Modules that compute explanations, which the UI must not import (it renders results).
COMPUTING = {"classifier", "iba", "input_iba", "readout", "signed_iba", "contrastive_iba", "sites", "evaluation", "sweep", "api"}


def package_imports(path: Path) -> set[str]:
    """The first component below ``ib_nlp`` of every package module ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    depth = len(path.relative_to(PACKAGE).parts) - 1
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = path.relative_to(PACKAGE).parts[: depth - node.level + 1] + tuple((node.module or "").split("."))
                parts = tuple(part for part in parts if part)
                names = [parts[0]] if parts else [alias.name for alias in node.names]
            elif node.module and node.module.split(".")[0] == "ib_nlp":
                rest = node.module.split(".")[1:]
                names = [rest[0]] if rest else [alias.name for alias in node.names]
            else:
                continue
            found.update(name.removesuffix(".py") for name in names)
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names if alias.name.startswith("ib_nlp."))
    return found


def test_the_reader_of_imports_sees_relative_and_absolute_imports(tmp_path):
    assert {"errors", "io", "statistics"} <= package_imports(PACKAGE / "core" / "readout_head.py")
    assert {"attr", "io"} <= package_imports(PACKAGE / "ui" / "report.py")


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").glob("*.py")), ids=lambda path: path.name)
def test_core_imports_neither_text_nor_vision_nor_the_ui(path):
    assert package_imports(path) <= CORE_MAY_IMPORT, f"{path.name} imports {sorted(package_imports(path) - CORE_MAY_IMPORT)}"


@pytest.mark.parametrize("name", ["report.py", "plots.py"])
def test_the_ui_renders_and_never_computes(name):
    assert not package_imports(PACKAGE / "ui" / name) & COMPUTING, f"{name} imports {sorted(package_imports(PACKAGE / 'ui' / name) & COMPUTING)}"


def test_the_result_type_and_the_report_import_each_other_in_one_direction_only():
    """``Explanation`` renders itself through the report; the report knows the type only for
    annotations, so neither import is hidden inside a function to dodge a cycle."""
    report = (PACKAGE / "ui" / "report.py").read_text(encoding="utf-8")
    explanation = (PACKAGE / "explanation.py").read_text(encoding="utf-8")
    assert "from ib_nlp.ui import report" in explanation
    assert "if TYPE_CHECKING:\n    from ..explanation import Explanation" in report
    assert not [line for line in explanation.splitlines() if line.startswith("        from ") and "report" in line]


VISION = PACKAGE.parent / "vision"
# What the image code may use of the package: the core and the modality-free modules.
VISION_MAY_IMPORT = {"core", "bottleneck", "statistics", "errors", "options", "interrupt"}


@pytest.mark.parametrize("path", sorted(VISION.glob("*.py")), ids=lambda path: path.name)
def test_vision_uses_the_core_not_the_text_internals(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    used = {node.module.split(".")[1] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ib_nlp.")}
    assert used <= VISION_MAY_IMPORT, f"{path.name} imports ib_nlp.{sorted(used - VISION_MAY_IMPORT)}"


def test_the_evaluation_runner_knows_neither_text_nor_images():
    assert package_imports(PACKAGE / "evaluation" / "runner.py") <= {"errors", "io"}


def test_the_image_evaluation_reaches_images_only_through_the_vision_package():
    used = package_imports(PACKAGE / "evaluation" / "image.py")
    assert "vision" in used and not used & {"classifier", "iba", "attr", "metrics", "sites", "text"}
