"""Smoke test of scripts/bench_iba.py: the quick benchmark runs and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench_iba.py"


@pytest.mark.slow
def test_quick_benchmark_prints_table(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--lengths", "16", "--threads", "1", "--device", "cpu"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("| seq len |"))
    assert "full (naive) s" in header and "speed-up vs naive" in header and "peak RSS prefix MB" in header
    row = next(line for line in lines if line.startswith("| 16 |"))
    assert len(row.split("|")) == len(header.split("|"))
    assert "16 tokens: max |bits(prefix) - bits(full, frozen)| = " in result.stdout
