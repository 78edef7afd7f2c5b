# DC-I-Net, ResNet-50 + FPN (the neck route), CUHK-SYSU. For backbones
# without a natural stage to run on the RoIs (e.g. a plain ViT with several
# out_indices), any backbone whose outputs an FPN takes works here: the
# four ResNet stages feed an FPN (P2-P6, 256 channels), the RPN runs on
# every level (one anchor size per level, 32-512 px as the C4 configs'
# anchors), and RoIAlign pools 7 x 7 RoIs from the level mmdet's
# finest-scale rule picks (P2 for boxes under 112 px, ..., P5 from 448 px).
# Detection module: two shared FCs then classification / regression
# (Faster R-CNN FPN's box head). Retrieval module: its own two 3x3 convs on
# the RoI features, then the embedding head (for I-Net / OIM, set
# reid_shared_head=None and give the shared module as shared_head instead).
# Same recipe as dcinet_r50_cuhk.py otherwise.
_base_ = './dcinet_r50_cuhk.py'

model = dict(
    backbone=dict(
        num_stages=4,
        strides=(1, 2, 2, 2),
        dilations=(1, 1, 1, 1),
        out_indices=(0, 1, 2, 3)),
    neck=dict(
        type='FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=5),
    rpn_head=dict(
        in_channels=256,
        feat_channels=256,
        anchor_generator=dict(scales=[8], strides=[4, 8, 16, 32, 64])),
    roi_head=dict(
        shared_head=None,
        bbox_roi_extractor=dict(
            roi_layer=dict(output_size=7),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(
            type='PersonSearchShared2FCBBoxHead',
            in_channels=256,
            fc_out_channels=1024,
            with_avg_pool=False),
        reid_shared_head=dict(
            _delete_=True,
            type='RoIConvHead',
            in_channels=256,
            out_channels=512,
            num_convs=2,
            norm_cfg=dict(type='BN', requires_grad=True)),
        reid_head=dict(in_channels=512)),
    # nms_pre counts per level on a neck (mmdet's RPNHead)
    train_cfg=dict(rpn_proposal=dict(nms_pre=2000, max_per_img=2000)),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300)))
