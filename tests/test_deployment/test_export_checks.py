"""Export checks: preprocessing from the config, refused layers, the tool."""
import glob
import json
import os.path as osp
import subprocess
import sys

import mmcv
import numpy as np
import onnx
import pytest
from mmdet.datasets.transforms import Resize
from mmengine.config import Config

from mmsearch.apis import init_searcher
from mmsearch.deployment.calibration import draw_person_scene
from mmsearch.deployment.export import preprocess_spec
from mmsearch.deployment.graphs import (UnsupportedModelError, build_graph,
                                        check_exportable)
from mmsearch.deployment.runtime import rescaled_size, resize_image

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG = osp.join(ROOT, 'configs', 'oim', 'oim_r18_synthetic.py')


@pytest.mark.parametrize(
    'config',
    sorted(
        osp.relpath(path, ROOT)
        for path in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))
        if '_base_' not in path))
def test_every_project_config_is_exportable(config):
    """Every C4 config's model and preprocessing pass the export checks; the
    neck-route (FPN) configs are refused, naming the multi-level anchors."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    model = init_searcher(cfg, device='cpu')
    if cfg.model.get('neck') is not None:
        with pytest.raises(
                UnsupportedModelError, match='AnchorGenerator with 5 levels'):
            check_exportable(model)
        return
    backbone = cfg.model.backbone.get('backbone', cfg.model.backbone)
    if backbone.type.split('.')[-1] in ('SwinTransformer',
                                        'PyramidVisionTransformerV2'):
        with pytest.raises(UnsupportedModelError, match='the last stage of'):
            check_exportable(model)
        return
    check_exportable(model)
    spec = preprocess_spec(cfg)
    assert spec['resize']['keep_ratio'] and spec['mean'] is not None


def test_preprocess_spec_of_the_synthetic_config():
    spec = preprocess_spec(Config.fromfile(CONFIG))
    assert spec == dict(
        resize=dict(
            scale=[400, 240], keep_ratio=True, interpolation='bilinear'),
        bgr_to_rgb=True,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        pad_size_divisor=32,
        pad_value=0.0)


@pytest.mark.parametrize('keep_ratio', [True, False])
def test_runtime_resize_matches_mmdet_resize(keep_ratio):
    transform = Resize(scale=(400, 240), keep_ratio=keep_ratio)
    spec = dict(
        scale=[400, 240], keep_ratio=keep_ratio, interpolation='bilinear')
    for height, width in ((180, 260), (300, 200), (97, 1001), (240, 400)):
        image = draw_person_scene(height, width, seed=height)
        expected = transform(dict(img=image.copy()))
        resized, scale_factor = resize_image(image, spec)
        np.testing.assert_array_equal(resized, expected['img'])
        assert tuple(scale_factor) == expected['scale_factor']
        if keep_ratio:
            assert rescaled_size(width, height, (400, 240)) == \
                mmcv.rescale_size((width, height), (400, 240))


@pytest.fixture(scope='module')
def cfg():
    return Config.fromfile(CONFIG)


def build(cfg, **model_changes):
    cfg = cfg.copy()
    cfg.merge_from_dict(model_changes)
    return init_searcher(cfg, device='cpu')


@pytest.mark.parametrize(
    'changes, named',
    [
        (dict(
            roi_head=dict(
                bbox_roi_extractor=dict(
                    roi_layer=dict(
                        _delete_=True, type='RoIPool', output_size=8)))),
         'roi_head.bbox_roi_extractor.roi_layers.0'),
        (dict(
            roi_head=dict(
                bbox_roi_extractor=dict(roi_layer=dict(pool_mode='max')))),
         "pool_mode='max'"),
        (
            dict(
                backbone=dict(
                    depth=50,  # mmdet has DCN in Bottleneck blocks only
                    dcn=dict(
                        type='DCN', deform_groups=1, fallback_on_stride=False),
                    stage_with_dcn=(False, False, True))),
            'backbone.layer3.0.conv2'),
        (dict(test_cfg=dict(rcnn=dict(nms=dict(type='soft_nms')))),
         'test_cfg.rcnn.nms'),
    ],
    ids=['roi_pool', 'max_pool', 'dcn', 'soft_nms'])
def test_unsupported_layers_are_named(cfg, changes, named):
    model = build(cfg, model=changes)
    with pytest.raises(
            UnsupportedModelError,
            match=named.replace('.', r'\.').replace('(', r'\(')):
        build_graph(model, 'gallery', preprocess_spec(model.cfg))


def test_unsupported_test_transform_is_named(cfg):
    cfg = cfg.copy()
    pipeline = cfg.test_dataloader.dataset.pipeline
    pipeline.insert(2, dict(type='RandomFlip', prob=1.0))
    with pytest.raises(UnsupportedModelError, match='`RandomFlip`'):
        preprocess_spec(cfg)


def test_export_tool_writes_the_models(tmp_path):
    out_dir = str(tmp_path / 'onnx')
    result = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'deployment',
                 'export_onnx.py'), CONFIG, 'none', '--out-dir', out_dir,
        '--cfg-options', 'model.test_cfg.rcnn.score_thr=0.3'
    ],
                            capture_output=True,
                            text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    with open(osp.join(out_dir, 'deploy.json')) as f:
        deploy = json.load(f)
    assert deploy['score_thr'] == 0.3
    assert deploy['preprocess'] == preprocess_spec(Config.fromfile(CONFIG))
    for kind in ('gallery', 'query'):
        proto = onnx.load(osp.join(out_dir, f'{kind}.onnx'))
        onnx.checker.check_model(proto)
        # standard operators only: no custom domain
        assert {node.domain for node in proto.graph.node} <= {'', 'ai.onnx'}
        ops = {node.op_type for node in proto.graph.node}
        assert 'RoiAlign' in ops
        assert ('NonMaxSuppression' in ops) == (kind == 'gallery')
        metadata = {p.key: p.value for p in proto.metadata_props}
        assert json.loads(metadata['mmsearch']) == dict(deploy, kind=kind)
