# CUHK-SYSU, read from the raw .mat files under data_root
# (docs/en/dataset_prepare.md).
# train_dataloader: Siamese pairs (2 pairs = 4 images per GPU); an OIM
# config may instead use the bare dataset with
# sampler=dict(type='DefaultSampler', shuffle=True) and no collate_fn.
# test_dataloader: gallery split; query_dataloader: query split (for
# PersonSearchTestLoop). val_dataloader: the gallery split again, for
# PersonSearchValLoop (which reads the query split with split='query').
dataset_type = 'CUHKSYSUDataset'
data_root = 'data/cuhk_sysu/'
backend_args = None
# Labelled training identities (the persons of Train.mat): the method
# configs set model.roi_head.num_person_ids to it (lookup tables, class
# centres).
num_person_ids = 5532

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1500, 640), (1500, 720), (1500, 800), (1500, 900)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPersonSearchInputs')
]
# Resize before loading the annotations: gt boxes and query_bbox stay in
# original image coordinates (the model scales query_bbox itself).
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1500, 900), keep_ratio=True),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='PackPersonSearchInputs')
]

train_dataloader = dict(
    batch_size=2,  # image pairs
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='PairSampler', shuffle=True),
    # mmengine's Runner looks collate functions up with FUNCTIONS.get, which
    # ignores the default scope: the scope prefix is required.
    collate_fn=dict(type='mmsearch.pair_collate'),
    dataset=dict(
        type='PersonSearchPairDataset',
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            split='train',
            pipeline=train_pipeline,
            backend_args=backend_args)))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='gallery',
        gallery_size=100,
        pipeline=test_pipeline,
        backend_args=backend_args))
# The query split is read like the gallery split.
query_dataloader = dict(
    test_dataloader, dataset=dict(test_dataloader['dataset'], split='query'))
# Validation during training (PersonSearchValLoop, every val_interval of
# the schedule) on the test split, with the test metric.
val_dataloader = test_dataloader
val_evaluator = dict(type='PersonSearchMetric')
# Testing: detections and embeddings on the gallery split, then the query
# split, searched with the dataset's protocol.
test_cfg = dict(type='PersonSearchTestLoop', query_dataloader=query_dataloader)
test_evaluator = val_evaluator
