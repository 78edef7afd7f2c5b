#!/usr/bin/env bash
# Distributed training with torchrun: CONFIG GPUS [train.py args].
# A wrapper over tools/dist_launch.sh (the GPU-count check, CPU processes
# without CUDA, NNODES / NODE_RANK / PORT / MASTER_ADDR: see there).
TOOLS=$(dirname "${BASH_SOURCE[0]}")
USAGE="$0 CONFIG GPUS [train.py args]"
if [ $# -lt 2 ]; then
    echo "usage: $USAGE" >&2
    exit 2
fi
LAUNCH_USAGE=$USAGE exec bash "$TOOLS/dist_launch.sh" "$2" \
    "$TOOLS/train.py" "$1" "${@:3}"
