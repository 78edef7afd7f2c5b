# DC-I-Net with a ConvNeXt-T (mmpretrain) on the stage route, CUHK-SYSU:
# the stem and stages 1-3 are the stride-16 trunk (384 channels), stage 4
# with its downsampling layer (768 channels) is the RoI head, once for
# detection and once for retrieval; one ImageNet-1k checkpoint initialises
# all three (mmpretrain classifier keys, hence prefix='backbone.'). As
# SeqNeXt does with ConvNeXt. Frozen like the ResNet configs: stem and
# stage 1 (frozen_stages=1).
# Recipe: AdamW (lr 2e-4, weight decay 0.05) with layer-wise lr decay 0.95
# over ConvNeXt's own layer depths: mmdet's ConvNeXt-T detection recipe
# (the ConvNeXt paper's COCO fine-tuning), for 32 images per iteration;
# the person-search schedule (20 epochs, warm-up, x0.1 at 16) as the
# ResNet configs. Not tuned for person search yet.
_base_ = './dcinet_r50_cuhk.py'

custom_imports = dict(
    imports=['mmpretrain.models'], allow_failed_imports=False)
pretrained = ('https://download.openmmlab.com/mmclassification/v0/convnext/'
              'downstream/convnext-tiny_3rdparty_32xb128-noema_in1k_'
              '20220301-795e9634.pth')
backbone = dict(
    type='mmpretrain.ConvNeXt',
    arch='tiny',
    out_indices=(3, ),  # norm3 (the classifier's final norm) on stage 4
    gap_before_final_norm=False,
    drop_path_rate=0.2,
    frozen_stages=1,
    init_cfg=dict(
        type='Pretrained', checkpoint=pretrained, prefix='backbone.'))
trunk_channels, last_stage_channels = 384, 768

last_stage = dict(_delete_=True, type='BackboneLastStage', backbone=backbone)
model = dict(
    backbone=dict(_delete_=True, type='StageSplitTrunk', backbone=backbone),
    rpn_head=dict(in_channels=trunk_channels),
    roi_head=dict(
        shared_head=last_stage,
        reid_shared_head=last_stage,
        bbox_roi_extractor=dict(out_channels=trunk_channels),
        bbox_head=dict(in_channels=last_stage_channels),
        reid_head=dict(in_channels=last_stage_channels)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='StageRouteLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.95),
    clip_grad=dict(max_norm=10, norm_type=2))
