"""The neck (FPN) route: multi-level RPN and RoIAlign, no backbone stage on
the RoIs; separate (DC-I-Net) or shared (I-Net) retrieval module."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from utils import CONFIG_ROOT, build_model, make_pair_batch

from mmsearch.models.necks import ViTFeaturePyramid
from mmsearch.models.roi_heads import RoIConvHead
from mmsearch.registry import MODELS

FPN_CONFIG = CONFIG_ROOT / 'dcinet' / 'dcinet_r50_fpn_cuhk.py'
STRIDES = [4, 8, 16, 32]


def tiny_fpn_cfg(method: str) -> Config:
    """The R-50 FPN DC-I-Net config at R-18 size with 32-channel levels.

    ``method='inet'``: the I-Net form of the same config, a conv module
    shared by detection and retrieval (``shared_head``) and OLP + HEP.
    """
    model = Config.fromfile(FPN_CONFIG).model
    norm_cfg = dict(type='BN', requires_grad=True)
    model.backbone.update(
        depth=18,
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=None)
    model.neck.update(in_channels=[64, 128, 256, 512], out_channels=32)
    model.rpn_head.update(in_channels=32, feat_channels=32)
    roi_head = model.roi_head
    roi_head.bbox_roi_extractor.out_channels = 32
    roi_head.bbox_head.update(in_channels=32, fc_out_channels=64)
    roi_head.reid_shared_head.update(in_channels=32, out_channels=48)
    roi_head.reid_head.update(in_channels=48, embed_dim=32)
    roi_head.num_person_ids = 4  # make_pair_batch's identities 0..3
    # 4 well-separated identities saturate a scale-30 softmax (loss 0.0)
    roi_head.reid_losses[1].scale = 5.0
    if method == 'inet':
        roi_head.shared_head = roi_head.reid_shared_head
        roi_head.reid_shared_head = None
        roi_head.bbox_head.in_channels = 48
        roi_head.reid_losses = [
            dict(type='OLPLoss', scale=10.0),
            dict(type='HEPLoss', num_hard=2, pool_size=4, scale=5.0)
        ]
    model.train_cfg.rpn.sampler.num = 64
    model.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=64)
    model.train_cfg.rcnn.sampler.num = 16
    # keep every detection of an untrained model
    model.test_cfg.rpn.update(nms_pre=200, max_per_img=20)
    model.test_cfg.rcnn.update(score_thr=0.0, max_per_img=10)
    return model


def build_extractor(type_name: str, channels: int) -> torch.nn.Module:
    """A 7 x 7 RoIAlign extractor over the four FPN levels."""
    return MODELS.build(
        dict(
            type=type_name,
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=2),
            out_channels=channels,
            featmap_strides=STRIDES))


@pytest.fixture
def one_thread():
    """One torch thread for the test (repeatable sums), then the previous
    count again for the tests after it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def grads_reached(module: torch.nn.Module) -> bool:
    return any(
        p.grad is not None and bool(p.grad.abs().sum() > 0)
        for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize('method', ['dcinet', 'inet'])
def test_train_step_reaches_detection_and_retrieval(method, one_thread):
    model = build_model(tiny_fpn_cfg(method)).train()
    roi_head = model.roi_head
    assert model.with_neck and len(roi_head.bbox_roi_extractor.roi_layers) \
        == len(STRIDES)
    assert roi_head.with_separate_reid_module == (method == 'dcinet')
    assert roi_head.with_shared_head == (method == 'inet')
    batch = make_pair_batch()
    optim_wrapper = build_optim_wrapper(
        model, dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=1e-3)))
    log_vars = model.train_step(batch, optim_wrapper)  # fills the memories
    reid_names = [loss.loss_name for loss in roi_head.reid_losses]
    for name in ['loss_rpn_cls', 'loss_cls', 'loss_bbox', *reid_names]:
        assert torch.isfinite(log_vars[name]), name

    data = model.data_preprocessor(batch, training=True)
    model.zero_grad()
    losses = model.loss(data['inputs'], data['data_samples'])
    assert all(bool(losses[name] > 0) for name in reid_names), losses
    sum(losses[name] for name in reid_names).backward(retain_graph=True)
    reid_module = roi_head.reid_roi_module
    assert grads_reached(reid_module) and grads_reached(roi_head.reid_head)
    assert grads_reached(model.neck) and grads_reached(model.backbone)
    # detection's own layers get no re-ID gradient
    assert not grads_reached(roi_head.bbox_head)
    model.zero_grad()
    (losses['loss_cls'] + losses['loss_bbox']).backward()
    assert grads_reached(roi_head.bbox_head)
    # the retrieval module gets detection gradients only when shared
    assert grads_reached(reid_module) == (method == 'inet')


@pytest.mark.parametrize('method', ['dcinet', 'inet'])
def test_predict_with_a_query_box(method, one_thread):
    model = build_model(tiny_fpn_cfg(method)).eval()
    batch = make_pair_batch()
    sample = batch['data_samples'][0]
    query_box = sample.gt_instances.bboxes[1].tolist()
    sample.set_metainfo(dict(query_bbox=query_box))
    data = model.data_preprocessor(
        dict(
            inputs=batch['inputs'][:2],
            data_samples=batch['data_samples'][:2]),
        training=False)
    with torch.no_grad():
        results = model.predict(data['inputs'], data['data_samples'])
    for result in results:
        feats = result.pred_instances.reid_feats
        assert len(feats) > 0 and feats.shape[1] == 32
        torch.testing.assert_close(
            feats.norm(dim=1), torch.ones(len(feats)), atol=1e-5, rtol=0)
    query_feat = results[0].pred_query_feat
    assert query_feat.shape == (32, ) and 'pred_query_feat' not in results[1]
    torch.testing.assert_close(
        query_feat.norm(), torch.tensor(1.0), atol=1e-5, rtol=0)

    # the same box by hand: mmdet's extractor on the neck levels, then
    # the retrieval module and the embedding head
    reference = build_extractor('mmdet.SingleRoIExtractor', 32)
    roi_head = model.roi_head
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        roi_feats = reference(feats[:len(STRIDES)],
                              torch.tensor([[0.0, *query_box]]))
        expected = roi_head.reid_head(roi_head.reid_roi_module(roi_feats))
    torch.testing.assert_close(query_feat, expected[0], atol=1e-4, rtol=1e-4)


def test_multi_level_extractor_matches_mmdet():
    extractor = build_extractor('PersonSearchRoIExtractor', 8)
    reference = build_extractor('mmdet.SingleRoIExtractor', 8)
    gen = torch.Generator().manual_seed(0)
    # a 512 x 768 image: levels of 128 x 192 ... 16 x 24
    feats = tuple(
        torch.randn(2, 8, 512 // s, 768 // s, generator=gen) for s in STRIDES)
    rois = torch.tensor([[0, 10.3, 20.7, 40.2, 90.1],
                         [1, 100.5, 50.0, 180.25, 230.75],
                         [0, 300.0, 10.0, 480.5, 330.0],
                         [1, 200.0, 20.0, 700.0, 500.5],
                         [1, 5.5, 5.5, 25.5, 45.5]])
    levels = reference.map_roi_levels(rois, len(STRIDES))
    assert sorted(set(levels.tolist())) == [0, 1, 2, 3]
    expected = reference(feats, rois)
    for mode in ('train', 'eval'):
        getattr(extractor, mode)()
        torch.testing.assert_close(
            extractor(feats, rois), expected, atol=1e-5, rtol=1e-5)


def test_roi_conv_head_shapes_and_refusal():
    head = RoIConvHead(in_channels=8, out_channels=12, num_convs=3, stride=2)
    assert head(torch.randn(5, 8, 7, 7)).shape == (5, 12, 4, 4)
    assert len(head.convs) == 3
    with pytest.raises(
            ValueError, match=r'\(N, 8, h, w\), got \(5, 6, 7, 7\)'):
        head(torch.randn(5, 6, 7, 7))
    with pytest.raises(ValueError, match='num_convs and stride'):
        RoIConvHead(in_channels=8, num_convs=0)


def test_vit_feature_pyramid_resizes_each_input():
    torch.manual_seed(0)
    neck = ViTFeaturePyramid(in_channels=8).eval()
    inputs = [torch.randn(2, 8, 6, 10) for _ in range(4)]
    outputs = neck(inputs)
    assert [tuple(o.shape[2:]) for o in outputs] == [(24, 40), (12, 20),
                                                     (6, 10), (3, 5)]
    assert torch.equal(outputs[2], inputs[2])
    assert torch.equal(outputs[3], F.max_pool2d(inputs[3], 2))
    deconv = neck.ops[1]
    torch.testing.assert_close(
        outputs[1],
        F.conv_transpose2d(inputs[1], deconv.weight, deconv.bias, stride=2))
    with pytest.raises(ValueError, match='got 3 feature maps for 4'):
        neck(inputs[:3])
    with pytest.raises(ValueError, match=r'got \(8,\)'):
        ViTFeaturePyramid(in_channels=8, rescales=(8, ))


def tiny_vit_cfg(method: str) -> Config:
    """:func:`tiny_fpn_cfg` with a 4-block, 32-dim plain ViT (mmpretrain)
    and the pyramid of ``dcinet_vit_b_fpn_cuhk.py``."""
    model = tiny_fpn_cfg(method)
    vit = Config.fromfile(CONFIG_ROOT / 'dcinet' /
                          'dcinet_vit_b_fpn_cuhk.py').model
    model.backbone = dict(
        vit.backbone,
        arch=dict(
            embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64),
        img_size=128,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.0,
        init_cfg=None)
    pyramid, fpn = vit.neck
    model.neck = [
        dict(pyramid, in_channels=32),
        dict(fpn, in_channels=[32] * 4, out_channels=32)
    ]
    return model


@pytest.mark.parametrize('method', ['dcinet', 'inet'])
def test_plain_vit_trains_and_predicts(method, one_thread):
    pytest.importorskip('mmpretrain', reason='the ViT config needs it')
    model = build_model(tiny_vit_cfg(method)).train()
    assert type(model.backbone).__name__ == 'VisionTransformer'
    batch = make_pair_batch()
    optim_wrapper = build_optim_wrapper(
        model, dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=1e-3)))
    for _ in range(2):
        log_vars = model.train_step(batch, optim_wrapper)
    assert all(torch.isfinite(v) for k, v in log_vars.items() if 'loss' in k)
    model.eval()
    data = model.data_preprocessor(
        dict(
            inputs=batch['inputs'][:1],
            data_samples=batch['data_samples'][:1]),
        training=False)
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        result = model.predict(data['inputs'], data['data_samples'])[0]
    # strides 4 .. 64 on the 128 x 192 input
    assert [tuple(f.shape[2:]) for f in feats] == [(32, 48), (16, 24), (8, 12),
                                                   (4, 6), (2, 3)]
    reid_feats = result.pred_instances.reid_feats
    assert len(reid_feats) > 0
    torch.testing.assert_close(
        reid_feats.norm(dim=1), torch.ones(len(reid_feats)))


@pytest.mark.parametrize('method', ['dcinet', 'inet'])
def test_bf16_autocast_on_the_cpu(method, one_thread):
    """Multi-level pooling and the FC box head under autocast: finite
    losses, fp32 detections and embeddings close to the fp32 ones."""
    model = build_model(tiny_fpn_cfg(method)).train()
    data = model.data_preprocessor(make_pair_batch(), training=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss, log_vars = model.parse_losses(
            model.loss(data['inputs'], data['data_samples']))
    assert torch.isfinite(loss), log_vars
    loss.backward()

    model.eval()
    batch = make_pair_batch()
    query_box = batch['data_samples'][0].gt_instances.bboxes[0].tolist()
    batch['data_samples'][0].set_metainfo(dict(query_bbox=query_box))
    data = model.data_preprocessor(
        dict(
            inputs=batch['inputs'][:1],
            data_samples=batch['data_samples'][:1]),
        training=False)
    results = []
    for enabled in (True, False):
        with torch.no_grad(), torch.autocast(
                'cpu', dtype=torch.bfloat16, enabled=enabled):
            results.append(
                model.predict(data['inputs'], data['data_samples'])[0])
    pred = results[0].pred_instances
    assert len(pred) > 0
    for name in ('bboxes', 'scores', 'reid_feats'):
        assert pred[name].dtype == torch.float32, name
    cosine = float(results[0].pred_query_feat @ results[1].pred_query_feat)
    assert cosine > 0.98, cosine


def test_vit_loads_an_mmpretrain_classifier_checkpoint(tmp_path):
    """The config's init_cfg (prefix 'backbone.') on a checkpoint in
    mmpretrain's classifier layout, written here (nothing downloads): every
    backbone weight comes from it."""
    pytest.importorskip('mmpretrain', reason='the ViT config needs it')
    cfg = tiny_vit_cfg('dcinet')
    arch = cfg.backbone.arch
    torch.manual_seed(1)
    # mmpretrain's own registry and default scope: another test may have
    # left mmsearch's scope as the default one
    import mmpretrain.models  # noqa: F401 (registers the classifier parts)
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = PRETRAIN_MODELS.build(
            dict(
                type='ImageClassifier',
                data_preprocessor=dict(type='ClsDataPreprocessor'),
                backbone=dict(
                    type='VisionTransformer',
                    arch=arch,
                    img_size=128,
                    patch_size=16,
                    out_type='avg_featmap',
                    final_norm=False),
                head=dict(
                    type='VisionTransformerClsHead',
                    num_classes=10,
                    in_channels=arch['embed_dims'])))
    path = str(tmp_path / 'vit_classifier.pth')
    torch.save(dict(state_dict=classifier.state_dict()), path)
    cfg.backbone.init_cfg = dict(
        type='Pretrained', checkpoint=path, prefix='backbone.')
    model = build_model(cfg)
    expected = classifier.backbone.state_dict()
    loaded = model.backbone.state_dict()
    assert set(loaded) <= set(expected)  # ln2 (the classifier's) is extra
    for key, value in loaded.items():
        assert torch.equal(value, expected[key]), key
