"""Shared test set-up: every test runs in the mmsearch default scope, and
the protocol cache of the datasets goes to a temporary folder (never the
user's ~/.cache)."""
import os
import shutil
import tempfile

import pytest

from mmsearch.utils import register_all_modules

register_all_modules()

if not os.environ.get('MMSEARCH_CACHE_DIR'):
    # inherited by the tools the tests start as subprocesses
    os.environ['MMSEARCH_CACHE_DIR'] = tempfile.mkdtemp(
        prefix='mmsearch-test-cache-')
    _OWN_CACHE_DIR = os.environ['MMSEARCH_CACHE_DIR']
else:
    _OWN_CACHE_DIR = None


def pytest_sessionfinish(session, exitstatus):
    if _OWN_CACHE_DIR is not None:
        shutil.rmtree(_OWN_CACHE_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _mmsearch_scope():
    """Keep mmsearch the default scope even if a test switched it."""
    register_all_modules()
    yield
