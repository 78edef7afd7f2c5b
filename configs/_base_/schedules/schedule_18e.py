# PRW: 18 epochs, x0.1 at epoch 16 (otherwise as schedule_20e).
_base_ = './schedule_20e.py'

train_cfg = dict(max_epochs=18, val_interval=6)  # validate at 6, 12, 18
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
        end=18,
        by_epoch=True,
        milestones=[16],
        gamma=0.1)
]
