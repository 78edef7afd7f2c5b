"""Rescale the single-stride maps of a plain ViT into a pyramid."""
from typing import Sequence, Tuple

from mmcv.cnn import build_activation_layer, build_norm_layer
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmsearch.registry import MODELS


@MODELS.register_module()
class ViTFeaturePyramid(BaseModule):
    """Turn the outputs of a plain ViT (all at the patch stride) into maps
    at several strides, for an FPN after it.

    The i-th input (e.g. ViT blocks ``out_indices=(2, 5, 8, 11)`` at stride
    16) is resized by ``rescales[i]``, as BEiT/MAE detection and
    segmentation do:

    - 4: two 2x2 stride-2 transposed convolutions with norm and activation
      between them (stride 16 -> 4);
    - 2: one 2x2 stride-2 transposed convolution (16 -> 8);
    - 1: identity (16);
    - 0.5: 2x2 max pooling (16 -> 32).

    Channels stay ``in_channels``; an ``FPN`` with ``in_channels=[C] * 4``
    then builds the levels of the RPN and the RoIAlign. Use both as the
    detector's ``neck``: ``neck=[dict(type='ViTFeaturePyramid', ...),
    dict(type='FPN', ...)]`` (mmengine builds a list as a sequence).

    Args:
        in_channels (int): Channels of every input (the ViT's embed dims).
        rescales (Sequence[float]): Resize factor of each input, from
            (4, 2, 1, 0.5). Defaults to (4, 2, 1, 0.5).
        norm_cfg (dict): Norm between the two transposed convolutions of
            the x4 branch. Defaults to BN.
        act_cfg (dict): Activation there. Defaults to GELU.
        init_cfg (dict, optional): Initialisation config.
    """

    BRANCHES = (4, 2, 1, 0.5)

    def __init__(self,
                 in_channels: int,
                 rescales: Sequence[float] = (4, 2, 1, 0.5),
                 norm_cfg: ConfigType = dict(type='BN', requires_grad=True),
                 act_cfg: ConfigType = dict(type='GELU'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        unknown = [r for r in rescales if r not in self.BRANCHES]
        if unknown or not rescales:
            raise ValueError(f'ViTFeaturePyramid: rescales must be taken '
                             f'from {self.BRANCHES}, got {tuple(rescales)}.')
        self.in_channels = in_channels
        self.rescales = tuple(rescales)
        self.ops = nn.ModuleList(
            self._branch(r, in_channels, norm_cfg, act_cfg)
            for r in self.rescales)

    @staticmethod
    def _branch(rescale: float, channels: int, norm_cfg: ConfigType,
                act_cfg: ConfigType) -> nn.Module:
        """The resizing module of one input."""
        if rescale == 4:
            return nn.Sequential(
                nn.ConvTranspose2d(channels, channels, 2, stride=2),
                build_norm_layer(norm_cfg, channels)[1],
                build_activation_layer(act_cfg),
                nn.ConvTranspose2d(channels, channels, 2, stride=2))
        if rescale == 2:
            return nn.ConvTranspose2d(channels, channels, 2, stride=2)
        if rescale == 1:
            return nn.Identity()
        return nn.MaxPool2d(kernel_size=2, stride=2)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Resize each input.

        Args:
            inputs (Sequence[Tensor]): One (B, C, H, W) map per rescale.

        Returns:
            tuple[Tensor]: Map i of shape (B, C, H * r_i, W * r_i).
        """
        if len(inputs) != len(self.rescales):
            raise ValueError(
                f'ViTFeaturePyramid: got {len(inputs)} feature maps for '
                f'{len(self.rescales)} rescales {self.rescales}: give the '
                'backbone as many out_indices as rescales.')
        return tuple(op(x) for op, x in zip(self.ops, inputs))
