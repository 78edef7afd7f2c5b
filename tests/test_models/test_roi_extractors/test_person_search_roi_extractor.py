"""PersonSearchRoIExtractor: float32 pooling under autocast, CPU kernel."""
import pytest
import torch
from mmcv.ops import RoIAlign, roi_align
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor

from mmsearch.models.ops import SeparableRoIAlign
from mmsearch.models.roi_extractors import PersonSearchRoIExtractor
from mmsearch.registry import MODELS
from mmsearch.utils import register_all_modules

register_all_modules()

ROI_LAYER = dict(type='RoIAlign', output_size=7, sampling_ratio=2)


def build(**kwargs):
    cfg = dict(
        type='PersonSearchRoIExtractor',
        roi_layer=ROI_LAYER,
        out_channels=8,
        featmap_strides=[16])
    cfg.update(kwargs)
    return MODELS.build(cfg)


def image_rois():
    """Boxes with fractional coordinates on a 900 x 1500 image."""
    return torch.tensor([[0, 1203.37, 411.62, 1391.88, 873.25],
                         [0, 7.61, 3.3, 220.45, 517.9],
                         [1, 1011.11, 99.99, 1499.3, 899.7],
                         [1, 640.5, 300.25, 700.75, 480.5]])


def bf16_feats(requires_grad=False):
    """Two bfloat16 feature maps of a 900 x 1500 image at stride 16."""
    feat = torch.randn(
        2, 8, 57, 94, generator=torch.Generator().manual_seed(0))
    return feat.bfloat16().requires_grad_(requires_grad)


def test_builds_separable_roi_align():
    extractor = build()
    assert isinstance(extractor, PersonSearchRoIExtractor)
    assert isinstance(extractor, SingleRoIExtractor)
    assert type(extractor.roi_layers[0]) is SeparableRoIAlign
    assert extractor.roi_layers[0].spatial_scale == 1 / 16
    # mmcv's own layer when asked, and for layers other than RoIAlign
    assert type(build(cpu_fast_path=False).roi_layers[0]) is RoIAlign
    pool = build(roi_layer=dict(type='RoIPool', output_size=7))
    assert type(pool.roi_layers[0]).__name__ == 'RoIPool'


def test_bf16_autocast_pools_fp32_with_exact_boxes():
    extractor = build()
    feats, rois = bf16_feats(), image_rois()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        result = extractor((feats, ), rois)
    assert result.dtype == torch.float32
    expected = roi_align(feats.float(), rois, (7, 7), 1 / 16, 2, 'avg', True)
    torch.testing.assert_close(result, expected, atol=1e-5, rtol=1e-5)
    # boxes rounded to bfloat16 (what mmdet's cast does) give other features
    rounded = roi_align(feats.float(),
                        rois.bfloat16().float(), (7, 7), 1 / 16, 2, 'avg',
                        True)
    assert (rounded - expected).abs().max() > 0.1
    # the same extractor in fp32 without autocast gives the same result
    assert torch.equal(extractor((feats.float(), ), rois), result)


def test_mmdet_extractor_fails_under_bf16_autocast():
    """The defect this extractor removes (mmcv has no bfloat16 kernel)."""
    extractor = MODELS.build(
        dict(
            type='mmdet.SingleRoIExtractor',
            roi_layer=ROI_LAYER,
            out_channels=8,
            featmap_strides=[16]))
    with pytest.raises(RuntimeError, match='BFloat16'):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            extractor((bf16_feats(), ), image_rois())


@pytest.mark.parametrize('cpu_fast_path', [True, False])
def test_bf16_autocast_gradient(cpu_fast_path):
    extractor = build(cpu_fast_path=cpu_fast_path)
    feats = bf16_feats(requires_grad=True)
    grad_out = torch.randn(4, 8, 7, 7)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        (extractor((feats, ), image_rois()) * grad_out).sum().backward()
    assert feats.grad.dtype == torch.bfloat16
    reference = feats.detach().float().requires_grad_()
    (roi_align(reference, image_rois(),
               (7, 7), 1 / 16, 2, 'avg', True) * grad_out).sum().backward()
    assert reference.grad.abs().sum() > 0
    # equal up to the bfloat16 rounding of the gradient itself
    torch.testing.assert_close(
        feats.grad.float(), reference.grad, atol=2e-2, rtol=1e-2)


def test_dtype_without_autocast():
    extractor = build()
    feats = bf16_feats()
    result = extractor((feats, ), image_rois())
    # the next layer gets the features' dtype when autocast is off
    assert result.dtype == torch.bfloat16
    expected = roi_align(feats.float(), image_rois(), (7, 7), 1 / 16, 2, 'avg',
                         True)
    torch.testing.assert_close(result, expected.bfloat16())


def test_several_levels_under_autocast():
    extractor = build(featmap_strides=[8, 16], finest_scale=56)
    reference = MODELS.build(
        dict(
            type='mmdet.SingleRoIExtractor',
            roi_layer=ROI_LAYER,
            out_channels=8,
            featmap_strides=[8, 16],
            finest_scale=56))
    gen = torch.Generator().manual_seed(5)
    feats = (torch.randn(2, 8, 113, 188,
                         generator=gen).bfloat16(), bf16_feats())
    rois = image_rois()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        result = extractor(feats, rois)
    expected = reference(tuple(f.float() for f in feats), rois)
    assert result.dtype == torch.float32
    torch.testing.assert_close(result, expected, atol=1e-5, rtol=1e-5)


def test_roi_scale_factor_and_no_rois():
    extractor = build()
    feats = (bf16_feats().float(), )
    rois = image_rois()
    result = extractor(feats, rois, roi_scale_factor=1.5)
    # boxes scaled by 1.5 about their centres
    centre = (rois[:, 1:3] + rois[:, 3:5]) / 2
    half = (rois[:, 3:5] - rois[:, 1:3]) * 1.5 / 2
    scaled = torch.cat([rois[:, :1], centre - half, centre + half], 1)
    expected = roi_align(feats[0], scaled, (7, 7), 1 / 16, 2, 'avg', True)
    torch.testing.assert_close(result, expected, atol=1e-5, rtol=1e-5)
    assert extractor(feats, torch.zeros(0, 5)).shape == (0, 8, 7, 7)


def test_cpu_inference_hands_back_channels_last():
    """At CPU inference the RoI features come channels-last (faster res5
    convolutions) with the values of the training-mode (NCHW) output;
    without the fast path they keep the default layout."""
    feat = torch.randn(
        2, 8, 57, 94, generator=torch.Generator().manual_seed(1))
    extractor = build()
    extractor.train()
    trained = extractor([feat], image_rois())
    extractor.eval()
    inferred = extractor([feat], image_rois())
    assert trained.is_contiguous()
    assert inferred.is_contiguous(memory_format=torch.channels_last)
    assert not inferred.is_contiguous()
    torch.testing.assert_close(inferred, trained)
    plain = build(cpu_fast_path=False)
    plain.eval()
    assert plain([feat], image_rois()).is_contiguous()
