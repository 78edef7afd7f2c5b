"""PersonSearch prediction: shapes, unit norm, coordinates, query path."""
import pytest
import torch
from mmdet.structures import DetDataSample
from utils import PAIR_LAYOUTS, build_model, draw_scene, synthetic_model_cfg

HEIGHT, WIDTH = 128, 192


@pytest.fixture(scope='module')
def model():
    cfg = synthetic_model_cfg('dcinet')
    # an untrained net scores persons around 0.5: keep every detection
    cfg.test_cfg.rcnn.score_thr = 0.0
    cfg.test_cfg.rpn.max_per_img = 50
    return build_model(cfg).eval()


def _predict(model, scale_factor, **metainfo):
    """Predict one fixed 128x192 network input.

    ``scale_factor`` says how the (notional) original image was resized to
    the input, so the same input gives boxes in different original frames.
    """
    img = draw_scene(PAIR_LAYOUTS[0][0], HEIGHT, WIDTH)
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(HEIGHT, WIDTH),
            ori_shape=(round(HEIGHT / scale_factor[1]),
                       round(WIDTH / scale_factor[0])),
            scale_factor=scale_factor,
            **metainfo))
    data = model.data_preprocessor(
        dict(inputs=[img], data_samples=[sample]), training=False)
    with torch.no_grad():
        return model.predict(data['inputs'], data['data_samples'])[0], data


def test_predict_shapes_and_unit_norm(model):
    result, _ = _predict(model, (1.0, 1.0))
    pred = result.pred_instances
    num_dets = len(pred)
    assert 0 < num_dets <= 50
    assert pred.bboxes.shape == (num_dets, 4)
    assert pred.scores.shape == (num_dets, )
    assert torch.equal(pred.labels, torch.zeros(num_dets, dtype=torch.long))
    assert pred.reid_feats.shape == (num_dets, 256)
    assert torch.allclose(
        pred.reid_feats.norm(dim=1), torch.ones(num_dets), atol=1e-5)
    assert 'pred_query_feat' not in result


def test_boxes_are_in_original_image_coordinates(model):
    at_input_scale, _ = _predict(model, (1.0, 1.0))
    # the same input, declared as a 2x (width) / 4x (height) downscale
    downscaled, _ = _predict(model, (0.5, 0.25))
    expected = at_input_scale.pred_instances.bboxes * torch.tensor(
        [2.0, 4.0, 2.0, 4.0])
    assert torch.allclose(
        downscaled.pred_instances.bboxes, expected, atol=1e-3)
    assert torch.allclose(downscaled.pred_instances.reid_feats,
                          at_input_scale.pred_instances.reid_feats)


def test_query_feat_equals_feat_of_the_same_detection(model):
    scale_factor = (0.5, 0.5)
    gallery, _ = _predict(model, scale_factor)
    pred = gallery.pred_instances
    for k in (0, len(pred) - 1):
        query_bbox = pred.bboxes[k].tolist()  # original coordinates
        query, data = _predict(
            model, scale_factor, query_bbox=query_bbox, query_person_id=3)
        assert query.pred_query_feat.shape == (256, )
        assert torch.allclose(
            query.pred_query_feat, pred.reid_feats[k], atol=1e-4)
        # the query sample still gets its own detections (for CBGM)
        assert len(query.pred_instances) == len(pred)

        box_feats = model.extract_box_feats(data['inputs'],
                                            data['data_samples'],
                                            [torch.tensor([query_bbox])])
        assert torch.allclose(box_feats[0][0], pred.reid_feats[k], atol=1e-4)


def test_extract_box_feats_checks_its_arguments(model):
    _, data = _predict(model, (1.0, 1.0))
    with pytest.raises(ValueError, match='2 box lists for 1 images'):
        model.extract_box_feats(
            data['inputs'], data['data_samples'],
            [torch.zeros(1, 4), torch.zeros(1, 4)])
    with pytest.raises(ValueError, match=r'\(n, 4\)'):
        model.extract_box_feats(data['inputs'], data['data_samples'],
                                [torch.zeros(2, 5)])
    empty = model.extract_box_feats(data['inputs'], data['data_samples'],
                                    [torch.zeros(0, 4)])
    assert empty[0].shape == (0, 256)


def test_query_bbox_must_be_one_box(model):
    with pytest.raises(ValueError, match='one box'):
        _predict(model, (1.0, 1.0), query_bbox=[[0, 0, 10, 20], [5, 5, 9, 9]])


def test_cpu_inference_in_channels_last_gives_the_same_outputs(model):
    """CPU inference feeds the trunk channels-last (faster convolutions);
    boxes, scores, embeddings and the query feature match the NCHW run."""
    layouts = []
    hook = model.backbone.register_forward_pre_hook(
        lambda module, args: layouts.append(args[0].is_contiguous(
            memory_format=torch.channels_last)))
    query = dict(query_bbox=[30.0, 20.0, 90.0, 110.0])
    try:
        model.cpu_channels_last = True
        fast, _ = _predict(model, (1.0, 1.0), **query)
        model.cpu_channels_last = False
        plain, _ = _predict(model, (1.0, 1.0), **query)
    finally:
        model.cpu_channels_last = True
        hook.remove()
    assert layouts == [True, False]
    # any RoI extractor downstream gets the default layout
    feats = model.extract_feat(torch.randn(1, 3, 64, 96))
    assert all(feat.is_contiguous() for feat in feats)
    assert len(fast.pred_instances) == len(plain.pred_instances) > 0
    for key in ('bboxes', 'scores', 'reid_feats'):
        torch.testing.assert_close(
            fast.pred_instances[key],
            plain.pred_instances[key],
            atol=1e-4,
            rtol=1e-4)
    torch.testing.assert_close(
        fast.pred_query_feat, plain.pred_query_feat, atol=1e-5, rtol=1e-5)


def test_training_keeps_the_default_layout():
    cfg = synthetic_model_cfg('oim')
    net = build_model(cfg)
    net.train()
    inputs = torch.randn(1, 3, 64, 96)
    layouts = []
    net.backbone.register_forward_pre_hook(lambda module, args: layouts.append(
        args[0].is_contiguous(memory_format=torch.channels_last)))
    net.extract_feat(inputs)
    net.eval()
    net.extract_feat(inputs)
    assert layouts == [False, True]
