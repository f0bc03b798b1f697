"""The installer's CUDA check (scripts/cuda_packages.py) on pip installation reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "scripts" / "cuda_packages.py"


def _report(*packages: tuple[str, str]) -> dict:
    return {"version": "1", "install": [{"metadata": {"name": name, "version": version}} for name, version in packages]}


@pytest.mark.parametrize(
    ("packages", "expected"),
    [
        ([("torch", "2.13.0+cpu"), ("numpy", "2.3.0")], []),
        ([("torch", "2.13.0"), ("nvidia-cudnn-cu13", "9.1"), ("cuda-toolkit", "13.0"), ("sympy", "1.14")], ["cuda-toolkit==13.0", "nvidia-cudnn-cu13==9.1"]),
        ([("NVIDIA_cusparselt_cu13", "0.7")], ["nvidia-cusparselt-cu13==0.7"]),
        ([("cudatext", "1.0"), ("my-nvidia-tools", "1.0")], []),
    ],
)
def test_cuda_packages_found_by_name(tmp_path: Path, packages: list[tuple[str, str]], expected: list[str]) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(_report(*packages)))
    done = subprocess.run([sys.executable, str(SCRIPT), str(report)], capture_output=True, text=True, check=False)
    assert done.returncode == (1 if expected else 0)
    assert done.stdout.split() == expected
    assert f"{len(expected)} CUDA package(s) among {len(packages)}" in done.stderr


def test_installer_checks_before_installing() -> None:
    installer = (Path(__file__).parents[1] / "install.sh").read_text()
    check = installer.index("cuda_in_report >&2")
    assert check < installer.index('python -m pip install --quiet "${index[@]}" "$torch"')
    assert "--dry-run" in installer and "--report" in installer


def test_every_package_folder_is_installed_and_vision_lands_inside_ib_nlp() -> None:
    """The package list is explicit (vision/ is mapped to ib_nlp.vision), so a new subpackage
    must be added to it; nothing named ``vision`` may land in site-packages."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    mapped = {folder: name for name, folder in settings["package-dir"].items()}
    files = [*ROOT.glob("ib_nlp/**/*.py"), *ROOT.glob("vision/**/*.py"), *(path for path in ROOT.glob("ib_nlp/assets/**/*") if path.is_file())]
    folders = {folder for path in files for folder in path.relative_to(ROOT).parents if folder != Path(".")}
    expected = set()
    for folder in folders:
        relative = folder.as_posix()
        top, _, rest = relative.partition("/")
        name = mapped.get(top, top) + ("." + rest.replace("/", ".") if rest else "")
        if all(part.isidentifier() for part in name.split(".")):
            expected.add(name)
    assert set(settings["packages"]) == expected
    assert all(not name.split(".")[0] == "vision" for name in settings["packages"])
