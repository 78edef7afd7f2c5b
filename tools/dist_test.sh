#!/usr/bin/env bash
# Distributed testing with torchrun: CONFIG CHECKPOINT GPUS [test.py args].
# A wrapper over tools/dist_launch.sh (the GPU-count check, CPU processes
# without CUDA, NNODES / NODE_RANK / PORT / MASTER_ADDR: see there).
TOOLS=$(dirname "${BASH_SOURCE[0]}")
USAGE="$0 CONFIG CHECKPOINT GPUS [test.py args]"
if [ $# -lt 3 ]; then
    echo "usage: $USAGE" >&2
    exit 2
fi
LAUNCH_USAGE=$USAGE exec bash "$TOOLS/dist_launch.sh" "$3" \
    "$TOOLS/test.py" "$1" "$2" "${@:4}"
