"""A staged backbone cut at stride 16: the trunk of a C4 person searcher."""
import copy
import logging
from contextlib import contextmanager
from typing import Iterator, List, Tuple

from mmdet.utils import ConfigType
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmsearch.registry import MODELS
from .stage_splits import StageSplit, get_stage_split, prune_backbone


@contextmanager
def quiet_info_logs() -> Iterator[None]:
    """Hide INFO records of mmengine's current logger (warnings stay).

    A backbone initialised on its own is a top-level module for mmengine,
    which then reports the init info of every parameter; the person
    searcher reports its own for the copied weights. This keeps that
    report off the console; mmengine still writes it to a log file (its
    dump goes to the file handlers' streams directly).
    """
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


class StageSplitPart(BaseModule):
    """One part (trunk or last stage) of a backbone built from its config.

    The backbone is built whole, then every stateful module of the other
    part is dropped (set to None), so the part holds only parameters it
    uses (DDP needs no ``find_unused_parameters``) under the backbone's own
    names: the part's state dict keys are the backbone's (``backbone.`` +
    e.g. ``stages.3.blocks.0...``).

    Behaviour follows the backbone's own options:

    - weights: :meth:`init_weights` builds the whole backbone once more,
      runs its own ``init_weights`` (``init_cfg`` with the upstream
      checkpoint, the backbone's key conversions, interpolations and random
      init of what the checkpoint lacks), then copies the kept weights.
      Every part built from one config (trunk, detection and retrieval
      last stages) thus starts from the same checkpoint.
    - ``frozen_stages``, ``norm_eval`` and any other ``train()`` rule: the
      whole backbone is put in training mode once when built; parameters it
      froze stay frozen (they are the same objects), and the modules it
      left in eval mode are put back in eval mode by every ``train()``.
    - layer-wise lr decay: ``layer_depths`` maps each kept parameter (name
      in the backbone) to its ``(depth, num_depths)`` in the whole backbone
      (None for families without layer depths), read by
      :class:`~mmsearch.engine.StageRouteLayerDecayOptimWrapperConstructor`.

    Args:
        backbone (dict): Config of a backbone whose family has a
            :class:`~mmsearch.models.backbones.StageSplit` (e.g.
            ``dict(type='mmpretrain.ConvNeXt', arch='tiny')``).
        init_cfg: Must be None: put ``init_cfg`` (pretrained weights) in the
            ``backbone`` config, where the backbone's own loading uses it.
    """

    def __init__(self, backbone: ConfigType, init_cfg: None = None) -> None:
        if init_cfg is not None:
            raise ValueError(
                f'{type(self).__name__}: init_cfg must be None; put the '
                'pretrained checkpoint in backbone=dict(..., init_cfg=dict('
                "type='Pretrained', checkpoint=...)), where the backbone's "
                'own loading (key conversions included) applies it.')
        super().__init__()
        if not isinstance(backbone, dict) or 'type' not in backbone:
            raise TypeError(
                f'{type(self).__name__}: `backbone` must be a backbone config '
                f"dict with a 'type', got {backbone!r}.")
        self.backbone_cfg = copy.deepcopy(backbone)
        full = MODELS.build(backbone)
        self.split: StageSplit = get_stage_split(full)
        # the backbone's own train() applies frozen_stages / norm_eval
        full.train(True)
        eval_names = {
            name
            for name, module in full.named_modules()
            if name and not module.training
        }
        # layer-wise depths need the whole backbone: taken before pruning
        depths = {
            name: self.split.layer_depth(full, name)
            for name, _ in full.named_parameters()
        }
        prune_backbone(full, self.kept_names(full))
        self.backbone = full
        self.layer_depths = {
            name: depths[name]
            for name, _ in full.named_parameters()
        }
        self.eval_module_names: List[str] = sorted(
            name for name, _ in full.named_modules() if name in eval_names)
        self.out_channels = self.channels(full)
        self.train()

    def kept_names(self, backbone: nn.Module) -> List[str]:
        """Names of the backbone modules this part keeps."""
        raise NotImplementedError

    def channels(self, backbone: nn.Module) -> int:
        """Channels of this part's output map."""
        raise NotImplementedError

    def train(self, mode: bool = True) -> 'StageSplitPart':
        """Set the mode; modules the backbone keeps in eval mode stay so.

        The pruned backbone's own ``train()`` is not called (it may refer
        to dropped stages); its children are set one by one instead.

        Args:
            mode (bool): Training mode. Defaults to True.

        Returns:
            StageSplitPart: self.
        """
        self.training = mode
        self.backbone.training = mode
        for child in self.backbone.children():
            child.train(mode)
        if mode:
            modules = dict(self.backbone.named_modules())
            for name in self.eval_module_names:
                modules[name].eval()
        return self

    def init_weights(self) -> None:
        """Weights of the whole backbone (its own ``init_weights``), kept
        part copied."""
        full = MODELS.build(self.backbone_cfg)
        with quiet_info_logs():
            full.init_weights()
            self.split.after_init_weights(full)
        source = full.state_dict()
        own = self.backbone.state_dict()
        missing = [key for key in own if key not in source]
        if missing:
            raise KeyError(
                f'{type(self).__name__}: the rebuilt {type(full).__name__} '
                f'lacks {missing[:5]}; the config changed since building?')
        self.backbone.load_state_dict({key: source[key]
                                       for key in own},
                                      strict=True)
        self._is_init = True


@MODELS.register_module()
class StageSplitTrunk(StageSplitPart):
    """The stem and stages to stride 16 of any supported staged backbone.

    The trunk of a C4 person searcher: it feeds the RPN and RoIAlign; the
    backbone's last stage becomes the RoI head
    (:class:`~mmsearch.models.roi_heads.BackboneLastStage`). Supported
    families: mmdet ``ResNet``/``ResNeXt``, ``SwinTransformer``,
    ``PyramidVisionTransformer(V2)``, ``MobileNetV2`` and mmpretrain
    ``ConvNeXt`` (see :mod:`mmsearch.models.backbones.stage_splits`).

    Example:
        >>> backbone = dict(
        ...     type='StageSplitTrunk',
        ...     backbone=dict(type='mmpretrain.ConvNeXt', arch='tiny'))

    Forward: images (B, 3, H, W) -> a 1-tuple with the stride-16 map
    (B, ``out_channels``, H / 16, W / 16), NCHW.

    Args:
        backbone (dict): The backbone config (with its ``init_cfg``).
        init_cfg: Must be None (see :class:`StageSplitPart`).
    """

    def kept_names(self, backbone):
        return self.split.trunk_names(backbone)

    def channels(self, backbone):
        return self.split.trunk_channels(backbone)

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        """Images (B, 3, H, W) -> ((B, C, H / 16, W / 16), )."""
        return (self.split.forward_trunk(self.backbone, x), )
