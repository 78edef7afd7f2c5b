"""RoI shared heads: the module run on RoI features before the box and
embedding heads (a backbone's last stage, a ResNeXt stage, a small
convolution stack)."""
from .backbone_last_stage import BackboneLastStage
from .resnext_layer import ResNeXtLayer
from .roi_conv_head import RoIConvHead

__all__ = ['BackboneLastStage', 'ResNeXtLayer', 'RoIConvHead']
