#!/usr/bin/env bash
# Install ib-nlp (editable) into the active Python environment, with a torch build that fits
# the machine: on a machine without an NVIDIA GPU, the CPU build (no CUDA wheels, which are
# several GB); with one, the default build.
#
#   bash install.sh          # the package
#   bash install.sh test     # the package and an extra (test, vision, train; comma-separated)
#
# Before installing, the whole set is resolved with `pip install --dry-run --report`; on a
# machine without a GPU the install stops if any nvidia-* or cuda-* package is in it.
# IB_NLP_TORCH_VERSION overrides the torch version (default 2.13.0, the tested one).
set -euo pipefail
cd "$(dirname "$0")"

torch="torch==${IB_NLP_TORCH_VERSION:-2.13.0}"
package=".${1:+[$1]}"
cpu_index="https://download.pytorch.org/whl/cpu"
report="$(mktemp)"
trap 'rm -f "$report"' EXIT

has_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }
# Resolve without installing (every package counted, even those already installed).
resolve() { python -m pip install --quiet --dry-run --ignore-installed --report "$report" "$@"; }
cuda_in_report() { python scripts/cuda_packages.py "$report"; }

python -m pip install --quiet --upgrade pip
index=()
if ! has_gpu; then
    resolve "$torch"
    # The default indexes offer a CUDA build of torch (PyPI's Linux wheels): take the CPU
    # build from PyTorch's index, whose "+cpu" version wins over PyPI's for the same pin.
    if ! cuda_in_report >/dev/null 2>&1; then
        echo "install.sh: no GPU here, so torch comes from the CPU index $cpu_index" >&2
        index=(--extra-index-url "$cpu_index")
    fi
    resolve "${index[@]}" "$torch" -e "$package"
    if ! cuda_in_report >&2; then
        echo "install.sh: error: this machine has no NVIDIA GPU but the install would pull the CUDA packages above" >&2
        exit 1
    fi
fi
python -m pip install --quiet "${index[@]}" "$torch"
python -m pip install --quiet "${index[@]}" -e "$package"
