"""I-Net and DC-I-Net on every stage-route backbone family: swapping
``model.backbone`` and the matching heads of a config trains and predicts
(tiny backbones on 128 x 192 synthetic images, CPU)."""
import pytest
import torch
from mmdet.structures import DetDataSample
from utils import (PAIR_LAYOUTS, build_model, draw_scene, make_pair_batch,
                   synthetic_model_cfg)

from mmsearch.testing.backbones import TINY_BACKBONES, swap_backbone

HEIGHT, WIDTH = 128, 192
CASES = [(family, method) for family in sorted(TINY_BACKBONES)
         for method in ('inet', 'dcinet')]


def stage_route_model(family, method):
    backbone_cfg, trunk_channels, last_channels = TINY_BACKBONES[family]
    cfg = swap_backbone(
        synthetic_model_cfg(method), backbone_cfg, trunk_channels,
        last_channels)
    cfg.test_cfg.rcnn.score_thr = 0.0  # keep an untrained net's detections
    cfg.test_cfg.rpn.max_per_img = 20
    return build_model(cfg)


def predict_one(model, **metainfo):
    img = draw_scene(PAIR_LAYOUTS[0][0], HEIGHT, WIDTH)
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(HEIGHT, WIDTH),
            ori_shape=(HEIGHT, WIDTH),
            scale_factor=(1.0, 1.0),
            **metainfo))
    data = model.data_preprocessor(
        dict(inputs=[img], data_samples=[sample]), training=False)
    with torch.no_grad():
        return model.predict(data['inputs'], data['data_samples'])[0]


@pytest.mark.parametrize('family, method', CASES)
def test_training_step_and_search(family, method):
    model = stage_route_model(family, method).train()
    roi_head = model.roi_head
    assert roi_head.with_separate_reid_module == (method == 'dcinet')

    data = model.data_preprocessor(make_pair_batch(HEIGHT, WIDTH), True)
    # the first batch fills the re-ID memories (OLP and C2HEP compare with
    # them: zero loss on empty memories); the second one is judged
    with torch.no_grad():
        model.loss(data['inputs'], data['data_samples'])
    losses = model.loss(data['inputs'], data['data_samples'])
    loss, log_vars = model.parse_losses(losses)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values())
    assert log_vars['loss_olp'] > 0
    loss.backward()
    # gradients reach the trunk, every last-stage copy and the embedding
    modules = [model.backbone, roi_head.shared_head, roi_head.reid_head]
    if method == 'dcinet':
        modules.append(roi_head.reid_shared_head)
    for module in modules:
        grads = [
            p.grad for p in module.parameters()
            if p.requires_grad and p.grad is not None
        ]
        assert grads and any(g.abs().sum() > 0 for g in grads)

    model.eval()
    gallery = predict_one(model).pred_instances
    num_dets = len(gallery)
    assert 0 < num_dets <= 20
    assert gallery.bboxes.shape == (num_dets, 4)
    assert gallery.reid_feats.shape == (num_dets, 256)
    torch.testing.assert_close(
        gallery.reid_feats.norm(dim=1), torch.ones(num_dets))
    # the query path embeds a given box as the gallery embeds a detection
    query_bbox = gallery.bboxes[0].tolist()
    query = predict_one(model, query_bbox=query_bbox, query_person_id=0)
    torch.testing.assert_close(
        query.pred_query_feat, gallery.reid_feats[0], atol=1e-4, rtol=1e-4)

    # CPU inference in the channels-last layout gives the same search
    model.cpu_channels_last = False
    plain = predict_one(model).pred_instances
    assert len(plain) == num_dets
    torch.testing.assert_close(
        plain.bboxes, gallery.bboxes, atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(
        plain.reid_feats, gallery.reid_feats, atol=1e-4, rtol=1e-4)
