#!/usr/bin/env bash
# Check mmsearch on a CUDA machine after installing. Takes about 5 minutes
# on one modern GPU (H100/H200 class; an estimate from the step sizes, under
# 8 minutes by design), plus the wheel installation when it is needed.
#
# Runs (tools/misc/gpu_check.py; every step is recorded in one JSON summary,
# WORK_DIR/summary.json, printed at the end; exit code 0 only if all pass):
#   1. the CUDA-only tests (pytest): CUDA vs CPU re-ID losses, fp16/bf16
#      autocast training step, predict and query path of the R-18 models,
#      the --amp switch, AMP training through tools/train.py; with 2+ GPUs
#      also tools/dist_train.sh on 2 GPUs (memories identical on both
#      ranks afterwards);
#   2. R-50 DC-I-Net (random init) on generated synthetic data at 900x1500:
#      20 training iterations each in fp32, fp16 AMP and bf16 AMP (finite
#      losses, fp32 re-ID memories, loss scale in [1, 2**24]);
#   3. inference speed (images/s) and peak memory at 900x1500, fp32 and
#      fp16 AMP, through tools/analysis_tools/benchmark.py.
#
# Set-up: when mmcv (with ops) or mmdet cannot be imported, the wheels of
# ../shared/gpu-wheels/ (copied to .whl/ first; or GPU_WHEELS=DIR) are
# installed into SITE_DIR (default /tmp/site), which goes on PYTHONPATH; they
# need Python 3.12 and torch 2.11 + CUDA 13 (see that folder's README).
# Otherwise the installed packages are used. pytest must be importable.
#
# Usage: bash tools/gpu_check.sh [--work-dir DIR] [gpu_check.py options]
#        bash tools/gpu_check.sh --help
#        bash tools/gpu_check.sh --device cpu --tiny   # toy run on a CPU
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHON=${PYTHON:-python3}

for arg in "$@"; do
    if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
        # this header, then gpu_check.py's options
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' \
            "$0"
        echo
        PYTHONPATH="$ROOT:${PYTHONPATH:-}" "$PYTHON" tools/misc/gpu_check.py \
            --help 2>/dev/null | sed -n '/^options:/,/^$/p' || true
        exit 0
    fi
done

if ! "$PYTHON" -c "import mmcv.ops, mmdet" >/dev/null 2>&1; then
    WHEELS=${GPU_WHEELS:-.whl}
    if [[ ! -d "$WHEELS" ]]; then
        for candidate in ../shared/gpu-wheels shared/gpu-wheels; do
            if [[ -d "$candidate" ]]; then
                echo "gpu_check: copying $candidate to $WHEELS/"
                mkdir -p "$WHEELS"
                cp "$candidate"/*.whl "$WHEELS"/
                break
            fi
        done
    fi
    if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
        echo "gpu_check: mmcv/mmdet are not importable and no wheels were" \
            "found in $WHEELS/ or ../shared/gpu-wheels/: install the stack" \
            "(README, Installation) or set GPU_WHEELS=DIR" >&2
        exit 1
    fi
    SITE_DIR=${SITE_DIR:-/tmp/site}
    echo "gpu_check: installing $WHEELS/*.whl into $SITE_DIR"
    "$PYTHON" -m pip install -q --no-index --no-deps --target "$SITE_DIR" \
        "$WHEELS"/*.whl
    export PYTHONPATH="$SITE_DIR:${PYTHONPATH:-}"
fi
export PYTHONPATH="$ROOT:${PYTHONPATH:-}"
"$PYTHON" -c "import torch, mmcv.ops, mmdet, mmsearch" || {
    echo "gpu_check: the stack does not import (above)." >&2
    exit 1
}
exec "$PYTHON" tools/misc/gpu_check.py "$@"
