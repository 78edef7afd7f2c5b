"""The person-search detector: Faster R-CNN (C4 or with a neck) with a
re-ID branch."""
from typing import List, Sequence, Tuple

import torch
from mmdet.models.detectors import TwoStageDetector
from mmdet.structures import SampleList
from mmdet.structures.bbox import get_box_tensor, scale_boxes
from torch import Tensor

from mmsearch.registry import MODELS


def boxes_to_input_coords(boxes: Tensor | Sequence[float],
                          metainfo: dict) -> Tensor:
    """Map boxes from original image to network-input coordinates.

    ``(x1, y1, x2, y2) -> (x1 * s_w, y1 * s_h, x2 * s_w, y2 * s_h)`` with
    ``(s_w, s_h) = metainfo['scale_factor']`` (1 when absent).

    Args:
        boxes (Tensor | Sequence[float]): Shape (n, 4) or (4,).
        metainfo (dict): The image's metainfo.

    Returns:
        Tensor: Float boxes, shape (n, 4).
    """
    boxes = torch.as_tensor(get_box_tensor(boxes), dtype=torch.float32)
    if boxes.dim() == 1:
        boxes = boxes[None]
    if boxes.dim() != 2 or boxes.size(1) != 4:
        raise ValueError('Boxes must have shape (n, 4) or (4,) as '
                         f'(x1, y1, x2, y2), got {tuple(boxes.shape)}.')
    scale_factor = metainfo.get('scale_factor', (1.0, 1.0))
    return scale_boxes(boxes, scale_factor)


@MODELS.register_module()
class PersonSearch(TwoStageDetector):
    """Person search: detect every person and embed each for retrieval.

    A Faster R-CNN detector whose RoI head, :class:`PersonSearchRoIHead`,
    also embeds RoIs, in one of two forms chosen by the config:

    - C4 (the default of person search): trunk up to stride 16, RPN and
      RoIAlign on that map, the backbone's last stage (res5) as RoI head;
    - neck (``neck``, e.g. mmdet's FPN): every level feeds the RPN and a
      multi-level RoIAlign (:class:`PersonSearchRoIExtractor` with several
      ``featmap_strides``), and small heads run on the RoI features; for
      backbones without a stage to run on RoIs (a plain ViT with several
      ``out_indices``).

    One class covers OIM, I-Net (detection and retrieval share the RoI
    module) and DC-I-Net (separate detection and retrieval modules).

    ``predict`` returns per image ``pred_instances`` with ``bboxes``
    (original image coordinates with ``rescale=True``), ``scores``,
    ``labels`` and ``reid_feats`` (n, D, unit norm). Samples whose metainfo
    holds ``query_bbox`` (original coordinates) also get
    ``pred_query_feat`` (D,): that box embedded by the retrieval module.

    On the CPU, inference runs the trunk in the channels-last memory
    format (NHWC): oneDNN's convolutions are much faster on it (R-50 trunk
    at 900 x 1504 on 2 cores: 3.6 s -> 1.4 s) and give the same values up
    to float rounding. The trunk's outputs are handed on in the default
    layout, because mmcv's CPU RoIAlign kernel reads memory as NCHW
    (:class:`PersonSearchRoIExtractor` puts its RoI features into
    channels-last for res5 itself). Training and CUDA keep the default
    layout.

    Args:
        cpu_channels_last (bool): Use the channels-last layout for CPU
            inference. Defaults to True.
        **kwargs: Arguments of :class:`mmdet.models.TwoStageDetector`.
    """

    def __init__(self, cpu_channels_last: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cpu_channels_last = cpu_channels_last

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor]:
        """Trunk features, channels-last for CPU inference (see above).

        Args:
            batch_inputs (Tensor): Images, (B, 3, H, W).

        Returns:
            tuple[Tensor]: Trunk (and neck) features, each (B, C, h, w).
        """
        if (self.cpu_channels_last and not self.training
                and batch_inputs.device.type == 'cpu'):
            feats = super().extract_feat(
                batch_inputs.contiguous(memory_format=torch.channels_last))
            return tuple(feat.contiguous() for feat in feats)
        return super().extract_feat(batch_inputs)

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Detect and embed persons; embed the query box if given.

        Args:
            batch_inputs (Tensor): Images, shape (B, 3, H, W).
            batch_data_samples (list[DetDataSample]): Their samples.
            rescale (bool): Return boxes in original image coordinates.
                Defaults to True.

        Returns:
            list[DetDataSample]: The samples with ``pred_instances`` and,
            for query samples, ``pred_query_feat`` (D,).
        """
        x = self.extract_feat(batch_inputs)
        if batch_data_samples[0].get('proposals', None) is None:
            rpn_results_list = self.rpn_head.predict(
                x, batch_data_samples, rescale=False)
        else:
            rpn_results_list = [
                sample.proposals for sample in batch_data_samples
            ]
        results_list = self.roi_head.predict(
            x, rpn_results_list, batch_data_samples, rescale=rescale)
        batch_data_samples = self.add_pred_to_datasample(
            batch_data_samples, results_list)

        self._add_query_feats(x, batch_data_samples)
        return batch_data_samples

    def _add_query_feats(self, x: Tuple[Tensor],
                         batch_data_samples: SampleList) -> None:
        """Set ``pred_query_feat`` (D,) on samples with a ``query_bbox``.

        Args:
            x (tuple[Tensor]): Trunk features, each (B, C, H, W).
            batch_data_samples (list[DetDataSample]): The batch; a query
                sample's metainfo holds ``query_bbox`` in original image
                coordinates.
        """
        device = x[0].device
        query_boxes = []
        for sample in batch_data_samples:
            if 'query_bbox' in sample.metainfo:
                boxes = boxes_to_input_coords(sample.metainfo['query_bbox'],
                                              sample.metainfo)
                if len(boxes) != 1:
                    raise ValueError(
                        'metainfo `query_bbox` must be one box [x1, y1, x2, '
                        f'y2], got {len(boxes)} boxes.')
            else:
                boxes = torch.zeros((0, 4), device=device)
            query_boxes.append(boxes.to(device))
        if not any(len(boxes) for boxes in query_boxes):
            return
        query_feats = self.roi_head.predict_reid_feats(x, query_boxes)
        for sample, feats in zip(batch_data_samples, query_feats):
            if len(feats):
                sample.pred_query_feat = feats[0]

    @torch.no_grad()
    def extract_box_feats(self, batch_inputs: Tensor,
                          batch_data_samples: SampleList,
                          boxes_list: List[Tensor]) -> List[Tensor]:
        """Embed given boxes (e.g. a query drawn by a user).

        Args:
            batch_inputs (Tensor): Preprocessed images, shape (B, 3, H, W).
            batch_data_samples (list[DetDataSample]): Their samples (for
                ``scale_factor``).
            boxes_list (list[Tensor]): Per image, boxes (n_i, 4) as
                (x1, y1, x2, y2) in original image coordinates.

        Returns:
            list[Tensor]: Per image, unit-norm embeddings (n_i, D).
        """
        if len(boxes_list) != len(batch_data_samples):
            raise ValueError(
                f'extract_box_feats: got {len(boxes_list)} box lists for '
                f'{len(batch_data_samples)} images.')
        boxes_list = [
            boxes_to_input_coords(boxes,
                                  sample.metainfo).to(batch_inputs.device)
            for boxes, sample in zip(boxes_list, batch_data_samples)
        ]
        x = self.extract_feat(batch_inputs)
        return self.roi_head.predict_reid_feats(x, boxes_list)
