#!/usr/bin/env bash
# One index from a Slurm job:
#   [GPUS=8] bash tools/index/slurm_build_index.sh PARTITION JOB_NAME CONFIG \
#       CHECKPOINT INDEX [build_index.py args]
set -x
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
INDEX=$5
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PY_ARGS=${*:6}

PYTHONPATH="$(dirname "$0")/../..":$PYTHONPATH \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    --gres=gpu:"${GPUS_PER_NODE}" \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    python -u "$(dirname "$0")/build_index.py" "${CONFIG}" "${CHECKPOINT}" \
    "${INDEX}" --launcher="slurm" ${PY_ARGS}
