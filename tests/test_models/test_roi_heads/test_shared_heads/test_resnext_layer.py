import pytest
import torch

from mmsearch.models.roi_heads.shared_heads import ResNeXtLayer


def test_resnext_res5_has_grouped_convs_and_res5_shape():
    layer = ResNeXtLayer(depth=50, groups=32, base_width=4, stage=3)
    blocks = layer.layer4
    assert len(blocks) == 3  # res5 of ResNeXt-50/101
    # width = floor(512 * 4 / 64) * 32 = 1024 grouped channels
    assert blocks[0].conv2.groups == 32
    assert blocks[0].conv2.in_channels == 1024
    assert blocks[0].conv3.out_channels == 2048
    out = layer(torch.randn(1, 1024, 4, 4))
    assert out.shape == (1, 2048, 2, 2)


def test_resnext_layer_keeps_bn_frozen_in_train_mode():
    layer = ResNeXtLayer(
        depth=50, norm_cfg=dict(type='BN', requires_grad=False))
    layer.train()
    bns = [m for m in layer.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not bn.training for bn in bns)
    assert all(not p.requires_grad for bn in bns for p in bn.parameters())


def test_resnext_layer_rejects_unknown_depth():
    with pytest.raises(ValueError, match='depth'):
        ResNeXtLayer(depth=18)
