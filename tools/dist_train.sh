#!/usr/bin/env bash
# Distributed training with torchrun: CONFIG GPUS [train.py args].
# Without CUDA the processes use gloo on the CPU (GPUS = process count);
# with CUDA each process takes one GPU, so GPUS may not exceed the visible
# GPUs (hide them with CUDA_VISIBLE_DEVICES= to run on the CPU instead).
# Multi-node: NNODES, NODE_RANK, PORT, MASTER_ADDR as in mmdet.
CONFIG=$1
GPUS=$2
if ! [[ "$GPUS" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 CONFIG GPUS [train.py args]: GPUS must be a positive" \
        "number of processes per node, got '$GPUS'" >&2
    exit 2
fi
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH python -c "
import torch
from mmsearch.utils.dist import check_processes_fit_gpus
try:
    check_processes_fit_gpus($GPUS, torch.cuda.device_count())
except RuntimeError as error:
    raise SystemExit(f'dist_train.sh: {error}')
" || exit 1
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
python -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
