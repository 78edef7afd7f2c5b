# DC-I-Net with a Swin-T (mmdet's SwinTransformer) on the stage route,
# CUHK-SYSU: patch embedding and stages 1-3 are the stride-16 trunk (384
# channels); the patch merging into stage 4 and stage 4 (768 channels) are
# the RoI head, once for detection and once for retrieval (a 14 x 14 RoI
# becomes 7 x 7 tokens, one window). The official ImageNet-1k release
# (convert_weights=True maps its keys) initialises all three, its final
# norm the norm after stage 4 (norm3, out_indices=(3, )). Stem and stage 1
# frozen (frozen_stages=1) like the ResNet configs.
# Recipe: AdamW (lr 2e-4, weight decay 0.05, none on norms and position
# tables): mmdet's Swin detection recipe (lr 1e-4 for 16 images) for 32
# images, without layer-wise decay, as the Swin paper's COCO fine-tuning;
# StageRouteLayerDecayOptimWrapperConstructor knows Swin's layer depths
# if you want one (paramwise_cfg=dict(layer_decay_rate=...)). Person-search
# schedule as the ResNet configs. Not tuned for person search yet.
_base_ = './dcinet_r50_cuhk.py'

pretrained = ('https://github.com/SwinTransformer/storage/releases/download/'
              'v1.0.0/swin_tiny_patch4_window7_224.pth')
backbone = dict(
    type='SwinTransformer',
    embed_dims=96,
    depths=(2, 2, 6, 2),
    num_heads=(3, 6, 12, 24),
    window_size=7,
    mlp_ratio=4,
    qkv_bias=True,
    drop_path_rate=0.2,
    patch_norm=True,
    out_indices=(3, ),
    frozen_stages=1,
    convert_weights=True,
    init_cfg=dict(type='Pretrained', checkpoint=pretrained))
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
    paramwise_cfg=dict(
        custom_keys=dict(
            absolute_pos_embed=dict(decay_mult=0.),
            relative_position_bias_table=dict(decay_mult=0.),
            norm=dict(decay_mult=0.))),
    clip_grad=dict(max_norm=10, norm_type=2))
