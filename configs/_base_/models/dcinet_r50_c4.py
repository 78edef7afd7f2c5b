# DC-I-Net (Zhang et al., TPAMI 2022): I-Net's Siamese frame with two task
# modules after RoIAlign: a detection module (res5 + box head) and a
# retrieval module with its own res5 (+ embedding head); OLP + C2HEP losses.
_base_ = './inet_r50_c4.py'

norm_cfg = dict(type='BN', requires_grad=False)

model = dict(
    roi_head=dict(
        reid_shared_head=dict(
            type='ResLayer',
            depth=50,
            stage=3,
            stride=2,
            dilation=1,
            style='pytorch',
            norm_cfg=norm_cfg,
            norm_eval=True,
            init_cfg=dict(
                type='Pretrained', checkpoint='torchvision://resnet50')),
        reid_losses=[
            dict(
                type='OLPLoss',
                queue_size=None,  # 4 x labelled RoIs per batch
                scale=1.0,
                loss_weight=1.0),
            dict(
                type='C2HEPLoss',
                num_hard=20,
                scale=30.0,
                momentum=0.5,
                loss_weight=1.0)
        ]))
