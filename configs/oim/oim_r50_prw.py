# OIM baseline, ResNet-50 C4, PRW: lookup table of the 483 labelled training
# ids (remapped to 0..482), queue of 500, 18 epochs.
_base_ = [
    '../_base_/models/oim_r50_c4.py', '../_base_/datasets/prw.py',
    '../_base_/schedules/schedule_18e.py', '../_base_/default_runtime.py'
]

model = dict(
    roi_head=dict(reid_losses=[
        dict(
            type='OIMLoss',
            num_person_ids=483,
            queue_size=500,
            momentum=0.5,
            scale=30,
            feat_dim=256,
            loss_weight=1.0)
    ]))

test_cfg = dict(
    type='PersonSearchTestLoop', query_dataloader={{_base_.query_dataloader}})
test_evaluator = dict(type='PersonSearchMetric')
