"""The inference path of a :class:`PersonSearch` model as exportable graphs.

:class:`GalleryGraph` and :class:`QueryGraph` wrap a built model and
re-express ``PersonSearch.predict`` (gallery) and its query path with the
operators of :mod:`mmsearch.deployment.ops`, reading every weight and test
setting from the model, so that the ONNX graphs reproduce its outputs:

trunk -> RPN head -> anchors + deltas -> top ``nms_pre`` -> boxes (clipped)
-> size filter -> NMS -> RoIAlign -> detection res5 + box head -> softmax
score, boxes (clipped) -> ``score > score_thr`` -> NMS -> RoIAlign on the
final boxes -> retrieval res5 (DC-I-Net: its own; OIM/I-Net: the detection
one) -> embedding head.

Both graphs take the resized image (``uint8``, ``(H, W, 3)``, BGR as read by
OpenCV) and apply the data preprocessor in the graph: channel order,
``(x - mean) / std`` and padding of the bottom/right to a multiple of the
size divisor. Boxes are in the coordinates of the resized image.
"""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.ops import RoIAlign
from mmdet.models.dense_heads import RPNHead
from mmdet.models.roi_heads.bbox_heads import BBoxHead
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from torch import Tensor, nn

from mmsearch.models.roi_heads import PersonSearchRoIHead
from mmsearch.models.roi_heads.shared_heads import BackboneLastStage
from .ops import (decode_deltas, grid_anchors, nms_indices, roi_align,
                  topk_indices)


class UnsupportedModelError(ValueError):
    """The model has a layer or setting the ONNX export cannot express."""


def _fail(where: str, what: str, hint: str) -> None:
    raise UnsupportedModelError(f'ONNX export: `{where}` is {what}; {hint}')


def _check_no_compiled_ops(model: nn.Module) -> None:
    """Refuse mmcv's compiled operators (deformable convolution, ...).

    Their kernels have no standard ONNX operator; the RoIAlign of the RoI
    extractor is the exception (exported as ONNX ``RoiAlign``).
    """
    extractor = model.roi_head.bbox_roi_extractor
    allowed = {id(layer) for layer in extractor.roi_layers}
    for name, module in model.named_modules():
        if id(module) in allowed:
            continue
        if type(module).__module__.startswith('mmcv.ops'):
            _fail(
                name, f'{type(module).__module__}.{type(module).__name__}, '
                'a compiled mmcv operator', 'standard ONNX has no '
                'equivalent. Use a config without it (e.g. plain '
                'convolutions instead of DCN) to export.')


def _check_nms_cfg(where: str, nms_cfg: dict) -> None:
    nms_type = nms_cfg.get('type', 'nms')
    if nms_type != 'nms':
        _fail(where, f"NMS of type {nms_type!r}",
              "the export supports type='nms' (ONNX NonMaxSuppression).")
    extra = set(nms_cfg) - {'type', 'iou_threshold'}
    if extra:
        _fail(where, f'an NMS config with {sorted(extra)}',
              'the export supports iou_threshold only.')


# Stage-route last stages whose traced graph fixes the number of RoIs
# (window/attention reshapes computed with Python ints from shapes, e.g.
# mmdet's Swin ``window_reverse`` and PVT's attention): the ONNX model would
# fail at run time on another number of detections.
UNEXPORTABLE_LAST_STAGES = ('SwinTransformer', 'PyramidVisionTransformer',
                            'PyramidVisionTransformerV2')


def check_exportable(model: nn.Module) -> None:
    """Check that the export can reproduce ``model``'s inference path.

    Subclasses of the supported mmdet/mmcv parts (e.g. mmsearch's fp32
    post-processing heads, or a faster RoIAlign kernel) are accepted: they
    keep the parents' test-time maths, which the graphs re-express.

    Args:
        model (nn.Module): A built :class:`PersonSearch`.

    Raises:
        UnsupportedModelError: Naming the first layer or setting that the
            exported graphs cannot express, and what is supported.
    """
    for part in ('backbone', 'rpn_head', 'roi_head'):
        if getattr(model, part, None) is None:
            _fail(
                part, 'missing', 'the export needs a two-stage '
                'PersonSearch model (backbone, rpn_head, roi_head).')
    if not isinstance(model.roi_head, PersonSearchRoIHead):
        _fail('roi_head',
              type(model.roi_head).__name__,
              'the export supports PersonSearchRoIHead.')
    rpn_head = model.rpn_head
    if not isinstance(rpn_head, RPNHead):
        _fail('rpn_head',
              type(rpn_head).__name__, 'the export supports mmdet RPNHead.')
    generator = rpn_head.prior_generator
    if (not isinstance(generator, AnchorGenerator)
            or generator.num_levels != 1):
        _fail(
            'rpn_head.prior_generator', f'{type(generator).__name__} with '
            f'{getattr(generator, "num_levels", "?")} levels',
            'the export supports one-level AnchorGenerator (C4 models).')
    for where, coder in (('rpn_head.bbox_coder', rpn_head.bbox_coder),
                         ('roi_head.bbox_head.bbox_coder',
                          model.roi_head.bbox_head.bbox_coder)):
        if (not isinstance(coder, DeltaXYWHBBoxCoder) or coder.add_ctr_clamp
                or not coder.clip_border):
            _fail(
                where, f'{type(coder).__name__}',
                'the export supports DeltaXYWHBBoxCoder with '
                'clip_border=True and add_ctr_clamp=False.')
    extractor = model.roi_head.bbox_roi_extractor
    if not isinstance(extractor,
                      SingleRoIExtractor) or len(extractor.roi_layers) != 1:
        _fail(
            'roi_head.bbox_roi_extractor', f'{type(extractor).__name__} over '
            f'{len(getattr(extractor, "roi_layers", []))} levels',
            'the export supports mmdet SingleRoIExtractor on one level.')
    layer = extractor.roi_layers[0]
    if not isinstance(layer, RoIAlign) or layer.pool_mode != 'avg':
        _fail(
            'roi_head.bbox_roi_extractor.roi_layers.0',
            f'{type(layer).__name__}'
            f'(pool_mode={getattr(layer, "pool_mode", None)!r})',
            "the export supports mmcv RoIAlign with pool_mode='avg' "
            '(ONNX RoiAlign).')
    for name in ('shared_head', 'reid_shared_head'):
        head = getattr(model.roi_head, name, None)
        if (isinstance(head, BackboneLastStage)
                and type(head.backbone).__name__ in UNEXPORTABLE_LAST_STAGES):
            _fail(
                f'roi_head.{name}',
                f'the last stage of {type(head.backbone).__name__}',
                'its traced attention layers fix the number of RoIs; the '
                'export supports the last stages of ResNet/ResNeXt, '
                'ConvNeXt and MobileNetV2 (and res5 ResLayer heads).')
    bbox_head = model.roi_head.bbox_head
    if not isinstance(bbox_head, BBoxHead):
        _fail('roi_head.bbox_head',
              type(bbox_head).__name__,
              'the export supports mmdet BBoxHead and its subclasses.')
    if (bbox_head.num_classes != 1 or bbox_head.custom_cls_channels
            or bbox_head.loss_cls.use_sigmoid):
        _fail(
            'roi_head.bbox_head', f'{type(bbox_head).__name__} with '
            f'num_classes={bbox_head.num_classes}', 'the export supports '
            'one class (person) scored by softmax.')
    test_cfg = model.test_cfg
    if test_cfg is None or 'rpn' not in test_cfg or 'rcnn' not in test_cfg:
        _fail('test_cfg', 'missing rpn/rcnn settings',
              'set model.test_cfg.rpn and model.test_cfg.rcnn.')
    _check_nms_cfg('test_cfg.rpn.nms', test_cfg.rpn.nms)
    _check_nms_cfg('test_cfg.rcnn.nms', test_cfg.rcnn.nms)
    _check_no_compiled_ops(model)


class _PreprocessMixin:
    """The data preprocessor of a preprocessing spec, applied in the graph.

    The spec is :func:`mmsearch.deployment.export.preprocess_spec`'s (the
    same one is stored with the exported models).
    """

    def _init_preprocess(self, spec: dict) -> None:
        self.flip_channels = bool(spec['bgr_to_rgb'])
        self.normalize = spec['mean'] is not None
        if self.normalize:
            self.register_buffer('mean',
                                 torch.tensor(spec['mean']).view(1, -1, 1, 1))
            self.register_buffer('std',
                                 torch.tensor(spec['std']).view(1, -1, 1, 1))
        self.pad_size_divisor = int(spec['pad_size_divisor'])
        self.pad_value = float(spec['pad_value'])

    def preprocess(self, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """uint8 (H, W, 3) -> normalised, padded (1, 3, H', W').

        Returns:
            tuple: The batch and the unpadded height and width as float
            scalars (the ``img_shape`` boxes are clipped to).
        """
        x = image.permute(2, 0, 1)[None].float()
        if self.flip_channels:
            x = x[:, [2, 1, 0], :, :]
        if self.normalize:
            x = (x - self.mean) / self.std
        height, width = image.shape[0], image.shape[1]
        divisor = self.pad_size_divisor
        if divisor > 1:
            pad_h = (divisor - height % divisor) % divisor
            pad_w = (divisor - width % divisor) % divisor
            x = F.pad(x, (0, pad_w, 0, pad_h), value=self.pad_value)
        return x, _as_float(height, x), _as_float(width, x)


def _as_float(size, like: Tensor) -> Tensor:
    """A size (int, or a traced tensor during export) as a float scalar."""
    if isinstance(size, Tensor):
        return size.float()
    return like.new_tensor(float(size))


class _RoIMixin:
    """RoIAlign settings of the model's RoI extractor."""

    def _init_roi(self, model: nn.Module) -> None:
        extractor = model.roi_head.bbox_roi_extractor
        layer = extractor.roi_layers[0]
        self.roi_output_size = tuple(layer.output_size)
        self.roi_spatial_scale = float(layer.spatial_scale)
        self.roi_sampling_ratio = int(layer.sampling_ratio)
        self.roi_aligned = bool(layer.aligned)
        roi_head = model.roi_head
        self.reid_res5 = (
            roi_head.reid_shared_head
            if roi_head.with_separate_reid_module else roi_head.shared_head)
        self.reid_head = roi_head.reid_head

    def roi_feats(self, feat: Tensor, boxes: Tensor) -> Tensor:
        return roi_align(feat, boxes, self.roi_output_size,
                         self.roi_spatial_scale, self.roi_sampling_ratio,
                         self.roi_aligned)

    def embed(self, feat: Tensor, boxes: Tensor) -> Tensor:
        """Retrieval module on boxes: (n, 4) -> unit-norm (n, D)."""
        return self.reid_head(self.reid_res5(self.roi_feats(feat, boxes)))


class QueryGraph(_PreprocessMixin, _RoIMixin, nn.Module):
    """Query path: image and boxes -> embeddings.

    Inputs: ``image`` uint8 (H, W, 3), BGR, resized; ``boxes`` float32
    (n, 4) as (x1, y1, x2, y2) in the resized image. Output:
    ``embeddings`` (n, D), unit norm.

    Args:
        model (nn.Module): A built :class:`PersonSearch` in eval mode.
        spec (dict): Preprocessing spec (``export.preprocess_spec``).
    """

    def __init__(self, model: nn.Module, spec: dict) -> None:
        super().__init__()
        check_exportable(model)
        self.backbone = model.backbone
        self.neck = model.neck if model.with_neck else None
        self._init_preprocess(spec)
        self._init_roi(model)

    def extract_feat(self, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        x, img_h, img_w = self.preprocess(image)
        feats = self.backbone(x)
        if self.neck is not None:
            feats = self.neck(feats)
        return feats[0], img_h, img_w

    def forward(self, image: Tensor, boxes: Tensor) -> Tensor:
        feat, _, _ = self.extract_feat(image)
        return self.embed(feat, boxes)


class GalleryGraph(QueryGraph):
    """Gallery path: image -> boxes, scores, embeddings of every person.

    Input: ``image`` uint8 (H, W, 3), BGR, resized. Outputs: ``boxes``
    (n, 4) in the resized image, ``scores`` (n, ) and ``embeddings``
    (n, D), by descending score, as ``PersonSearch.predict`` with
    ``rescale=False``.

    Args:
        model (nn.Module): A built :class:`PersonSearch` in eval mode.
        spec (dict): Preprocessing spec (``export.preprocess_spec``).
    """

    def __init__(self, model: nn.Module, spec: dict) -> None:
        super().__init__(model, spec)
        self.rpn_head = model.rpn_head
        self.shared_head = model.roi_head.shared_head
        self.bbox_head = model.roi_head.bbox_head
        generator = model.rpn_head.prior_generator
        self.register_buffer('base_anchors',
                             generator.base_anchors[0].clone().float())
        self.anchor_stride = tuple(int(s) for s in generator.strides[0])
        rpn_cfg = model.test_cfg.rpn
        self.rpn_nms_pre = int(rpn_cfg.get('nms_pre', -1))
        self.rpn_min_bbox_size = float(rpn_cfg.get('min_bbox_size', -1))
        self.rpn_iou = float(rpn_cfg.nms.iou_threshold)
        self.rpn_max_per_img = int(rpn_cfg.max_per_img)
        rcnn_cfg = model.test_cfg.rcnn
        self.score_thr = float(rcnn_cfg.score_thr)
        self.rcnn_iou = float(rcnn_cfg.nms.iou_threshold)
        self.rcnn_max_per_img = int(rcnn_cfg.max_per_img)
        self.rpn_coder = _coder_params(model.rpn_head.bbox_coder)
        self.rcnn_coder = _coder_params(model.roi_head.bbox_head.bbox_coder)

    def proposals(self, feat: Tensor, img_h: Tensor, img_w: Tensor) -> Tensor:
        """RPN proposals (k, 4) by descending objectness."""
        cls_scores, bbox_preds = self.rpn_head((feat, ))
        cls_score, bbox_pred = cls_scores[0][0], bbox_preds[0][0]
        if self.rpn_head.use_sigmoid_cls:
            scores = cls_score.permute(1, 2, 0).reshape(-1).sigmoid()
        else:
            scores = cls_score.permute(1, 2, 0).reshape(-1, 2).softmax(-1)
            scores = scores[:, 0]
        deltas = bbox_pred.permute(1, 2, 0).reshape(-1, 4)
        anchors = grid_anchors(self.base_anchors, feat.shape[2], feat.shape[3],
                               self.anchor_stride)
        top = topk_indices(scores, self.rpn_nms_pre)
        scores, deltas, anchors = scores[top], deltas[top], anchors[top]
        boxes = decode_deltas(anchors, deltas, *self.rpn_coder, img_h, img_w)
        if self.rpn_min_bbox_size >= 0:
            wh = boxes[:, 2:] - boxes[:, :2]
            valid = ((wh[:, 0] > self.rpn_min_bbox_size) &
                     (wh[:, 1] > self.rpn_min_bbox_size))
            valid = valid.nonzero()[:, 0]
            boxes, scores = boxes[valid], scores[valid]
        keep = nms_indices(boxes, scores, self.rpn_iou, self.rpn_max_per_img)
        return boxes[keep]

    def detect(self, feat: Tensor, proposals: Tensor, img_h: Tensor,
               img_w: Tensor) -> Tuple[Tensor, Tensor]:
        """Detection module on proposals -> final boxes and scores."""
        bbox_feats = self.shared_head(self.roi_feats(feat, proposals))
        cls_score, bbox_pred = self.bbox_head(bbox_feats)
        scores = cls_score.softmax(-1)[:, 0]
        boxes = decode_deltas(proposals, bbox_pred.reshape(-1, 4),
                              *self.rcnn_coder, img_h, img_w)
        valid = (scores > self.score_thr).nonzero()[:, 0]
        boxes, scores = boxes[valid], scores[valid]
        keep = nms_indices(boxes, scores, self.rcnn_iou, self.rcnn_max_per_img)
        return boxes[keep], scores[keep]

    def forward(self, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        feat, img_h, img_w = self.extract_feat(image)
        proposals = self.proposals(feat, img_h, img_w)
        boxes, scores = self.detect(feat, proposals, img_h, img_w)
        return boxes, scores, self.embed(feat, boxes)


def _coder_params(coder: DeltaXYWHBBoxCoder) -> Tuple[Sequence[float], ...]:
    return (tuple(float(m)
                  for m in coder.means), tuple(float(s) for s in coder.stds))


def graph_output_names(kind: str) -> Sequence[str]:
    """Output names of the exported graph of ``kind``."""
    return {
        'gallery': ('boxes', 'scores', 'embeddings'),
        'query': ('embeddings', )
    }[kind]


def build_graph(model: nn.Module, kind: str, spec: dict) -> nn.Module:
    """The exportable graph of ``kind`` (``'gallery'`` or ``'query'``).

    Args:
        model (nn.Module): A built :class:`PersonSearch`.
        kind (str): ``'gallery'`` or ``'query'``.
        spec (dict): Preprocessing spec (``export.preprocess_spec``).
    """
    graphs = dict(gallery=GalleryGraph, query=QueryGraph)
    if kind not in graphs:
        raise ValueError(f'kind must be one of {sorted(graphs)}, got '
                         f'{kind!r}.')
    return graphs[kind](model, spec).eval()
