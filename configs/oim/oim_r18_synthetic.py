# OIM with a ResNet-18 C4 trunk on the synthetic data set: a CPU-sized
# quick start, trained from scratch (no ImageNet weights are downloaded).
# ResNet-18 is a BasicBlock net: C4 has 256 channels, res5 512.
# CPU-sized changes to the R-50 recipe: BN is trained and no stage is frozen
# (from scratch there are no ImageNet statistics or filters to keep),
# RoIAlign 8x8 so res5 runs on 4x4 maps, 64 anchors and 32 RoIs sampled per
# image, at most 100 test proposals, and box regression weight 1 (mmdet's
# and OIM's; SeqNet's 10 made the
# regression loss dominate and oscillate when training from scratch).
_base_ = [
    '../_base_/models/oim_r50_c4.py', '../_base_/datasets/synthetic.py',
    '../_base_/schedules/schedule_20e.py', '../_base_/default_runtime.py'
]

norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(
        depth=18,
        frozen_stages=-1,  # nothing to keep frozen without ImageNet weights
        norm_cfg=norm_cfg,
        norm_eval=False,
        zero_init_residual=False,
        init_cfg=None),
    rpn_head=dict(in_channels=256, feat_channels=256),
    roi_head=dict(
        shared_head=dict(
            depth=18, norm_cfg=norm_cfg, norm_eval=False, init_cfg=None),
        bbox_roi_extractor=dict(
            roi_layer=dict(output_size=8), out_channels=256),
        bbox_head=dict(
            in_channels=512, roi_feat_size=4, loss_bbox=dict(loss_weight=1.0)),
        reid_head=dict(in_channels=512),
        # the training identities of the dataset config
        num_person_ids={{_base_.num_person_ids}},
        reid_losses=[
            dict(
                type='OIMLoss',
                queue_size=128,
                momentum=0.5,
                scale=30,
                loss_weight=1.0)
        ]),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=64)),
        rpn_proposal=dict(nms_pre=1000, max_per_img=200),
        rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=100)))
