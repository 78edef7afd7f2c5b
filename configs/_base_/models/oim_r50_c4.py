# OIM baseline (Xiao et al., CVPR 2017) in the person-search C4 frame:
# ResNet-50 trunk up to stride 16 (res2-res4), RPN, RoIAlign 14x14 on C4,
# res5 as the RoI head shared by detection and re-ID, OIM loss.
# Settings follow SeqNet's public defaults (docs/en/methods.md).
# The re-ID losses take feat_dim from reid_head.embed_dim and num_person_ids
# from roi_head.num_person_ids, which each method config sets from its
# dataset config (`num_person_ids`); a value written in a loss wins.
norm_cfg = dict(type='BN', requires_grad=False)  # frozen BN everywhere
embed_dim = 256

model = dict(
    type='PersonSearch',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        frozen_stages=1,
        norm_cfg=norm_cfg,
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    rpn_head=dict(
        # mmdet's RPNHead with proposals decoded and NMS'ed in fp32 (AMP)
        type='PersonSearchRPNHead',
        in_channels=1024,
        feat_channels=512,
        # Anchor sizes 32-512 px (base 16 x scales) and aspect ratios h/w
        # 0.5, 1, 2: the anchors of OIM/SeqNet, so results compare directly.
        # Person-like ratios (1, 2, 3) are an alternative.
        anchor_generator=dict(
            type='AnchorGenerator',
            scales=[2, 4, 8, 16, 32],
            ratios=[0.5, 1.0, 2.0],
            strides=[16]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[0.0, 0.0, 0.0, 0.0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    roi_head=dict(
        type='PersonSearchRoIHead',
        shared_head=dict(
            type='ResLayer',
            depth=50,
            stage=3,
            stride=2,
            dilation=1,
            style='pytorch',
            norm_cfg=norm_cfg,
            norm_eval=True,
            # loads layer4.* of the ImageNet checkpoint into res5
            init_cfg=dict(
                type='Pretrained', checkpoint='torchvision://resnet50')),
        bbox_roi_extractor=dict(
            # mmdet's SingleRoIExtractor pooling in fp32 with fp32 boxes
            # under autocast; RoIAlign runs a separable matmul kernel on
            # the CPU (mmcv's kernel on CUDA)
            type='PersonSearchRoIExtractor',
            # 2x2 samples per bin as SeqNet/torchvision (mmcv's adaptive 0
            # samples large boxes densely: 2x slower on CPU for 300 RoIs)
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=2),
            out_channels=1024,
            featmap_strides=[16]),
        bbox_head=dict(
            # mmdet's BBoxHead with detections decoded and NMS'ed in fp32
            type='PersonSearchBBoxHead',
            with_avg_pool=True,
            roi_feat_size=7,
            in_channels=2048,
            num_classes=1,
            reg_class_agnostic=True,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0.0, 0.0, 0.0, 0.0],
                target_stds=[0.1, 0.1, 0.2, 0.2]),
            loss_cls=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            # SeqNet: smooth L1 (beta 1/9) on box deltas, weight 10
            loss_bbox=dict(
                type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=10.0)),
        # res5 output -> avg+max pool -> Linear -> BN1d -> L2 norm
        reid_head=dict(
            type='ReIDEmbeddingHead',
            in_channels=2048,
            embed_dim=embed_dim,
            pool_type='avg+max'),
        reid_losses=[
            dict(
                type='OIMLoss',
                queue_size=5000,
                momentum=0.5,
                scale=30,
                loss_weight=1.0)
        ],
        require_pairs=False),
    train_cfg=dict(
        rpn=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.7,
                neg_iou_thr=0.3,
                min_pos_iou=0.3,
                match_low_quality=True,
                ignore_iof_thr=-1),
            sampler=dict(
                type='RandomSampler',
                num=256,
                pos_fraction=0.5,
                neg_pos_ub=-1,
                add_gt_as_proposals=False),
            allowed_border=-1,
            pos_weight=-1,
            debug=False),
        rpn_proposal=dict(
            nms_pre=12000,
            max_per_img=2000,
            nms=dict(type='nms', iou_threshold=0.7),
            min_bbox_size=0),
        rcnn=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.5,
                min_pos_iou=0.5,
                match_low_quality=False,
                ignore_iof_thr=-1),
            # gt boxes join the proposals, so every gt person is a RoI
            sampler=dict(
                type='RandomSampler',
                num=128,
                pos_fraction=0.5,
                neg_pos_ub=-1,
                add_gt_as_proposals=True),
            pos_weight=-1,
            debug=False)),
    test_cfg=dict(
        # person-search test settings (SeqNet): 300 proposals through res5
        rpn=dict(
            nms_pre=6000,
            max_per_img=300,
            nms=dict(type='nms', iou_threshold=0.7),
            min_bbox_size=0),
        rcnn=dict(
            score_thr=0.5,
            nms=dict(type='nms', iou_threshold=0.4),
            max_per_img=300)))
