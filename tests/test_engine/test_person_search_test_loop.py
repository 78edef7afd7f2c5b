"""PersonSearchTestLoop inside a real mmengine Runner (tiny fake model)."""
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.fileio import load
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.structures import InstanceData

from mmsearch.engine import PersonSearchTestLoop

BOX = [0.0, 0.0, 40.0, 80.0]
OTHER = [100.0, 0.0, 140.0, 80.0]
# similarity to the query feature e0 = first coordinate
FEATS = {
    'g0.jpg': [[0.6, 0.8], [0.9, 0.43589]],
    'g1.jpg': [[0.8, 0.6]],
    'g2.jpg': [[0.2, 0.97980]]
}


class TinyDataset:
    """A split whose samples carry only metainfo (and the gt person)."""

    def __init__(self, infos, query=False):
        self.infos = infos
        self.metainfo = dict(classes=('person', ), dataset_name='prw')
        self.query = query

    def __len__(self):
        return len(self.infos)

    def __getitem__(self, idx):
        sample = DetDataSample(metainfo=self.infos[idx])
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([BOX]),
            labels=torch.zeros(1).long(),
            person_ids=torch.tensor([self.infos[idx].get('pid', 5)]))
        return dict(inputs=torch.zeros(3, 4, 4), data_samples=sample)

    def get_gallery_protocol(self, name):
        raise ValueError('PRW has no gallery lists.')


class LookupSearcher(BaseModel):
    """Predicts fixed detections per gallery image and e0 for queries."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, inputs, data_samples=None, mode='predict'):
        for sample in data_samples:
            self.calls += 1
            feats = torch.tensor(FEATS.get(sample.img_id, [[0.0, 1.0]]))
            boxes = [BOX, OTHER][:len(feats)]
            sample.pred_instances = InstanceData(
                bboxes=torch.tensor(boxes),
                scores=torch.ones(len(feats)),
                labels=torch.zeros(len(feats)).long(),
                reid_feats=feats)
            if 'query_bbox' in sample:
                sample.pred_query_feat = torch.tensor([1.0, 0.0])
        return data_samples


def loader(dataset):
    return dict(
        dataset=dataset,
        batch_size=2,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='pseudo_collate'))


@pytest.mark.slow
def test_runner_runs_gallery_then_queries(tmp_path):
    gallery = TinyDataset([
        dict(img_id='g0.jpg', cam_id=1, pid=3),  # person 3 at BOX: sim 0.6
        dict(img_id='g1.jpg', cam_id=1),  # another person at BOX: 0.8
        dict(img_id='g2.jpg', cam_id=0, pid=3),  # same camera as query
    ])
    queries = TinyDataset([
        dict(
            img_id='g2.jpg',
            cam_id=0,
            query_bbox=BOX,
            query_person_id=3,
            query_index=0,
            pid=3)
    ],
                          query=True)
    model = LookupSearcher()
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        default_scope='mmsearch',
        test_dataloader=loader(gallery),
        test_cfg=dict(
            type='PersonSearchTestLoop', query_dataloader=loader(queries)),
        test_evaluator=[
            dict(type='PersonSearchMetric', multiview=True),
            dict(type='DumpResults', out_file_path=str(tmp_path / 'dump.pkl'))
        ])
    assert isinstance(runner.test_loop, PersonSearchTestLoop)
    meta = runner.test_loop.evaluator.dataset_meta
    assert meta['num_gallery_images'] == 3 and meta['num_queries'] == 1
    metrics = runner.test()
    # 3 gallery images + 1 query, each predicted once
    assert model.calls == 4
    # gallery = g0, g1 (g2 is the query frame): 0.9 N, 0.8 N, 0.6 P
    # -> AP = 1/3 (count_gt 1); multiview = cameras != 0: the same images
    assert metrics['prw/mAP'] == pytest.approx(1 / 3)
    assert metrics['prw/mAP@multiview'] == pytest.approx(1 / 3)
    assert metrics['prw/top5'] == 1.0 and metrics['prw/top1'] == 0.0
    # a plain mmengine metric beside it sees every sample once
    dumped = load(str(tmp_path / 'dump.pkl'))
    assert sorted(d['img_id']
                  for d in dumped) == ['g0.jpg', 'g1.jpg', 'g2.jpg', 'g2.jpg']
    assert sum('query_index' in d for d in dumped) == 1


def test_query_dataset_without_protocol_is_refused():
    loop = object.__new__(PersonSearchTestLoop)
    loop.dataloader = torch.utils.data.DataLoader([0])
    loop.query_dataloader = torch.utils.data.DataLoader([0, 1])
    with pytest.raises(TypeError, match='has no get_gallery_protocol'):
        loop.search_meta()
