#!/usr/bin/env bash
# Installs what is missing (tools/setup_env.sh), then runs the test suite.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -k metric`.
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh" || exit 1
cd "$MMSEARCH_ROOT" || exit 1
exec python -m pytest tests "$@"
