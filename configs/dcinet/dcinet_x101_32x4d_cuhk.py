# DC-I-Net with a ResNeXt-101 (32x4d) C4 trunk; res5 stages are ResNeXt
# stages (mmsearch's ResNeXtLayer), loaded from the same checkpoint.
_base_ = './dcinet_r50_cuhk.py'

pretrained = 'open-mmlab://resnext101_32x4d'
resnext_res5 = dict(
    type='ResNeXtLayer',
    depth=101,
    groups=32,
    base_width=4,
    init_cfg=dict(type='Pretrained', checkpoint=pretrained))
model = dict(
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=32,
        base_width=4,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    roi_head=dict(shared_head=resnext_res5, reid_shared_head=resnext_res5))
