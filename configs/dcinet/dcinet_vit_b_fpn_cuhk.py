# DC-I-Net with a plain ViT-B/16 (mmpretrain's VisionTransformer; MAE
# pre-training then ImageNet-1k fine-tuning, 82.4 top-1) on the neck route,
# CUHK-SYSU. A plain ViT has no stage to run on the RoIs and all its blocks
# are at stride 16: blocks 3, 6, 9 and 12 are resized to strides 4, 8, 16
# and 32 (ViTFeaturePyramid: x4 and x2 transposed convolutions, identity,
# max pooling), then an FPN makes the levels of the RPN and the RoIAlign;
# the heads are those of dcinet_r50_fpn_cuhk.py.
# Needs mmpretrain (see the installation guide).
# Recipe: AdamW (lr 1e-4, weight decay 0.05, none on norms and position
# embeddings), as ViT detectors (ViTDet, MAE) are fine-tuned; SGD is known
# to train transformers poorly. The person-search schedule otherwise.
# Cost: global attention over every patch, ~5,300 tokens per block at
# 900 x 1500: memory grows with the square of the image area; lower the
# training scales or use AMP (--amp) if the GPU runs out of memory.
_base_ = './dcinet_r50_fpn_cuhk.py'

custom_imports = dict(
    imports=['mmpretrain.models'], allow_failed_imports=False)

pretrained = ('https://download.openmmlab.com/mmclassification/v0/vit/'
              'vit-base-p16_pt-32xb128-mae_in1k_20220623-4c544545.pth')
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='base',
        img_size=224,  # the position embeddings are resized to the input
        patch_size=16,
        out_indices=(2, 5, 8, 11),
        out_type='featmap',
        final_norm=False,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=[
        dict(
            type='ViTFeaturePyramid', in_channels=768,
            rescales=(4, 2, 1, 0.5)),
        dict(
            type='FPN',
            in_channels=[768, 768, 768, 768],
            out_channels=256,
            num_outs=5)
    ])

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0)
        }),
    clip_grad=dict(max_norm=10, norm_type=2))
