# DC-I-Net with an ImageNet ResNet-18 on the stage route, CUHK-SYSU: a light
# config for fast CPU or edge inference. mmdet's ResNet-18 is cut by
# StageSplitTrunk / BackboneLastStage (the same split as the ResNet-50
# configs' ResNet + ResLayer: stem-res4 trunk, 256 channels; res5, 512
# channels, for detection and for retrieval), all from torchvision's
# checkpoint; a 256-channel RPN for speed. Everything else, the SGD recipe
# included, as dcinet_r50_cuhk.py (stem and res2 frozen, BN statistics
# frozen).
_base_ = './dcinet_r50_cuhk.py'

backbone = dict(
    type='ResNet',
    depth=18,
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=False),
    norm_eval=True,
    style='pytorch',
    init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18'))
trunk_channels, last_stage_channels = 256, 512

last_stage = dict(_delete_=True, type='BackboneLastStage', backbone=backbone)
model = dict(
    backbone=dict(_delete_=True, type='StageSplitTrunk', backbone=backbone),
    rpn_head=dict(in_channels=trunk_channels, feat_channels=256),
    roi_head=dict(
        shared_head=last_stage,
        reid_shared_head=last_stage,
        bbox_roi_extractor=dict(out_channels=trunk_channels),
        bbox_head=dict(in_channels=last_stage_channels),
        reid_head=dict(in_channels=last_stage_channels)))
