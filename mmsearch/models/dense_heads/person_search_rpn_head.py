"""RPN head whose proposals are decoded and NMS'ed in fp32."""
from typing import List, Optional

from mmdet.models.dense_heads import RPNHead
from mmdet.utils import InstanceList
from mmengine.config import ConfigDict
from torch import Tensor

from mmsearch.registry import MODELS
from ..utils import autocast_disabled, to_fp32


@MODELS.register_module()
class PersonSearchRPNHead(RPNHead):
    """mmdet's :class:`~mmdet.models.dense_heads.RPNHead` with fp32 proposals.

    The convolutions run in whatever precision autocast chooses; the
    post-processing (anchors, box decoding, NMS) runs with autocast
    disabled on fp32 scores and deltas. Under fp16/bf16 autocast mmdet's
    own head would build anchors and decode boxes in half precision (bf16
    boxes are rounded by 4-8 px at 1500 px) and hand bf16 boxes to mmcv's
    NMS, which accepts fp32 only. Proposals are fp32, in training
    (``loss_and_predict``) and at test time alike.

    Args: as :class:`~mmdet.models.dense_heads.RPNHead`.
    """

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        score_factors: Optional[List[Tensor]] = None,
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[ConfigDict] = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Proposals of each image, computed in fp32 (see the class doc).

        Args: as ``RPNHead.predict_by_feat``; ``cls_scores`` and
            ``bbox_preds`` are lists over levels of (B, A * C, H, W) and
            (B, A * 4, H, W) tensors of any float dtype.

        Returns:
            list[InstanceData]: Per image fp32 ``bboxes`` (n, 4) and
            ``scores`` (n,), and ``labels`` (n,).
        """
        with autocast_disabled(cls_scores[0].device):
            return super().predict_by_feat(
                to_fp32(cls_scores),
                to_fp32(bbox_preds),
                score_factors=to_fp32(score_factors),
                batch_img_metas=batch_img_metas,
                cfg=cfg,
                rescale=rescale,
                with_nms=with_nms)
