#!/usr/bin/env bash
# Training on a Slurm cluster:
#   [GPUS=8] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [args]
# A wrapper over tools/slurm_launch.sh (GPUS, GPUS_PER_NODE, CPUS_PER_TASK,
# SRUN_ARGS: see there).
TOOLS=$(dirname "${BASH_SOURCE[0]}")
USAGE="$0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]"
if [ $# -lt 4 ]; then
    echo "usage: [GPUS=8] $USAGE" >&2
    exit 2
fi
LAUNCH_USAGE=$USAGE exec bash "$TOOLS/slurm_launch.sh" "$1" "$2" \
    "$TOOLS/train.py" "$3" --work-dir="$4" "${@:5}"
