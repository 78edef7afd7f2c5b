"""tools/train.py with validation every iteration (R-18 DC-I-Net, tiny
synthetic set): the metric is logged and save_best keeps best_*.pth."""
import glob
import json
import os.path as osp

import pytest
from tool_helpers import run_tool

VAL_CONFIG = """
_base_ = [{tiny!r}]
train_cfg = dict(max_iters=2, val_interval=1)
val_cfg = dict(_delete_=True, type='PersonSearchValLoop')
val_dataloader = dict(
    _delete_=True, batch_size=1, num_workers=0, persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CUHKSYSUDataset', data_root={data_root!r},
                 split='gallery', gallery_size=50,
                 pipeline={{{{_base_.small_test}}}}))
val_evaluator = dict(
    _delete_=True, type='PersonSearchMetric', gallery_sizes=(50, ))
default_hooks = dict(
    logger=dict(log_metric_by_epoch=False),  # iteration-based: step = iter
    checkpoint=dict(save_best='cuhk/mAP@50', rule='greater'))
"""


@pytest.mark.slow
def test_training_validates_and_keeps_the_best(tiny_config, synthetic_root,
                                               tmp_path):
    config = tmp_path / 'val_config.py'
    config.write_text(
        VAL_CONFIG.format(tiny=tiny_config, data_root=synthetic_root + '/'))
    work_dir = str(tmp_path / 'work')
    run_tool(['tools/train.py',
              str(config), '--work-dir', work_dir],
             timeout=400)
    scalars = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(scalars[0]) as f:
        records = [json.loads(line) for line in f]
    logged = {
        r['step']: r['cuhk/mAP@50']
        for r in records if 'cuhk/mAP@50' in r
    }
    assert sorted(logged) == [1, 2]
    assert all(0.0 <= v <= 1.0 for v in logged.values())
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    with open(logs[0]) as f:
        text = f.read()
    assert 'Iter(val) [' in text and 'cuhk/mAP@50:' in text
    # strictly better replaces; a tie keeps the first
    best_iter = 1 if logged[1] >= logged[2] else 2
    best = glob.glob(osp.join(work_dir, 'best_*.pth'))
    assert [osp.basename(p)
            for p in best] == [f'best_cuhk_mAP@50_iter_{best_iter}.pth']
