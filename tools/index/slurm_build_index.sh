#!/usr/bin/env bash
# One index from a Slurm job:
#   [GPUS=8] bash tools/index/slurm_build_index.sh PARTITION JOB_NAME CONFIG \
#       CHECKPOINT INDEX [build_index.py args]
# A wrapper over tools/slurm_launch.sh (GPUS, GPUS_PER_NODE, CPUS_PER_TASK,
# SRUN_ARGS: see there).
HERE=$(dirname "${BASH_SOURCE[0]}")
USAGE="$0 PARTITION JOB_NAME CONFIG CHECKPOINT INDEX [build_index.py args]"
if [ $# -lt 5 ]; then
    echo "usage: [GPUS=8] $USAGE" >&2
    exit 2
fi
LAUNCH_USAGE=$USAGE exec bash "$HERE/../slurm_launch.sh" "$1" "$2" \
    "$HERE/build_index.py" "$3" "$4" "$5" "${@:6}"
