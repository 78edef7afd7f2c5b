"""Helpers for stage-route backbone tests: tiny backbones, checkpoints
written in upstream key layouts, and person-search configs whose backbone
is swapped."""
import copy
from collections import OrderedDict
from typing import Dict, Optional

import torch
from torch import Tensor, nn

# family -> (tiny backbone config, trunk channels, last-stage channels)
TINY_BACKBONES = dict(
    resnet=(dict(type='ResNet', depth=18, base_channels=16), 64, 128),
    swin=(dict(
        type='SwinTransformer',
        embed_dims=16,
        depths=(1, 1, 2, 1),
        num_heads=(1, 2, 2, 4),
        window_size=4,
        out_indices=(3, ),
        drop_path_rate=0.0), 64, 128),
    pvtv2=(dict(
        type='PyramidVisionTransformerV2',
        embed_dims=8,
        num_layers=[1, 1, 2, 1],
        num_heads=[1, 2, 4, 8],
        out_indices=(3, ),
        drop_path_rate=0.0), 32, 64),
    mobilenetv2=(dict(
        type='MobileNetV2', widen_factor=0.25, out_indices=(7, )), 24, 1280),
    convnext=(dict(
        type='mmpretrain.ConvNeXt',
        arch=dict(depths=[1, 1, 2, 1], channels=[8, 16, 32, 64]),
        out_indices=(3, ),
        gap_before_final_norm=False), 32, 64),
)


def randomize_(module: nn.Module, seed: int = 0) -> nn.Module:
    """Fill every float parameter and buffer with fresh random values.

    Default initialisations hold many constants (norms at 1 and 0, BN
    statistics, layer scales), which a copy could match by chance; after
    this every entry is distinct from it with probability 1. Running
    variances stay positive.

    Args:
        module (nn.Module): Filled in place.
        seed (int): Seed of the values.

    Returns:
        nn.Module: ``module``.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict(keep_vars=True).items():
            if not tensor.is_floating_point():
                continue
            values = torch.rand(tensor.shape, generator=generator) * 0.2
            if not name.endswith('running_var'):
                values = values - 0.1
            else:
                values = values + 0.5
            tensor.copy_(values)
    return module


def swin_to_original(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """mmdet ``SwinTransformer`` keys -> the official Swin repository's.

    The inverse of mmdet's ``swin_converter`` (what ``convert_weights=True``
    applies): ``stages`` -> ``layers``, ``attn.w_msa`` -> ``attn``,
    ``ffn.layers.0.0``/``ffn.layers.1`` -> ``mlp.fc1``/``mlp.fc2``,
    ``patch_embed.projection`` -> ``patch_embed.proj``, and the unfold
    order of the patch-merging weights back to the official one.
    ``norm3`` (after the last stage) becomes the official final ``norm``;
    mmdet's other output norms have no official counterpart and are left
    out.

    Args:
        state_dict (dict): mmdet keys, without a prefix.

    Returns:
        dict: Official keys.
    """
    official = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('norm3.'):
            official[key.replace('norm3.', 'norm.', 1)] = value
            continue
        if key.startswith('norm'):
            continue
        new_key = key
        if key.startswith('stages'):
            new_key = new_key.replace('stages', 'layers', 1)
            new_key = new_key.replace('attn.w_msa.', 'attn.')
            new_key = new_key.replace('ffn.layers.0.0.', 'mlp.fc1.')
            new_key = new_key.replace('ffn.layers.1.', 'mlp.fc2.')
            if 'downsample.reduction.' in key:
                out_channels, in_channels = value.shape
                value = value.reshape(out_channels, in_channels // 4,
                                      4).transpose(1, 2)[:, [0, 2, 1, 3]]
                value = value.reshape(out_channels, in_channels)
            elif 'downsample.norm.' in key:
                channels = value.shape[0]
                value = value.reshape(channels // 4,
                                      4).transpose(0, 1)[[0, 2, 1,
                                                          3]].reshape(channels)
        elif key.startswith('patch_embed'):
            new_key = new_key.replace('projection', 'proj')
        official[new_key] = value
    return official


def pvt_to_original(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """mmdet ``PyramidVisionTransformerV2`` keys -> the official PVT's.

    The inverse of mmdet's ``pvt_convert`` (``convert_weights=True``) for
    PVTv2 (no absolute position embedding, convolutional FFN):
    ``layers.{s}.0`` -> ``patch_embed{s+1}`` (``projection`` -> ``proj``),
    ``layers.{s}.1.{j}`` -> ``block{s+1}.{j}`` with ``attn.attn.in_proj``
    split into ``attn.q`` and ``attn.kv``, ``attn.attn.out_proj`` ->
    ``attn.proj``, ``ffn.layers.{0,1,4}`` -> ``mlp.{fc1,dwconv.dwconv,fc2}``
    (1x1 convolutions back to linear weights), ``layers.{s}.2`` ->
    ``norm{s+1}``.

    Args:
        state_dict (dict): mmdet keys, without a prefix.

    Returns:
        dict: Official keys.
    """
    official = OrderedDict()
    for key, value in state_dict.items():
        parts = key.split('.')
        stage, slot, rest = int(parts[1]), parts[2], parts[3:]
        if slot == '0':
            rest = ['proj' if p == 'projection' else p for p in rest]
            official['.'.join([f'patch_embed{stage + 1}'] + rest)] = value
        elif slot == '2':
            official['.'.join([f'norm{stage + 1}'] + rest)] = value
        else:
            block = f'block{stage + 1}.{rest[0]}'
            name = '.'.join(rest[1:])
            if name.startswith('attn.attn.in_proj_'):
                kind = name[len('attn.attn.in_proj_'):]
                channels = value.shape[0] // 3
                official[f'{block}.attn.q.{kind}'] = value[:channels]
                official[f'{block}.attn.kv.{kind}'] = value[channels:]
            elif name.startswith('attn.attn.out_proj.'):
                official[f'{block}.attn.proj.{name.split(".")[-1]}'] = value
            elif name.startswith('ffn.layers.'):
                index, kind = name.split('.')[2], name.split('.')[3]
                new = dict(
                    zip(('0', '1', '4'), ('fc1', 'dwconv.dwconv', 'fc2')))
                if index in ('0', '4') and kind == 'weight':
                    value = value.reshape(value.shape[:2])
                official[f'{block}.mlp.{new[index]}.{kind}'] = value
            else:
                official[f'{block}.{name}'] = value
    return official


def swap_backbone(model_cfg: dict,
                  backbone: dict,
                  trunk_channels: int,
                  last_stage_channels: int,
                  pretrained: Optional[dict] = None) -> dict:
    """A person-search model config on the stage route of ``backbone``.

    The trunk becomes ``StageSplitTrunk(backbone)``, the detection res5
    (and the retrieval res5 if the config has one) ``BackboneLastStage
    (backbone)``; the channels of the RPN, RoI extractor, box head and
    embedding head follow.

    Args:
        model_cfg (dict): A ``model`` config (e.g. a synthetic R-18 one).
        backbone (dict): The backbone config.
        trunk_channels (int): Channels of the trunk's stride-16 map.
        last_stage_channels (int): Channels of the last stage's output.
        pretrained (dict, optional): ``init_cfg`` given to the backbone.

    Returns:
        dict: The new model config (``model_cfg`` is not changed).
    """
    cfg = copy.deepcopy(model_cfg)
    backbone = dict(copy.deepcopy(backbone), init_cfg=pretrained)
    cfg['backbone'] = dict(type='StageSplitTrunk', backbone=backbone)
    roi_head = cfg['roi_head']
    last_stage = dict(type='BackboneLastStage', backbone=backbone)
    roi_head['shared_head'] = last_stage
    if roi_head.get('reid_shared_head') is not None:
        roi_head['reid_shared_head'] = copy.deepcopy(last_stage)
    cfg['rpn_head']['in_channels'] = trunk_channels
    roi_head['bbox_roi_extractor']['out_channels'] = trunk_channels
    roi_head['bbox_head']['in_channels'] = last_stage_channels
    roi_head['reid_head']['in_channels'] = last_stage_channels
    return cfg
