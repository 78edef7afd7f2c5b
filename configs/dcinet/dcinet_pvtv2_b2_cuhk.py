# DC-I-Net with a PVTv2-B2 (mmdet's PyramidVisionTransformerV2) on the
# stage route, CUHK-SYSU (PSTR's backbone): stages 1-3 are the stride-16
# trunk (320 channels), stage 4 with its overlapping patch embedding (512
# channels) the RoI head, once for detection and once for retrieval; the
# official ImageNet-1k release (keys mapped by mmdet's convert_weights)
# initialises all three.
# Recipe: AdamW (lr 2e-4, weight decay 1e-4): mmdet's PVTv2 detection
# recipe (lr 1e-4 for 16 images) for 32 images; PVT has no layer depths
# for a layer-wise decay and its papers fine-tune without one. PVT has no
# frozen_stages option: every stage trains. Person-search schedule as the
# ResNet configs. Not tuned for person search yet.
_base_ = './dcinet_r50_cuhk.py'

pretrained = 'https://github.com/whai362/PVT/releases/download/v2/pvt_v2_b2.pth'  # noqa: E501
backbone = dict(
    type='PyramidVisionTransformerV2',
    embed_dims=64,
    num_layers=[3, 4, 6, 3],
    drop_path_rate=0.1,
    init_cfg=dict(type='Pretrained', checkpoint=pretrained))
trunk_channels, last_stage_channels = 320, 512

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
        type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
