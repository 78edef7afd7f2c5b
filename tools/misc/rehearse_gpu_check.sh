#!/usr/bin/env bash
# Rehearse tools/gpu_check.sh on a CPU with the GPU machine's software.
#
# Builds that machine's Python stack in a virtual environment: Python 3.12,
# PyPI's torch 2.11.0 and torchvision 0.26.0 (the default +cu130 builds,
# which also run on a CPU), numpy, scipy, opencv-python, tqdm, six, rich,
# matplotlib, einops, onnx and onnxruntime, then removes pip from it (the
# machine's Python may have none). Makes a fresh clone of the checkout's
# HEAD in a temporary folder (REHEARSAL_TREE=1: a copy of the working tree
# as the GPU machine receives it instead, tracked files and untracked files
# git does not ignore), puts the wheels in it as .whl/ (the checkout's
# .whl/, else $GPU_WHEELS, else ../shared/gpu-wheels) and runs there
#
#     PYTHON=<venv>/bin/python bash tools/gpu_check.sh --device cpu --tiny
#
# without network where `unshare -rn` is allowed (nothing may be downloaded).
# Not part of CI: the first run downloads several GB (torch with its CUDA
# libraries); later runs reuse the environment when REHEARSAL_VENV names a
# kept folder. The summary lands in $REHEARSAL_WORK_DIR (default: a
# temporary folder, printed).
#
# Usage: bash tools/misc/rehearse_gpu_check.sh [gpu_check.py options]
# Environment:
#   REHEARSAL_VENV     the environment's folder, kept and reused (default: a
#                      temporary one, removed at the end)
#   REHEARSAL_PYTHON   a Python 3.12 (default: python3.12 on PATH if it runs
#                      (a pyenv shim may not), else
#                      ~/.pyenv/versions/3.12.*/bin/python3.12)
#   REHEARSAL_WORK_DIR gpu_check's --work-dir (default: in the temporary
#                      folder, kept)
#   REHEARSAL_TREE     1: the working tree instead of a clone of HEAD
#   GPU_WHEELS         the wheel folder when the checkout has no .whl/
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
START=$(date +%s)
# what the GPU image holds (besides torch and torchvision)
IMAGE_PACKAGES=(numpy scipy opencv-python tqdm six rich matplotlib einops
                onnx onnxruntime)
TORCH_PACKAGES=(torch==2.11.0 torchvision==0.26.0)
STACK="${TORCH_PACKAGES[*]} ${IMAGE_PACKAGES[*]}"

say() { echo "rehearse: $*"; }
die() { echo "rehearse: $*" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gpu_rehearsal.XXXXXX")
VENV=${REHEARSAL_VENV:-$TMP/venv}
cleanup() {
    # the checkout, the unpacked wheels and a temporary environment; the
    # work dir stays
    rm -rf "$TMP/checkout" "$TMP/site"
    if [[ -z "${REHEARSAL_VENV:-}" ]]; then rm -rf "$TMP/venv"; fi
    if [[ -n "${REHEARSAL_WORK_DIR:-}" ]]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT

# 1. the environment
if [[ -f "$VENV/.rehearsal-stack" && "$(cat "$VENV/.rehearsal-stack")" == "$STACK" ]]; then
    say "reusing $VENV ($STACK)"
else
    PY312=${REHEARSAL_PYTHON:-$(command -v python3.12 || true)}
    # a pyenv shim is on PATH even when no 3.12 is selected: it must run
    if [[ -z "${REHEARSAL_PYTHON:-}" && -n "$PY312" ]] \
            && ! "$PY312" -c 'import sys' >/dev/null 2>&1; then
        PY312=
    fi
    if [[ -z "$PY312" ]]; then
        PY312=$(ls -d "$HOME"/.pyenv/versions/3.12.*/bin/python3.12 2>/dev/null | tail -1 || true)
    fi
    [[ -n "$PY312" && -x "$PY312" ]] || die "no Python 3.12: set REHEARSAL_PYTHON=/path/to/python3.12"
    "$PY312" -c 'import sys; assert sys.version_info[:2] == (3, 12), sys.version' \
        || die "REHEARSAL_PYTHON=$PY312 is not Python 3.12"
    say "building $VENV with $PY312: $STACK (several GB to download)"
    rm -rf "$VENV"
    "$PY312" -m venv "$VENV"
    # PIP_CONFIG_FILE=/dev/null: no site-wide constraints or local wheel
    # folders; the machine's image holds PyPI's builds
    PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_CONSTRAINT= \
        "$VENV/bin/python" -m pip install -q --isolated --no-cache-dir \
        "${TORCH_PACKAGES[@]}" "${IMAGE_PACKAGES[@]}"
    # the image's Python may have no pip: neither has this one
    "$VENV/bin/python" -m pip uninstall -q -y pip
    echo "$STACK" > "$VENV/.rehearsal-stack"
fi
if "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    die "$VENV still has pip; remove it (the rehearsal mimics a Python without pip)"
fi
"$VENV/bin/python" -c 'import torch, torchvision; print("rehearse: torch", torch.__version__, "torchvision", torchvision.__version__, "CUDA build", torch.version.cuda)'

# 2. the checkout: a fresh clone, or the working tree as the GPU machine
# receives it; with .whl/
if [[ "${REHEARSAL_TREE:-0}" == 1 ]]; then
    mkdir -p "$TMP/checkout"
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
        | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' _ \
        | tar --null -T - -cf -) | tar -xf - -C "$TMP/checkout"
    SOURCE="the working tree of $ROOT"
else
    git clone -q "$ROOT" "$TMP/checkout"
    SOURCE="a fresh clone of $ROOT at $(git -C "$ROOT" rev-parse --short HEAD)"
fi
WHEELS=""
for candidate in "$ROOT/.whl" "${GPU_WHEELS:-}" "$ROOT/../shared/gpu-wheels"; do
    if [[ -n "$candidate" ]] && ls "$candidate"/*.whl >/dev/null 2>&1; then
        WHEELS=$candidate
        break
    fi
done
[[ -n "$WHEELS" ]] || die "no wheels: put them in $ROOT/.whl/ or set GPU_WHEELS=DIR"
mkdir -p "$TMP/checkout/.whl"
cp "$WHEELS"/*.whl "$TMP/checkout/.whl/"
say "checkout: $SOURCE in $TMP/checkout; wheels from $WHEELS"

# 3. the CPU mode of the check, without network where possible
WORK_DIR=${REHEARSAL_WORK_DIR:-$TMP/work}
NO_NET=()
if unshare -rn true >/dev/null 2>&1; then
    NO_NET=(unshare -rn)
    say "running without network (unshare -rn)"
else
    say "unshare -rn is not allowed here: running with the network on"
fi
set +e
(cd "$TMP/checkout" && env -u PYTHONPATH -u VIRTUAL_ENV PYTHON="$VENV/bin/python" \
    SITE_DIR="$TMP/site" "${NO_NET[@]}" bash tools/gpu_check.sh --device cpu --tiny \
    --work-dir "$WORK_DIR" "$@")
STATUS=$?
set -e
ELAPSED=$(( $(date +%s) - START ))
say "gpu_check exited with $STATUS; summary in $WORK_DIR/summary.json;" \
    "rehearsal wall time $((ELAPSED / 60)) min $((ELAPSED % 60)) s"
exit $STATUS
