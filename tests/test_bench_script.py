"""Smoke tests of the benchmark scripts: each runs and prints its table."""

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


SCRIPTS = SCRIPT.parent


@pytest.mark.slow
def test_thread_benchmark_prints_one_row_per_model(tmp_path: Path) -> None:
    command = [sys.executable, str(SCRIPTS / "bench_threads.py"), "--models", "imdb-lstm", "--threads", "1", "2", "--repeats", "1", "--imdb", str(tmp_path / "none.parquet")]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("| model |"))
    assert header == "| model | tokens | 1 thread(s) s | 2 thread(s) s | time at 2 / at 1 |"
    row = next(line for line in result.stdout.splitlines() if line.startswith("| imdb-lstm |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert len(cells) == 5 and float(cells[4].rstrip("x")) == pytest.approx(float(cells[3]) / float(cells[2]), rel=0.01, abs=0.01)


@pytest.mark.slow
def test_cli_benchmark_reports_start_up_and_stages(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPTS / "bench_cli.py"), "--repeats", "1"], capture_output=True, text=True, check=False, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("| `ib-nlp --help` |") for line in lines) and any(line.startswith("| `ib-nlp models` |") for line in lines)
    stages = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in lines if line.startswith(("| import |", "| load |", "| explanation |"))}
    assert set(stages) == {"import", "load", "explanation"} and all(value > 0 for value in stages.values())
