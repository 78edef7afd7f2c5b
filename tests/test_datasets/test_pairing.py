"""Siamese pairs: partner table, pair wrapper, PairSampler, pair_collate."""
import os.path as osp
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmsearch.datasets import (CUHKSYSUDataset, PairSampler,
                               PersonSearchPairDataset, pair_collate)
from mmsearch.datasets.samplers import build_partner_table

CONFIG = osp.join(
    osp.dirname(__file__), '..', '..', 'configs', '_base_', 'datasets',
    'synthetic.py')


def test_partner_table_hand_worked():
    offsets, partners = build_partner_table([
        np.array([0, -1]),
        np.array([1, 0]),
        np.array([-1]),
        np.array([1]),
        np.array([2])
    ])
    table = [partners[offsets[i]:offsets[i + 1]].tolist() for i in range(5)]
    # image 1 shares id 0 with image 0 and id 1 with image 3; images 2
    # (unlabelled only) and 4 (id 2 alone) have no partner
    assert table == [[1], [0, 3], [], [1], []]


@pytest.fixture(scope='module')
def pair_dataset(tiny_synthetic):
    root, _ = tiny_synthetic
    train = CUHKSYSUDataset(
        split='train', data_root=osp.join(root, 'cuhk_sysu'))
    return PersonSearchPairDataset(train, seed=5)


def labelled(dataset, index):
    return {
        i['person_id']
        for i in dataset.get_data_info(index)['instances']
        if i['person_id'] >= 0
    }


def test_every_pair_shares_a_labelled_id(pair_dataset):
    train = pair_dataset.dataset
    for epoch in range(3):
        for anchor in range(len(pair_dataset)):
            partner = pair_dataset.draw_partner(anchor, epoch)
            assert partner != anchor
            assert labelled(train, anchor) & labelled(train, partner)


def test_getitem_returns_anchor_then_partner(pair_dataset):
    train = pair_dataset.dataset  # no pipeline: items are data infos
    anchor, partner = pair_dataset[2]
    assert anchor['img_id'] == train.get_data_info(2)['img_id']
    assert (anchor['pair_position'], partner['pair_position']) == (0, 1)
    partner_index = pair_dataset.draw_partner(2, pair_dataset.epoch)
    assert partner['img_id'] == train.get_data_info(partner_index)['img_id']
    anchor, partner = pair_dataset[(0, 5)]
    assert [anchor['img_id'], partner['img_id']
            ] == [train.get_data_info(i)['img_id'] for i in (0, 5)]


def test_partner_draw_is_seeded_by_seed_epoch_index(pair_dataset):
    draws = [[
        pair_dataset.draw_partner(i, epoch) for i in range(len(pair_dataset))
    ] for epoch in (0, 0, 1)]
    assert draws[0] == draws[1]
    assert draws[0] != draws[2]
    other_seed = PersonSearchPairDataset(pair_dataset.dataset, seed=6)
    assert draws[0] != [
        other_seed.draw_partner(i, 0) for i in range(len(pair_dataset))
    ]


def test_image_without_partner_pairs_with_itself(pair_dataset):
    with mock.patch.object(
            pair_dataset, 'partners', return_value=np.zeros(0, np.int64)):
        assert pair_dataset.draw_partner(3, 0) == 3


def test_pair_sampler_partitions_anchors_across_ranks(pair_dataset):
    per_rank = []
    for rank in range(2):
        with mock.patch(
                'mmengine.dataset.sampler.get_dist_info',
                return_value=(rank, 2)):
            sampler = PairSampler(pair_dataset, shuffle=True, seed=1)
        sampler.set_epoch(4)
        per_rank.append(list(sampler))
    anchors = [[a for a, _ in pairs] for pairs in per_rank]
    size = len(pair_dataset)
    if size % 2 == 0:
        assert not set(anchors[0]) & set(anchors[1])
    assert set(anchors[0]) | set(anchors[1]) == set(range(size))
    for pairs in per_rank:
        for anchor, partner in pairs:
            assert partner == pair_dataset.draw_partner(anchor, 4)
    with pytest.raises(TypeError, match='PersonSearchPairDataset'):
        PairSampler(pair_dataset.dataset)


def test_train_dataloader_batches_partners(tiny_synthetic):
    root, _ = tiny_synthetic
    cfg = Config.fromfile(CONFIG).train_dataloader
    cfg.dataset.dataset.data_root = osp.join(root, 'cuhk_sysu')
    cfg.update(num_workers=0, persistent_workers=False, batch_size=3)
    loader = Runner.build_dataloader(cfg, seed=0)
    batch = next(iter(loader))
    inputs, samples = batch['inputs'], batch['data_samples']
    assert len(inputs) == len(samples) == 6
    assert all(x.dtype == torch.uint8 and x.shape[0] == 3 for x in inputs)
    for index, sample in enumerate(samples):
        assert sample.metainfo['pair_index'] == index // 2
        assert sample.metainfo['pair_position'] == index % 2
        person_ids = sample.gt_instances.person_ids
        assert person_ids.dtype == torch.long
        assert len(person_ids) == len(sample.gt_instances.bboxes)
    for k in range(3):
        ids = [
            set(samples[2 * k + j].gt_instances.person_ids.tolist()) - {-1}
            for j in range(2)
        ]
        assert ids[0] & ids[1]


def test_pair_collate_rejects_unpaired_items():
    with pytest.raises(ValueError, match='anchor, partner'):
        pair_collate([[dict(inputs=None, data_samples=None)]])
