#!/usr/bin/env bash
# The torchrun launcher of the tools (training, testing, index builds):
#
#   bash tools/dist_launch.sh GPUS SCRIPT [SCRIPT args]
#
# starts GPUS processes per node of `python SCRIPT --launcher pytorch
# [SCRIPT args]`, e.g. `bash tools/dist_launch.sh 8 tools/train.py CONFIG`.
# tools/dist_train.sh, tools/dist_test.sh and tools/index/dist_build_index.sh
# are thin wrappers over it, with the arguments users know.
#
# With CUDA each process takes one GPU, so GPUS may not exceed the visible
# GPUs (checked here, before torchrun starts; hide them with
# CUDA_VISIBLE_DEVICES= to run on the CPU instead). Without CUDA the
# processes use gloo on the CPU (GPUS = process count).
# Environment: NNODES, NODE_RANK, PORT, MASTER_ADDR (multi-node, as in
# mmdet), PYTHON (the interpreter, default python).
USAGE=${LAUNCH_USAGE:-"$0 GPUS SCRIPT [SCRIPT args]"}
if [ $# -lt 2 ]; then
    echo "usage: $USAGE" >&2
    exit 2
fi
GPUS=$1
SCRIPT=$2
if ! [[ "$GPUS" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $USAGE: GPUS must be a positive number of processes per" \
        "node, got '$GPUS'" >&2
    exit 2
fi
if [ ! -f "$SCRIPT" ]; then
    echo "error: $SCRIPT: no such script to launch" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
PYTHON=${PYTHON:-python}

"$PYTHON" -c "
import sys

import torch

from mmsearch.utils.dist import check_processes_fit_gpus
try:
    check_processes_fit_gpus($GPUS, torch.cuda.device_count())
except RuntimeError as error:
    print(f'error: {error}', file=sys.stderr)
    sys.exit(2)
" || exit $?

exec "$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$GPUS" \
    --master_port="${PORT:-29500}" \
    "$SCRIPT" --launcher pytorch "${@:3}"
