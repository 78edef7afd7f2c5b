# DC-I-Net, ResNet-50 C4, PRW (483 labelled training identities, 18 epochs).
_base_ = [
    '../_base_/models/dcinet_r50_c4.py', '../_base_/datasets/prw.py',
    '../_base_/schedules/schedule_18e.py', '../_base_/default_runtime.py'
]

# model.roi_head.num_person_ids: the training identities of the dataset
model = dict(roi_head=dict(num_person_ids={{_base_.num_person_ids}}))

train_dataloader = dict(batch_size=2)  # image pairs per GPU
optim_wrapper = dict(optimizer=dict(lr=0.0192))  # 8 GPUs x 2 pairs
auto_scale_lr = dict(enable=False, base_batch_size=16)
