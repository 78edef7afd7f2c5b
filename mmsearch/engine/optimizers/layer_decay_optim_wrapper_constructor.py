"""Layer-wise learning-rate decay over a stage-route backbone."""
from typing import List, Optional

from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from mmsearch.models.backbones import StageSplitPart
from mmsearch.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class StageRouteLayerDecayOptimWrapperConstructor(
        DefaultOptimWrapperConstructor):
    """mmengine's default constructor plus layer-wise lr decay.

    The layer-wise decay of ConvNeXt and Swin fine-tuning, over a person
    searcher whose backbone is split into
    :class:`~mmsearch.models.backbones.StageSplitTrunk` and
    :class:`~mmsearch.models.roi_heads.BackboneLastStage` copies. Each
    parameter of those parts keeps the depth it has in the whole backbone
    (the backbone's own ``get_layer_depth``, e.g. mmpretrain's ConvNeXt;
    mmpretrain's Swin numbering for mmdet's Swin), so both last-stage
    copies (detection and retrieval) decay as the backbone's last stage:

        lr = base_lr * lr_mult * layer_decay_rate ** (num_depths - depth - 1)

    Parameters outside the parts (RPN, box and embedding heads) keep
    ``base_lr * lr_mult`` (the top depth). The other ``paramwise_cfg``
    options (``custom_keys``, ``norm_decay_mult``, ...) act as in
    :class:`mmengine.optim.DefaultOptimWrapperConstructor`.

    Example:
        >>> optim_wrapper = dict(
        ...     optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.05),
        ...     constructor='StageRouteLayerDecayOptimWrapperConstructor',
        ...     paramwise_cfg=dict(layer_decay_rate=0.95))

    Args:
        optim_wrapper_cfg (dict): The optimizer wrapper config.
        paramwise_cfg (dict, optional): Parameter-wise options, with
            ``layer_decay_rate`` (float, default 1: no decay).
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        self.layer_decay_rate = float(
            self.paramwise_cfg.get('layer_decay_rate', 1.0))
        if not 0 < self.layer_decay_rate <= 1:
            raise ValueError('paramwise_cfg.layer_decay_rate must be in '
                             f'(0, 1], got {self.layer_decay_rate}.')

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module=None) -> None:
        """The default parameter groups (one per parameter), then, for the
        whole model (``prefix == ''``), each group's lr times its layer
        scale.

        Args:
            params (list[dict]): Parameter groups, extended in place.
            module (nn.Module): The module whose parameters are added.
            prefix (str): Its name in the model. Defaults to ''.
            is_dcn_module: As in the default constructor.
        """
        first = len(params)
        super().add_params(params, module, prefix, is_dcn_module)
        if prefix or self.layer_decay_rate == 1:
            return
        scales = {}
        for part_name, part in module.named_modules():
            if not isinstance(part, StageSplitPart):
                continue
            for name, param in part.backbone.named_parameters():
                depth = part.layer_depths[name]
                if depth is None:
                    raise ValueError(
                        f'{part_name}: {type(part.backbone).__name__} has no '
                        'layer depths for layer-wise lr decay; remove '
                        'paramwise_cfg.layer_decay_rate.')
                layer, num_layers = depth
                scales[param] = self.layer_decay_rate**(num_layers - layer - 1)
        for group in params[first:]:
            (param, ) = group['params']
            scale = scales.get(param, 1.0)
            group['lr'] = group.get('lr', self.base_lr) * scale
