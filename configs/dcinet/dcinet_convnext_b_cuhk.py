# DC-I-Net with a ConvNeXt-B (mmpretrain) on the stage route, CUHK-SYSU:
# the backbone of SeqNeXt's strongest results. Trunk 512 channels, RoI head
# (stage 4) 1024. Same recipe as ConvNeXt-T, with ConvNeXt-B's 12 layer
# ids (twice ConvNeXt-T's 6), a lower layer-wise decay (0.8, our choice
# for the deeper net: stage 2, the first trainable one, gets 0.8 ** 11 =
# 9% of the lr) and more stochastic depth (0.4, as mmseg's ConvNeXt-B).
# Not tuned for person search yet.
_base_ = './dcinet_convnext_t_cuhk.py'

pretrained = ('https://download.openmmlab.com/mmclassification/v0/convnext/'
              'downstream/convnext-base_3rdparty_32xb128-noema_in1k_'
              '20220301-2a0ee547.pth')
backbone = dict(
    arch='base', drop_path_rate=0.4, init_cfg=dict(checkpoint=pretrained))
trunk_channels, last_stage_channels = 512, 1024

model = dict(
    backbone=dict(backbone=backbone),
    rpn_head=dict(in_channels=trunk_channels),
    roi_head=dict(
        shared_head=dict(backbone=backbone),
        reid_shared_head=dict(backbone=backbone),
        bbox_roi_extractor=dict(out_channels=trunk_channels),
        bbox_head=dict(in_channels=last_stage_channels),
        reid_head=dict(in_channels=last_stage_channels)))

optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))
