"""Stage route: a backbone cut into a stride-16 trunk and its last stage."""
import pytest
import torch
from mmdet.models.backbones import ResNet
from mmdet.models.roi_heads.shared_heads import ResLayer
from mmengine.registry import Registry

from mmsearch.models.backbones import (StageSplit, StageSplitTrunk,
                                       get_stage_split,
                                       stage_splits_by_backbone)
from mmsearch.models.backbones.stage_splits import ResNetSplit, has_state
from mmsearch.models.roi_heads import BackboneLastStage
from mmsearch.registry import MODELS, STAGE_SPLITS
from mmsearch.testing.backbones import TINY_BACKBONES, randomize_

FAMILIES = sorted(TINY_BACKBONES)


def build_parts(backbone_cfg):
    trunk = MODELS.build(dict(type='StageSplitTrunk', backbone=backbone_cfg))
    last = MODELS.build(dict(type='BackboneLastStage', backbone=backbone_cfg))
    return trunk, last


@pytest.mark.parametrize('family', FAMILIES)
def test_trunk_and_last_stage_equal_the_whole_backbone(family):
    backbone_cfg, trunk_channels, last_channels = TINY_BACKBONES[family]
    torch.manual_seed(0)
    full = randomize_(MODELS.build(backbone_cfg))
    full.eval()  # some backbones' train() returns None
    trunk, last = build_parts(backbone_cfg)
    assert isinstance(trunk, StageSplitTrunk)
    assert isinstance(last, BackboneLastStage)
    # the parts hold the backbone's keys, split without overlap
    full_state = full.state_dict()
    trunk_keys = set(trunk.backbone.state_dict())
    last_keys = set(last.backbone.state_dict())
    assert not trunk_keys & last_keys
    assert trunk_keys | last_keys <= set(full_state)
    trunk.backbone.load_state_dict({k: full_state[k] for k in trunk_keys})
    last.backbone.load_state_dict({k: full_state[k] for k in last_keys})
    trunk.eval()
    last.eval()

    images = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        (c4, ) = trunk(images)
        c5 = last(c4)
        expected = full(images)[-1]  # out_indices=(last stage, )
    assert c4.shape == (2, trunk_channels, 4, 6)
    assert trunk.out_channels == trunk_channels
    assert last.out_channels == last_channels
    assert c5.shape == expected.shape == (2, last_channels, 2, 3)
    torch.testing.assert_close(c5, expected, rtol=1e-4, atol=1e-5)

    # the RoI head path: 14 x 14 RoI features -> 7 x 7
    with torch.no_grad():
        roi_out = last(torch.randn(3, trunk_channels, 14, 14))
    assert roi_out.shape == (3, last_channels, 7, 7)
    assert roi_out.is_contiguous()


@pytest.mark.parametrize('family', FAMILIES)
def test_every_kept_parameter_is_used(family):
    """No parameter without a gradient (DDP would stop on it)."""
    backbone_cfg, trunk_channels, _ = TINY_BACKBONES[family]
    trunk, last = build_parts(backbone_cfg)
    (c4, ) = trunk(torch.rand(2, 3, 64, 64))
    last(torch.randn(2, trunk_channels, 14, 14)).square().mean().backward()
    c4.square().mean().backward()
    for part in (trunk, last):
        unused = [
            name for name, param in part.named_parameters()
            if param.requires_grad and param.grad is None
        ]
        assert not unused


def test_resnet18_matches_the_existing_c4_path():
    """StageSplitTrunk + BackboneLastStage on ResNet-18 = ResNet
    (num_stages=3) + mmdet's ResLayer: same keys, same outputs, same frozen
    parameters and eval-mode norms (settings of the R-50 configs)."""
    norm_cfg = dict(type='BN', requires_grad=False)
    old_trunk = MODELS.build(
        dict(
            type='ResNet',
            depth=18,
            num_stages=3,
            strides=(1, 2, 2),
            dilations=(1, 1, 1),
            out_indices=(2, ),
            frozen_stages=1,
            norm_cfg=norm_cfg,
            norm_eval=True))
    old_res5 = ResLayer(
        depth=18, stage=3, stride=2, norm_cfg=norm_cfg, norm_eval=True)
    randomize_(old_trunk, seed=1)
    randomize_(old_res5, seed=2)
    trunk, last = build_parts(
        dict(
            type='ResNet',
            depth=18,
            frozen_stages=1,
            norm_cfg=norm_cfg,
            norm_eval=True))
    trunk.backbone.load_state_dict(old_trunk.state_dict(), strict=True)
    last.backbone.load_state_dict(old_res5.state_dict(), strict=True)

    for new, old in ((trunk, old_trunk), (last, old_res5)):
        new.train()
        old.train()
        assert {
            name: p.requires_grad
            for name, p in new.backbone.named_parameters()
        } == {name: p.requires_grad
              for name, p in old.named_parameters()}
        # modules with weights or statistics (the stem's relu and max pool
        # stay in every part, a ResLayer has none)
        assert {
            name: m.training
            for name, m in new.backbone.named_modules()
            if name and has_state(m)
        } == {
            name: m.training
            for name, m in old.named_modules() if name and has_state(m)
        }

    images = torch.rand(2, 3, 64, 96)
    rois = torch.randn(3, 256, 14, 14)
    (c4, ) = trunk(images)
    torch.testing.assert_close(c4, old_trunk(images)[0], rtol=0, atol=0)
    torch.testing.assert_close(last(rois), old_res5(rois), rtol=0, atol=0)


@pytest.mark.parametrize('family, options, frozen_prefixes', [
    ('resnet', dict(frozen_stages=2), ('conv1', 'bn1', 'layer1', 'layer2')),
    ('swin', dict(frozen_stages=3),
     ('patch_embed', 'stages.0', 'stages.1', 'stages.2')),
    ('mobilenetv2', dict(frozen_stages=6),
     ('conv1', ) + tuple(f'layer{i}' for i in range(1, 7))),
    ('convnext', dict(frozen_stages=1), ('downsample_layers.0', 'stages.0')),
])
def test_frozen_stages_and_eval_modules_follow_the_backbone(
        family, options, frozen_prefixes):
    """Each part freezes exactly what the whole backbone freezes (in the
    last stage too: Swin's stage-3 patch merging lives in mmdet's stage 2,
    MobileNetV2's layer6 is in the last stage) and keeps the same modules in
    eval mode after every train()."""
    backbone_cfg = dict(TINY_BACKBONES[family][0], **options)
    full = MODELS.build(backbone_cfg)
    full.train()
    trunk, last = build_parts(backbone_cfg)
    full_frozen = {
        name
        for name, p in full.named_parameters() if not p.requires_grad
    }
    # hand-stated expectation
    assert full_frozen == {
        name
        for name, _ in full.named_parameters()
        if name.startswith(tuple(p + '.' for p in frozen_prefixes))
    }
    full_modes = {name: m.training for name, m in full.named_modules()}
    part_frozen = set()
    for part in (trunk, last):
        part.eval()
        part.train()
        part_frozen |= {
            name
            for name, p in part.backbone.named_parameters()
            if not p.requires_grad
        }
        for name, module in part.backbone.named_modules():
            if name:
                assert module.training == full_modes[name], name
    kept = {
        name
        for part in (trunk, last)
        for name, _ in part.backbone.named_parameters()
    }
    assert part_frozen == full_frozen & kept
    assert part_frozen  # the split does not lose the frozen stages
    if family in ('swin', 'mobilenetv2'):
        assert any(not p.requires_grad for p in last.parameters())
    if family != 'resnet':
        assert any(p.requires_grad for p in last.parameters())


def test_norm_eval_applies_to_the_last_stage_copy():
    backbone_cfg = dict(TINY_BACKBONES['mobilenetv2'][0], norm_eval=True)
    _, last = build_parts(backbone_cfg)
    last.train()
    norms = [
        m for m in last.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    assert norms and not any(m.training for m in norms)
    last.train(False)
    last.train(True)
    assert not any(m.training for m in norms)
    assert last.training


def test_clear_errors():
    with pytest.raises(TypeError, match='No stage split is registered'):
        get_stage_split(torch.nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match='4 stages'):
        MODELS.build(
            dict(
                type='StageSplitTrunk',
                backbone=dict(
                    type='ResNet',
                    depth=18,
                    num_stages=3,
                    strides=(1, 2, 2),
                    dilations=(1, 1, 1),
                    out_indices=(2, ))))
    with pytest.raises(ValueError, match='init_cfg must be None'):
        MODELS.build(
            dict(
                type='BackboneLastStage',
                backbone=TINY_BACKBONES['resnet'][0],
                init_cfg=dict(type='Pretrained', checkpoint='x.pth')))
    with pytest.raises(TypeError, match='backbone config dict'):
        StageSplitTrunk(backbone='ResNet')


def test_splits_are_registered_by_name_and_chosen_by_backbone_class():
    assert STAGE_SPLITS.get('ResNetSplit') is ResNetSplit
    table = stage_splits_by_backbone()
    assert table['mmdet.models.backbones.resnet.ResNet'] is ResNetSplit
    assert sorted(STAGE_SPLITS.module_dict) == [
        'ConvNeXtSplit', 'MobileNetV2Split', 'PVTSplit', 'ResNetSplit',
        'SwinSplit'
    ]
    # ResNeXt is a ResNet: the MRO finds ResNet's split
    resnext = MODELS.build(
        dict(type='ResNeXt', depth=50, groups=2, base_width=4))
    assert type(get_stage_split(resnext)) is ResNetSplit


class WideStemResNet(ResNet):
    """A ResNet subclass that a test gives its own split."""


def test_a_split_registered_for_a_subclass_wins_over_its_parents():

    @STAGE_SPLITS.register_module(force=True)
    class WideStemResNetSplit(ResNetSplit):
        backbone_classes = (f'{__name__}.WideStemResNet', )

    backbone = WideStemResNet(depth=18)
    assert type(get_stage_split(backbone)) is WideStemResNetSplit
    assert type(get_stage_split(ResNet(depth=18))) is ResNetSplit


def test_two_splits_for_one_backbone_class_are_refused():
    registry = Registry('stage split')
    for name in ('FirstSplit', 'SecondSplit'):
        registry.register_module(
            name=name,
            module=type(name, (StageSplit, ),
                        dict(backbone_classes=('pkg.mod.Backbone', ))))
    with pytest.raises(KeyError, match='FirstSplit and SecondSplit'):
        stage_splits_by_backbone(registry)
