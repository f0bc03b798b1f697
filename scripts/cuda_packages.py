"""List the CUDA packages (``nvidia-*``, ``cuda-*``) in a pip installation report.

Used by ``install.sh``: ``pip install --dry-run --report FILE ...`` writes the report, and
this prints one CUDA package per line and exits 1 if there is any (0 if there is none), so a
CPU-only machine never downloads several GB of CUDA wheels.

    python scripts/cuda_packages.py report.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CUDA_PREFIXES = ("nvidia-", "cuda-")


def cuda_packages(report: dict) -> list[str]:
    """``name==version`` of every package of the report's install list whose name starts with a CUDA prefix."""
    found = []
    for item in report.get("install", []):
        name = item["metadata"]["name"].lower().replace("_", "-")
        if name.startswith(CUDA_PREFIXES):
            found.append(f"{name}=={item['metadata']['version']}")
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="List the CUDA packages of a pip installation report (exit 1 if any).")
    parser.add_argument("report", type=Path, help="the JSON file written by pip install --dry-run --report")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text(encoding="utf-8"))
    found = cuda_packages(report)
    for name in found:
        print(name)
    print(f"{len(found)} CUDA package(s) among {len(report.get('install', []))} to install", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
