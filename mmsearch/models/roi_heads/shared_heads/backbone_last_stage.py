"""A backbone's last stage as the RoI head of a C4 person searcher."""
from torch import Tensor

from mmsearch.models.backbones import StageSplitPart
from mmsearch.registry import MODELS


@MODELS.register_module()
class BackboneLastStage(StageSplitPart):
    """The last stage of a staged backbone, run on RoI features.

    The ``shared_head`` (detection) and, for DC-I-Net, the
    ``reid_shared_head`` (retrieval) of :class:`PersonSearchRoIHead` with
    the same ``backbone`` config as the
    :class:`~mmsearch.models.backbones.StageSplitTrunk`: each holds its own
    copy of the last stage (with the stage's downsampling: ConvNeXt's
    ``downsample_layers.3``, Swin's patch merging, ResNet's strided first
    block), initialised from the same checkpoint as the trunk.

    Forward: RoI features (N, C4, h, w) -> (N, ``out_channels``, h / 2,
    w / 2), NCHW (14 x 14 RoIs -> 7 x 7). Token backbones (Swin, PVT) run
    their blocks on the flattened map.

    Args:
        backbone (dict): The backbone config (with its ``init_cfg``).
        init_cfg: Must be None (see :class:`StageSplitPart`).
    """

    def kept_names(self, backbone):
        return self.split.last_stage_names(backbone)

    def channels(self, backbone):
        return self.split.last_stage_channels(backbone)

    def forward(self, x: Tensor) -> Tensor:
        """RoI features (N, C4, h, w) -> (N, C5, h / 2, w / 2)."""
        return self.split.forward_last_stage(self.backbone, x)
