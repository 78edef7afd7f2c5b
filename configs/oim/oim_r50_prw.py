# OIM baseline, ResNet-50 C4, PRW: lookup table of the 483 labelled training
# ids (remapped to 0..482), queue of 500, 18 epochs.
_base_ = [
    '../_base_/models/oim_r50_c4.py', '../_base_/datasets/prw.py',
    '../_base_/schedules/schedule_18e.py', '../_base_/default_runtime.py'
]

# model.roi_head.num_person_ids: the training identities of the dataset;
# PRW's smaller unlabelled queue (SeqNet: 500)
model = dict(
    roi_head=dict(
        num_person_ids={{_base_.num_person_ids}},
        reid_losses=[
            dict(
                type='OIMLoss',
                queue_size=500,
                momentum=0.5,
                scale=30,
                loss_weight=1.0)
        ]))
