#!/usr/bin/env bash
# Source this file: it creates or reuses a Python virtual environment and
# installs mmsearch with everything it needs, then leaves it activated.
#
#   - an active virtual environment ($VIRTUAL_ENV) or conda env is reused;
#     otherwise $MMSEARCH_VENV (default: <repo>/.venv) is created or reused;
#   - a torch already installed (e.g. a CUDA build) is kept when a
#     torchvision that works with it is installed too (mmpretrain's backbones
#     need torchvision); otherwise $MMSEARCH_TORCH (default
#     "torch==2.14.1 torchvision==0.29.1") is installed;
#   - mmcv 2.1.0 is built from source with its ops unless mmcv.ops works
#     with that torch (the first time: about 22 minutes on 2 idle cores,
#     68 minutes on 2 cores busy with other work). The wheel is
#     kept per torch version under $MMSEARCH_WHEEL_CACHE (default: pip's
#     cache folder, mmsearch-wheels/), because pip's own cache would hand a
#     wheel built for another torch to this one;
#   - mmengine 0.10.7, mmdet 3.3.0, mmpretrain 1.2.0, the test requirements
#     (requirements/tests.txt: pytest, playwright and the style checkers
#     flake8, isort, yapf, codespell), the optional extras the tests
#     exercise (optional.txt: matplotlib; deploy.txt: onnx, onnxruntime;
#     index.txt: faiss-cpu; web.txt: gradio) and mmsearch (editable) follow;
#   - Debian's chromium (apt-get, as root or with sudo) for the web page's
#     browser test, unless MMSEARCH_NO_BROWSER=1.
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

stamp_key=$( (cat "$MMSEARCH_ROOT"/setup.py "$MMSEARCH_ROOT"/requirements/*.txt \
    "$MMSEARCH_ROOT"/tools/setup_env.sh; echo "${MMSEARCH_TORCH:-}") |
    sha1sum | cut -c1-12)
stamp="$MMSEARCH_ENV/.mmsearch-installed-$stamp_key-$(echo "$MMSEARCH_ROOT" | sha1sum | cut -c1-8)"

if [ -f "$stamp" ] && "$PY" -c "import mmcv.ops, mmdet, mmpretrain, mmsearch" 2>/dev/null; then
    echo "[setup] environment $MMSEARCH_ENV is up to date"
else
    # This machine's pip configuration may name local package folders that do
    # not exist; pip warns about each one, which hides the useful output.
    # Runs `pip SUBCOMMAND ...` quietly, drops those warnings, keeps pip's
    # exit status.
    pip_run() {
        local log status=0
        log=$(mktemp)
        "$PY" -m pip --disable-pip-version-check "$@" >"$log" 2>&1 || status=$?
        grep -v "^WARNING: Location '.*' is ignored" "$log" || true
        rm -f "$log"
        return "$status"
    }
    pip_install() { pip_run install -q "$@"; }
    torch_spec=${MMSEARCH_TORCH:-torch==2.14.1 torchvision==0.29.1}
    # torchvision must load its own operators beside this torch: PyPI's
    # torchvision fails to ("operator torchvision::nms does not exist")
    # beside a torch of another build, e.g. a CPU-only one.
    if "$PY" -c "import torch, torchvision.ops; torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)" 2>/dev/null; then
        echo "[setup] keeping torch $("$PY" -c 'import torch; print(torch.__version__)')" \
             "and torchvision $("$PY" -c 'import torchvision; print(torchvision.__version__)')"
    else
        if "$PY" -c "import torch" 2>/dev/null; then
            echo "[setup] torch $("$PY" -c 'import torch; print(torch.__version__)')" \
                 "has no working torchvision beside it (mmpretrain needs one):" \
                 "installing $torch_spec (set MMSEARCH_TORCH to choose)"
        else
            echo "[setup] installing $torch_spec"
        fi
        # shellcheck disable=SC2086
        pip_install $torch_spec
    fi
    pip_install -r "$MMSEARCH_ROOT/requirements/build.txt"
    mmcv_check="import torch, mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'; mmcv.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)"
    if "$PY" -c "$mmcv_check" 2>/dev/null; then
        echo "[setup] keeping mmcv 2.1.0 (with ops)"
    else
        torch_version=$("$PY" -c 'import torch; print(torch.__version__)')
        wheel_cache=${MMSEARCH_WHEEL_CACHE:-$("$PY" -m pip cache dir 2>/dev/null || echo "$HOME/.cache/pip")/mmsearch-wheels}
        wheel_dir="$wheel_cache/mmcv-2.1.0-torch-$torch_version"
        if ! ls "$wheel_dir"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
            echo "[setup] building mmcv 2.1.0 with ops from source for torch" \
                 "$torch_version (about 22 minutes on 2 idle cores, longer" \
                 "on busy ones; the wheel is kept in $wheel_dir)"
            build_dir=$(mktemp -d)
            pip_run download -q --no-deps --no-binary :all: mmcv==2.1.0 \
                -d "$build_dir"
            tar -xzf "$build_dir"/mmcv-2.1.0.tar.gz -C "$build_dir"
            # torch >= 2.14's headers need C++20; mmcv 2.1.0 asks for C++17.
            aten_h=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "include", "ATen", "ATen.h"))')
            if grep -q "C++20 or later" "$aten_h" 2>/dev/null; then
                echo "[setup] this torch needs C++20: compiling mmcv's ops with -std=c++20"
                sed -i "s/'-std=c++17'/'-std=c++20'/g" "$build_dir/mmcv-2.1.0/setup.py"
            fi
            mkdir -p "$wheel_dir"
            MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} pip_run wheel -q \
                --no-build-isolation --no-deps --no-cache-dir \
                "$build_dir/mmcv-2.1.0" -w "$build_dir/wheel"
            mv "$build_dir"/wheel/mmcv-2.1.0-*.whl "$wheel_dir"/
            rm -rf "$build_dir"
        fi
        echo "[setup] installing mmcv 2.1.0 built for torch $torch_version"
        # --no-deps: its requirements come with requirements/mminstall.txt
        pip_install --force-reinstall --no-deps "$wheel_dir"/mmcv-2.1.0-*.whl
    fi
    pip_install -r "$MMSEARCH_ROOT/requirements/mminstall.txt" \
        -r "$MMSEARCH_ROOT/requirements/runtime.txt" \
        -r "$MMSEARCH_ROOT/requirements/tests.txt" \
        -r "$MMSEARCH_ROOT/requirements/optional.txt" \
        -r "$MMSEARCH_ROOT/requirements/deploy.txt" \
        -r "$MMSEARCH_ROOT/requirements/index.txt" \
        -r "$MMSEARCH_ROOT/requirements/web.txt"
    pip_install --no-build-isolation --no-deps -e "$MMSEARCH_ROOT"
    if ! "$PY" -c "$mmcv_check; import mmdet, mmpretrain, mmsearch; print('[setup] mmsearch', mmsearch.__version__, 'ready')"; then
        echo "[setup] FAILED: the environment $MMSEARCH_ENV does not import" \
             "(see above)" >&2
        set +eo pipefail
        return 1 2>/dev/null || exit 1
    fi
    rm -f "$MMSEARCH_ENV"/.mmsearch-installed-*
    touch "$stamp"
fi
# The web page's test drives Debian's chromium headless (never a browser
# download of Playwright's own); MMSEARCH_NO_BROWSER=1 skips this step.
if [ -z "${MMSEARCH_NO_BROWSER:-}" ] && ! command -v chromium >/dev/null 2>&1 &&
        ! command -v chromium-browser >/dev/null 2>&1 &&
        command -v apt-get >/dev/null 2>&1; then
    apt_get=(apt-get)
    [ "$(id -u)" = 0 ] || apt_get=(sudo -n apt-get)
    echo "[setup] installing Debian's chromium for the web page's browser test"
    if ! "${apt_get[@]}" install -y -q chromium >/dev/null 2>&1; then
        "${apt_get[@]}" update -q >/dev/null 2>&1 || true
        "${apt_get[@]}" install -y -q chromium >/dev/null 2>&1 ||
            echo "[setup] could not install chromium (the browser test will" \
                 "be skipped): run 'sudo apt-get install chromium'"
    fi
fi
export MMSEARCH_ROOT MMSEARCH_ENV
set +eo pipefail
