"""A ResNeXt stage as a RoI shared head (res5 of a ResNeXt C4 detector)."""
from mmdet.models.backbones.resnext import Bottleneck as ResNeXtBottleneck
from mmdet.models.layers import ResLayer as ResStage
from mmdet.models.roi_heads.shared_heads import ResLayer

from mmsearch.registry import MODELS


@MODELS.register_module()
class ResNeXtLayer(ResLayer):
    """One ResNeXt stage (grouped-convolution bottlenecks) as a shared head.

    mmdet's ``ResLayer`` shared head builds plain ResNet stages only; this
    subclass replaces its ``layer{stage + 1}`` with the ResNeXt stage of the
    same depth, so that ``torchvision``/``open-mmlab`` ResNeXt checkpoints
    load into it by name (``layer4.*`` for ``stage=3``). Forward and the
    frozen-BN ``train`` behaviour are inherited.

    Input (N, 256 * 2**(stage - 1) * 4, H, W) -> output
    (N, 256 * 2**stage, H / stride, W / stride).

    Args:
        depth (int): ResNeXt depth, 50, 101 or 152.
        groups (int): Groups of the 3x3 convolutions. Defaults to 32.
        base_width (int): Width per group at 64 base channels. Defaults to 4.
        stage (int): Stage index, 3 for res5. Defaults to 3.
        stride (int): Stride of the first block. Defaults to 2.
        dilation (int): Dilation of the first block. Defaults to 1.
        style (str): ``'pytorch'`` or ``'caffe'``. Defaults to ``'pytorch'``.
        norm_cfg (dict): Norm layer config. Defaults to trainable BN.
        norm_eval (bool): Keep BN statistics frozen. Defaults to True.
        with_cp (bool): Gradient checkpointing. Defaults to False.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 depth: int,
                 groups: int = 32,
                 base_width: int = 4,
                 stage: int = 3,
                 stride: int = 2,
                 dilation: int = 1,
                 style: str = 'pytorch',
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = True,
                 with_cp: bool = False,
                 init_cfg: dict | list | None = None) -> None:
        if depth not in (50, 101, 152):
            raise ValueError(
                f'ResNeXtLayer: depth must be 50, 101 or 152, got {depth}.')
        super().__init__(
            depth,
            stage=stage,
            stride=stride,
            dilation=dilation,
            style=style,
            norm_cfg=norm_cfg,
            norm_eval=norm_eval,
            with_cp=with_cp,
            init_cfg=init_cfg)
        plain_stage = getattr(self, f'layer{stage + 1}')
        resnext_stage = ResStage(
            ResNeXtBottleneck,
            inplanes=plain_stage[0].inplanes,
            planes=plain_stage[0].planes,
            num_blocks=len(plain_stage),
            stride=stride,
            dilation=dilation,
            style=style,
            with_cp=with_cp,
            norm_cfg=norm_cfg,
            groups=groups,
            base_width=base_width,
            base_channels=64)
        self.add_module(f'layer{stage + 1}', resnext_stage)
