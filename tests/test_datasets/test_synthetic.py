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
                                         make_synthetic_dataset, plan_dataset,
                                         preset_config)
from mmsearch.datasets.synthetic.plan import CameraLook
from mmsearch.datasets.synthetic.render import apply_camera

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


# ------------------------------------------------------ the benchmark preset
def test_presets_name_their_settings():
    assert preset_config('quickstart') == SyntheticConfig()
    bench = preset_config('benchmark', seed=3)
    assert (bench.num_train_ids, bench.num_test_ids, bench.seed) == (150, 450,
                                                                     3)
    assert bench.confuser_prob > 0 and bench.camera_shift > 0
    with pytest.raises(ValueError, match="unknown synthetic preset 'hard'"):
        preset_config('hard')
    with pytest.raises(ValueError, match='person_height'):
        SyntheticConfig(person_height=(0.9, 0.2))


def test_new_options_at_zero_leave_the_default_data_unchanged():
    """confuser_prob = camera_shift = 0 draw nothing: the plans equal those
    of a config that never heard of them (the quick start's data)."""
    plain = plan_dataset(SyntheticConfig(**SMALL))
    zero = plan_dataset(
        SyntheticConfig(**SMALL, confuser_prob=0.0, camera_shift=0.0))
    # repr: the placements hold numpy boxes, which == cannot compare
    assert repr(plain) == repr(zero)
    assert all(p.camera is None for p in plain[0] + plain[1])


def test_confusers_wear_the_colours_of_a_labelled_identity():
    config = SyntheticConfig(
        **{
            **SMALL, 'max_distractors': 3
        }, confuser_prob=1.0)
    train, test, looks, _ = plan_dataset(config)
    plain_looks = plan_dataset(
        SyntheticConfig(**{
            **SMALL, 'max_distractors': 3
        }))[2]
    splits = ((train, range(SMALL['num_train_ids'])),
              (test,
               range(SMALL['num_train_ids'],
                     SMALL['num_train_ids'] + SMALL['num_test_ids'])))
    confusers = 0
    for plans, identities in splits:
        colours = {(looks[i].top, looks[i].bottom) for i in identities}
        for plan in plans:
            for person in plan.persons:
                if person.person_id >= 0:
                    assert looks[person.identity] == plain_looks[
                        person.identity]
                    continue
                confusers += 1
                look, plain = looks[person.identity], plain_looks[
                    person.identity]
                assert (look.top, look.bottom) in colours
                # the rest of the look is the distractor's own
                assert (look.pattern, look.hair,
                        look.aspect) == (plain.pattern, plain.hair,
                                         plain.aspect)
    assert confusers > 0


def test_person_heights_follow_the_range():
    config = SyntheticConfig(**SMALL, person_height=(0.2, 0.4))
    train, test, _, _ = plan_dataset(config)
    heights = np.array(
        [p.box[3] for plan in train + test
         for p in plan.persons]) / SMALL['image_size'][1]
    assert heights.min() >= 0.2 - 1 / 48 and heights.max() <= 0.4


def test_camera_is_applied_as_documented():
    """Hand-worked: 100 * gain 1.2 * brightness 0.9 = 108 -> 255 * (108 /
    255) ** 0.5 = 165.95; the other channels with gains 1.0 and 0.5."""
    image = np.full((4, 4, 3), 100, np.uint8)
    out = apply_camera(image, CameraLook((1.2, 1.0, 0.5), 0.9, 0.5, 0))
    expected = [255 * (100 * g * 0.9 / 255)**0.5 for g in (1.2, 1.0, 0.5)]
    assert out[0, 0].tolist() == [round(v) for v in expected]
    saturated = apply_camera(
        np.full((2, 2, 3), 250, np.uint8),
        CameraLook((1.5, 1.5, 1.5), 1.0, 1.0, 0))
    assert (saturated == 255).all()
    config = SyntheticConfig(**SMALL, camera_shift=0.3)
    train, test, _, _ = plan_dataset(config)
    cameras = [plan.camera for plan in train + test]
    assert all(c is not None for c in cameras)
    gains = np.array([c.gains for c in cameras])
    assert gains.min() >= 0.7 and gains.max() <= 1.3 and gains.std() > 0.05


def test_cli_preset_with_an_override(tmp_path, capsys):
    argv = [
        'make_synthetic_dataset.py',
        str(tmp_path / 'bench'), '--preset', 'benchmark', '--train-ids', '4',
        '--test-ids', '3', '--train-images', '6', '--test-images', '51',
        '--image-size', '64', '48', '--gallery-sizes', '50'
    ]
    with mock.patch.object(sys, 'argv', argv):
        runpy.run_path(
            osp.join(REPO, 'tools/misc/make_synthetic_dataset.py'),
            run_name='__main__')
    assert '"queries": 3' in capsys.readouterr().out
    bad = argv[:2] + ['--person-height', '0.5', '0.1']
    with mock.patch.object(sys, 'argv', bad), pytest.raises(SystemExit) as e:
        runpy.run_path(
            osp.join(REPO, 'tools/misc/make_synthetic_dataset.py'),
            run_name='__main__')
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('error: SyntheticConfig: expected person_height')
