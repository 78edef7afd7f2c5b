"""The search API on an initialised (untrained) R-18 DC-I-Net."""
import copy
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmsearch.apis import (ImageReadError, SearchMatch, clip_query_box,
                           embed_query, inference_searcher, init_searcher,
                           list_images, search_gallery)
from mmsearch.utils import CheckpointMismatchError

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


# Bad input must stop with an error naming the file, or be skipped and
# reported: never give confident matches silently.


def test_query_box_outside_the_image_is_refused(model, gallery_dir):
    path = osp.join(gallery_dir, 'g0.jpg')  # 128 x 96
    for box in ([400, 300, 450, 380], [5000, 10, 5100,
                                       90], [-80, -60, -10,
                                             -5], [128, 0, 140, 50]):
        with pytest.raises(
                ValueError,
                match=r'query box .* lies outside image ".*g0\.jpg" '
                r'\(128 x 96 pixels'):
            embed_query(model, path, box)


def test_query_box_partly_outside_is_clipped_with_a_warning(
        model, gallery_dir):
    path = osp.join(gallery_dir, 'g0.jpg')
    inside = embed_query(model, path, [100, 20, 128, 96])
    with pytest.warns(
            UserWarning,
            match=r'query box \[100\.0, 20\.0, 150\.0, 120\.0\] extends past '
            r'image ".*g0\.jpg" \(128 x 96 pixels\); clipped to \[100\.0, '
            r'20\.0, 128\.0, 96\.0\]'):
        clipped = embed_query(model, path, [100, 20, 150, 120])
    assert torch.equal(clipped, inside)
    with pytest.warns(UserWarning, match='image "x"'):
        np.testing.assert_array_equal(
            clip_query_box([-5, 3, 20, 30], (96, 128), 'x'), [0, 3, 20, 30])


def test_unreadable_gallery_images_are_skipped_and_reported(
        model, gallery_dir, tmp_path):
    query_feat = embed_query(model, osp.join(gallery_dir, 'g0.jpg'),
                             [10, 20, 50, 90])
    good = search_gallery(model, query_feat, gallery_dir, score_thr=0.0)
    folder = tmp_path / 'mixed'
    folder.mkdir()
    for name in ('g0.jpg', 'g1.jpg'):
        (folder / name).write_bytes(
            open(osp.join(gallery_dir, name), 'rb').read())
    (folder / 'a_empty.jpg').write_bytes(b'')
    (folder / 'b_broken.png').write_bytes(b'not an image at all')
    skipped = []
    with pytest.warns(UserWarning) as caught:
        mixed = search_gallery(
            model, query_feat, str(folder), score_thr=0.0, skipped=skipped)
    # the good images' results are all there, as without the bad files
    assert [(osp.basename(m.img_path), m.similarity) for m in mixed
            ] == [(osp.basename(m.img_path), m.similarity) for m in good]
    assert [osp.basename(p)
            for p, _ in skipped] == ['a_empty.jpg', 'b_broken.png']
    assert skipped == [
        (str(folder / 'a_empty.jpg'), f'image "{folder / "a_empty.jpg"}" '
         'cannot be read: empty file (0 bytes)'),
        (str(folder / 'b_broken.png'), f'image "{folder / "b_broken.png"}" '
         'cannot be read: not a decodable image'),
    ]
    assert any('a_empty.jpg' in str(w.message) for w in caught)
    os.remove(folder / 'g0.jpg')
    os.remove(folder / 'g1.jpg')
    with pytest.warns(UserWarning), pytest.raises(
            ImageReadError,
            match=r'none of the 2 gallery images could be read'):
        search_gallery(model, query_feat, str(folder))
    with pytest.raises(
            ImageReadError, match=r'a_empty\.jpg" cannot be read: empty file'):
        embed_query(model, str(folder / 'a_empty.jpg'), [0, 0, 5, 5])


def test_nan_model_outputs_name_the_image(model, gallery_dir):
    broken = copy.deepcopy(model)
    with torch.no_grad():
        for name, param in broken.named_parameters():
            if 'reid' in name or 'embedding' in name:
                param.fill_(float('nan'))
    path = osp.join(gallery_dir, 'g0.jpg')
    with pytest.raises(
            ValueError,
            match=r'NaN or infinite values in the query feature of '
            r'query image ".*g0\.jpg"'):
        embed_query(broken, path, [10, 20, 50, 90])
    with pytest.raises(
            ValueError,
            match=r"gallery image '.*g0\.jpg': \d+ NaN or infinite values "
            r"in its detections' reid_feats"):
        search_gallery(
            broken, torch.ones(256) / 16, gallery_dir, score_thr=0.0)
    with pytest.raises(ValueError, match='query_feat holds NaN'):
        search_gallery(model, torch.full((256, ), float('nan')), gallery_dir)


@pytest.fixture(scope='module')
def saved_model(model, tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'dcinet_r18.pth'
    torch.save(dict(meta=dict(), state_dict=model.state_dict()), path)
    return str(path)


def test_checkpoint_of_another_model_is_refused(saved_model):
    oim = osp.join(ROOT, 'configs', 'oim', 'oim_r18_synthetic.py')
    with pytest.raises(
            CheckpointMismatchError,
            match=r'dcinet_r18\.pth" does not fit the model built from the '
            r"config: \d+ of the model's \d+ tensors are missing .*"
            r'checkpoint tensors are not in the model.*strict=False'):
        init_searcher(oim, saved_model)
    partial = init_searcher(oim, saved_model, strict=False)
    assert not partial.training
    # the right config loads strictly and gives the same weights
    saved = torch.load(saved_model, weights_only=True)['state_dict']
    for key, value in init_searcher(CONFIG, saved_model).state_dict().items():
        assert torch.equal(value, saved[key]), key


def test_ignored_config_variable_override_is_refused():
    with pytest.raises(
            ValueError,
            match=r'num_person_ids: num_person_ids is a variable '
            r'of the config file'):
        init_searcher(CONFIG, cfg_options={'num_person_ids': 7})


def test_batched_search_equals_one_image_at_a_time(model, gallery_dir):
    """inference_searcher batches images of one size into one forward
    pass; the ranking is that of one image per pass."""
    query_feat = embed_query(model, osp.join(gallery_dir, 'g0.jpg'),
                             [10, 20, 50, 90])
    single = search_gallery(model, query_feat, gallery_dir, score_thr=0.0)
    batched = search_gallery(
        model, query_feat, gallery_dir, score_thr=0.0, batch_size=2)
    assert len(single) == len(batched) > 0
    for one, two in zip(single, batched):
        assert one.img_path == two.img_path
        np.testing.assert_allclose(one.bbox, two.bbox, atol=1e-3)
        assert one.similarity == pytest.approx(two.similarity, abs=1e-5)
    samples = inference_searcher(
        model, [osp.join(gallery_dir, 'g0.jpg')] * 2,
        query_boxes=[None, [10, 20, 50, 90]],
        batch_size=2)
    assert 'pred_query_feat' not in samples[0]
    torch.testing.assert_close(
        samples[1].pred_query_feat.reshape(-1), query_feat, atol=1e-5, rtol=0)
