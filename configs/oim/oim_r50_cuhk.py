# OIM baseline, ResNet-50 C4, CUHK-SYSU: SeqNet's one-GPU recipe (batch of
# 5 images, lr 0.003, 20 epochs), lookup table of 5532 ids, queue of 5000.
_base_ = [
    '../_base_/models/oim_r50_c4.py', '../_base_/datasets/cuhk_sysu.py',
    '../_base_/schedules/schedule_20e.py', '../_base_/default_runtime.py'
]

# model.roi_head.num_person_ids: the training identities of the dataset
model = dict(roi_head=dict(num_person_ids={{_base_.num_person_ids}}))
