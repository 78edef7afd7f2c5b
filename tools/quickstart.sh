#!/usr/bin/env bash
# The README's main job on a machine without a GPU (about 15 minutes on 2
# cores): generate the synthetic person-search dataset, evaluate the
# initialised R-18 DC-I-Net, train it on the CPU, evaluate it again and draw
# the ranked gallery of a query. Prints a before / after mAP and top-1 table
# (and the range to expect: CPU training differs slightly between machines).
# The terminal shows progress, warnings and results; configs, the
# initialisation report and metric tables go to the logs under
# $QUICKSTART_DIR (add --verbose to see everything).
#
#   bash tools/quickstart.sh                      # the full quick start
#   QUICKSTART_SMOKE=1 bash tools/quickstart.sh   # CI: tiny data, few iters
#
# Environment: QUICKSTART_DIR (outputs, default outputs/quickstart),
# QUICKSTART_DATA (dataset, default data/synthetic), QUICKSTART_ITERS
# (training iterations), MMSEARCH_SKIP_SETUP=1 (environment already set up).
# Extra arguments go to tools/misc/quickstart.py.
if [ -z "${MMSEARCH_SKIP_SETUP:-}" ]; then
    source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh" || exit 1
else
    MMSEARCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fi
cd "$MMSEARCH_ROOT" || exit 1
set -e
OUT=${QUICKSTART_DIR:-outputs/quickstart}
DATA=${QUICKSTART_DATA:-data/synthetic}
if [ -n "${QUICKSTART_SMOKE:-}" ]; then
    GENERATOR_ARGS=(--train-ids 4 --test-ids 3 --train-images 8
                    --test-images 51 --image-size 160 120 --gallery-sizes 50)
    DRIVER_ARGS=(--smoke)
else
    # 240 training images of 40 identities; a test split of 60 images and
    # 12 queries keeps each evaluation near a minute on 2 cores.
    GENERATOR_ARGS=(--test-images 60 --test-ids 12 --gallery-sizes 50)
    DRIVER_ARGS=()
fi
echo "[quickstart] generating the synthetic dataset in $DATA"
python tools/misc/make_synthetic_dataset.py "$DATA" "${GENERATOR_ARGS[@]}"
python tools/misc/quickstart.py --data-root "$DATA" --work-dir "$OUT" \
    "${DRIVER_ARGS[@]}" "$@"
