"""Every method config parses and builds (without downloading weights)."""
from pathlib import Path

import pytest
from mmengine.config import Config
from utils import CONFIG_ROOT

from mmsearch.models.detectors import PersonSearch
from mmsearch.models.ops import SeparableRoIAlign
from mmsearch.models.roi_extractors import PersonSearchRoIExtractor
from mmsearch.models.roi_heads import PersonSearchRoIHead
from mmsearch.registry import MODELS

METHOD_CONFIGS = sorted(
    str(path.relative_to(CONFIG_ROOT)) for method in ('oim', 'inet', 'dcinet')
    for path in (CONFIG_ROOT / method).glob('*.py'))

# the losses each method must use, and whether retrieval has its own res5
EXPECTED = dict(
    oim=(['OIMLoss'], False),
    inet=(['OLPLoss', 'HEPLoss'], False),
    dcinet=(['OLPLoss', 'C2HEPLoss'], True))
# the ablations of the method study (docs/en/method_study.md)
ABLATIONS = {
    'inet/inet_r18_synthetic_olp.py': (['OLPLoss'], False),
    'dcinet/dcinet_r18_synthetic_hep.py': (['OLPLoss', 'HEPLoss'], True),
    'dcinet/dcinet_r18_synthetic_shared.py': (['OLPLoss', 'C2HEPLoss'], False)
}


def drop_init_cfg(cfg):
    """Remove every ``init_cfg`` (pretrained weights) from a config tree."""
    if isinstance(cfg, dict):
        cfg.pop('init_cfg', None)
        for value in cfg.values():
            drop_init_cfg(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            drop_init_cfg(value)
    return cfg


def test_every_method_has_configs():
    for method in EXPECTED:
        names = {Path(p).name for p in METHOD_CONFIGS if p.startswith(method)}
        assert {
            f'{method}_r50_cuhk.py', f'{method}_r50_prw.py',
            f'{method}_r18_synthetic.py'
        } <= names
    assert 'dcinet/dcinet_r101_cuhk.py' in METHOD_CONFIGS
    assert 'dcinet/dcinet_x101_32x4d_cuhk.py' in METHOD_CONFIGS


def uses_mmpretrain(cfg) -> bool:
    """Whether the config imports or names an mmpretrain module."""
    return 'mmpretrain' in repr(cfg.get('custom_imports')) or \
        "'mmpretrain." in repr(cfg.model.to_dict())


@pytest.mark.parametrize('config', METHOD_CONFIGS)
def test_config_parses_and_builds(config):
    cfg = Config.fromfile(CONFIG_ROOT / config, import_custom_modules=False)
    if uses_mmpretrain(cfg):
        pytest.importorskip('mmpretrain', reason=f'{config} needs it')
        cfg = Config.fromfile(CONFIG_ROOT / config)
    method = config.split('/')[0]
    loss_types, separate_res5 = ABLATIONS.get(config, EXPECTED[method])

    assert cfg.test_cfg.type == 'PersonSearchTestLoop'
    assert 'query_dataloader' in cfg.test_cfg
    assert cfg.test_evaluator.type == 'PersonSearchMetric'
    assert cfg.model.test_cfg.rpn.max_per_img == (100 if 'synthetic' in config
                                                  else 300)
    if 'synthetic' not in config:
        # full-size configs start from ImageNet weights
        # (the stage route's trunk holds the backbone config)
        backbone = cfg.model.backbone
        init_cfg = backbone.get('init_cfg') or backbone.get('backbone',
                                                            {}).get('init_cfg')
        assert init_cfg.type == 'Pretrained'

    model = MODELS.build(drop_init_cfg(cfg.model))
    assert isinstance(model, PersonSearch)
    assert isinstance(model.roi_head, PersonSearchRoIHead)
    assert [type(loss).__name__
            for loss in model.roi_head.reid_losses] == loss_types
    assert model.roi_head.with_separate_reid_module == separate_res5
    assert model.roi_head.require_pairs == (method != 'oim')
    # fp32 RoI pooling under autocast, the fast CPU RoIAlign
    extractor = model.roi_head.bbox_roi_extractor
    assert isinstance(extractor, PersonSearchRoIExtractor)
    assert isinstance(extractor.roi_layers[0], SeparableRoIAlign)
    assert extractor.roi_layers[0].sampling_ratio == 2
    # the detection and retrieval modules of the neck route
    if model.with_neck:
        assert len(extractor.roi_layers) > 1
        assert model.roi_head.with_shared_head != separate_res5
    # a ResNet trunk, bare or cut by StageSplitTrunk
    trunk = getattr(model.backbone, 'backbone', model.backbone)
    if not hasattr(trunk, 'layer1'):
        return  # not a ResNet: its stages are checked by its own tests
    res2_trainable = [p.requires_grad for p in trunk.layer1.parameters()]
    if 'synthetic' in config:
        # trained from scratch: no stage is frozen
        assert res2_trainable and all(res2_trainable)
    else:
        # ImageNet-initialised: stem and res2 frozen
        assert res2_trainable and not any(res2_trainable)
