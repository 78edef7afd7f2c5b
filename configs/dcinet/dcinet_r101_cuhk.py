# DC-I-Net with a ResNet-101 C4 trunk: only the backbone and the two res5
# stages change (res5 of ResNet-101 has the same shape as ResNet-50's).
_base_ = './dcinet_r50_cuhk.py'

pretrained = 'torchvision://resnet101'
model = dict(
    backbone=dict(
        depth=101, init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    roi_head=dict(
        shared_head=dict(
            depth=101, init_cfg=dict(type='Pretrained',
                                     checkpoint=pretrained)),
        reid_shared_head=dict(
            depth=101, init_cfg=dict(type='Pretrained',
                                     checkpoint=pretrained))))
