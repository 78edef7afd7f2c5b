"""Shared, session-scoped set-up for the tool tests.

One tiny synthetic dataset and one 2-iteration training of the R-18
DC-I-Net serve every test here; the tools run as subprocesses, as users run
them.
"""
import os
import os.path as osp
import subprocess
import sys

import pytest

from mmsearch.datasets.synthetic import (SyntheticConfig,
                                         make_synthetic_dataset)

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
HERE = osp.dirname(osp.abspath(__file__))
BASE_CONFIG = osp.join(ROOT, 'configs', 'dcinet', 'dcinet_r18_synthetic.py')
TRAIN_ITERS = 2

# Tiny sizes: CPU-only CI on 2 cores.
TINY_CONFIG = """
_base_ = [{base!r}]
custom_imports = dict(imports=['state_dump_hook'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='StateDumpHook')]
data_root = {data_root!r}
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters={iters}, val_interval=1000)
param_scheduler = []
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=1),
    logger=dict(interval=1))
log_processor = dict(by_epoch=False)
env_cfg = dict(mp_cfg=dict(mp_start_method='fork'))
small_train = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='Resize', scale=(160, 96), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPersonSearchInputs')
]
small_test = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(160, 96), keep_ratio=True),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='PackPersonSearchInputs')
]
train_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(dataset=dict(data_root=data_root, pipeline=small_train)))
test_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=small_test))
test_cfg = dict(query_dataloader=dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=small_test)))
test_evaluator = dict(gallery_sizes=(50, ))  # the tiny set has TestG50 only
# Keep every detection (the metric applies det_thresh itself).
model = dict(test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=30),
                           rcnn=dict(score_thr=0.0, max_per_img=20)))
"""


def tool_env() -> dict:
    """Environment for tool subprocesses: the test hook importable."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (HERE, ROOT, env.get('PYTHONPATH')) if p)
    env.setdefault('OMP_NUM_THREADS', '2')
    return env


def run_tool(args, timeout=240, check=True, env=None):
    """Run ``python <args>`` from the repository root; return the result."""
    result = subprocess.run([sys.executable, *args],
                            cwd=ROOT,
                            env=env or tool_env(),
                            capture_output=True,
                            text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f'{" ".join(args)} failed ({result.returncode}):\n'
            f'{result.stdout[-3000:]}\n{result.stderr[-5000:]}')
    return result


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
        TINY_CONFIG.format(
            base=BASE_CONFIG, data_root=synthetic_root + '/',
            iters=TRAIN_ITERS))
    return str(path)


@pytest.fixture(scope='session')
def trained_work_dir(tiny_config, tmp_path_factory) -> str:
    """A work dir after ``TRAIN_ITERS`` iterations of tools/train.py."""
    work_dir = str(tmp_path_factory.mktemp('work_dir'))
    run_tool(['tools/train.py', tiny_config, '--work-dir', work_dir])
    return work_dir


@pytest.fixture(scope='session')
def published_checkpoint(trained_work_dir, tmp_path_factory) -> str:
    """The trained checkpoint through publish_model.py (meta+state_dict)."""
    out = str(tmp_path_factory.mktemp('published') / 'dcinet_tiny.pth')
    result = run_tool([
        'tools/model_converters/publish_model.py',
        osp.join(trained_work_dir, f'iter_{TRAIN_ITERS}.pth'), out
    ])
    final = result.stdout.strip().split()[-1]
    assert osp.isfile(final), result.stdout
    return final
