"""Shared test set-up: every test runs in the mmsearch default scope."""
import pytest

from mmsearch.utils import register_all_modules

register_all_modules()


@pytest.fixture(autouse=True)
def _mmsearch_scope():
    """Keep mmsearch the default scope even if a test switched it."""
    register_all_modules()
    yield
