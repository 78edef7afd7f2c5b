# The usual person-search recipe (SeqNet's public defaults): SGD 0.003 for a
# batch of 5 images, linear warm-up over the first epoch, x0.1 at epoch 16,
# gradient clipping at 10. The learning rate scales with the total batch.
# Validation (the whole search protocol on the test split, val_dataloader
# of the dataset config) every 4 epochs: after epochs 4, 8, 12, 16 and 20.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=4)
val_cfg = dict(type='PersonSearchValLoop')
# test_cfg (PersonSearchTestLoop with the query split) is in the dataset
# configs, next to the query dataloader it reads.

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1.0 / 1000,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='MultiStepLR',
        begin=0,
        end=20,
        by_epoch=True,
        milestones=[16],
        gamma=0.1)
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.003, momentum=0.9, weight_decay=5e-4),
    clip_grad=dict(max_norm=10, norm_type=2))

auto_scale_lr = dict(enable=False, base_batch_size=5)
