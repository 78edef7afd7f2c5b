"""Both search paths (PyTorch ``mmsearch.apis`` and the ONNX runtime
``mmsearch.deployment.runtime``) treat bad input the same way: a query box
outside its image is an error, one partly outside is clipped with a
warning, non-finite numbers are an error, and an empty, non-image or
truncated gallery file is skipped with a reason."""
import os.path as osp
import warnings

import cv2
import numpy as np
import pytest
import torch

from mmsearch import apis
from mmsearch.deployment import runtime
from mmsearch.deployment.calibration import draw_person_scene, make_detecting
from mmsearch.deployment.export import export_onnx
from mmsearch.fileio import ImageReadError

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG = osp.join(ROOT, 'configs', 'dcinet', 'dcinet_r18_synthetic.py')
HEIGHT, WIDTH = 180, 260


@pytest.fixture(scope='module')
def paths(tmp_path_factory):
    """The two paths as (embed_query, search_gallery) on the same model."""
    torch.manual_seed(0)
    model = apis.init_searcher(CONFIG, device='cpu')
    make_detecting(model, seed=1)
    out_dir = str(tmp_path_factory.mktemp('onnx'))
    export_onnx(model, out_dir)
    searcher = runtime.init_searcher(out_dir, num_threads=1)
    return {
        'pytorch':
        (lambda image, box: apis.embed_query(model, image, box).numpy(),
         lambda feat, gallery, **kw: apis.search_gallery(
             model, torch.from_numpy(feat), gallery, **kw)),
        'onnx': (lambda image, box: runtime.embed_query(searcher, image, box),
                 lambda feat, gallery, **kw: runtime.search_gallery(
                     searcher, feat, gallery, **kw)),
    }


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp('images')
    good = str(folder / 'good.jpg')
    cv2.imwrite(good, draw_person_scene(HEIGHT, WIDTH, seed=3))
    second = folder / 'second.jpg'
    cv2.imwrite(str(second), draw_person_scene(HEIGHT, WIDTH, seed=4))
    data = second.read_bytes()
    (folder / 'empty.jpg').write_bytes(b'')
    (folder / 'text.jpg').write_text('a text file named .jpg\n')
    (folder / 'truncated.jpg').write_bytes(data[:len(data) // 2])
    return dict(
        good=good,
        folder=str(folder),
        **{
            name: str(folder / f'{name}.jpg')
            for name in ('empty', 'text', 'truncated')
        })


def outcome(call):
    """('error', type, message) or ('ok', value, [warning messages])."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            value = call()
        except Exception as error:  # the outcome compared across paths
            return 'error', type(error).__name__, str(error), []
    return 'ok', value, None, [str(w.message) for w in caught]


QUERY_CASES = {
    # box: (kind, what the message says)
    'outside': ([WIDTH + 10, 10, WIDTH + 60, 80], 'lies outside image'),
    'right_of_the_image_edge': ([WIDTH, 10, WIDTH + 60,
                                 80], 'lies outside image'),
    'not_finite': ([10, 20, float('nan'), 80], '4 finite numbers'),
    'infinite': ([10, 20, float('inf'), 80], '4 finite numbers'),
    'empty': ([50, 20, 40, 80], 'x2 > x1'),
}


@pytest.mark.parametrize('case', sorted(QUERY_CASES))
def test_bad_query_box_is_the_same_error(paths, files, case):
    box, message = QUERY_CASES[case]
    results = {
        name: outcome(lambda: embed(files['good'], box))
        for name, (embed, _) in paths.items()
    }
    for name, (kind, error, text, _) in results.items():
        assert (kind, error) == ('error', 'ValueError'), name
        assert message in text, name
    assert results['pytorch'][2] == results['onnx'][2]


def test_box_partly_outside_is_clipped_with_the_same_warning(paths, files):
    box, clipped = [200, 30, WIDTH + 40, HEIGHT + 5], [200, 30, WIDTH, HEIGHT]
    feats = {}
    for name, (embed, _) in paths.items():
        kind, feat, _, messages = outcome(lambda: embed(files['good'], box))
        assert kind == 'ok', feat
        assert messages == [
            f'query box {[float(v) for v in box]} extends past image '
            f'"{files["good"]}" ({WIDTH} x {HEIGHT} pixels); clipped to '
            f'{[float(v) for v in clipped]}.'
        ], name
        # the clipped box's own feature: clipping is all that happened
        np.testing.assert_allclose(
            feat, embed(files['good'], clipped), atol=1e-6)
        feats[name] = feat
    cosine = float(feats['pytorch'] @ feats['onnx'])
    assert cosine > 0.999


@pytest.mark.parametrize('bad,reason', [
    ('empty', 'empty file (0 bytes)'),
    ('text', 'not a decodable image'),
    ('truncated', 'truncated JPEG (no end-of-image marker)'),
])
def test_bad_gallery_file_is_skipped_with_the_same_reason(
        paths, files, bad, reason):
    found = {}
    for name, (embed, search) in paths.items():
        feat = embed(files['good'], [20, 30, 70, 160])
        skipped = []
        kind, matches, _, messages = outcome(lambda: search(
            feat, [files[bad], files['good']], score_thr=0.0, skipped=skipped))
        assert kind == 'ok', matches
        expected = f'image "{files[bad]}" cannot be read: {reason}'
        assert skipped == [(files[bad], expected)], name
        assert messages == [f'skipped gallery {expected}'], name
        assert matches and {m.img_path for m in matches} == {files['good']}
        found[name] = matches
    assert len(found['pytorch']) == len(found['onnx'])
    # a gallery of bad files only: the same error on both paths
    errors = {
        name: outcome(
            lambda: search(np.ones(256, np.float32) / 16, [files[bad]]))[:3]
        for name, (_, search) in paths.items()
    }
    assert errors['pytorch'] == errors['onnx'] == (
        'error', 'ImageReadError', 'none of the 1 gallery images could be '
        f'read, e.g. {expected}')


@pytest.mark.parametrize('bad', ['empty', 'text', 'truncated'])
def test_bad_query_image_is_the_same_error(paths, files, bad):
    results = {
        name: outcome(lambda: embed(files[bad], [20, 30, 70, 160]))[:3]
        for name, (embed, _) in paths.items()
    }
    assert results['pytorch'] == results['onnx']
    assert results['onnx'][:2] == ('error', ImageReadError.__name__)
