# I-Net, ResNet-50 C4, CUHK-SYSU: Siamese pairs, shared res5, OLP + HEP.
# Same recipe as DC-I-Net: 8 GPUs x 2 image pairs.
_base_ = [
    '../_base_/models/inet_r50_c4.py', '../_base_/datasets/cuhk_sysu.py',
    '../_base_/schedules/schedule_20e.py', '../_base_/default_runtime.py'
]

# model.roi_head.num_person_ids: the training identities of the dataset
model = dict(roi_head=dict(num_person_ids={{_base_.num_person_ids}}))

train_dataloader = dict(batch_size=2)  # image pairs per GPU
optim_wrapper = dict(optimizer=dict(lr=0.0192))  # 0.003 x 32 / 5 images
auto_scale_lr = dict(enable=False, base_batch_size=16)  # in pairs
