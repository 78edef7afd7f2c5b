"""PersonSearchValLoop: validation during training in a real Runner (tiny
fake model), logged metrics and the best checkpoint."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.structures import InstanceData

from mmsearch.engine import (PersonSearchValLoop, query_dataloader_cfg,
                             search_metrics_first)

# The fixture of the test-loop test: query image g2 (camera 0, person 3);
# gallery g0 holds person 3 at BOX and a stranger at OTHER, g1 a stranger.
BOX = [0.0, 0.0, 40.0, 80.0]
OTHER = [100.0, 0.0, 140.0, 80.0]
FEATS = {
    'g0.jpg': [[0.6, 0.8], [0.9, 0.43589]],
    'g1.jpg': [[0.8, 0.6]],
    'g2.jpg': [[0.2, 0.97980]]
}
# The query feature after 1-2 training iterations, then after 3-4:
# (0.6, 0.8) ranks person 3 first: similarities 1.0 P, 0.96 N, 0.889 N ->
# AP 1; (1, 0) ranks 0.9 N, 0.8 N, 0.6 P -> AP 1/3.
QUERY_FEATS = [(0.6, 0.8), (1.0, 0.0)]
EXPECTED_MAP = {2: 1.0, 4: 1 / 3}


class TinySplit(torch.utils.data.Dataset):
    """A split whose samples carry only metainfo (and the gt person)."""

    def __init__(self, split='gallery'):
        gallery = [
            dict(img_id='g0.jpg', cam_id=1, pid=3),
            dict(img_id='g1.jpg', cam_id=1, pid=5),
            dict(img_id='g2.jpg', cam_id=0, pid=3)
        ]
        self.infos = gallery if split == 'gallery' else [
            dict(gallery[2], query_bbox=BOX, query_person_id=3, query_index=0)
        ]
        self.metainfo = dict(classes=('person', ), dataset_name='prw')

    def __len__(self):
        return len(self.infos)

    def __getitem__(self, idx):
        sample = DetDataSample(metainfo=self.infos[idx])
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([BOX]),
            labels=torch.zeros(1).long(),
            person_ids=torch.tensor([self.infos[idx]['pid']]))
        return dict(inputs=torch.zeros(3, 4, 4), data_samples=sample)

    def get_gallery_protocol(self, name=None):
        raise NotImplementedError('no gallery lists')


class StepSearcher(BaseModel):
    """Trains a dummy weight; predicts fixed detections and a query
    feature that depends on how many training steps were taken."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.steps = 0
        self.predictions = []

    def forward(self, inputs, data_samples=None, mode='predict'):
        if mode == 'loss':
            self.steps += 1
            return dict(loss=(self.weight - 1).pow(2).sum())
        for sample in data_samples:
            self.predictions.append((self.steps, sample.img_id, 'query_bbox'
                                     in sample))
            feats = torch.tensor(FEATS[sample.img_id])
            sample.pred_instances = InstanceData(
                bboxes=torch.tensor([BOX, OTHER][:len(feats)]),
                scores=torch.ones(len(feats)),
                labels=torch.zeros(len(feats)).long(),
                reid_feats=feats)
            if 'query_bbox' in sample:
                sample.pred_query_feat = torch.tensor(
                    QUERY_FEATS[(self.steps - 1) // 2])
        return data_samples


def loader(split, **kwargs):
    return dict(
        dataset=TinySplit(split),
        batch_size=2,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='pseudo_collate'),
        **kwargs)


def make_runner(tmp_path, model, max_iters, save_best):
    """Train ``max_iters`` iterations, validating every 2."""
    return Runner(
        model=model,
        work_dir=str(tmp_path),
        experiment_name=f'val_loop_{tmp_path.name}',  # own logger, visualizer
        default_scope='mmsearch',
        train_dataloader=loader('gallery'),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=2),
        val_dataloader=loader('gallery'),
        val_cfg=dict(
            type='PersonSearchValLoop', query_dataloader=loader('query')),
        val_evaluator=dict(type='PersonSearchMetric', multiview=False),
        default_hooks=dict(
            logger=dict(
                type='LoggerHook', interval=1, log_metric_by_epoch=False),
            checkpoint=dict(
                type='CheckpointHook',
                by_epoch=False,
                interval=10,
                save_best=save_best,
                rule='greater')),
        log_processor=dict(by_epoch=False))


def test_validation_logs_metrics_and_keeps_the_best(tmp_path):
    model = StepSearcher()
    runner = make_runner(tmp_path, model, 4, 'auto')
    runner.train()
    assert isinstance(runner.val_loop, PersonSearchValLoop)
    # each validation predicts the 3 gallery images, then the query
    assert [p for p in model.predictions
            if p[0] == 2] == [(2, 'g0.jpg', False), (2, 'g1.jpg', False),
                              (2, 'g2.jpg', False), (2, 'g2.jpg', True)]
    assert sorted({p[0] for p in model.predictions}) == [2, 4]
    last = runner.val_loop.last_metrics
    assert list(last)[0] == 'prw/mAP'  # what save_best='auto' keeps
    assert last['prw/mAP'] == pytest.approx(EXPECTED_MAP[4])
    # logged like any metric (vis backend scalars, one record per val)
    scalars = glob.glob(
        osp.join(str(tmp_path), '*', 'vis_data', 'scalars.json'))
    with open(scalars[0]) as f:
        records = [json.loads(line) for line in f]
    logged = {r['step']: r['prw/mAP'] for r in records if 'prw/mAP' in r}
    assert logged == pytest.approx(EXPECTED_MAP)
    # the best (iteration 2) is kept, the worse last one does not replace it
    best = glob.glob(osp.join(str(tmp_path), 'best_*.pth'))
    assert [osp.basename(p) for p in best] == ['best_prw_mAP_iter_2.pth']
    assert runner.message_hub.get_info('best_score') == pytest.approx(1.0)


def test_named_save_best_key(tmp_path):
    make_runner(tmp_path, StepSearcher(), 2, 'prw/top1').train()
    assert osp.isfile(osp.join(str(tmp_path), 'best_prw_top1_iter_2.pth'))


def test_query_loader_is_derived_from_the_gallery_config():
    gallery = dict(
        batch_size=1,
        dataset=dict(type='CUHKSYSUDataset', split='gallery', data_root='x'))
    query = query_dataloader_cfg(gallery, 'PersonSearchValLoop')
    assert query['dataset'] == dict(
        type='CUHKSYSUDataset', split='query', data_root='x')
    assert gallery['dataset']['split'] == 'gallery'  # not changed
    with pytest.raises(TypeError, match='give query_dataloader explicitly'):
        query_dataloader_cfg(dict(dataset=TinySplit()), 'PersonSearchValLoop')


def test_search_metrics_come_first():
    metrics = {
        'det/AP': 0.9,
        'cuhk/mAP@100': 0.5,
        'cbgm/cuhk/mAP@100': 0.6,
        'cuhk/top1@100': 0.7
    }
    ordered = search_metrics_first(metrics)
    assert list(ordered) == [
        'cuhk/mAP@100', 'cuhk/top1@100', 'det/AP', 'cbgm/cuhk/mAP@100'
    ]
    assert ordered == metrics
