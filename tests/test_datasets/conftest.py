"""Fixtures of the dataset tests: one tiny synthetic dataset per
session."""
import pytest
from dataset_helpers import TINY

from mmsearch.datasets.synthetic import make_synthetic_dataset


@pytest.fixture(scope='session')
def tiny_synthetic(tmp_path_factory):
    """(root, counts): TINY written in both layouts under root/cuhk_sysu
    and root/prw."""
    root = str(tmp_path_factory.mktemp('synthetic'))
    counts = make_synthetic_dataset(root, TINY, 'both')
    return root, counts
