"""Box heads whose detections are decoded and NMS'ed in fp32."""
from typing import List, Optional, Tuple

from mmdet.models.roi_heads.bbox_heads import (BBoxHead, ConvFCBBoxHead,
                                               Shared2FCBBoxHead)
from mmdet.utils import InstanceList
from mmengine.config import ConfigDict
from torch import Tensor

from mmsearch.registry import MODELS
from ...utils import autocast_disabled, to_fp32


class FP32PredictMixin:
    """Post-processing of an mmdet box head in fp32.

    The layers run in whatever precision autocast chooses; the
    post-processing (softmax, box decoding, NMS) runs with autocast
    disabled on fp32 RoIs, scores and deltas, so mmcv's NMS gets the fp32
    boxes it requires and the detections are fp32 whatever the autocast
    dtype. Put it before the mmdet head in the bases.
    """

    def predict_by_feat(self,
                        rois: Tuple[Tensor],
                        cls_scores: Tuple[Tensor],
                        bbox_preds: Tuple[Tensor],
                        batch_img_metas: List[dict],
                        rcnn_test_cfg: Optional[ConfigDict] = None,
                        rescale: bool = False) -> InstanceList:
        """Detections of each image, computed in fp32 (see the class doc).

        Args: as ``BBoxHead.predict_by_feat``: per image RoIs (n_i, 5),
            class scores (n_i, C + 1) and box deltas (n_i, 4 or 4C), any
            float dtype.

        Returns:
            list[InstanceData]: Per image fp32 ``bboxes`` (n, 4), ``scores``
            (n,) and ``labels`` (n,).
        """
        with autocast_disabled(rois[0].device):
            return super().predict_by_feat(
                to_fp32(rois),
                to_fp32(cls_scores),
                to_fp32(bbox_preds),
                batch_img_metas=batch_img_metas,
                rcnn_test_cfg=rcnn_test_cfg,
                rescale=rescale)


@MODELS.register_module()
class PersonSearchBBoxHead(FP32PredictMixin, BBoxHead):
    """mmdet's :class:`~mmdet.models.roi_heads.BBoxHead` with fp32 results
    (:class:`FP32PredictMixin`): the C4 head after res5 (average pooling,
    one linear layer per task).

    Args: as :class:`~mmdet.models.roi_heads.BBoxHead`.
    """


@MODELS.register_module()
class PersonSearchConvFCBBoxHead(FP32PredictMixin, ConvFCBBoxHead):
    """mmdet's :class:`~mmdet.models.roi_heads.ConvFCBBoxHead` with fp32
    results (:class:`FP32PredictMixin`): convolutions and FCs on the RoI
    features, for a neck-route detection module with convolutions
    (``dcinet_r50_fpn_cuhk.py`` uses :class:`PersonSearchShared2FCBBoxHead`,
    i.e. two shared FCs).

    Args: as :class:`~mmdet.models.roi_heads.ConvFCBBoxHead`.
    """


@MODELS.register_module()
class PersonSearchShared2FCBBoxHead(FP32PredictMixin, Shared2FCBBoxHead):
    """mmdet's :class:`~mmdet.models.roi_heads.Shared2FCBBoxHead` (two
    shared FCs, Faster R-CNN FPN's box head) with fp32 results
    (:class:`FP32PredictMixin`).

    Args: as :class:`~mmdet.models.roi_heads.Shared2FCBBoxHead`.
    """
