#!/usr/bin/env bash
# The README's main job on a machine without a GPU: generate the synthetic
# person-search dataset and draw its annotations.
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh" || exit 1
cd "$MMSEARCH_ROOT" || exit 1
set -e
OUT=${QUICKSTART_DIR:-outputs/quickstart}
python tools/misc/make_synthetic_dataset.py --out data/synthetic
python tools/analysis_tools/browse_dataset.py \
    configs/_base_/datasets/synthetic.py --output-dir "$OUT/browse"
