# Synthetic person search (tools/misc/make_synthetic_dataset.py), written in
# the raw CUHK-SYSU layout and read by CUHKSYSUDataset. Small images
# (320 x 240 by default) for CPU quick starts and tests.
_base_ = './cuhk_sysu.py'

data_root = 'data/synthetic/'
num_person_ids = 40  # SyntheticConfig.num_train_ids of the generator

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(
        type='RandomChoiceResize',
        scales=[(400, 208), (400, 240), (400, 272)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPersonSearchInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(400, 240), keep_ratio=True),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='PackPersonSearchInputs')
]

train_dataloader = dict(
    num_workers=1,
    dataset=dict(dataset=dict(data_root=data_root, pipeline=train_pipeline)))
# TestG50 is always written by the generator (TestG100 only with more than
# 100 test images).
test_dataloader = dict(
    num_workers=1,
    dataset=dict(data_root=data_root, gallery_size=50, pipeline=test_pipeline))
query_dataloader = dict(
    num_workers=1,
    dataset=dict(data_root=data_root, gallery_size=50, pipeline=test_pipeline))
val_dataloader = test_dataloader
val_evaluator = dict(gallery_sizes=(50, ))  # logs cuhk/mAP@50
test_cfg = dict(query_dataloader=query_dataloader)
test_evaluator = val_evaluator
