"""Layer-wise lr decay over the trunk and the last-stage copies."""
import pytest
from mmengine.optim import build_optim_wrapper
from utils import synthetic_model_cfg

from mmsearch.registry import MODELS
from mmsearch.testing.backbones import TINY_BACKBONES, swap_backbone

DECAY = 0.5


def build_dcinet(family):
    backbone_cfg, trunk_channels, last_channels = TINY_BACKBONES[family]
    return MODELS.build(
        swap_backbone(
            synthetic_model_cfg('dcinet'), backbone_cfg, trunk_channels,
            last_channels))


def group_lrs(model, decay=DECAY, **paramwise):
    optim_wrapper = build_optim_wrapper(
        model,
        dict(
            optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05),
            constructor='StageRouteLayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=decay, **paramwise)))
    names = {param: name for name, param in model.named_parameters()}
    lrs = {}
    for group in optim_wrapper.optimizer.param_groups:
        for param in group['params']:
            lrs[names[param]] = group['lr']
    assert len(lrs) == len(names)
    return lrs, optim_wrapper.optimizer.param_groups


def test_swin_depths_hand_worked():
    """Tiny Swin, depths (1, 1, 2, 1): 7 depths (patch embedding 0, blocks
    1..5, the merging after stage i after its blocks, norms 6)."""
    lrs, _ = group_lrs(build_dcinet('swin'))
    trunk = 'backbone.backbone.'
    assert lrs[trunk + 'patch_embed.projection.weight'] == DECAY**6
    assert lrs[trunk + 'stages.0.blocks.0.attn.w_msa.qkv.weight'] == DECAY**5
    assert lrs[trunk + 'stages.0.downsample.reduction.weight'] == DECAY**5
    assert lrs[trunk + 'stages.2.blocks.1.norm1.weight'] == DECAY**2
    for head in ('shared_head', 'reid_shared_head'):
        last = f'roi_head.{head}.backbone.'
        # merging into stage 3 (depth 4), then its block (depth 5)
        assert lrs[last + 'stages.2.downsample.reduction.weight'] == DECAY**2
        assert lrs[last + 'stages.3.blocks.0.ffn.layers.1.weight'] == DECAY
        assert lrs[last + 'norm3.weight'] == 1.0
    assert lrs['rpn_head.rpn_conv.weight'] == 1.0
    assert lrs['roi_head.reid_head.projection.weight'] == 1.0


def test_convnext_uses_the_backbones_own_depths():
    model = build_dcinet('convnext')
    lrs, _ = group_lrs(model, custom_keys={'norm': dict(decay_mult=0.0)})
    full = MODELS.build(TINY_BACKBONES['convnext'][0])
    checked = 0
    for name, lr in lrs.items():
        for prefix in ('backbone.backbone.', 'roi_head.shared_head.backbone.',
                       'roi_head.reid_shared_head.backbone.'):
            if name.startswith(prefix):
                depth, num_depths = full.get_layer_depth(name[len(prefix):])
                assert lr == DECAY**(num_depths - depth - 1), name
                checked += 1
    assert checked == sum(
        len(list(part.parameters()))
        for part in (model.backbone, model.roi_head.shared_head,
                     model.roi_head.reid_shared_head))
    # hand-worked: depths [1, 1, 2, 1] -> 6 layer ids, 8 depths
    assert lrs['backbone.backbone.downsample_layers.0.0.weight'] == DECAY**7
    assert lrs['roi_head.shared_head.backbone.stages.3.0.gamma'] == DECAY


def test_other_options_still_apply():
    lrs, groups = group_lrs(
        build_dcinet('swin'),
        custom_keys={'rpn_head': dict(lr_mult=0.1, decay_mult=0.0)})
    assert lrs['rpn_head.rpn_conv.weight'] == pytest.approx(0.1)
    rpn = [g for g in groups if g['lr'] == pytest.approx(0.1)]
    assert rpn and all(g['weight_decay'] == 0 for g in rpn)


def test_families_without_depths_refuse_decay_only():
    model = build_dcinet('resnet')
    with pytest.raises(ValueError, match='no layer depths'):
        group_lrs(model)
    lrs, _ = group_lrs(model, decay=1.0)
    assert set(lrs.values()) == {1.0}
