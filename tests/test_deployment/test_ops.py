"""The exportable operators against mmcv/mmdet, in onnxruntime.

Each operator is exported alone and run by stock onnxruntime on cases
that exercise its edge rules (RoIs partly outside the map, RoIs under one
feature pixel, adaptive sampling, tied and overlapping NMS boxes, sizes
other than the traced one).
"""
import numpy as np
import onnxruntime as ort
import pytest
import torch
from mmcv.ops import nms as mmcv_nms
from mmcv.ops import roi_align as mmcv_roi_align
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from torch import nn

from mmsearch.deployment.export import trace_to_onnx
from mmsearch.deployment.ops import (decode_deltas, grid_anchors, nms_indices,
                                     roi_align, topk_indices)


def export_and_load(module: nn.Module, args: tuple, input_names: list,
                    dynamic_axes: dict, path: str):
    trace_to_onnx(module, args, path, input_names, ['out'], dynamic_axes)
    return ort.InferenceSession(path, providers=['CPUExecutionProvider'])


class RoIAlignModule(nn.Module):

    def __init__(self, sampling_ratio: int, aligned: bool) -> None:
        super().__init__()
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, feats, boxes):
        return roi_align(feats, boxes, (4, 3), 0.25, self.sampling_ratio,
                         self.aligned)


ROI_BOXES = np.array(
    [
        [0.0, 0.0, 31.0, 23.0],  # the whole map
        [-10.0, -6.0, 12.0, 9.0],  # partly above / left of the map
        [20.0, 15.0, 45.0, 40.0],  # partly below / right of the map
        [5.3, 7.1, 6.1, 7.9],  # under one feature pixel
        [8.0, 2.0, 8.0, 30.0],  # zero width
        [-30.0, -30.0, -20.0, -20.0],  # entirely outside
    ],
    dtype=np.float32)


@pytest.mark.parametrize('sampling_ratio', [0, 2])
@pytest.mark.parametrize('aligned', [True, False])
def test_roi_align_matches_mmcv(tmp_path, sampling_ratio, aligned):
    generator = torch.Generator().manual_seed(0)
    feats = torch.randn(1, 5, 6, 8, generator=generator)
    boxes = torch.from_numpy(ROI_BOXES)
    session = export_and_load(
        RoIAlignModule(sampling_ratio, aligned), (feats, boxes[:2]),
        ['feats', 'boxes'], {
            'feats': {
                2: 'h',
                3: 'w'
            },
            'boxes': {
                0: 'n'
            }
        }, str(tmp_path / 'roi_align.onnx'))
    for feats in (feats, torch.randn(1, 5, 9, 7, generator=generator)):
        rois = torch.cat([torch.zeros(len(boxes), 1), boxes], dim=1)
        expected = mmcv_roi_align(feats, rois, (4, 3), 0.25, sampling_ratio,
                                  'avg', aligned).numpy()
        got = session.run(None, {
            'feats': feats.numpy(),
            'boxes': boxes.numpy()
        })[0]
        assert got.shape == expected.shape == (len(boxes), 5, 4, 3)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        assert np.abs(expected[-1]).max() == 0  # outside: zeros
        assert np.abs(expected[0]).max() > 0


class NMSModule(nn.Module):

    def forward(self, boxes, scores):
        return nms_indices(boxes, scores, 0.5, 5)


def test_nms_matches_mmcv(tmp_path):
    generator = torch.Generator().manual_seed(0)
    centres = torch.rand(40, 2, generator=generator) * 60
    sizes = torch.rand(40, 2, generator=generator) * 30 + 5
    boxes = torch.cat([centres, centres + sizes], dim=1)
    scores = torch.rand(40, generator=generator)
    # an exact duplicate of the best box, scoring a little less: dropped
    boxes = torch.cat([boxes, boxes[3:4]])
    scores = torch.cat([scores, scores[3:4]])
    scores[3] = scores.max() + 0.1
    scores[-1] = scores[3] - 1e-6
    session = export_and_load(NMSModule(), (boxes[:10], scores[:10]),
                              ['boxes', 'scores'], {
                                  'boxes': {
                                      0: 'n'
                                  },
                                  'scores': {
                                      0: 'n'
                                  }
                              }, str(tmp_path / 'nms.onnx'))
    expected = mmcv_nms(boxes, scores, 0.5)[1][:5].numpy()
    got = session.run(None, {
        'boxes': boxes.numpy(),
        'scores': scores.numpy()
    })[0]
    assert expected[0] == 3 and 40 not in expected and len(expected) == 5
    np.testing.assert_array_equal(got, expected)
    empty = session.run(None, {
        'boxes': np.zeros((0, 4), np.float32),
        'scores': np.zeros(0, np.float32)
    })[0]
    assert empty.shape == (0, )


class DecodeModule(nn.Module):

    def forward(self, feat, deltas):
        anchors = grid_anchors(self.base_anchors, feat.shape[2], feat.shape[3],
                               (16, 16))
        keep = topk_indices(deltas[:, 0], 50)
        height = (feat.shape[2] * 16 - 5)
        width = (feat.shape[3] * 16 - 3)
        if isinstance(height, torch.Tensor):
            height, width = height.float(), width.float()
        else:
            height = torch.tensor(float(height))
            width = torch.tensor(float(width))
        boxes = decode_deltas(anchors[keep], deltas[keep], (0.1, 0, 0, 0),
                              (1, 1, 2, 2), height, width)
        return boxes, keep


def test_anchors_topk_and_decoding_match_mmdet(tmp_path):
    generator_cfg = AnchorGenerator(
        scales=[2, 4, 8, 16, 32], ratios=[0.5, 1.0, 2.0], strides=[16])
    module = DecodeModule()
    module.base_anchors = generator_cfg.base_anchors[0]
    coder = DeltaXYWHBBoxCoder(
        target_means=(0.1, 0, 0, 0), target_stds=(1, 1, 2, 2))
    gen = torch.Generator().manual_seed(0)

    def inputs(h, w):
        feat = torch.zeros(1, 1, h, w)
        deltas = torch.randn(h * w * 15, 4, generator=gen) * 2
        return feat, deltas

    session = export_and_load(module, inputs(3, 4), ['feat', 'deltas'], {
        'feat': {
            2: 'h',
            3: 'w'
        },
        'deltas': {
            0: 'n'
        }
    }, str(tmp_path / 'decode.onnx'))
    for h, w in ((3, 4), (5, 2), (1, 2)):
        feat, deltas = inputs(h, w)
        anchors = generator_cfg.single_level_grid_priors((h, w),
                                                         0,
                                                         device='cpu')
        keep = deltas[:, 0].sort(descending=True)[1][:50]
        expected = coder.decode(
            anchors[keep], deltas[keep], max_shape=(h * 16 - 5, w * 16 - 3))
        boxes, got_keep = session.run(None, {
            'feat': feat.numpy(),
            'deltas': deltas.numpy()
        })
        np.testing.assert_array_equal(got_keep, keep.numpy())
        np.testing.assert_allclose(
            boxes, expected.numpy(), rtol=1e-5, atol=1e-4)
        assert boxes[:, 2].max() <= w * 16 - 3  # clipped to the image
