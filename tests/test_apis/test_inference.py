"""The search API on an initialised (untrained) R-18 DC-I-Net."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmsearch.apis import (SearchMatch, embed_query, init_searcher,
                           list_images, search_gallery)

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG = osp.join(ROOT, 'configs', 'dcinet', 'dcinet_r18_synthetic.py')


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    # Few proposals for speed; keep every detection (score_thr 0).
    small_test_cfg = dict(
        rpn=dict(nms_pre=200, max_per_img=30),
        rcnn=dict(score_thr=0.0, max_per_img=20))
    return init_searcher(
        CONFIG,
        device='cpu',
        cfg_options=dict(model=dict(test_cfg=small_test_cfg)))


@pytest.fixture(scope='module')
def gallery_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp('gallery')
    rng = np.random.default_rng(0)
    for index in range(2):
        image = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f'g{index}.jpg'), image)
    (folder / 'notes.txt').write_text('not an image')
    return str(folder)


def test_init_searcher_is_in_eval_mode_with_config(model):
    assert not model.training
    assert model.cfg.model.type.endswith('PersonSearch')
    assert model.dataset_meta['classes'] == ('person', )
    assert model.cfg.model.test_cfg.rpn.max_per_img == 30


def test_embed_query_gives_a_unit_feature(model, gallery_dir):
    path = osp.join(gallery_dir, 'g0.jpg')
    feat = embed_query(model, path, [10, 20, 50, 90])
    assert feat.ndim == 1 and feat.numel() == 256
    assert feat.norm().item() == pytest.approx(1.0, abs=1e-4)
    # Same image as an array: same feature. Another box: another feature.
    same = embed_query(model, cv2.imread(path), [10, 20, 50, 90])
    assert torch.allclose(feat, same, atol=1e-5)
    other = embed_query(model, path, [60, 5, 120, 60])
    assert not torch.allclose(feat, other, atol=1e-3)


def test_search_ranks_all_detections_by_similarity(model, gallery_dir):
    query_feat = embed_query(model, osp.join(gallery_dir, 'g0.jpg'),
                             [10, 20, 50, 90])
    calls = []
    matches = search_gallery(
        model,
        query_feat,
        gallery_dir,
        score_thr=0.0,
        progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]
    assert len(matches) > 0 and all(
        isinstance(m, SearchMatch) for m in matches)
    sims = [m.similarity for m in matches]
    assert sims == sorted(sims, reverse=True)
    assert all(-1.0 - 1e-4 <= s <= 1.0 + 1e-4 for s in sims)
    for match in matches:
        assert osp.dirname(match.img_path) == gallery_dir
        x1, y1, x2, y2 = match.bbox
        assert 0 <= x1 <= x2 <= 128 and 0 <= y1 <= y2 <= 96
    top = search_gallery(model, query_feat, gallery_dir, score_thr=0.0, topk=3)
    assert [m.similarity for m in top] == pytest.approx(sims[:3])
    strict = search_gallery(model, query_feat, gallery_dir, score_thr=0.99)
    assert all(m.score >= 0.99 for m in strict)


def test_bad_inputs_are_named(model, gallery_dir, tmp_path):
    with pytest.raises(ValueError, match='x2 > x1'):
        embed_query(model, osp.join(gallery_dir, 'g0.jpg'), [50, 20, 10, 90])
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        embed_query(model, str(tmp_path / 'nope.jpg'), [0, 0, 5, 5])
    with pytest.raises(ValueError, match='holds no images'):
        list_images(str(tmp_path))
    with pytest.raises(ValueError, match='dimensions'):
        search_gallery(model, torch.ones(7), gallery_dir, score_thr=0.0)
    with pytest.raises(FileNotFoundError, match='missing.py'):
        init_searcher(str(tmp_path / 'missing.py'))
