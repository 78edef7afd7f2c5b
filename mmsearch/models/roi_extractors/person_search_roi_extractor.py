"""RoI feature extraction in float32 under any autocast dtype."""
from typing import Optional, Sequence

import torch
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmdet.utils import ConfigType
from torch import Tensor, nn

from mmsearch.models.ops import SeparableRoIAlign
from mmsearch.registry import MODELS


@MODELS.register_module()
class PersonSearchRoIExtractor(SingleRoIExtractor):
    """mmdet's ``SingleRoIExtractor`` that pools in float32, boxes included.

    mmdet casts the RoIs to the features' dtype before pooling, so under
    bfloat16/float16 autocast the boxes lose precision (a bfloat16
    coordinate near 1500 px is a multiple of 8 px) and mmcv's RoIAlign,
    which has no bfloat16 kernel on CPU or CUDA, fails. This extractor
    turns autocast off for the pooling and gives it float32 features and
    float32 boxes, on every path that pools RoIs (detection and retrieval,
    training and test, query boxes). Under autocast the pooled features
    stay float32 (autocast casts them at the next convolution); without
    autocast they come back in the features' dtype.

    With ``cpu_fast_path`` a ``RoIAlign`` layer is built as
    :class:`mmsearch.models.ops.SeparableRoIAlign`: same results as mmcv's
    kernel (up to float rounding), several times faster on the CPU, mmcv's
    own kernel on CUDA.

    Args:
        roi_layer (dict): RoI layer config, e.g.
            ``dict(type='RoIAlign', output_size=14, sampling_ratio=2)``.
        out_channels (int): Channels of the features.
        featmap_strides (list[int]): Strides of the feature maps.
        cpu_fast_path (bool): Build ``RoIAlign`` layers as
            ``SeparableRoIAlign`` and, at inference on the CPU, hand back
            the RoI features in the channels-last layout, on which the
            res5 convolutions that follow run faster (oneDNN; the same
            values). Defaults to True.
        **kwargs: Other arguments of ``SingleRoIExtractor``.
    """

    def __init__(self,
                 roi_layer: ConfigType,
                 out_channels: int,
                 featmap_strides: Sequence[int],
                 cpu_fast_path: bool = True,
                 **kwargs) -> None:
        # read by build_roi_layers, which the parent's __init__ calls
        self.cpu_fast_path = cpu_fast_path
        super().__init__(
            roi_layer=roi_layer,
            out_channels=out_channels,
            featmap_strides=list(featmap_strides),
            **kwargs)

    def build_roi_layers(self, layer_cfg: ConfigType,
                         featmap_strides: Sequence[int]) -> nn.ModuleList:
        """One RoI layer per stride; ``RoIAlign`` as ``SeparableRoIAlign``.

        Args:
            layer_cfg (dict): RoI layer config (an mmcv.ops layer name).
            featmap_strides (list[int]): Strides of the feature maps.

        Returns:
            nn.ModuleList: The layers.
        """
        cfg = dict(layer_cfg)
        if self.cpu_fast_path and cfg.get('type') == 'RoIAlign':
            cfg['type'] = SeparableRoIAlign
        return super().build_roi_layers(cfg, featmap_strides)

    def forward(self,
                feats: Sequence[Tensor],
                rois: Tensor,
                roi_scale_factor: Optional[float] = None) -> Tensor:
        """Pool RoI features in float32.

        Args:
            feats (Sequence[Tensor]): Feature maps, each (B, C, H, W), any
                float dtype.
            rois (Tensor): (n, 5) as (image index, x1, y1, x2, y2), any
                float dtype (float32 keeps the boxes exact).
            roi_scale_factor (float, optional): Scale the RoIs about their
                centres first (``SingleRoIExtractor`` ignores it for one
                feature map; here it applies to every number of maps).

        Returns:
            Tensor: (n, C, out_h, out_w), float32 under autocast, else the
            dtype of ``feats``; channels-last at CPU inference with
            ``cpu_fast_path``.
        """
        device_type = feats[0].device.type
        feats_dtype = feats[0].dtype
        feats = tuple(feat.float() for feat in feats)
        rois = rois.float()  # rescaled and pooled in float32 on every path
        with torch.autocast(device_type, enabled=False):
            if len(feats) == 1 and len(rois):
                # as the parent's single-level path, without its unused
                # zero tensor of the output's size (300 RoIs: 240 MB)
                if roi_scale_factor is not None:
                    rois = self.roi_rescale(rois, roi_scale_factor)
                roi_feats = self.roi_layers[0](feats[0], rois)
            else:
                roi_feats = super().forward(feats, rois, roi_scale_factor)
        if not torch.is_autocast_enabled(device_type):
            roi_feats = roi_feats.to(feats_dtype)
        if (self.cpu_fast_path and not self.training and device_type == 'cpu'):
            roi_feats = roi_feats.contiguous(memory_format=torch.channels_last)
        return roi_feats
