"""Where a staged backbone splits into a stride-16 trunk and its last stage.

Person search in the C4 frame runs a backbone's stem and stages up to
stride 16 on the whole image (the trunk, feeding the RPN and RoIAlign) and
its last stage, with that stage's own downsampling, on every RoI (the RoI
head). A :class:`StageSplit` describes this for one backbone family: which
modules belong to each part (by their names in the backbone, so that the
backbone's own checkpoints keep their key names) and how each part runs.

Splits are registered in :data:`mmsearch.registry.STAGE_SPLITS`. Each names
the backbone classes it serves in ``backbone_classes`` (dotted paths
``module.ClassName``); every subclass of those (e.g. mmdet's ``ResNeXt`` of
``ResNet``) uses it too, and the most derived registered class wins. To
support another family, subclass :class:`StageSplit`, set its
``backbone_classes`` and decorate it with
``@STAGE_SPLITS.register_module()``.
"""
from itertools import chain
from typing import Dict, List, Optional, Tuple, Type

from mmdet.models.layers import nchw_to_nlc, nlc_to_nchw
from mmdet.models.utils import make_divisible
from mmengine.registry import Registry
from mmengine.runner import CheckpointLoader
from torch import Tensor, nn

from mmsearch.registry import STAGE_SPLITS


def class_path(cls: type) -> str:
    """``module.QualName`` of a class, as ``backbone_classes`` names it."""
    return f'{cls.__module__}.{cls.__qualname__}'


def stage_splits_by_backbone(
        registry: Registry = STAGE_SPLITS) -> Dict[str, Type['StageSplit']]:
    """Every registered split class, keyed by the backbone classes it serves.

    Args:
        registry (Registry): The registry of the splits. Defaults to
            :data:`mmsearch.registry.STAGE_SPLITS`.

    Returns:
        dict[str, type]: Backbone class path -> :class:`StageSplit` subclass.

    Raises:
        KeyError: If two registered splits claim the same backbone class.
    """
    table: Dict[str, Type[StageSplit]] = {}
    for name, split_cls in registry.module_dict.items():
        for path in split_cls.backbone_classes:
            other = table.setdefault(path, split_cls)
            if other is not split_cls:
                raise KeyError(
                    f'Two stage splits registered in {registry.name!r} claim '
                    f'{path}: {other.__name__} and {name}; keep one (or '
                    'register the new one for a subclass of the backbone).')
    return table


def get_stage_split(backbone: nn.Module) -> 'StageSplit':
    """The split of a backbone's family (looked up along its class's MRO).

    Args:
        backbone (nn.Module): A built backbone.

    Returns:
        StageSplit: The family's split, checked against the backbone's
        settings.

    Raises:
        TypeError: If no class of the backbone's MRO has a registered split.
        ValueError: If the backbone's settings prevent the split.
    """
    table = stage_splits_by_backbone()
    for cls in type(backbone).__mro__:
        split_cls = table.get(class_path(cls))
        if split_cls is not None:
            split = split_cls()
            split.check(backbone)
            return split
    raise TypeError(
        f'No stage split is registered for {class_path(type(backbone))}: '
        'the stage route (StageSplitTrunk + BackboneLastStage) supports '
        f'{sorted(table)} and their subclasses. Register a StageSplit '
        'with @STAGE_SPLITS.register_module() (mmsearch.registry), or use '
        'a backbone with several out_indices through a neck.')


class StageSplit:
    """How one backbone family splits at stride 16.

    Module names are dotted paths in the backbone (``'layer4'``,
    ``'stages.2.blocks'``); a name keeps that module (or parameter) and
    everything under it. Modules without parameters or buffers (dropout,
    activations, pooling) are kept by both parts whatever their names.

    Attributes:
        backbone_classes (tuple[str]): Dotted paths ``module.ClassName`` of
            the backbone classes this split serves (their ``__module__`` and
            ``__qualname__``; the class need not be importable when the
            split is registered).
    """

    backbone_classes: Tuple[str, ...] = ()

    def check(self, backbone: nn.Module) -> None:
        """Raise ``ValueError`` if the backbone's settings prevent the split.

        Args:
            backbone (nn.Module): The built backbone.
        """

    def trunk_names(self, backbone: nn.Module) -> List[str]:
        """Names of the modules of the trunk (stem and stages to stride 16)."""
        raise NotImplementedError

    def last_stage_names(self, backbone: nn.Module) -> List[str]:
        """Names of the modules of the last stage (its downsampling too)."""
        raise NotImplementedError

    def trunk_channels(self, backbone: nn.Module) -> int:
        """Channels of the trunk's output map."""
        raise NotImplementedError

    def last_stage_channels(self, backbone: nn.Module) -> int:
        """Channels of the last stage's output map."""
        raise NotImplementedError

    def forward_trunk(self, backbone: nn.Module, x: Tensor) -> Tensor:
        """Images (B, 3, H, W) -> stride-16 map (B, C4, H / 16, W / 16)."""
        raise NotImplementedError

    def forward_last_stage(self, backbone: nn.Module, x: Tensor) -> Tensor:
        """RoI features (N, C4, h, w) -> (N, C5, h / 2, w / 2), NCHW."""
        raise NotImplementedError

    def after_init_weights(self, backbone: nn.Module) -> None:
        """Complete the whole backbone's weights after its own init.

        For checkpoint keys the backbone's own loading leaves out although
        they belong to the split's modules. Defaults to nothing.

        Args:
            backbone (nn.Module): The whole backbone, initialised.
        """

    def layer_depth(self, backbone: nn.Module,
                    param_name: str) -> Optional[Tuple[int, int]]:
        """Layer-wise depth of a parameter, for layer-wise lr decay.

        Defaults to the backbone's own ``get_layer_depth`` (mmpretrain
        backbones have one), else None (no layer-wise decay).

        Args:
            backbone (nn.Module): The whole (unpruned) backbone.
            param_name (str): The parameter's name in the backbone.

        Returns:
            tuple[int, int] | None: ``(depth, num_depths)``; the lr scale is
            ``decay_rate ** (num_depths - depth - 1)``.
        """
        get_layer_depth = getattr(backbone, 'get_layer_depth', None)
        return None if get_layer_depth is None else get_layer_depth(param_name)


def optional_norm(backbone: nn.Module, index: int) -> List[str]:
    """``['norm{index}']`` if the backbone built that output norm, else []."""
    name = f'norm{index}'
    return [name] if getattr(backbone, name, None) is not None else []


def check_num_stages(backbone: nn.Module, num_stages: int,
                     option: str) -> None:
    """The split needs exactly four stages (stride 4, 8, 16, 32)."""
    if num_stages != 4:
        raise ValueError(
            f'The stage route needs a {type(backbone).__name__} with 4 '
            f'stages (the last one becomes the RoI head), got {num_stages}; '
            f'set {option} accordingly.')


@STAGE_SPLITS.register_module()
class ResNetSplit(StageSplit):
    """mmdet ``ResNet`` (and ``ResNeXt``, ``ResNetV1d``, ...).

    Trunk: stem (``conv1`` + norm, or ``stem`` for a deep stem), max pool,
    ``layer1``-``layer3``. Last stage: ``layer4`` (stride 2 in its first
    block), the res5 RoI head of a C4 detector.
    """

    backbone_classes = ('mmdet.models.backbones.resnet.ResNet', )

    def check(self, backbone):
        check_num_stages(backbone, len(backbone.res_layers), 'num_stages=4')

    def trunk_names(self, backbone):
        stem = (['stem']
                if backbone.deep_stem else ['conv1', backbone.norm1_name])
        return stem + backbone.res_layers[:-1]

    def last_stage_names(self, backbone):
        return backbone.res_layers[-1:]

    def trunk_channels(self, backbone):
        return backbone.feat_dim // 2

    def last_stage_channels(self, backbone):
        return backbone.feat_dim

    def forward_trunk(self, backbone, x):
        if backbone.deep_stem:
            x = backbone.stem(x)
        else:
            x = backbone.relu(backbone.norm1(backbone.conv1(x)))
        x = backbone.maxpool(x)
        for name in backbone.res_layers[:-1]:
            x = getattr(backbone, name)(x)
        return x

    def forward_last_stage(self, backbone, x):
        return getattr(backbone, backbone.res_layers[-1])(x)


@STAGE_SPLITS.register_module()
class SwinSplit(StageSplit):
    """mmdet ``SwinTransformer``.

    mmdet keeps the patch merging that starts stage ``i + 1`` in stage
    ``i`` (``stages.i.downsample``). Trunk: patch embedding (+ absolute
    position embedding), stages 0 and 1, the blocks of stage 2 and
    ``norm2`` if ``out_indices`` holds 2. Last stage: ``stages.2.downsample``
    (patch merging to stride 32), ``stages.3`` and ``norm3`` if
    ``out_indices`` holds 3 (from the official release's final ``norm``
    when ``convert_weights`` loads one). Maps are NCHW outside, tokens
    (N, h * w, C) inside.
    """

    backbone_classes = ('mmdet.models.backbones.swin.SwinTransformer', )

    def check(self, backbone):
        check_num_stages(backbone, len(backbone.stages), 'len(depths)=4')

    def trunk_names(self, backbone):
        names = ['patch_embed', 'stages.0', 'stages.1', 'stages.2.blocks']
        if backbone.use_abs_pos_embed:
            names.append('absolute_pos_embed')
        return names + optional_norm(backbone, 2)

    def last_stage_names(self, backbone):
        return ['stages.2.downsample', 'stages.3'] + optional_norm(backbone, 3)

    def trunk_channels(self, backbone):
        return backbone.num_features[2]

    def last_stage_channels(self, backbone):
        return backbone.num_features[3]

    def forward_trunk(self, backbone, x):
        x, hw_shape = backbone.patch_embed(x)
        if backbone.use_abs_pos_embed:
            x = x + backbone.absolute_pos_embed
        x = backbone.drop_after_pos(x)
        for stage in backbone.stages[:2]:
            x, hw_shape, _, _ = stage(x, hw_shape)
        for block in backbone.stages[2].blocks:
            x = block(x, hw_shape)
        if getattr(backbone, 'norm2', None) is not None:
            x = backbone.norm2(x)
        return nlc_to_nchw(x, hw_shape)

    def layer_depth(self, backbone, param_name):
        """mmpretrain's Swin depths on mmdet's names: patch embedding 0,
        block ``j`` of stage ``i`` ``sum(depths[:i]) + j + 1``, the patch
        merging after stage ``i`` ``sum(depths[:i + 1])``, norms last."""
        depths = [len(stage.blocks) for stage in backbone.stages]
        num_depths = sum(depths) + 2
        parts = param_name.split('.')
        if parts[0] in ('patch_embed', 'absolute_pos_embed'):
            return 0, num_depths
        if parts[0] == 'stages':
            stage = int(parts[1])
            if parts[2] == 'downsample':
                return sum(depths[:stage + 1]), num_depths
            return sum(depths[:stage]) + int(parts[3]) + 1, num_depths
        return num_depths - 1, num_depths

    def after_init_weights(self, backbone):
        """The official release's final ``norm`` is the norm after stage 4,
        which mmdet's ``convert_weights`` drops: it initialises ``norm3``."""
        init_cfg = backbone.init_cfg
        if (not backbone.convert_weights or not isinstance(init_cfg, dict)
                or 'checkpoint' not in init_cfg
                or getattr(backbone, 'norm3', None) is None):
            return
        checkpoint = CheckpointLoader.load_checkpoint(
            init_cfg['checkpoint'], map_location='cpu')
        state_dict = checkpoint.get('state_dict',
                                    checkpoint.get('model', checkpoint))
        final_norm = {
            name: state_dict[f'norm.{name}']
            for name, _ in backbone.norm3.named_parameters()
            if f'norm.{name}' in state_dict
        }
        if final_norm:
            backbone.norm3.load_state_dict(final_norm)

    def forward_last_stage(self, backbone, x):
        hw_shape = x.shape[-2:]
        x, hw_shape = backbone.stages[2].downsample(nchw_to_nlc(x), hw_shape)
        for block in backbone.stages[3].blocks:
            x = block(x, hw_shape)
        if getattr(backbone, 'norm3', None) is not None:
            x = backbone.norm3(x)
        return nlc_to_nchw(x, hw_shape)


@STAGE_SPLITS.register_module()
class PVTSplit(StageSplit):
    """mmdet ``PyramidVisionTransformer`` and ``PyramidVisionTransformerV2``.

    Each stage ``layers.i`` is (patch embedding, encoder layers, norm), the
    patch embedding downsampling NCHW maps. Trunk: ``layers.0``-``layers.2``.
    Last stage: ``layers.3``.
    """

    backbone_classes = (
        'mmdet.models.backbones.pvt.PyramidVisionTransformer', )

    def check(self, backbone):
        check_num_stages(backbone, len(backbone.layers), 'num_stages=4')

    def trunk_names(self, backbone):
        return ['layers.0', 'layers.1', 'layers.2']

    def last_stage_names(self, backbone):
        return ['layers.3']

    def trunk_channels(self, backbone):
        return backbone.embed_dims * backbone.num_heads[2]

    def last_stage_channels(self, backbone):
        return backbone.embed_dims * backbone.num_heads[3]

    @staticmethod
    def run_stage(stage: nn.ModuleList, x: Tensor) -> Tensor:
        """One PVT stage, NCHW -> NCHW (as the backbone's forward)."""
        patch_embed, blocks, norm = stage
        x, hw_shape = patch_embed(x)
        for block in blocks:
            x = block(x, hw_shape)
        return nlc_to_nchw(norm(x), hw_shape)

    def forward_trunk(self, backbone, x):
        for stage in backbone.layers[:3]:
            x = self.run_stage(stage, x)
        return x

    def forward_last_stage(self, backbone, x):
        return self.run_stage(backbone.layers[3], x)


@STAGE_SPLITS.register_module()
class MobileNetV2Split(StageSplit):
    """mmdet ``MobileNetV2``.

    Trunk: ``conv1`` and ``layer1``-``layer5`` (stride 16, 96 channels at
    width 1). Last stage: ``layer6`` (stride 2), ``layer7`` and the 1x1
    ``conv2`` (1280 channels at width <= 1).
    """

    backbone_classes = ('mmdet.models.backbones.mobilenet_v2.MobileNetV2', )

    def trunk_names(self, backbone):
        return ['conv1'] + backbone.layers[:5]

    def last_stage_names(self, backbone):
        return backbone.layers[5:]

    def trunk_channels(self, backbone):
        return make_divisible(
            backbone.arch_settings[4][1] * backbone.widen_factor, 8)

    def last_stage_channels(self, backbone):
        return backbone.out_channel

    def forward_trunk(self, backbone, x):
        x = backbone.conv1(x)
        for name in backbone.layers[:5]:
            x = getattr(backbone, name)(x)
        return x

    def forward_last_stage(self, backbone, x):
        for name in backbone.layers[5:]:
            x = getattr(backbone, name)(x)
        return x


@STAGE_SPLITS.register_module()
class ConvNeXtSplit(StageSplit):
    """mmpretrain ``ConvNeXt``.

    Trunk: ``downsample_layers.0`` (the stem) to ``.2`` and ``stages.0`` to
    ``.2`` (stride 16), then ``norm2`` if ``out_indices`` holds 2. Last
    stage: ``downsample_layers.3`` (norm + 2x2 stride-2 conv), ``stages.3``
    and ``norm3`` if ``out_indices`` holds 3 (the final norm of the
    ImageNet classifier; it loads from its checkpoint).
    """

    backbone_classes = ('mmpretrain.models.backbones.convnext.ConvNeXt', )

    def check(self, backbone):
        check_num_stages(backbone, backbone.num_stages,
                         "arch with 4 'depths' and 'channels'")

    def trunk_names(self, backbone):
        names = [f'downsample_layers.{i}' for i in range(3)]
        names += [f'stages.{i}' for i in range(3)]
        return names + optional_norm(backbone, 2)

    def last_stage_names(self, backbone):
        return ['downsample_layers.3', 'stages.3'] + optional_norm(backbone, 3)

    def trunk_channels(self, backbone):
        return backbone.channels[2]

    def last_stage_channels(self, backbone):
        return backbone.channels[3]

    def forward_trunk(self, backbone, x):
        for i in range(3):
            x = backbone.stages[i](backbone.downsample_layers[i](x))
        if getattr(backbone, 'norm2', None) is not None:
            x = backbone.norm2(x)
        return x

    def forward_last_stage(self, backbone, x):
        x = backbone.stages[3](backbone.downsample_layers[3](x))
        if getattr(backbone, 'norm3', None) is not None:
            x = backbone.norm3(x)
        return x


def has_state(module: nn.Module) -> bool:
    """Whether a module holds any parameter or buffer."""
    tensors = chain(module.parameters(), module.buffers())
    return next(tensors, None) is not None


def prune_backbone(backbone: nn.Module, keep: List[str]) -> None:
    """Drop (set to None) every stateful part of a backbone not in ``keep``.

    A dropped submodule, parameter or buffer leaves a ``None`` in its slot
    (a ``ModuleList`` keeps its indices), so the backbone's attribute
    names stay valid and its state dict keeps only the kept keys.

    Args:
        backbone (nn.Module): The backbone, pruned in place.
        keep (list[str]): Dotted names of kept modules or parameters.

    Raises:
        KeyError: If a name in ``keep`` names nothing in the backbone.
    """
    names = {name for name, _ in backbone.named_modules()}
    names |= {name for name, _ in backbone.named_parameters()}
    unknown = [name for name in keep if name not in names]
    if unknown:
        raise KeyError(f'{type(backbone).__name__} has no modules or '
                       f'parameters named {unknown}.')

    def prune(module: nn.Module, prefix: str) -> None:
        for name, child in list(module._modules.items()):
            path = prefix + name
            if child is None or path in keep:
                continue
            if any(k.startswith(path + '.') for k in keep):
                prune(child, path + '.')
            elif has_state(child):
                module._modules[name] = None
        for slots in (module._parameters, module._buffers):
            for name in list(slots):
                if prefix + name not in keep:
                    slots[name] = None

    prune(backbone, '')
