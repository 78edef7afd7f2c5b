"""roi_align_cpu / SeparableRoIAlign against mmcv's RoIAlign."""
import pytest
import torch
from mmcv.ops import RoIAlign, roi_align

from mmsearch.models.ops import SeparableRoIAlign, axis_weights, roi_align_cpu


def random_rois(num_imgs: int,
                num_rois: int,
                img_h: float,
                img_w: float,
                seed: int = 0) -> torch.Tensor:
    """RoIs of every kind mmcv's edge rules cover, as (n, 5) float32.

    Random boxes of many sizes on several images, plus boxes partly and
    fully outside the image, boxes a few pixels or zero pixels wide, one
    box larger than the image and one with its corner within a pixel of the
    border.
    """
    gen = torch.Generator().manual_seed(seed)
    centre = torch.rand(
        num_rois, 2, generator=gen) * torch.tensor(
            [img_w, img_h]) * 1.4 - 0.2 * torch.tensor([img_w, img_h])
    size = torch.rand(
        num_rois, 2, generator=gen)**2 * torch.tensor([img_w, img_h]) * 0.8
    boxes = torch.cat([centre - size / 2, centre + size / 2], 1)
    special = torch.tensor([
        [-40.0, -30.0, 25.0, 50.0],  # partly outside, top left
        [img_w - 10.0, img_h - 12.0, img_w + 30.0, img_h + 20.0],
        [-90.0, -80.0, -50.0, -40.0],  # fully outside
        [img_w + 20.0, 10.0, img_w + 60.0, 50.0],  # fully outside, right
        [30.3, 40.7, 30.3, 40.7],  # zero size
        [12.2, 20.1, 13.0, 61.9],  # under one feature cell wide
        [-15.0, -15.0, img_w + 15.0, img_h + 15.0],  # larger than image
        [img_w - 0.4, img_h - 0.3, img_w + 0.2, img_h + 0.1],
    ])
    boxes = torch.cat([boxes, special])
    inds = torch.randint(0, num_imgs, (len(boxes), 1), generator=gen)
    return torch.cat([inds.float(), boxes], 1)


@pytest.mark.parametrize('sampling_ratio', [2, 0, 3])
@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('output_size', [(14, 14), (7, 5)])
def test_matches_mmcv_forward(sampling_ratio, aligned, output_size):
    torch.manual_seed(0)
    feat = torch.randn(3, 16, 23, 37)
    rois = random_rois(3, 60, img_h=23 * 16, img_w=37 * 16)
    if not aligned:  # mmcv's legacy mode clamps sizes to >= 1 cell
        rois = torch.cat([rois, torch.tensor([[1, 5.0, 5.0, 4.0, 3.0]])])
    expected = roi_align(feat, rois, output_size, 1 / 16, sampling_ratio,
                         'avg', aligned)
    result = roi_align_cpu(feat, rois, output_size, 1 / 16, sampling_ratio,
                           aligned)
    assert result.shape == expected.shape == (len(rois), 16, *output_size)
    assert result.is_contiguous()
    torch.testing.assert_close(result, expected, atol=1e-5, rtol=1e-5)
    # the edge RoIs are not all zero: the comparison covers real values
    assert result[-8:].abs().sum() > 0


@pytest.mark.parametrize('sampling_ratio', [2, 0])
def test_matches_mmcv_backward(sampling_ratio):
    torch.manual_seed(1)
    rois = random_rois(2, 40, img_h=19 * 8, img_w=27 * 8, seed=1)
    grad_out = torch.randn(len(rois), 8, 7, 7)
    grads = []
    for fn in (roi_align, roi_align_cpu):
        feat = torch.randn(
            2, 8, 19, 27,
            generator=torch.Generator().manual_seed(2)).requires_grad_()
        if fn is roi_align:
            out = fn(feat, rois, (7, 7), 1 / 8, sampling_ratio, 'avg', True)
        else:
            out = fn(feat, rois, (7, 7), 1 / 8, sampling_ratio, True)
        (out * grad_out).sum().backward()
        grads.append(feat.grad)
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-5)


def test_gradcheck_float64():
    feat = torch.randn(
        2,
        3,
        6,
        7,
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(3)).requires_grad_()
    rois = torch.tensor(
        [[0, -9.0, -5.0, 40.0, 60.0], [1, 30.0, 22.0, 70.0, 50.0],
         [1, 3.0, 3.0, 3.5, 40.0]],
        dtype=torch.float64)
    for ratio in (2, 0):
        assert torch.autograd.gradcheck(
            lambda x: roi_align_cpu(x, rois, (3, 4), 1 / 8, ratio), (feat, ))


def test_hand_worked_samples():
    # one sample per bin, a 2x3 map: the value is the bilinear sample itself
    feat = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])[None, None]
    rois = torch.tensor([
        [0, 0.5, 0.5, 1.5, 1.5],  # sample (y, x) = (0.5, 0.5): mean of 1 2 4 5
        [0, -0.5, 0.5, 0.5, 1.5],  # x = -0.5 is clamped to 0: (1 + 4) / 2
        [0, -1.5, 0.5, -0.5, 1.5],  # x = -1.5 < -1: dropped
        [0, 0.5, 1.5, 1.5, 2.5],  # y = 1.5 > H - 1 clamped to 1: (4 + 5) / 2
        [0, 2.5, 0.5, 3.5, 1.5],  # x = 2.5: clamped to 2, (3 + 6) / 2
        [0, 3.5, 0.5, 4.5, 1.5],  # x = 3.5 > W = 3: dropped
    ])
    expected = torch.tensor([3.0, 2.5, 0.0, 4.5, 4.5, 0.0])
    result = roi_align_cpu(feat, rois, (1, 1), 1.0, 1, True)
    torch.testing.assert_close(result.flatten(), expected)
    mmcv_result = roi_align(feat, rois, (1, 1), 1.0, 1, 'avg', True)
    torch.testing.assert_close(mmcv_result.flatten(), expected)


def test_axis_weights_hand_worked():
    # one RoI from -1.25 to 2.75 on a 3-cell axis, 2 bins, 2 samples a bin:
    # samples at -0.75 (clamped to 0), 0.25 | 1.25, 2.25 (clamped to 2)
    weights = axis_weights(
        torch.tensor([-1.25]), torch.tensor([4.0]), 2, 3, sampling_ratio=2)
    expected = torch.tensor([[[0.5 + 0.375, 0.125, 0.0],
                              [0.0, 0.375, 0.125 + 0.5]]])
    torch.testing.assert_close(weights, expected)


def test_rejects_bad_input():
    feat = torch.randn(2, 4, 8, 8)
    with pytest.raises(ValueError, match='x2 >= x1'):
        roi_align_cpu(feat, torch.tensor([[0, 10.0, 0, 5.0, 8]]), (2, 2))
    with pytest.raises(ValueError, match=r'image indices in \[0, 2\)'):
        roi_align_cpu(feat, torch.tensor([[2, 0.0, 0, 5.0, 8]]), (2, 2))
    with pytest.raises(TypeError, match='float32 or float64'):
        roi_align_cpu(feat.bfloat16(), torch.zeros(1, 5).bfloat16(), (2, 2))
    with pytest.raises(TypeError, match='same dtype'):
        roi_align_cpu(feat, torch.zeros(1, 5).double(), (2, 2))
    with pytest.raises(ValueError, match=r'\(n, 5\)'):
        roi_align_cpu(feat, torch.zeros(3, 4), (2, 2))


def test_no_rois():
    result = roi_align_cpu(torch.randn(1, 4, 8, 8), torch.zeros(0, 5), (3, 3))
    assert result.shape == (0, 4, 3, 3)


def test_layer_dispatch():
    torch.manual_seed(4)
    feat = torch.randn(2, 8, 12, 15)
    rois = random_rois(2, 20, img_h=12 * 16, img_w=15 * 16, seed=4)
    layer = SeparableRoIAlign(7, 1 / 16, 2)
    mmcv_layer = RoIAlign(7, 1 / 16, 2)
    assert torch.equal(
        layer(feat, rois), roi_align_cpu(feat, rois, (7, 7), 1 / 16, 2))
    torch.testing.assert_close(
        layer(feat, rois), mmcv_layer(feat, rois), atol=1e-5, rtol=1e-5)
    # max pooling has no separable form: mmcv's kernel
    max_layer = SeparableRoIAlign(7, 1 / 16, 2, pool_mode='max')
    expected = RoIAlign(7, 1 / 16, 2, pool_mode='max')(feat, rois)
    assert torch.equal(max_layer(feat, rois), expected)
    assert not torch.allclose(expected, mmcv_layer(feat, rois))


def test_keeps_the_thread_count():
    # the per-RoI products run on one thread; the setting comes back
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        feat = torch.randn(1, 4, 8, 8, requires_grad=True)
        rois = torch.tensor([[0, 10.0, 10.0, 90.0, 70.0]])
        roi_align_cpu(feat, rois, (3, 3), 1 / 16, 2).sum().backward()
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError):
            roi_align_cpu(feat, torch.tensor([[0, 9.0, 0, 1, 1]]), (3, 3))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize('pool_mode', ['avg', 'max'])
def test_channels_last_input(pool_mode):
    """A channels-last feature map (PersonSearch's CPU inference) gives the
    NCHW results, on the fast path (avg) and through mmcv's kernel (max),
    which reads memory as NCHW and needs a contiguous copy."""
    torch.manual_seed(0)
    feat = torch.randn(2, 16, 23, 37)
    rois = random_rois(2, 40, img_h=23 * 16, img_w=37 * 16)
    layer = SeparableRoIAlign(7, 1 / 16, 2, pool_mode=pool_mode)
    expected = roi_align(feat, rois, 7, 1 / 16, 2, pool_mode, True)
    result = layer(feat.contiguous(memory_format=torch.channels_last), rois)
    torch.testing.assert_close(result, expected, atol=1e-5, rtol=1e-5)
    assert result.abs().sum() > 0
