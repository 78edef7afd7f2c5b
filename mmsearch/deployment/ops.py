"""Traceable detection operators that export to standard ONNX operators.

Each function computes in PyTorch what the person-search model computes
(mmdet's anchor generator and box coder, mmcv's NMS and RoIAlign) and
exports, with the TorchScript-based ONNX exporter, to operators of the
default ONNX domain (``NonMaxSuppression``, ``RoiAlign``, ``TopK``, ...), so
that stock onnxruntime runs the graph without a custom operator library.

Image sizes are dynamic: during export the sizes read from tensor shapes
are traced values, and every size computed here is kept a tensor.
"""
import math
from typing import Sequence, Union

import torch
from mmcv.ops import nms as mmcv_nms
from mmcv.ops import roi_align as mmcv_roi_align
from torch import Tensor

# Opset 16 is the first with RoiAlign's ``coordinate_transformation_mode``.
ONNX_OPSET = 17
IntLike = Union[int, Tensor]


def _int64_const(g, values: Sequence[int]):
    return g.op('Constant', value_t=torch.tensor(values, dtype=torch.int64))


class NMSIndices(torch.autograd.Function):
    """Greedy NMS of one class; exports to ONNX ``NonMaxSuppression``.

    Both sides keep box ``j`` unless IoU(i, j) > ``iou_threshold`` (strict)
    for a kept box ``i`` of higher score, and return the kept indices by
    descending score, at most ``max_num``. Exactly tied scores may be
    visited in another order (onnxruntime: lower index first).
    """

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, iou_threshold: float,
                max_num: int) -> Tensor:
        if boxes.size(0) == 0:
            return boxes.new_zeros((0, ), dtype=torch.long)
        _, keep = mmcv_nms(boxes, scores, iou_threshold)
        return keep[:max_num]

    @staticmethod
    def symbolic(g, boxes, scores, iou_threshold: float, max_num: int):
        boxes = g.op('Unsqueeze', boxes, _int64_const(g, [0]))
        scores = g.op('Unsqueeze', scores, _int64_const(g, [0, 1]))
        selected = g.op(
            'NonMaxSuppression', boxes, scores, _int64_const(g, [max_num]),
            g.op(
                'Constant',
                value_t=torch.tensor([iou_threshold], dtype=torch.float32)))
        # selected: (k, 3) as (batch index, class index, box index)
        return g.op(
            'Gather',
            selected,
            g.op('Constant', value_t=torch.tensor(2, dtype=torch.int64)),
            axis_i=1)


def nms_indices(boxes: Tensor, scores: Tensor, iou_threshold: float,
                max_num: int) -> Tensor:
    """Indices kept by greedy NMS, by descending score.

    Args:
        boxes (Tensor): (n, 4) as (x1, y1, x2, y2).
        scores (Tensor): (n, ).
        iou_threshold (float): Box ``j`` is dropped when its IoU with a kept
            box of higher score is greater than this.
        max_num (int): Keep at most this many (<= 0: all).

    Returns:
        Tensor: (k, ) int64 indices into ``boxes``.
    """
    if max_num <= 0:
        max_num = 2**31 - 1
    return NMSIndices.apply(boxes, scores, float(iou_threshold), int(max_num))


class RoIAlignHalfPixel(torch.autograd.Function):
    """mmcv's RoIAlign (average pooling); exports to ONNX ``RoiAlign``.

    ``aligned=True`` is ONNX ``coordinate_transformation_mode='half_pixel'``
    (RoI corners shifted by -0.5 pixel, no minimum RoI size) and
    ``aligned=False`` is ``'output_half_pixel'`` (no shift, RoI sides at
    least 1 pixel). Both use ``sampling_ratio`` samples per bin side
    (0: ``ceil(roi_side / output_side)``), give 0 for a sample outside
    ``[-1, size]`` and clamp samples in ``[-1, 0]`` to the border.
    """

    @staticmethod
    def forward(ctx, feats: Tensor, boxes: Tensor, batch_indices: Tensor,
                output_size: tuple, spatial_scale: float, sampling_ratio: int,
                aligned: bool) -> Tensor:
        rois = torch.cat([batch_indices[:, None].to(boxes), boxes], dim=1)
        if rois.size(0) == 0:
            return feats.new_zeros((0, feats.size(1), *output_size))
        return mmcv_roi_align(feats, rois, output_size, spatial_scale,
                              sampling_ratio, 'avg', aligned)

    @staticmethod
    def symbolic(g, feats, boxes, batch_indices, output_size: tuple,
                 spatial_scale: float, sampling_ratio: int, aligned: bool):
        mode = 'half_pixel' if aligned else 'output_half_pixel'
        return g.op(
            'RoiAlign',
            feats,
            boxes,
            batch_indices,
            coordinate_transformation_mode_s=mode,
            mode_s='avg',
            output_height_i=output_size[0],
            output_width_i=output_size[1],
            sampling_ratio_i=max(0, sampling_ratio),
            spatial_scale_f=spatial_scale)


def roi_align(feats: Tensor, boxes: Tensor, output_size: tuple,
              spatial_scale: float, sampling_ratio: int,
              aligned: bool) -> Tensor:
    """RoIAlign of boxes of image 0 of a batch.

    Args:
        feats (Tensor): (1, C, H, W) feature map.
        boxes (Tensor): (n, 4) as (x1, y1, x2, y2) in input pixels.
        output_size (tuple[int, int]): (h, w) of each RoI feature.
        spatial_scale (float): Feature size / input size (1 / stride).
        sampling_ratio (int): Samples per bin side, 0 for adaptive.
        aligned (bool): mmcv's ``aligned`` (half-pixel coordinates).

    Returns:
        Tensor: (n, C, h, w).
    """
    batch_indices = torch.zeros_like(boxes[:, 0], dtype=torch.long)
    return RoIAlignHalfPixel.apply(feats, boxes, batch_indices,
                                   tuple(output_size), float(spatial_scale),
                                   int(sampling_ratio), bool(aligned))


def grid_anchors(base_anchors: Tensor, feat_h: IntLike, feat_w: IntLike,
                 stride: Sequence[int]) -> Tensor:
    """Anchors of a feature map in mmdet's order.

    ``anchor[(y * W + x) * A + a] = base[a] + (x * s_w, y * s_h) * 2``.

    Args:
        base_anchors (Tensor): (A, 4) anchors at the origin.
        feat_h (int | Tensor): Feature map height H.
        feat_w (int | Tensor): Feature map width W.
        stride (Sequence[int]): (s_w, s_h).

    Returns:
        Tensor: (H * W * A, 4).
    """
    shift_x = torch.arange(feat_w).to(base_anchors) * stride[0]
    shift_y = torch.arange(feat_h).to(base_anchors) * stride[1]
    shift_yy, shift_xx = torch.meshgrid(shift_y, shift_x, indexing='ij')
    shifts = torch.stack([shift_xx, shift_yy, shift_xx, shift_yy], dim=-1)
    anchors = base_anchors[None, :, :] + shifts.reshape(-1, 1, 4)
    return anchors.reshape(-1, 4)


def decode_deltas(priors: Tensor,
                  deltas: Tensor,
                  means: Sequence[float],
                  stds: Sequence[float],
                  img_h: Tensor,
                  img_w: Tensor,
                  wh_ratio_clip: float = 16 / 1000) -> Tensor:
    """mmdet's ``DeltaXYWHBBoxCoder.decode`` with clipping to the image.

    ``d = deltas * stds + means``; ``c = (p1 + p2) / 2 + (p2 - p1) * d_xy``;
    ``s = (p2 - p1) * exp(clamp(d_wh, -r, r))`` with ``r = |log(clip)|``;
    box ``(c - s / 2, c + s / 2)`` clamped to ``[0, W] x [0, H]``.

    Args:
        priors (Tensor): (n, 4) anchors or proposals.
        deltas (Tensor): (n, 4) predicted deltas.
        means (Sequence[float]): The coder's ``target_means``.
        stds (Sequence[float]): The coder's ``target_stds``.
        img_h (Tensor): Image height (of the unpadded input), float scalar.
        img_w (Tensor): Image width, float scalar.
        wh_ratio_clip (float): As mmdet's. Defaults to 16 / 1000.

    Returns:
        Tensor: (n, 4) boxes (x1, y1, x2, y2).
    """
    deltas = deltas * deltas.new_tensor(stds) + deltas.new_tensor(means)
    pxy = (priors[:, :2] + priors[:, 2:]) * 0.5
    pwh = priors[:, 2:] - priors[:, :2]
    max_ratio = abs(math.log(wh_ratio_clip))
    gxy = pxy + pwh * deltas[:, :2]
    gwh = pwh * deltas[:, 2:].clamp(min=-max_ratio, max=max_ratio).exp()
    x1y1 = gxy - gwh * 0.5
    x2y2 = gxy + gwh * 0.5
    zero = img_w.new_zeros(())
    xs = torch.stack([x1y1[:, 0], x2y2[:, 0]], dim=1)
    ys = torch.stack([x1y1[:, 1], x2y2[:, 1]], dim=1)
    xs = torch.minimum(torch.maximum(xs, zero), img_w)
    ys = torch.minimum(torch.maximum(ys, zero), img_h)
    return torch.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], dim=1)


def topk_indices(scores: Tensor, k: int) -> Tensor:
    """Indices of the ``min(k, n)`` largest scores, by descending score.

    Args:
        scores (Tensor): (n, ).
        k (int): Number wanted (<= 0: all, sorted).

    Returns:
        Tensor: (min(k, n), ) int64.
    """
    num = scores.shape[0]
    if k <= 0:
        k = num
    elif isinstance(num, Tensor):
        k = torch.clamp(num, max=k)
    else:
        k = min(k, num)
    return torch.topk(scores, k, sorted=True).indices
