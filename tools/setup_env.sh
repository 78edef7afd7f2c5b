#!/usr/bin/env bash
# Source this file: it creates or reuses a Python virtual environment and
# installs mmsearch with everything it needs, then leaves it activated.
#
#   - an active virtual environment ($VIRTUAL_ENV) or conda env is reused;
#     otherwise $MMSEARCH_VENV (default: <repo>/.venv) is created or reused;
#   - a torch already installed (e.g. a CUDA build) is kept; otherwise
#     $MMSEARCH_TORCH (default torch==2.13.0, the CPU build) is installed;
#   - mmcv 2.1.0 is built from source with its ops unless mmcv.ops imports
#     (~22 minutes on 2 cores the first time; pip caches the wheel);
#   - mmengine 0.10.7, mmdet 3.3.0, the test requirements, the optional
#     extras the tests exercise (requirements/deploy.txt: onnx, onnxruntime;
#     requirements/index.txt: faiss-cpu) and mmsearch (editable) follow.
# A stamp file skips the pip calls when nothing changed since the last run.
set -eo pipefail
MMSEARCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ -n "${VIRTUAL_ENV:-}" ]; then
    MMSEARCH_ENV=$VIRTUAL_ENV
elif [ -n "${CONDA_PREFIX:-}" ]; then
    MMSEARCH_ENV=$CONDA_PREFIX
else
    MMSEARCH_ENV=${MMSEARCH_VENV:-$MMSEARCH_ROOT/.venv}
    if [ ! -x "$MMSEARCH_ENV/bin/python" ]; then
        echo "[setup] creating virtual environment $MMSEARCH_ENV"
        python3 -m venv "$MMSEARCH_ENV"
    fi
    # shellcheck disable=SC1091
    source "$MMSEARCH_ENV/bin/activate"
fi
PY="$MMSEARCH_ENV/bin/python"
[ -x "$PY" ] || PY=python

stamp_key=$(cat "$MMSEARCH_ROOT"/setup.py "$MMSEARCH_ROOT"/requirements/*.txt \
    "$MMSEARCH_ROOT"/tools/setup_env.sh | sha1sum | cut -c1-12)
stamp="$MMSEARCH_ENV/.mmsearch-installed-$stamp_key-$(echo "$MMSEARCH_ROOT" | sha1sum | cut -c1-8)"

if [ -f "$stamp" ] && "$PY" -c "import mmcv.ops, mmdet, mmsearch" 2>/dev/null; then
    echo "[setup] environment $MMSEARCH_ENV is up to date"
else
    # This machine's pip configuration may name local package folders that do
    # not exist; pip warns about each one, which hides the useful output.
    pip_install() {
        "$PY" -m pip install --disable-pip-version-check -q "$@" 2>&1 |
            grep -v "^WARNING: Location '.*' is ignored" || true
        return "${PIPESTATUS[0]}"
    }
    if "$PY" -c "import torch" 2>/dev/null; then
        echo "[setup] keeping torch $("$PY" -c 'import torch; print(torch.__version__)')"
    else
        echo "[setup] installing ${MMSEARCH_TORCH:-torch==2.13.0}"
        pip_install "${MMSEARCH_TORCH:-torch==2.13.0}"
    fi
    pip_install -r "$MMSEARCH_ROOT/requirements/build.txt"
    if "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
        echo "[setup] keeping mmcv 2.1.0 (with ops)"
    else
        echo "[setup] building mmcv 2.1.0 with ops from source" \
             "(about 22 minutes on 2 cores the first time; cached afterwards)"
        MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} \
            pip_install --no-build-isolation mmcv==2.1.0
    fi
    pip_install -r "$MMSEARCH_ROOT/requirements/mminstall.txt" \
        -r "$MMSEARCH_ROOT/requirements/runtime.txt" \
        -r "$MMSEARCH_ROOT/requirements/tests.txt" \
        -r "$MMSEARCH_ROOT/requirements/deploy.txt" \
        -r "$MMSEARCH_ROOT/requirements/index.txt"
    pip_install --no-build-isolation --no-deps -e "$MMSEARCH_ROOT"
    "$PY" -c "import mmcv.ops, mmdet, mmsearch; print('[setup] mmsearch', mmsearch.__version__, 'ready')"
    rm -f "$MMSEARCH_ENV"/.mmsearch-installed-*
    touch "$stamp"
fi
export MMSEARCH_ROOT MMSEARCH_ENV
set +eo pipefail
