#!/usr/bin/env bash
# The code-style checks of setup.cfg, as CI runs them: flake8, isort, yapf
# and codespell at the versions of requirements/tests.txt (installed by
# tools/setup_env.sh). Prints what is wrong and exits non-zero on any
# finding.
#
#   bash tools/lint.sh          # check
#   bash tools/lint.sh --fix    # rewrite with isort and yapf, then check
if [ -z "${MMSEARCH_SKIP_SETUP:-}" ]; then
    source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh" || exit 1
else
    MMSEARCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fi
cd "$MMSEARCH_ROOT" || exit 1
PATHS=(mmsearch tools tests configs setup.py)
if [ "${1:-}" = "--fix" ]; then
    isort "${PATHS[@]}"
    yapf -r -i "${PATHS[@]}"
fi
status=0
echo "[lint] flake8"
flake8 "${PATHS[@]}" || status=1
echo "[lint] isort"
isort --check-only --diff "${PATHS[@]}" || status=1
echo "[lint] yapf"
yapf -r -d "${PATHS[@]}" || status=1
echo "[lint] codespell"
codespell "${PATHS[@]}" docs README.md || status=1
if [ "$status" -ne 0 ]; then
    echo "[lint] style findings above: fix them (bash tools/lint.sh --fix" \
         "rewrites imports and formatting)" >&2
fi
exit "$status"
