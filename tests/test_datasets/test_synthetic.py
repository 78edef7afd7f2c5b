"""The synthetic dataset generator, its CLI and the synthetic config."""
import filecmp
import os
import os.path as osp
import runpy
import sys
from unittest import mock

import cv2
import numpy as np
import pytest
from dataset_helpers import TINY
from mmengine.config import Config

from mmsearch.datasets import CUHKSYSUDataset
from mmsearch.datasets.synthetic import (SyntheticConfig,
                                         make_synthetic_dataset)

REPO = osp.join(osp.dirname(__file__), '..', '..')
SMALL = dict(
    num_train_ids=4,
    num_test_ids=3,
    num_train_images=6,
    num_test_images=51,
    image_size=(64, 48),
    gallery_sizes=(50, ))


def all_files(root):
    return sorted(
        osp.relpath(osp.join(d, f), root) for d, _, files in os.walk(root)
        for f in files)


def test_generation_is_deterministic_for_a_seed(tmp_path):
    counts = [
        make_synthetic_dataset(
            str(tmp_path / name), SyntheticConfig(**SMALL, seed=seed))
        for name, seed in (('a', 0), ('b', 0), ('c', 1))
    ]
    assert counts[0] == counts[1]
    files = all_files(tmp_path / 'a')
    assert files == all_files(tmp_path / 'b')
    _, mismatch, errors = filecmp.cmpfiles(
        tmp_path / 'a', tmp_path / 'b', files, shallow=False)
    assert mismatch == errors == []
    _, mismatch, _ = filecmp.cmpfiles(
        tmp_path / 'a', tmp_path / 'c', files, shallow=False)
    assert mismatch


def test_raw_layout_is_complete(tiny_synthetic):
    root, _ = tiny_synthetic
    cuhk = set(all_files(osp.join(root, 'cuhk_sysu')))
    for path in ('annotation/Images.mat', 'annotation/Person.mat',
                 'annotation/pool.mat', 'annotation/test/train_test/Train.mat',
                 'annotation/test/train_test/TestG50.mat',
                 'annotation/test/subset/Occlusion.mat',
                 'annotation/test/subset/Resolution.mat'):
        assert path in cuhk
    images = [p for p in cuhk if p.startswith('Image/SSM/')]
    assert len(images) == TINY.num_train_images + TINY.num_test_images
    image = cv2.imread(osp.join(root, 'cuhk_sysu', images[0]))
    assert image.shape == (TINY.image_size[1], TINY.image_size[0], 3)
    prw = set(all_files(osp.join(root, 'prw')))
    assert {'frame_train.mat', 'frame_test.mat', 'query_info.txt'} <= prw
    with open(osp.join(root, 'prw', 'query_info.txt'), 'rb') as file:
        lines = file.read().split(b'\n')
    assert all(line.endswith(b'\r') for line in lines[:-1])


def test_subsets_map_to_main_queries(tiny_synthetic):
    root, _ = tiny_synthetic
    queries = CUHKSYSUDataset(
        split='query', gallery_size=50, data_root=osp.join(root, 'cuhk_sysu'))
    for name in ('occlusion', 'resolution'):
        indices, galleries = queries.get_gallery_protocol(name)
        assert len(indices) == len(galleries) >= 1
        assert set(indices.tolist()) <= set(range(TINY.num_test_ids))


def test_identities_are_distinguishable_by_colour(tiny_synthetic):
    """Nearest neighbour on a colour histogram of the crop finds a box of
    the same identity far more often than chance."""
    root, _ = tiny_synthetic
    gallery = CUHKSYSUDataset(
        split='gallery',
        gallery_size=50,
        data_root=osp.join(root, 'cuhk_sysu'))
    feats, ids = [], []
    for index in range(len(gallery)):
        info = gallery.get_data_info(index)
        image = cv2.imread(info['img_path'])
        for inst in info['instances']:
            if inst['person_id'] < 0:
                continue
            x1, y1, x2, y2 = (int(v) for v in inst['bbox'])
            crop = image[y1:y2, x1:x2].reshape(-1, 3) // 64
            hist = np.bincount(
                crop[:, 0] * 16 + crop[:, 1] * 4 + crop[:, 2],
                minlength=64).astype(float)
            feats.append(hist / np.linalg.norm(hist))
            ids.append(inst['person_id'])
    feats, ids = np.array(feats), np.array(ids)
    similarity = feats @ feats.T
    np.fill_diagonal(similarity, -1)
    accuracy = (ids[similarity.argmax(1)] == ids).mean()
    assert accuracy > 3 / TINY.num_test_ids


def test_bad_config_is_explained():
    with pytest.raises(ValueError, match='num_test_images >= 51'):
        SyntheticConfig(num_test_images=20)
    with pytest.raises(ValueError, match='data_format'):
        make_synthetic_dataset('/nonexistent', SyntheticConfig(), 'coco')


def test_cli_counts_equal_synthetic_config_lengths(tmp_path, capsys):
    out_dir = str(tmp_path / 'synthetic')
    argv = [
        'make_synthetic_dataset.py', out_dir, '--train-ids', '4', '--test-ids',
        '3', '--train-images', '6', '--test-images', '51', '--image-size',
        '64', '48', '--gallery-sizes', '50'
    ]
    with mock.patch.object(sys, 'argv', argv):
        runpy.run_path(
            osp.join(REPO, 'tools/misc/make_synthetic_dataset.py'),
            run_name='__main__')
    assert '"queries": 3' in capsys.readouterr().out
    counts = make_synthetic_dataset(
        str(tmp_path / 'api'), SyntheticConfig(**SMALL))
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/_base_/datasets/synthetic.py'))
    lengths = {}
    for name, dataset_cfg in (('train_images',
                               cfg.train_dataloader.dataset.dataset),
                              ('gallery_images', cfg.test_dataloader.dataset),
                              ('queries', cfg.query_dataloader.dataset)):
        dataset_cfg = dict(dataset_cfg, data_root=out_dir)
        dataset_type = dataset_cfg.pop('type')
        assert dataset_type == 'CUHKSYSUDataset'
        lengths[name] = len(CUHKSYSUDataset(**dataset_cfg))
    assert lengths == {k: counts[k] for k in lengths}
    assert lengths == dict(train_images=6, gallery_images=51, queries=3)
