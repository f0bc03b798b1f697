"""The installer's CUDA check (scripts/cuda_packages.py) on pip installation reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "cuda_packages.py"


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
