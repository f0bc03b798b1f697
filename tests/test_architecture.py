"""The import rules of docs/architecture.md, read from the source (so a violation fails here,
not in a user's import)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ib_nlp"
VISION = PACKAGE.parent / "vision"
# Modules that compute explanations, which the rendering UI must not import.
COMPUTING = ("text.classifier", "text.sites", "text.methods.", "text.sweep", "text.metrics", "evaluation", "api", "vision")


def package_imports(path: Path, package: tuple[str, ...] | None = None) -> set[str]:
    """Every package module ``path`` imports, as its dotted name below ``ib_nlp`` (``core.optimise``,
    ``text.methods.iba``); ``from ib_nlp.x import y`` counts as ``x.y`` when ``y`` is a module.
    ``package``: where the file sits below ``ib_nlp`` (default: from its path)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = package if package is not None else path.relative_to(PACKAGE).parts[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = here[: len(here) - node.level + 1] + tuple(part for part in (node.module or "").split(".") if part)
            elif node.module and node.module.split(".")[0] == "ib_nlp":
                parts = tuple(node.module.split(".")[1:])
            else:
                continue
            modules = [".".join(parts + (alias.name,)) for alias in node.names if module_exists(parts + (alias.name,))]
            found.update(modules or ([".".join(parts)] if parts else []))
        elif isinstance(node, ast.Import):
            found.update(alias.name.removeprefix("ib_nlp.") for alias in node.names if alias.name.startswith("ib_nlp."))
    return found


def module_exists(parts: tuple[str, ...]) -> bool:
    base = VISION.joinpath(*parts[1:]) if parts[:1] == ("vision",) else PACKAGE.joinpath(*parts)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def within(names: set[str], allowed: tuple[str, ...]) -> set[str]:
    """The names not equal to or below one of ``allowed``."""
    return {name for name in names if not any(name == prefix or name.startswith(prefix + ".") for prefix in allowed)}


def test_the_reader_of_imports_sees_relative_and_absolute_imports():
    assert {"core.statistics", "errors", "io"} <= package_imports(PACKAGE / "core" / "readout_head.py")
    assert {"text.methods", "io"} <= package_imports(PACKAGE / "ui" / "report.py")
    assert "vision.base" in package_imports(VISION / "iba.py", package=("vision",))


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").glob("*.py")), ids=lambda path: path.name)
def test_core_imports_neither_text_nor_vision_nor_the_ui(path):
    outside = within(package_imports(path), ("core", "errors", "io", "options"))
    assert not outside, f"{path.name} imports {sorted(outside)}"


@pytest.mark.parametrize("path", sorted(VISION.glob("*.py")), ids=lambda path: path.name)
def test_vision_uses_the_core_not_the_text_side(path):
    outside = within(package_imports(path, package=("vision",)), ("core", "errors", "options", "vision"))
    assert not outside, f"{path.name} imports {sorted(outside)}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "text").rglob("*.py")), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_the_text_side_knows_neither_images_nor_runs_nor_the_command_line(path):
    outside = within(package_imports(path), ("core", "errors", "io", "options", "text", "ui.report", "ui.markdown"))
    assert not outside, f"{path.name} imports {sorted(outside)}"


@pytest.mark.parametrize("name", ["report.py", "plots.py"])
def test_the_ui_renders_and_never_computes(name):
    used = package_imports(PACKAGE / "ui" / name)
    computing = {module for module in used if any(module == prefix.rstrip(".") and not prefix.endswith(".") or module.startswith(prefix) for prefix in COMPUTING)}
    assert not computing, f"{name} imports {sorted(computing)}"


def test_the_result_type_imports_the_report_and_the_report_names_the_type_for_annotations_only():
    """No import hidden in a function to dodge a cycle: Explanation renders itself through the
    report, and the report imports Explanation only under TYPE_CHECKING."""
    explanation = ast.parse((PACKAGE / "text" / "explanation.py").read_text(encoding="utf-8"))
    top_level = {node.module for node in explanation.body if isinstance(node, ast.ImportFrom)}
    assert "ib_nlp.ui" in top_level
    report = ast.parse((PACKAGE / "ui" / "report.py").read_text(encoding="utf-8"))
    runtime = {node.module for node in report.body if isinstance(node, ast.ImportFrom)}
    guarded = {node.module for block in report.body if isinstance(block, ast.If) for node in block.body if isinstance(node, ast.ImportFrom)}
    assert "ib_nlp.text.explanation" in guarded and "ib_nlp.text.explanation" not in runtime


def test_the_evaluation_runner_knows_neither_text_nor_images():
    assert not within(package_imports(PACKAGE / "evaluation" / "runner.py"), ("errors", "io"))


def test_the_image_evaluation_reaches_images_only_through_the_vision_package():
    used = package_imports(PACKAGE / "evaluation" / "image.py")
    assert any(name.startswith("vision") for name in used) and not within(used, ("vision", "evaluation", "errors", "io", "ui.markdown"))


def test_the_tests_mirror_the_package_tree():
    tests = Path(__file__).resolve().parent
    for folder in ("core", "text", "evaluation", "ui", "vision"):
        assert list((tests / folder).glob("test_*.py")), f"tests/{folder}/ holds no tests"
