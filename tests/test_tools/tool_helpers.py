"""Helpers of the tool tests: paths, the tiny config, running a tool."""
import os
import os.path as osp
import subprocess
import sys

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
# No validation while training (test_train_validation.py turns it on).
val_cfg = None
val_dataloader = None
val_evaluator = None
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
