# DC-I-Net, ResNet-50 C4, CUHK-SYSU. Reference recipe: 8 GPUs x 2 image pairs
# (32 images per iteration), multi-scale training around 900x1500, SGD with
# the person-search schedule (20 epochs, x0.1 at epoch 16).
_base_ = [
    '../_base_/models/dcinet_r50_c4.py', '../_base_/datasets/cuhk_sysu.py',
    '../_base_/schedules/schedule_20e.py', '../_base_/default_runtime.py'
]

# model.roi_head.num_person_ids: the training identities of the dataset
model = dict(roi_head=dict(num_person_ids={{_base_.num_person_ids}}))

train_dataloader = dict(batch_size=2)  # image pairs per GPU

# SeqNet's lr 0.003 is for 5 images; 32 images -> 0.003 * 32 / 5 = 0.0192.
# auto_scale_lr counts dataloader samples (pairs): 8 GPUs x 2 pairs = 16.
# With `--auto-scale-lr` the lr is rescaled to the actual number of pairs.
optim_wrapper = dict(optimizer=dict(lr=0.0192))
auto_scale_lr = dict(enable=False, base_batch_size=16)
