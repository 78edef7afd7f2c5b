"""The stage-route configs: one backbone config (one checkpoint) for the
trunk and both last-stage copies, head channels that match the split."""
import pytest
from mmengine.config import Config, ConfigDict
from mmengine.optim import build_optim_wrapper
from utils import CONFIG_ROOT

from mmsearch.models.backbones import StageSplitTrunk
from mmsearch.models.roi_heads import BackboneLastStage
from mmsearch.registry import MODELS

# config -> (backbone type, trunk channels, last-stage channels)
STAGE_ROUTE_CONFIGS = {
    'dcinet_convnext_t_cuhk.py': ('mmpretrain.ConvNeXt', 384, 768),
    'dcinet_convnext_b_cuhk.py': ('mmpretrain.ConvNeXt', 512, 1024),
    'dcinet_swin_t_cuhk.py': ('SwinTransformer', 384, 768),
    'dcinet_pvtv2_b2_cuhk.py': ('PyramidVisionTransformerV2', 320, 512),
    'dcinet_r18_cuhk.py': ('ResNet', 256, 512),
    'dcinet_mobilenetv2_cuhk.py': ('MobileNetV2', 96, 1280),
}


def without_init_cfg(cfg):
    """A copy of a config tree without ``init_cfg`` (nothing downloads)."""
    if isinstance(cfg, dict):
        return ConfigDict({
            key: without_init_cfg(value)
            for key, value in cfg.items() if key != 'init_cfg'
        })
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(without_init_cfg(value) for value in cfg)
    return cfg


def test_every_stage_route_config_is_listed():
    on_disk = {
        path.name
        for path in (CONFIG_ROOT / 'dcinet').glob('*.py')
        if Config.fromfile(path, import_custom_modules=False).model.backbone.
        type == 'StageSplitTrunk'
    }
    assert on_disk == set(STAGE_ROUTE_CONFIGS)


@pytest.mark.parametrize('config', sorted(STAGE_ROUTE_CONFIGS))
def test_stage_route_config(config):
    backbone_type, trunk_channels, last_channels = STAGE_ROUTE_CONFIGS[config]
    cfg = Config.fromfile(CONFIG_ROOT / 'dcinet' / config)
    model_cfg = cfg.model
    backbone = model_cfg.backbone.backbone
    assert model_cfg.backbone.type == 'StageSplitTrunk'
    assert backbone.type == backbone_type
    assert backbone.init_cfg.type == 'Pretrained'
    for head in ('shared_head', 'reid_shared_head'):
        assert model_cfg.roi_head[head].type == 'BackboneLastStage'
        assert model_cfg.roi_head[head].backbone == backbone

    model = MODELS.build(without_init_cfg(model_cfg))
    assert isinstance(model.backbone, StageSplitTrunk)
    roi_head = model.roi_head
    for head in (roi_head.shared_head, roi_head.reid_shared_head):
        assert isinstance(head, BackboneLastStage)
        assert head.out_channels == last_channels
    assert roi_head.shared_head is not roi_head.reid_shared_head
    assert model.backbone.out_channels == trunk_channels
    assert model.rpn_head.in_channels == trunk_channels
    assert roi_head.bbox_roi_extractor.out_channels == trunk_channels
    assert roi_head.bbox_head.in_channels == last_channels
    assert roi_head.reid_head.in_channels == last_channels

    # the recipe's optimizer builds (frozen stages left out); ConvNeXt's
    # first trainable stage (stage 1 after the frozen stem and stage 0,
    # layer id 2) gets the smallest lr
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    names = {param: name for name, param in model.named_parameters()}
    lrs = {
        names[param]: group['lr']
        for group in optimizer.param_groups for param in group['params']
    }
    base_lr = cfg.optim_wrapper.optimizer.lr
    if 'convnext' in config:
        decay = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
        num_depths = 8 if '_t_' in config else 14  # 6 or 12 layer ids + 2
        lowest = base_lr * decay**(num_depths - 3)
        assert lrs['backbone.backbone.stages.1.0.gamma'] == pytest.approx(
            lowest)
        assert min(lrs.values()) == pytest.approx(lowest)
        assert max(lrs.values()) == base_lr
    else:
        assert set(lrs.values()) == {base_lr}
