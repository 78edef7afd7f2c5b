#!/usr/bin/env bash
# The Slurm launcher of the tools (training, testing, index builds):
#
#   [GPUS=8] bash tools/slurm_launch.sh PARTITION JOB_NAME SCRIPT [SCRIPT args]
#
# runs `python -u SCRIPT --launcher=slurm [SCRIPT args]` as GPUS tasks, one
# GPU each (Slurm allocates GPUS_PER_NODE GPUs per node). tools/slurm_train.sh,
# tools/slurm_test.sh and tools/index/slurm_build_index.sh are thin wrappers
# over it, with the arguments users know.
# Environment: GPUS (tasks in all, default 8), GPUS_PER_NODE (default 8),
# CPUS_PER_TASK (default 5), SRUN_ARGS (more srun options), PYTHON (the
# interpreter, default python).
USAGE=${LAUNCH_USAGE:-"$0 PARTITION JOB_NAME SCRIPT [SCRIPT args]"}
if [ $# -lt 3 ]; then
    echo "usage: [GPUS=8] $USAGE" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
SCRIPT=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
for name in GPUS GPUS_PER_NODE CPUS_PER_TASK; do
    if ! [[ "${!name}" =~ ^[1-9][0-9]*$ ]]; then
        echo "error: $name must be a positive number, got '${!name}'" >&2
        exit 2
    fi
done
if [ ! -f "$SCRIPT" ]; then
    echo "error: $SCRIPT: no such script to launch" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

set -x
# shellcheck disable=SC2086  # SRUN_ARGS holds several options
exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$SCRIPT" --launcher=slurm "${@:4}"
