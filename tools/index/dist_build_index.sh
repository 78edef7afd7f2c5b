#!/usr/bin/env bash
# One index from several processes (torchrun):
#   CONFIG CHECKPOINT GPUS INDEX [build_index.py args]
# Without CUDA the processes use gloo on the CPU (GPUS = process count).
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
INDEX=$4
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/../..":$PYTHONPATH \
python -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/build_index.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    "$INDEX" \
    --launcher pytorch "${@:5}"
