"""A small convolution stack on RoI features (the neck route's RoI
module)."""
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmsearch.registry import MODELS


@MODELS.register_module()
class RoIConvHead(BaseModule):
    """``num_convs`` 3x3 conv-norm-activation blocks on RoI features.

    In the neck (FPN) route there is no backbone stage to run on the RoIs:
    this stack is the retrieval module of DC-I-Net (``reid_shared_head`` of
    :class:`PersonSearchRoIHead`, followed by the embedding head) or the
    module shared by detection and retrieval for I-Net / OIM
    (``shared_head``). The first convolution has stride ``stride``:
    (N, in_channels, h, w) -> (N, out_channels, ceil(h / stride),
    ceil(w / stride)).

    Args:
        in_channels (int): Channels of the RoI features (the neck's).
        out_channels (int): Channels of every convolution. Defaults to 256.
        num_convs (int): Number of blocks, >= 1. Defaults to 2.
        stride (int): Stride of the first convolution. Defaults to 1.
        norm_cfg (dict): Normalisation layer. Defaults to BN.
        act_cfg (dict): Activation. Defaults to ReLU.
        init_cfg (dict, optional): Defaults to Kaiming-initialised
            convolutions.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 256,
        num_convs: int = 2,
        stride: int = 1,
        norm_cfg: ConfigType = dict(type='BN'),
        act_cfg: ConfigType = dict(type='ReLU'),
        init_cfg: OptMultiConfig = dict(type='Kaiming', layer='Conv2d')
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_convs < 1 or stride < 1:
            raise ValueError('RoIConvHead: num_convs and stride must be >= '
                             f'1, got {num_convs} and {stride}.')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.convs = nn.Sequential(*(ConvModule(
            in_channels if i == 0 else out_channels,
            out_channels,
            3,
            stride=stride if i == 0 else 1,
            padding=1,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg) for i in range(num_convs)))

    def forward(self, roi_feats: Tensor) -> Tensor:
        """(N, in_channels, h, w) -> (N, out_channels, h', w')."""
        if roi_feats.dim() != 4 or roi_feats.size(1) != self.in_channels:
            raise ValueError('RoIConvHead expects RoI features of shape '
                             f'(N, {self.in_channels}, h, w), got '
                             f'{tuple(roi_feats.shape)}.')
        return self.convs(roi_feats)
