#!/usr/bin/env bash
# One index from several processes (torchrun):
#   CONFIG CHECKPOINT GPUS INDEX [build_index.py args]
# A wrapper over tools/dist_launch.sh (the GPU-count check, CPU processes
# without CUDA, NNODES / NODE_RANK / PORT / MASTER_ADDR: see there).
HERE=$(dirname "${BASH_SOURCE[0]}")
USAGE="$0 CONFIG CHECKPOINT GPUS INDEX [build_index.py args]"
if [ $# -lt 4 ]; then
    echo "usage: $USAGE" >&2
    exit 2
fi
LAUNCH_USAGE=$USAGE exec bash "$HERE/../dist_launch.sh" "$3" \
    "$HERE/build_index.py" "$1" "$2" "$4" "${@:5}"
