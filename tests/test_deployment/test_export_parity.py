"""ONNX gallery and query models against the PyTorch model they come from.

For the three R-18 synthetic configs, on weights made to detect, at two
image sizes: every PyTorch detection has one ONNX detection with IoU >=
0.99, scores agree within 1e-4 and embeddings have cosine >= 0.9999; the
query model agrees with ``mmsearch.apis.embed_query``.
"""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmsearch.apis import detect_images, embed_query, init_searcher
from mmsearch.deployment import runtime
from mmsearch.deployment.calibration import draw_person_scene, make_detecting
from mmsearch.deployment.export import export_onnx
from mmsearch.structures import match_boxes
from mmsearch.testing.backbones import TINY_BACKBONES, swap_backbone

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
METHODS = ('oim', 'inet', 'dcinet')
# (height, width) of the original images: the configs resize them (keep
# ratio, into 400 x 240) to 240 x 347 and 360 x 240.
IMAGE_SIZES = ((180, 260), (300, 200))


def config_path(method: str) -> str:
    return osp.join(ROOT, 'configs', method, f'{method}_r18_synthetic.py')


@pytest.fixture(scope='module', params=METHODS)
def exported(request, tmp_path_factory):
    torch.manual_seed(0)
    model = init_searcher(config_path(request.param), device='cpu')
    make_detecting(model, seed=0)
    out_dir = str(tmp_path_factory.mktemp(f'onnx_{request.param}'))
    export_onnx(model, out_dir)
    return model, runtime.init_searcher(out_dir, num_threads=1)


def assert_same_detections(ref: dict, got: dict) -> None:
    assert len(ref['scores']) >= 3, 'the test needs detections'
    assert len(got['scores']) == len(ref['scores'])
    pairs = match_boxes(ref['bboxes'], got['bboxes'], 0.99)
    assert len(pairs) == len(ref['scores'])
    ref_idx, got_idx = map(list, zip(*pairs))
    np.testing.assert_allclose(
        got['scores'][got_idx], ref['scores'][ref_idx], atol=1e-4)
    cosines = np.sum(
        got['reid_feats'][got_idx] * ref['reid_feats'][ref_idx], axis=1)
    assert cosines.min() >= 0.9999


@pytest.mark.parametrize('size', IMAGE_SIZES)
def test_gallery_model_matches_pytorch(exported, size):
    model, searcher = exported
    image = draw_person_scene(*size, seed=sum(size))
    ref = detect_images(model, [image])[0]
    got = searcher.detect(image)
    assert got['bboxes'].dtype == np.float32
    assert_same_detections(ref, got)
    # detections come sorted by score, like PyTorch's
    assert np.all(np.diff(got['scores']) <= 0)
    np.testing.assert_allclose(
        np.linalg.norm(got['reid_feats'], axis=1), 1, atol=1e-5)


@pytest.mark.parametrize('size', IMAGE_SIZES)
def test_query_model_matches_embed_query(exported, size, tmp_path):
    model, searcher = exported
    image = draw_person_scene(*size, seed=1)
    path = str(tmp_path / 'query.png')
    cv2.imwrite(path, image)
    height, width = size
    for box in ([5.5, 10.0, 60.0,
                 150.0], [width * 0.5, 2.0, width - 1.0, height - 3.0]):
        ref = embed_query(model, path, box).numpy()
        got = runtime.embed_query(searcher, path, box)
        assert got.shape == ref.shape == (256, )
        assert float(got @ ref) >= 0.9999
    # several boxes at once give each box's embedding
    boxes = np.array([[5.5, 10.0, 60.0, 150.0], [1, 1, 20, 40]], np.float32)
    both = searcher.embed_boxes(image, boxes)
    one = runtime.embed_query(searcher, image, boxes[1])
    np.testing.assert_allclose(both[1], one, atol=1e-5)


@pytest.mark.parametrize('family', ['convnext', 'mobilenetv2'])
def test_stage_route_export_matches_pytorch(family, tmp_path):
    """A DC-I-Net on the stage route (tiny backbone of the family, its last
    stage as both RoI heads) exports and agrees with PyTorch."""
    from mmengine.config import Config
    if family == 'convnext':
        pytest.importorskip('mmpretrain', reason='ConvNeXt is mmpretrain\'s')
    cfg = Config.fromfile(config_path('dcinet'))
    backbone, trunk_channels, last_channels = TINY_BACKBONES[family]
    cfg.model = swap_backbone(cfg.model, backbone, trunk_channels,
                              last_channels)
    torch.manual_seed(0)
    model = init_searcher(cfg, device='cpu')
    make_detecting(model, seed=0)
    export_onnx(model, str(tmp_path))
    searcher = runtime.init_searcher(str(tmp_path), num_threads=1)
    for size in IMAGE_SIZES:
        image = draw_person_scene(*size, seed=sum(size))
        assert_same_detections(
            detect_images(model, [image])[0], searcher.detect(image))
