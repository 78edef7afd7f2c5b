"""Shared, session-scoped set-up for the tool tests.

One tiny synthetic dataset and one 2-iteration training of the R-18
DC-I-Net serve every test here; the tools run as subprocesses, as users run
them.
"""
import os.path as osp
import sys

import pytest

from mmsearch.datasets.synthetic import SyntheticConfig, make_synthetic_dataset

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import tool_helpers  # noqa: E402


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory) -> str:
    """A tiny synthetic dataset in the CUHK-SYSU layout."""
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_dataset(
        root,
        SyntheticConfig(
            num_train_ids=4,
            num_test_ids=3,
            num_train_images=6,
            num_test_images=51,
            image_size=(128, 96),
            gallery_sizes=(50, ),
            seed=0))
    return root


@pytest.fixture(scope='session')
def tiny_config(synthetic_root, tmp_path_factory) -> str:
    """The R-18 DC-I-Net synthetic config shrunk for CI."""
    path = tmp_path_factory.mktemp('configs') / 'tiny_dcinet.py'
    path.write_text(
        tool_helpers.TINY_CONFIG.format(
            base=tool_helpers.BASE_CONFIG,
            data_root=synthetic_root + '/',
            iters=tool_helpers.TRAIN_ITERS))
    return str(path)


@pytest.fixture(scope='session')
def trained_work_dir(tiny_config, tmp_path_factory) -> str:
    """A work dir after ``TRAIN_ITERS`` iterations of tools/train.py."""
    work_dir = str(tmp_path_factory.mktemp('work_dir'))
    tool_helpers.run_tool(
        ['tools/train.py', tiny_config, '--work-dir', work_dir])
    return work_dir


@pytest.fixture(scope='session')
def published_checkpoint(trained_work_dir, tmp_path_factory) -> str:
    """The trained checkpoint through publish_model.py (meta+state_dict)."""
    out = str(tmp_path_factory.mktemp('published') / 'dcinet_tiny.pth')
    result = tool_helpers.run_tool([
        'tools/model_converters/publish_model.py',
        osp.join(trained_work_dir, f'iter_{tool_helpers.TRAIN_ITERS}.pth'), out
    ])
    final = result.stdout.strip().split()[-1]
    assert osp.isfile(final), result.stdout
    return final
