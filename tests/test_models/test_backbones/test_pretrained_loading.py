"""One upstream ImageNet checkpoint initialises the trunk and every copy of
the last stage (DC-I-Net: detection and retrieval), no key left random.

Each test writes the checkpoint itself, in the upstream key layout, from a
separately built backbone with random weights (nothing downloads)."""
import pytest
import torch
from utils import synthetic_model_cfg

from mmsearch.registry import MODELS
from mmsearch.testing.backbones import (TINY_BACKBONES, pvt_to_original,
                                        randomize_, swap_backbone,
                                        swin_to_original)


def upstream_checkpoint(layout, state_dict):
    """``state_dict`` (mmdet/mmpretrain backbone keys) as an upstream file.

    Returns:
        tuple: The checkpoint object, extra backbone options and the
        ``Pretrained`` prefix, if any.
    """
    head = {'head.fc.weight': torch.randn(10, 4)}  # a classifier's head
    if layout == 'mmpretrain':  # mmpretrain classifier: backbone. + head.
        prefixed = {'backbone.' + k: v for k, v in state_dict.items()}
        return dict(state_dict={**prefixed, **head}), {}, 'backbone.'
    if layout == 'mmdet':  # an mmdet detector's backbone keys
        prefixed = {'backbone.' + k: v for k, v in state_dict.items()}
        return dict(state_dict=prefixed), dict(convert_weights=False), None
    if layout == 'swin_official':  # microsoft/Swin-Transformer release
        official = swin_to_original(state_dict)  # norm3 as the final norm
        return dict(model={
            **official,
            **head
        }), dict(convert_weights=True), None
    if layout == 'pvt_official':  # whai362/PVT release: a bare state dict
        return {**pvt_to_original(state_dict), **head}, {}, None
    if layout == 'torchvision':  # torchvision ResNet: mmdet's key names
        return {**state_dict, **head}, {}, None
    raise ValueError(layout)


# (family, upstream layout, backbone options, keys the layout lacks)
CASES = [
    ('convnext', 'mmpretrain', dict(frozen_stages=1), ()),
    ('swin', 'mmdet', dict(frozen_stages=1), ()),
    # the official release's final norm initialises norm3 (mmdet drops it)
    ('swin', 'swin_official', dict(), ()),
    # its other output norms (norm2 here) keep the backbone's own init
    ('swin', 'swin_official', dict(out_indices=(2, 3)), ('norm2.weight',
                                                         'norm2.bias')),
    ('pvtv2', 'pvt_official', dict(), ()),
    ('mobilenetv2', 'mmpretrain', dict(frozen_stages=2), ()),
    ('resnet', 'torchvision', dict(frozen_stages=1), ()),
]


@pytest.mark.parametrize('family, layout, options, lacking', CASES)
def test_one_checkpoint_initialises_trunk_and_both_last_stages(
        family, layout, options, lacking, tmp_path):
    backbone_cfg, trunk_channels, last_channels = TINY_BACKBONES[family]
    backbone_cfg = dict(backbone_cfg, **options)
    source = randomize_(MODELS.build(backbone_cfg), seed=3)
    expected = source.state_dict()
    checkpoint, layout_options, prefix = upstream_checkpoint(layout, expected)
    path = tmp_path / 'imagenet.pth'
    torch.save(checkpoint, path)
    pretrained = dict(type='Pretrained', checkpoint=str(path))
    if prefix:
        pretrained['prefix'] = prefix

    cfg = swap_backbone(
        synthetic_model_cfg('dcinet'),
        dict(backbone_cfg, **layout_options),
        trunk_channels,
        last_channels,
        pretrained=pretrained)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()

    parts = dict(
        trunk=model.backbone,
        detection=model.roi_head.shared_head,
        retrieval=model.roi_head.reid_shared_head)
    loaded_keys = set()
    for part_name, part in parts.items():
        state = part.backbone.state_dict()
        assert state, part_name
        for key, value in state.items():
            if key in lacking:
                default = 1.0 if key.endswith('weight') else 0.0
                assert torch.all(value == default), (part_name, key)
            else:
                assert torch.equal(value, expected[key]), (part_name, key)
                loaded_keys.add(key)
    # the last-stage copies are equal to each other and to the checkpoint,
    # and trunk + last stage cover every key of the backbone
    assert set(parts['detection'].backbone.state_dict()) == set(
        parts['retrieval'].backbone.state_dict())
    assert loaded_keys | set(lacking) == set(expected)

    # the backbone's frozen_stages still hold after loading
    frozen_stages = options.get('frozen_stages', -1)
    if frozen_stages > 0:
        reference = MODELS.build(backbone_cfg)
        reference.train()
        frozen = {
            name
            for name, p in reference.named_parameters() if not p.requires_grad
        }
        trunk_frozen = {
            name
            for name, p in model.backbone.backbone.named_parameters()
            if not p.requires_grad
        }
        assert trunk_frozen and trunk_frozen == frozen & set(
            dict(model.backbone.backbone.named_parameters()))
