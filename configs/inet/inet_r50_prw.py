# I-Net, ResNet-50 C4, PRW (483 labelled training identities, 18 epochs).
_base_ = [
    '../_base_/models/inet_r50_c4.py', '../_base_/datasets/prw.py',
    '../_base_/schedules/schedule_18e.py', '../_base_/default_runtime.py'
]

num_person_ids = 483
model = dict(
    roi_head=dict(reid_losses=[
        dict(
            type='OLPLoss',
            queue_size=None,
            scale=1.0,
            feat_dim=256,
            loss_weight=1.0),
        dict(
            type='HEPLoss',
            num_person_ids=num_person_ids,
            num_hard=20,
            pool_size=100,
            scale=30.0,
            feat_dim=256,
            loss_weight=1.0)
    ]))

train_dataloader = dict(batch_size=2)  # image pairs per GPU
optim_wrapper = dict(optimizer=dict(lr=0.0192))  # 8 GPUs x 2 pairs
auto_scale_lr = dict(enable=False, base_batch_size=16)

test_cfg = dict(
    type='PersonSearchTestLoop', query_dataloader={{_base_.query_dataloader}})
test_evaluator = dict(type='PersonSearchMetric')
