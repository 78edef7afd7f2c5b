"""RoIAlign on the CPU as two small matrix products per RoI.

mmcv's ``RoIAlign`` (average mode) samples, in every output bin, a
``g_y x g_x`` grid of points and averages their bilinear interpolations.
Every sample's weight is a product of a weight along y and a weight along
x, so for RoI ``r`` on image ``b_r`` the result is separable:

.. math::

    out[r, c, i, j] = \\sum_{y, x} W^y_r[i, y] \\, F[b_r, c, y, x] \\,
                      W^x_r[j, x]

where ``W^y_r[i, y]`` is the mean over the bin's ``g_y`` rows of samples of
their linear-interpolation weight on feature row ``y`` (and ``W^x_r``
likewise along x). ``W^y_r`` is non-zero only on the rows the RoI touches,
so each RoI costs two dense products over its own crop of the feature map
(BLAS; about 6x less CPU time than mmcv's gather of ``4 g_y g_x`` points
per output value for 300 RoIs on an R-50 C4 map). The rules are mmcv 2.1.0's: a
sample with ``y < -1`` or ``y > H`` (``x`` likewise) contributes 0, other
coordinates are clamped to ``[0, H - 1]``; ``aligned`` shifts the box by
-0.5 px; ``sampling_ratio=0`` takes ``ceil(roi_size / output_size)``
samples per bin.
"""
from contextlib import contextmanager
from typing import List, NamedTuple, Tuple

import torch
from mmcv.ops import RoIAlign
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable


def axis_weights(start: Tensor, extent: Tensor, num_bins: int, length: int,
                 sampling_ratio: int) -> Tensor:
    """Interpolation weights of the bins of RoIs along one axis.

    Sample ``k`` of bin ``i`` of a RoI lies at
    ``v = start + i * s + (k + 0.5) * s / g`` with bin size
    ``s = extent / num_bins`` and ``g = sampling_ratio`` (or
    ``ceil(s)`` when ``sampling_ratio`` is 0). A sample with
    ``v < -1`` or ``v > length`` is dropped (weight 0); otherwise
    ``v`` is clamped to ``[0, length - 1]`` and splits weight
    ``1 - (v - floor(v))`` / ``v - floor(v)`` between feature cells
    ``floor(v)`` and ``floor(v) + 1``. Each bin averages its ``g`` samples.

    Args:
        start (Tensor): First coordinate of each RoI on the feature map
            (after scaling and the ``aligned`` offset), shape (R,).
        extent (Tensor): Size of each RoI on the feature map, shape (R,).
        num_bins (int): Output bins along this axis.
        length (int): Feature map size along this axis.
        sampling_ratio (int): Samples per bin, 0 for adaptive.

    Returns:
        Tensor: ``W[r, i, v]``, shape (R, num_bins, length), dtype of
        ``start``; each row sums to the fraction of the bin's samples that
        fall on the map.
    """
    num_rois = start.size(0)
    dtype = start.dtype
    bin_size = extent / num_bins
    if sampling_ratio > 0:
        grid = torch.full_like(bin_size, sampling_ratio)
        max_grid = sampling_ratio
    else:
        grid = torch.ceil(bin_size)
        max_grid = int(grid.max()) if num_rois else 0
    weights = start.new_zeros(num_rois, num_bins, length)
    if max_grid == 0:
        return weights
    bins = torch.arange(num_bins, dtype=dtype)[None, :, None]
    samples = torch.arange(max_grid, dtype=dtype)[None, None, :] + 0.5
    start, bin_size, grid = (t[:, None, None] for t in (start, bin_size, grid))
    # bins without samples (adaptive grid of an empty RoI) divide by 1
    divisor = grid.clamp(min=1)
    # same operation order as mmcv's kernel, so the samples are bit-equal
    v = start + bins * bin_size + samples * bin_size / divisor
    keep = (v >= -1) & (v <= length) & (samples < grid)
    v = v.clamp(min=0)
    low = v.floor().clamp(max=length - 1)
    at_edge = low >= length - 1
    v = torch.where(at_edge, low, v)
    frac = v - low
    low = low.long()
    high = torch.where(at_edge, low, low + 1)
    scale = keep.to(dtype) / divisor
    weights.scatter_add_(2, low, (1 - frac) * scale)
    weights.scatter_add_(2, high, frac * scale)
    return weights


class RoIAlignPlan(NamedTuple):
    """What the separable RoIAlign needs for a set of RoIs.

    Attributes:
        weights_y (Tensor): (R, out_h, H) row weights.
        weights_x (Tensor): (R, out_w, W) column weights.
        crops (list[tuple[int, int, int, int, int, int]]): Per RoI with a
            non-zero weight, ``(r, b, y0, y1, x0, x1)``: its index, image
            and the feature-map window ``[y0, y1) x [x0, x1)`` holding all
            its non-zero weights.
        empty_rois (Tensor): Indices of the other RoIs (all-zero output).
    """
    weights_y: Tensor
    weights_x: Tensor
    crops: List[Tuple[int, int, int, int, int, int]]
    empty_rois: Tensor


def support(weights: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """First and one-past-last non-zero column of each (R, n, L) slice."""
    nonzero = (weights != 0).any(1)
    length = nonzero.size(1)
    first = nonzero.int().argmax(1)
    end = length - nonzero.flip(1).int().argmax(1)
    return first, end, nonzero.any(1)


def make_plan(feat_shape: torch.Size, rois: Tensor,
              output_size: Tuple[int, int], spatial_scale: float,
              sampling_ratio: int, aligned: bool) -> RoIAlignPlan:
    """Weights and crops of :func:`roi_align_cpu`.

    Args and Raises: as :func:`roi_align_cpu`; ``rois`` is detached and of
    the feature dtype.

    Returns:
        RoIAlignPlan: The weights and the crop of each RoI.
    """
    num_imgs, _, height, width = feat_shape
    out_h, out_w = output_size
    offset = 0.5 if aligned else 0.0
    # float32 products like mmcv's kernel (its spatial_scale is a float)
    scale = torch.tensor(spatial_scale, dtype=rois.dtype)
    x1, y1, x2, y2 = (rois[:, k] * scale - offset for k in range(1, 5))
    roi_w, roi_h = x2 - x1, y2 - y1
    if aligned:
        if bool(((roi_w < 0) | (roi_h < 0)).any()):
            raise ValueError(
                'roi_align_cpu: with aligned=True every RoI needs x2 >= x1 '
                'and y2 >= y1 (mmcv refuses negative sizes too); got '
                f'{rois[(roi_w < 0) | (roi_h < 0)][:3].tolist()}.')
    else:
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    weights_y = axis_weights(y1, roi_h, out_h, height, sampling_ratio)
    weights_x = axis_weights(x1, roi_w, out_w, width, sampling_ratio)
    row0, row1, has_rows = support(weights_y)
    col0, col1, has_cols = support(weights_x)
    batch_inds = rois[:, 0].long()
    has_crop = has_rows & has_cols
    keep = has_crop.nonzero()[:, 0]
    windows = (batch_inds, row0, row1, col0, col1)
    crops = list(zip(keep.tolist(), *(t[keep].tolist() for t in windows)))
    empty_rois = (~has_crop).nonzero()[:, 0]
    return RoIAlignPlan(weights_y, weights_x, crops, empty_rois)


def check_inputs(feat: Tensor, rois: Tensor) -> None:
    """Shapes, dtypes and batch indices that :func:`roi_align_cpu` needs."""
    if feat.dim() != 4:
        raise ValueError('roi_align_cpu: features must be (B, C, H, W), got '
                         f'shape {tuple(feat.shape)}.')
    if rois.dim() != 2 or rois.size(1) != 5:
        raise ValueError('roi_align_cpu: rois must be (n, 5) as (image '
                         f'index, x1, y1, x2, y2), got {tuple(rois.shape)}.')
    if feat.dtype not in (torch.float32, torch.float64):
        raise TypeError('roi_align_cpu: features must be float32 or '
                        f'float64, got {feat.dtype}; cast them first.')
    if rois.dtype != feat.dtype:
        raise TypeError(f'roi_align_cpu: rois are {rois.dtype} but features '
                        f'{feat.dtype}; give both the same dtype.')
    if feat.device.type != 'cpu' or rois.device.type != 'cpu':
        raise ValueError('roi_align_cpu runs on the CPU; use mmcv.ops.'
                         'roi_align for tensors on other devices.')
    if len(rois) and not bool(((rois[:, 0] >= 0) & (rois[:, 0] < feat.size(0))
                               & (rois[:, 0] == rois[:, 0].floor())).all()):
        raise ValueError('roi_align_cpu: rois[:, 0] must be image indices in '
                         f'[0, {feat.size(0)}), got '
                         f'{rois[:, 0].unique().tolist()}.')


@contextmanager
def per_roi_products():
    """Autocast off and one intra-op thread, for the per-RoI products.

    The products of one RoI are small (a few MFLOP): with several threads
    each one opens a parallel region, which costs more than it saves and
    stalls whenever the machine runs more threads than it has cores
    (measured on 2 busy cores, 300 RoIs: 13-25 s with 2 threads, 1.7-2.8 s
    with 1; mmcv's single-threaded kernel 14-16 s). The products stay in
    the input dtype whatever the autocast state.
    """
    num_threads = torch.get_num_threads()
    if num_threads != 1:
        torch.set_num_threads(1)
    try:
        with torch.autocast('cpu', enabled=False):
            yield
    finally:
        if num_threads != 1:
            torch.set_num_threads(num_threads)


class SeparableRoIAlignFunction(Function):
    """Autograd function of :func:`roi_align_cpu` (gradient to features)."""

    @staticmethod
    def forward(ctx, feat: Tensor, rois: Tensor, output_size: Tuple[int, int],
                spatial_scale: float, sampling_ratio: int,
                aligned: bool) -> Tensor:
        plan = make_plan(feat.shape, rois, output_size, spatial_scale,
                         sampling_ratio, aligned)
        ctx.plan = plan
        ctx.feat_shape = feat.shape
        num_channels = feat.size(1)
        # every RoI with a crop is written whole; only the others need zeros
        out = feat.new_empty(rois.size(0), num_channels, *output_size)
        if len(plan.crops) < rois.size(0):
            out.index_fill_(0, plan.empty_rois, 0)
        wy, wx = plan.weights_y, plan.weights_x
        # (B, H, W, C): a crop's rows are (x, c) blocks of memory (copied
        # with every thread; only the small per-RoI products use one)
        feat_hwc = feat.permute(0, 2, 3, 1).contiguous()
        with per_roi_products():
            for r, b, y0, y1, x0, x1 in plan.crops:
                crop = feat_hwc[b, y0:y1, x0:x1].reshape(y1 - y0, -1)
                # (out_h, Hc) @ (Hc, Wc * C) -> (out_h, Wc, C)
                rows = torch.mm(wy[r, :, y0:y1], crop)
                rows = rows.view(-1, x1 - x0, num_channels)
                # (out_h, C, Wc) @ (Wc, out_w) -> (out_h, C, out_w)
                wx_r = wx[r, :, x0:x1].t().expand(rows.size(0), -1, -1)
                cols = torch.bmm(rows.transpose(1, 2), wx_r)
                out[r].copy_(cols.transpose(0, 1))
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple:
        plan = ctx.plan
        num_imgs, num_channels, height, width = ctx.feat_shape
        grad_hwc = grad_out.new_zeros(num_imgs, height, width, num_channels)
        wy, wx = plan.weights_y, plan.weights_x
        with per_roi_products():
            for r, b, y0, y1, x0, x1 in plan.crops:
                # (Wc, out_w) @ (out_h, out_w, C) -> (out_h, Wc, C)
                cols = torch.matmul(wx[r, :, x0:x1].t(),
                                    grad_out[r].permute(1, 2, 0))
                # (Hc, out_h) @ (out_h, Wc * C) added into the crop
                grad_crop = grad_hwc[b, y0:y1, x0:x1].view(y1 - y0, -1)
                grad_crop.addmm_(wy[r, :, y0:y1].t(),
                                 cols.reshape(cols.size(0), -1))
        grad_feat = grad_hwc.permute(0, 3, 1, 2).contiguous()
        return grad_feat, None, None, None, None, None


def roi_align_cpu(feat: Tensor,
                  rois: Tensor,
                  output_size: Tuple[int, int],
                  spatial_scale: float = 1.0,
                  sampling_ratio: int = 0,
                  aligned: bool = True) -> Tensor:
    """mmcv's average RoIAlign, computed as two matrix products per RoI.

    ``out[r] = W^y_r F[b_r] (W^x_r)^T`` per channel, restricted to the
    RoI's crop (see the module docstring for the weights). Differentiable
    with respect to ``feat`` (not ``rois``, as mmcv).

    Args:
        feat (Tensor): Features (B, C, H, W), float32 or float64, on CPU.
        rois (Tensor): (n, 5) as (image index, x1, y1, x2, y2) in input
            pixels, same dtype as ``feat``.
        output_size (tuple[int, int]): (out_h, out_w).
        spatial_scale (float): Feature cells per input pixel (1 / stride).
        sampling_ratio (int): Samples per bin along each axis; 0 takes
            ``ceil(roi_size / output_size)``.
        aligned (bool): Shift boxes by -0.5 cell (pixel-centre model).

    Returns:
        Tensor: (n, C, out_h, out_w), contiguous, dtype of ``feat``.

    Raises:
        ValueError / TypeError: For shapes, dtypes, devices or image indices
            that do not fit, and (``aligned``) boxes with x2 < x1 or
            y2 < y1.
    """
    check_inputs(feat, rois)
    output_size = tuple(int(s) for s in output_size)
    return SeparableRoIAlignFunction.apply(feat, rois.detach(), output_size,
                                           float(spatial_scale),
                                           int(sampling_ratio), bool(aligned))


class SeparableRoIAlign(RoIAlign):
    """mmcv's ``RoIAlign`` with :func:`roi_align_cpu` for CPU tensors.

    Same arguments, parameters and results as :class:`mmcv.ops.RoIAlign`.
    float32/float64 average pooling on the CPU runs :func:`roi_align_cpu`
    (several times faster than mmcv's single-threaded CPU kernel); every
    other case (CUDA and other devices, ``pool_mode='max'``,
    ``use_torchvision``, other dtypes) calls mmcv's kernel unchanged.
    """

    def forward(self, input: Tensor, rois: Tensor) -> Tensor:
        """Pool (n, C, out_h, out_w) features of ``rois`` from ``input``."""
        if (input.device.type == 'cpu' and self.pool_mode == 'avg'
                and not self.use_torchvision
                and input.dtype in (torch.float32, torch.float64)):
            return roi_align_cpu(input, rois.to(input.dtype), self.output_size,
                                 self.spatial_scale, self.sampling_ratio,
                                 self.aligned)
        # mmcv's kernels read the memory as NCHW: a channels-last input
        # (see PersonSearch's CPU inference) would be read wrongly
        return super().forward(input.contiguous(), rois)
