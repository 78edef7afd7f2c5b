# DC-I-Net with an ImageNet MobileNetV2 (mmdet's, width 1.0) on the stage
# route, CUHK-SYSU: a mobile config for fast CPU or edge inference. Trunk:
# conv1 and layers 1-5 (stride 16, 96 channels); RoI head: layers 6-7 and
# the 1x1 conv2 (1280 channels), once for detection and once for
# retrieval, all from mmpretrain's ImageNet checkpoint (classifier keys,
# hence prefix='backbone.'). A 256-channel RPN for speed. Everything else,
# the SGD recipe included, as dcinet_r50_cuhk.py (stem and first layer
# frozen, BN statistics frozen).
_base_ = './dcinet_r50_cuhk.py'

pretrained = ('https://download.openmmlab.com/mmclassification/v0/'
              'mobilenet_v2/mobilenet_v2_batch256_imagenet_20200708-'
              '3b2dc3af.pth')
backbone = dict(
    type='MobileNetV2',
    widen_factor=1.0,
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=False),
    norm_eval=True,
    init_cfg=dict(
        type='Pretrained', checkpoint=pretrained, prefix='backbone.'))
trunk_channels, last_stage_channels = 96, 1280

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
