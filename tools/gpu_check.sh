#!/usr/bin/env bash
# Check mmsearch on a CUDA machine: every GPU figure in one call. About 5
# minutes on one H100 (an estimate: not yet timed on a GPU; under 8 minutes
# by design, start-up included). Each step has its own timeout, printed
# before it starts; the timeouts add up to 510 s, and the whole run is
# stopped at 540 s.
#
# Steps (tools/misc/gpu_check.py; WORK_DIR/summary.json is rewritten after
# every step, so a killed run keeps what finished; exit code 0 only if all
# pass):
#   setup           60 s  the Python, the wheels of .whl/ when mmcv is
#                         missing, the import check
#   tests          120 s  the CUDA-only tests (pytest -m cuda); with 2+ GPUs
#                         also tools/dist_train.sh on 2 GPUs
#   inference       75 s  R-50 DC-I-Net made to detect, on scenes of persons
#                         at 900x1500: images/s, detections per image and
#                         peak GPU memory in fp32, fp16 AMP and bf16 AMP
#   data            30 s  generated synthetic data, 1500x900
#   train_fp32      75 s  the reference per-GPU batch (2 image pairs,
#   train_fp16_amp  75 s  multi-scale) through tools/train.py: iterations/s,
#   train_bf16_amp  75 s  peak memory; finite losses, fp32 re-ID memories,
#                         loss scale in [1, 2**24]
#   estimate         -    an ESTIMATE of the wall time of
#                         `tools/dist_train.sh configs/dcinet/dcinet_r50_cuhk.py 8`
#                         on CUHK-SYSU, fp32 and --amp
#
# The machine as it is: the Python is $PYTHON, else /opt/torch/.venv/bin/python3
# if it exists, else python3. When mmcv (with ops) or mmdet cannot be
# imported, the wheels of .whl/ (a copy of ../shared/gpu-wheels, ignored by
# git: it must travel with the checkout; or GPU_WHEELS=DIR) go into a fresh
# site folder (SITE_DIR, default a new temporary folder) on PYTHONPATH:
# with `pip install --no-index --no-deps --upgrade --target`, or without pip
# by unpacking each wheel (`python -m zipfile -e`). Nothing is downloaded.
# The wheels need Python 3.12 and torch 2.11 + CUDA 13.
#
# Usage: bash tools/gpu_check.sh [--work-dir DIR] [gpu_check.py options]
#        bash tools/gpu_check.sh --help
#        bash tools/gpu_check.sh --device cpu --tiny   # toy run on a CPU
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
START=$(date +%s)
if [[ -n "${PYTHON:-}" ]]; then
    :
elif [[ -x /opt/torch/.venv/bin/python3 ]]; then
    PYTHON=/opt/torch/.venv/bin/python3
else
    PYTHON=python3
fi

DEVICE=cuda
previous=""
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
    if [[ "$arg" == "--device=cpu" || ( "$previous" == "--device" && "$arg" == "cpu" ) ]]; then
        DEVICE=cpu
    fi
    previous=$arg
done
# Timeouts (s): the setup step, and the whole run. The steps' own budgets
# are in tools/misc/gpu_check.py (BUDGETS); the CPU toy run is slower.
if [[ "$DEVICE" == cuda ]]; then
    SETUP_BUDGET=60
    MAX_TOTAL=540
else
    SETUP_BUDGET=300
    MAX_TOTAL=3600
fi

# run "$@" within the setup budget (what is left of it)
with_budget() {
    local left=$(( START + SETUP_BUDGET - $(date +%s) ))
    if (( left < 1 )); then
        echo "gpu_check: setup ran out of its budget of $SETUP_BUDGET s" >&2
        return 124
    fi
    if command -v timeout >/dev/null 2>&1; then
        timeout -k 5 "$left" "$@"
    else
        "$@"
    fi
}

echo "gpu_check: [setup] (budget $SETUP_BUDGET s) Python: $PYTHON"
if ! with_budget "$PYTHON" -c "import mmcv.ops, mmdet" >/dev/null 2>&1; then
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
        echo "gpu_check: mmcv/mmdet are not importable with $PYTHON and no" \
            "wheels were found in $WHEELS/: copy ../shared/gpu-wheels to" \
            ".whl/ in the checkout (it must travel with it), set" \
            "GPU_WHEELS=DIR, or install the stack (README, Installation)" >&2
        exit 1
    fi
    if [[ -n "${SITE_DIR:-}" ]]; then
        if [[ -e "$SITE_DIR" && -n "$(ls -A "$SITE_DIR")" ]]; then
            echo "gpu_check: SITE_DIR=$SITE_DIR is not empty; expected a new" \
                "or empty folder (packages left there would shadow the" \
                "wheels)" >&2
            exit 1
        fi
        mkdir -p "$SITE_DIR"
    else
        SITE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mmsearch_site.XXXXXX")
    fi
    if "$PYTHON" -m pip --version >/dev/null 2>&1; then
        HOW="pip install --no-index --no-deps --upgrade --target $SITE_DIR $WHEELS/*.whl"
        echo "gpu_check: $HOW"
        with_budget "$PYTHON" -m pip install -q --no-index --no-deps \
            --upgrade --target "$SITE_DIR" "$WHEELS"/*.whl
    else
        HOW="no pip: python -m zipfile -e each of $WHEELS/*.whl into $SITE_DIR"
        echo "gpu_check: $HOW"
        for wheel in "$WHEELS"/*.whl; do
            with_budget "$PYTHON" -m zipfile -e "$wheel" "$SITE_DIR"
        done
    fi
    export PYTHONPATH="$SITE_DIR:${PYTHONPATH:-}"
else
    HOW="the installed packages of $PYTHON"
fi
export PYTHONPATH="$ROOT:${PYTHONPATH:-}"
with_budget "$PYTHON" -c "import torch, mmcv.ops, mmdet, mmsearch" || {
    echo "gpu_check: the stack does not import with $PYTHON (above)." >&2
    exit 1
}
SETUP_SECONDS=$(( $(date +%s) - START ))
echo "gpu_check: [setup] done in $SETUP_SECONDS s ($HOW)"
export GPU_CHECK_SETUP="$HOW" GPU_CHECK_SETUP_SECONDS="$SETUP_SECONDS" \
    GPU_CHECK_SETUP_BUDGET="$SETUP_BUDGET"
# The whole run stops at MAX_TOTAL: gpu_check.py then records the step it
# was in and exits.
LEFT=$(( MAX_TOTAL - SETUP_SECONDS ))
if command -v timeout >/dev/null 2>&1; then
    exec timeout -k 10 "$LEFT" "$PYTHON" tools/misc/gpu_check.py "$@"
fi
exec "$PYTHON" tools/misc/gpu_check.py "$@"
